"""The paper experiments read back: ``dvc exp show --json`` (DVC 3 format) and the committed
ledger's runs (``ledger.py``, which outlive the refs) -> one ``Run`` per experiment.

Nothing here changes the runs it is given: ``group`` returns new ``Run`` objects where it
attaches the other seeds of an experiment.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Iterable

from .catalogue import ALL_NAMES, EXPERIMENTS, exp_name, parse_exp_name, varied_keys
from .client import DvcClient

EVAL = "metrics/eval.json"
ROBUSTNESS = "metrics/robustness.json"


@dataclass
class Run:
    """One paper experiment as ``dvc exp show`` reports it."""
    name: str                                   # key of EXPERIMENTS (or of EARLIER)
    state: str = "missing"                      # success | queued | running | failed | missing
    seed: int | None = None                     # --seeds: the training seed in its name (paper-NAME-sSEED)
    rev: str | None = None
    baseline: str | None = None                 # the commit it was run on
    timestamp: str | None = None
    params: dict[str, Any] = field(default_factory=dict)     # params.yaml as used
    eval: dict[str, Any] = field(default_factory=dict)       # metrics/eval.json
    robustness: dict[str, Any] = field(default_factory=dict)  # metrics/robustness.json
    # the other seeds of the same experiment (group: one Run per experiment, its seeds here)
    replicas: list["Run"] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.state == "success" and bool(self.eval)

    @property
    def finished(self) -> list["Run"]:
        """This run and its replicas that finished, in seed order."""
        return sorted((r for r in [self, *self.replicas] if r.done), key=lambda r: (r.seed is None, r.seed or 0))


def _file_data(section: dict | None, path: str) -> dict:
    entry = (section or {}).get(path) or {}
    return dict(entry.get("data") or {})


def flat_params(d: dict | None, prefix: str = "") -> dict[str, Any]:
    """Nested params -> ``{"section.key": value}``."""
    out = {}
    for k, v in (d or {}).items():
        if isinstance(v, dict):
            out.update(flat_params(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


# Params added after runs of the ledger were made: a run (or a params.yaml) without one ran as with
# this value, the one that changes nothing
ADDED_LATER = {"noisy_voices.copies": 0, "noisy_voices.snr_db": [0, 30], "noisy_voices.talkers": 4,
               "noisy_voices.seed": 0, "train.noisy_voices": True,
               # issue 26: the speaker protocol and the synthetic population (off: the runs before them)
               "data.split": "utterance", "data.test_speakers": 16, "data.val_speakers": 8,
               "synth.population": False,
               # the robustness conditions' FID/KID (on before the paper experiments turned it off)
               "evaluate.robustness_fid": True,
               # V-net's attribute heads (issue 26's lever; off: the runs before them)
               "vnet.attribute_weight": 0.0, "vnet.emotion_weight": 0.0,
               # V-net's emotion code beside E_v (off: the runs before it)
               "vnet.emotion_code": False}
# ... and keys that change nothing while ``noisy_voices.copies`` is 0 (no babble copies to use)
INERT_WITHOUT_COPIES = ("noisy_voices.snr_db", "noisy_voices.talkers", "noisy_voices.seed", "train.noisy_voices")


def other_settings(run: Run, like: dict) -> dict[str, tuple[Any, Any]]:
    """``{key: (run's value, like's value)}`` for the params in which ``run`` differs from ``like``
    (a params.yaml), beyond what its experiment varies (the pinned keys and recipe, its own
    changes, the seed) and what changes nothing in that run (``INERT_WITHOUT_COPIES``)."""
    mine, ref = flat_params(run.params), flat_params(like)
    mine, ref = {**ADDED_LATER, **mine}, {**ADDED_LATER, **ref}
    varied = set(varied_keys(run.name))
    if mine.get("noisy_voices.copies", 0) == 0:
        varied |= set(INERT_WITHOUT_COPIES)
    return {k: (mine.get(k), ref.get(k)) for k in sorted(set(mine) | set(ref))
            if k not in varied and mine.get(k) != ref.get(k)}


def runs_of_exp_show(payload: list[dict]) -> list[Run]:
    """``dvc exp show --json`` (DVC 3.x: a list of rows, the workspace first, then baseline
    commits each with ``experiments``: ``{name, executor: {state} | null, revs: [{rev, name,
    data: {timestamp, params, metrics}, error}]}``) -> one Run per ``paper-*`` experiment revision.

    An experiment run in the workspace has ``executor`` null (done); a queued one "queued",
    "running", "success" or "failed" (a failed one carries its baseline's metrics, ignored)."""
    out = []
    for row in payload or []:
        if row.get("rev") == "workspace":
            continue
        base = row.get("rev")
        for exp in row.get("experiments") or []:
            for rev in exp.get("revs") or []:
                parsed = parse_exp_name(rev.get("name") or exp.get("name") or "")
                if parsed is None:
                    continue
                executor = exp.get("executor")
                state = executor.get("state", "success") if isinstance(executor, dict) else "success"
                if rev.get("error"):
                    state = "failed"
                data = rev.get("data") or {}
                metrics = data.get("metrics") or {}
                run = Run(name=parsed[0], seed=parsed[1], state=state, rev=rev.get("rev"), baseline=base,
                          timestamp=data.get("timestamp"),
                          params=dict(_file_data(data.get("params"), "params.yaml")))
                if state == "success":
                    run.eval, run.robustness = _file_data(metrics, EVAL), _file_data(metrics, ROBUSTNESS)
                out.append(run)
    return out


_RANK = {"success": 3, "running": 2, "queued": 1, "failed": 0}


def latest(candidates: Iterable[Run]) -> dict[tuple[str, int | None], Run]:
    """(name, seed) -> the run of that name that counts: finished before running before queued
    before failed, the newest among equals (several baselines with ``-A``, or a ledger's copy)."""
    best: dict[tuple[str, int | None], Run] = {}
    for run in candidates:
        key, old = (run.name, run.seed), best.get((run.name, run.seed))
        if old is None or (_RANK.get(run.state, 0), run.timestamp or "") > (_RANK.get(old.state, 0),
                                                                            old.timestamp or ""):
            best[key] = run
    return best


def _describe(run: Run, other: dict[str, tuple[Any, Any]]) -> str:
    shown = ", ".join(f"{k} {a!r} not {b!r}" for k, (a, b) in list(other.items())[:3])
    return (f"{exp_name(run.name, run.seed)} ({(run.baseline or '?')[:7]}: {shown}"
            f"{', ...' if len(other) > 3 else ''})")


def group(candidates: Iterable[Run], like: dict | None = None,
          left_out: list[str] | None = None) -> dict[str, Run]:
    """Runs (of ``dvc exp show`` and of a ledger) -> name -> Run, one per experiment, in
    EXPERIMENTS' then EARLIER's order (a ``missing`` Run for those with none).

    Of the same name and seed the one ``latest`` picks counts. Seeded runs
    (``paper-<name>-s<seed>``) of one experiment are grouped: the lowest seed is the Run, the
    others its ``replicas``; where seeded runs exist an unseeded one is left out.

    ``like`` (a params.yaml): finished runs whose params differ from it in more than their
    experiment varies are left out, so the tables of several commits (``-A``) do not mix runs
    of other settings (an older default's learning rate, say); each is described in
    ``left_out``, when given. The EARLIER runs are a closed record, kept whatever their settings
    (the tables give them their own section and say how they were made)."""
    kept, seen_out = [], set()
    for run in candidates:
        filtered = like is not None and run.state == "success" and run.name in EXPERIMENTS
        other = other_settings(run, like) if filtered else {}
        if not other:
            kept.append(run)
        elif left_out is not None and (exp_name(run.name, run.seed), run.rev) not in seen_out:
            seen_out.add((exp_name(run.name, run.seed), run.rev))
            left_out.append(_describe(run, other))
    runs = latest(kept)
    out = {}
    for n in ALL_NAMES:
        seeded = sorted((r for (name, seed), r in runs.items() if name == n and seed is not None),
                        key=lambda r: r.seed)
        first, *rest = seeded or [runs.get((n, None), Run(name=n))]
        out[n] = replace(first, replicas=rest)
    return out


def parse_exp_show(payload: list[dict], like: dict | None = None,
                   left_out: list[str] | None = None, extra: Iterable[Run] = ()) -> dict[str, Run]:
    """``dvc exp show --json`` plus ``extra`` runs (a ledger's) -> name -> Run (see ``group``)."""
    return group([*runs_of_exp_show(payload), *extra], like, left_out)


def collect(dvc: DvcClient, all_commits: bool = False, like: dict | None = None,
            left_out: list[str] | None = None, extra: Iterable[Run] = ()) -> dict[str, Run]:
    """The paper experiments of the HEAD commit (``all_commits``: of any commit, newest first),
    with ``extra`` runs (a ledger's) among them; ``like`` and ``left_out`` as in ``group``."""
    return parse_exp_show(dvc.exp_show(all_commits), like, left_out, extra)
