"""Running the paper experiments (``catalogue``) through DVC, three ways (``fegan paper-tables``):

- ``--run``: one after another in the workspace, ``dvc exp run -n paper-<name> -S ...``
  (FE-GAN under params.yaml's recipe last, so the workspace ends on the default). Sees everything the workspace
  has (a relative ``data.raw_dir``, the ``data/cache`` of real-face features), prints progress.
- ``--queue``: ``dvc exp run --queue ...`` each; ``dvc queue start`` (background) or
  ``dvc exp run --run-all`` runs them in temporary copies of the repository: git-tracked files
  plus DVC outputs from the cache, so a relative ``data.raw_dir`` that is neither is refused.
- ``--queue --run``: queue, then ``dvc exp run --run-all``.

Experiments done, queued or running on this commit, and those recorded in the ledger with these
settings, are skipped. dvc itself is reached through a ``DvcClient`` (tests pass a fake).
"""
from __future__ import annotations

import os
import re
import shlex
import time
from pathlib import Path
from typing import Callable, Iterable

import yaml

from ..errors import FeganError
from ..overrides import apply_overrides
from ..params import load_params
from .catalogue import RUN_ALL, check_extra, command, default_recipe, exp_name, select
from .client import DvcClient
from .results import Run, flat_params, latest, other_settings, runs_of_exp_show

Job = tuple[str, "int | None"]      # (experiment, seed or None)
Say = Callable[[str], None]


def _stage_outs(repo: Path, params: dict | None = None) -> set[str]:
    """Every stage's outs in dvc.yaml, ``${section.key}`` templates filled from ``params``."""
    try:
        stages = (yaml.safe_load((repo / "dvc.yaml").read_text()) or {}).get("stages", {})
    except (OSError, yaml.YAMLError):
        return set()

    def value(m: re.Match) -> str:
        node = params or {}
        for part in m.group(1).strip().split("."):
            node = node.get(part) if isinstance(node, dict) else None
        return str(node)

    outs = set()
    for st in stages.values():
        for o in st.get("outs", []) or []:
            outs.add(re.sub(r"\$\{([^}]+)\}", value, str(next(iter(o))) if isinstance(o, dict) else str(o)))
    return {o.rstrip("/") for o in outs}


def _queue_check(repo: Path, extra: list[str]) -> list[str]:
    """Refuse inputs a queued run (a temporary copy of git + DVC outputs) cannot see; ``-C``
    copies for small untracked files it needs. Returns the extra ``dvc exp run`` arguments."""
    params = apply_overrides(load_params(repo / "params.yaml"), extra)
    raw = str((params.get("data") or {}).get("raw_dir") or "")
    if raw and not os.path.isabs(raw) and raw.rstrip("/") not in _stage_outs(repo, params):
        raise FeganError(f"data.raw_dir is {raw!r}, a relative path that queued experiments (run in a "
                         "temporary copy of the repository) do not see; use --run (in the workspace) "
                         "or an absolute data.raw_dir")
    weights = (params.get("evaluate") or {}).get("inception_weights")
    if weights and not os.path.isabs(str(weights)):
        return ["-C", str(weights)]
    return []


def recorded_done(recorded: Iterable[Run], params: dict, extra: Iterable[str] = ()) -> set[str]:
    """Full names of the ``recorded`` (ledger) runs made with ``params`` plus the ``extra``
    overrides (beyond what each experiment varies): runs that queueing again would repeat. An
    extra override of a key the experiment pins (``train.lr``) wins over the pin on the command
    line, so it is compared too."""
    like = apply_overrides(params, extra)
    asked = {item.partition("=")[0].lstrip("+~") for item in extra}
    want = flat_params(like)

    def same_asked(r: Run) -> bool:
        mine = flat_params(r.params)
        return all(mine.get(k) == want.get(k) and isinstance(mine.get(k), bool) == isinstance(want.get(k), bool)
                   for k in asked)
    return {exp_name(r.name, r.seed) for r in recorded
            if r.done and not other_settings(r, like) and same_asked(r)}


def _existing(dvc: DvcClient) -> dict[str, str]:
    """Paper experiments of the HEAD commit (full names, seeds included) and their state."""
    return {exp_name(name, seed): r.state for (name, seed), r in latest(runs_of_exp_show(dvc.exp_show())).items()}


def _skip(jobs: list[Job], dvc: DvcClient, force: bool, say: Say, recorded: set[str] = frozenset()) -> list[Job]:
    states = _existing(dvc)
    todo = []
    for n, seed in jobs:
        full = exp_name(n, seed)
        st = states.get(full)
        if st in ("queued", "running"):
            say(f"{full} is {st} already; skipped")
        elif st == "success" and not force:
            say(f"{full} is done already; skipped (--force reruns it)")
        elif full in recorded and not force:
            say(f"{full} is recorded in the ledger with these settings; skipped (--force reruns it)")
        else:
            if st == "success":
                dvc.exp_remove(full)
                say(f"removed the previous {full}")
            todo.append((n, seed))
    return todo


def _jobs(names: Iterable[str] | None, seeds: list[int | None], repo: Path,
          baseline_last: bool = False) -> list[Job]:
    """(experiment, seed) in EXPERIMENTS' order; ``baseline_last``: the baseline (FE-GAN under
    params.yaml's recipe) after the others, its first seed last of all (the workspace ends on it)."""
    recipe = default_recipe(repo / "params.yaml")
    names = select(names, recipe)
    base_name = f"{recipe}-fegan" if recipe else None
    if baseline_last:
        names = [n for n in names if n != base_name] + [n for n in names if n == base_name]
    jobs = [(n, s) for n in names for s in seeds]
    if baseline_last and jobs and jobs[-1][0] == base_name and len(seeds) > 1:
        base = [j for j in jobs if j[0] == base_name]
        jobs = [j for j in jobs if j[0] != base_name] + base[1:] + base[:1]
    return jobs


def _todo(jobs: list[Job], dvc: DvcClient, extra: list[str], force: bool, say: Say,
          recorded: Iterable[Run]) -> list[Job]:
    """The jobs not done, queued or recorded already (removing done ones with ``force``)."""
    dvc.check_commit()
    recorded = list(recorded)
    done = recorded_done(recorded, load_params(dvc.repo / "params.yaml"), extra) if recorded else set()
    return _skip(jobs, dvc, force, say, done)


def queue(names: Iterable[str] | None = None, extra: Iterable[str] = (), run: bool = False,
          repo: str | Path = ".", dry_run: bool = False, force: bool = False, say: Say = print,
          seeds: Iterable[int | None] = (None,), recorded: Iterable[Run] = (),
          dvc: DvcClient | None = None) -> list[list[str]]:
    """Queue the experiments (``dvc exp run --queue``), then with ``run`` run the queue
    (``dvc exp run --run-all``). Experiments done, queued, or recorded in the ledger with these
    settings (``recorded``) are skipped (``force`` reruns done ones). With ``seeds``, each
    experiment once per training seed (``paper-<name>-s<seed>``, ``-S train.seed=<seed>``).
    Returns the dvc command lines (with ``dry_run``, only returns them). ``dvc``: the client
    (by default one in ``repo``)."""
    dvc = dvc or DvcClient(repo)
    seeds = list(seeds)
    extra = check_extra(extra, seeds)
    jobs = _jobs(names, seeds, dvc.repo)
    copy = [] if dry_run else _queue_check(dvc.repo, extra)
    if not dry_run:
        jobs = _todo(jobs, dvc, extra, force, say, recorded)
    cmds = [command(n, extra, queue=True, copy=copy, seed=seed) for n, seed in jobs]
    if run and (jobs or dry_run):
        cmds.append(list(RUN_ALL))
    if dry_run:
        return cmds
    for args in cmds:
        say("$ " + shlex.join(args))
        if args != RUN_ALL:
            dvc.queue(args)
        elif (code := dvc.stream(args)) != 0:
            raise FeganError(f"`{shlex.join(args)}` failed (exit status {code})")
    if jobs and not run:
        say(f"queued {len(jobs)} experiment(s); run them with `dvc queue start` (in the background; "
            "`dvc queue status` to follow) or `dvc exp run --run-all`, then `fegan paper-tables`")
    return cmds


def run_in_workspace(names: Iterable[str] | None = None, extra: Iterable[str] = (), repo: str | Path = ".",
                     dry_run: bool = False, force: bool = False, say: Say = print,
                     seeds: Iterable[int | None] = (None,), recorded: Iterable[Run] = (),
                     dvc: DvcClient | None = None) -> list[list[str]]:
    """Run the experiments one after another in the workspace (``dvc exp run -n ...``), the
    baseline last so the workspace ends on it (its first seed last of all). A failed one does
    not stop the others; the failures are one error at the end. Each run's wall time is said."""
    dvc = dvc or DvcClient(repo)
    seeds = list(seeds)
    extra = check_extra(extra, seeds)
    jobs = _jobs(names, seeds, dvc.repo, baseline_last=True)
    if not dry_run:
        jobs = _todo(jobs, dvc, extra, force, say, recorded)
    cmds = [command(n, extra, queue=False, seed=seed) for n, seed in jobs]
    if dry_run:
        return cmds
    failed = []
    for (n, seed), args in zip(jobs, cmds):
        say("$ " + shlex.join(args))
        t = time.monotonic()
        code = dvc.stream(args)
        say(f"{exp_name(n, seed)}: {'failed' if code else 'done'} in {time.monotonic() - t:.0f} s")
        if code != 0:
            failed.append(exp_name(n, seed))
    if failed:
        raise FeganError(f"{len(failed)} experiment(s) failed: {', '.join(failed)} (see the output above)")
    return cmds
