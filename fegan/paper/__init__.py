"""The paper's Tables 2-5: the experiments behind them and the tables, ours beside the paper's.

- ``catalogue``: ``EXPERIMENTS`` (name -> ``-S`` overrides), their names and command lines;
- ``client``: ``DvcClient``, the dvc commands they need (the one subprocess; tests fake it);
- ``runs``: ``queue``, ``run_in_workspace`` (what is done or recorded already is skipped);
- ``results``: ``collect`` (``dvc exp show --json`` and the ledger -> name -> ``Run``);
- ``ledger``: the committed record of finished runs (``reports/paper_runs.json``);
- ``numbers``: the paper's values, with the table and row each comes from;
- ``tables``: ``render(runs)`` -> markdown.

``fegan paper-tables`` (fegan/cli.py) is the command line.
"""
from .catalogue import EXPERIMENTS, command, experiment_overrides
from .client import DvcClient
from .results import Run, collect, parse_exp_show
from .runs import queue, run_in_workspace
from .tables import render

__all__ = ["EXPERIMENTS", "DvcClient", "Run", "collect", "command", "experiment_overrides", "parse_exp_show",
           "queue", "run_in_workspace", "render"]
