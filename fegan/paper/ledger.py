"""A committed record of finished paper experiments, so that their results outlive the git refs.

DVC experiments live in local git refs (``refs/exps``) that neither a push of ``main`` nor a
fresh clone carries, so the runs behind the tables are gone from any other checkout, and with
them every table cell that has not been re-rendered. ``fegan paper-tables --record`` writes
each finished run the tables use to ``reports/paper_runs.json`` (its name, seed, commit,
params and both metrics files, exactly as ``dvc exp show`` reports them); ``fegan
paper-tables`` reads that file beside the live experiments, so a fresh clone renders the
same tables and later runs add to them. A run's identity is its experiment revision: recording
the same one twice keeps one entry.

The file is one JSON object ``{"runs": [...]}``, sorted by experiment name and seed, so its
git diffs show runs added, not reshuffled.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

from ..errors import FeganError
from ..io import atomic_path
from .catalogue import exp_name, parse_exp_name
from .results import Run

LEDGER = "reports/paper_runs.json"
FIELDS = ("rev", "baseline", "timestamp", "params", "eval", "robustness")


def _entry(run: Run) -> dict:
    return {"experiment": exp_name(run.name, run.seed), **{k: getattr(run, k) for k in FIELDS}}


def load(path: str | Path = LEDGER) -> list[Run]:
    """The finished runs recorded in ``path`` (none when it does not exist)."""
    path = Path(path)
    if not path.exists():
        return []
    try:
        entries = json.loads(path.read_text())["runs"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise FeganError(f"{path}: not a paper-runs ledger ({type(e).__name__}: {e})") from None
    out = []
    for i, e in enumerate(entries):
        parsed = parse_exp_name(str(e.get("experiment", ""))) if isinstance(e, dict) else None
        if parsed is None or not e.get("rev") or not isinstance(e.get("eval"), dict):
            raise FeganError(f"{path}: entry {i} is not a finished paper-* run (it needs experiment, rev, eval)")
        out.append(Run(name=parsed[0], seed=parsed[1], state="success",
                       **{k: e.get(k) or ({} if k in ("params", "eval", "robustness") else None) for k in FIELDS}))
    return out


def record(runs: Iterable[Run], path: str | Path = LEDGER) -> int:
    """Add the finished ones of ``runs`` (replicas included) to the ledger at ``path``; returns
    how many were new. Entries already there are kept as they are."""
    path = Path(path)
    entries = {(e["experiment"], e["rev"]): e for e in map(_entry, load(path))}
    before = len(entries)
    for run in runs:
        for r in run.finished:
            if r.rev:
                entries.setdefault((exp_name(r.name, r.seed), r.rev), _entry(r))
    ordered = sorted(entries.values(), key=lambda e: (*_order(e["experiment"]), e["timestamp"] or ""))
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=".json") as tmp:
        tmp.write_text(json.dumps({"runs": ordered}, indent=1, sort_keys=True) + "\n")
    return len(entries) - before


def _order(experiment: str) -> tuple[str, int]:
    name, seed = parse_exp_name(experiment) or (experiment, None)
    return name, -1 if seed is None else seed
