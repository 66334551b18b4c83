"""The paper's Tables 2-5: the experiments behind them and the tables, ours beside the paper's.

- ``numbers``: the paper's values, with the table and row each comes from;
- ``runs``: ``EXPERIMENTS`` (name -> ``-S`` overrides), ``queue``, ``run_in_workspace``,
  ``collect`` (``dvc exp show --json`` -> name -> ``Run``);
- ``tables``: ``render(runs)`` -> markdown.

``fegan paper-tables`` (fegan/cli.py) is the command line.
"""
from .runs import EXPERIMENTS, Run, collect, command, experiment_overrides, parse_exp_show, queue, \
    run_in_workspace
from .tables import render

__all__ = ["EXPERIMENTS", "Run", "collect", "command", "experiment_overrides", "parse_exp_show", "queue",
           "run_in_workspace", "render"]
