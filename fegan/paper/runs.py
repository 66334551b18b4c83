"""The experiments behind the paper's Tables 2-5, as DVC experiments named ``paper-<name>``.

Each one is the pipeline with a few ``-S`` overrides. Every experiment sets both keys the
tables vary (``features.kind`` and ``model.variant``), so none inherits the other's value from
a workspace a previous experiment left behind; everything else comes from the workspace's
params.yaml plus the user's extra overrides. Table 3 (robustness) needs no runs of its own: the
``evaluate`` stage of every run scores all noise and duration conditions, and the table reads
``paper-fbank``'s.

Three ways to run them (``fegan paper-tables``):

- ``--run``: one after another in the workspace, ``dvc exp run -n paper-<name> -S ...``
  (``paper-fbank`` last, so the workspace ends on the baseline). Sees everything the workspace
  has (a relative ``data.raw_dir``, the ``data/cache`` of real-face features), prints progress.
- ``--queue``: ``dvc exp run --queue ...`` each; ``dvc queue start`` (background) or
  ``dvc exp run --run-all`` runs them in temporary copies of the repository: git-tracked files
  plus DVC outputs from the cache, so a relative ``data.raw_dir`` that is neither is refused.
- ``--queue --run``: queue, then ``dvc exp run --run-all``.

``collect`` reads the finished ones back through ``dvc exp show --json`` (DVC 3 format),
together with those recorded in the committed ledger (``ledger.py``), which outlive the refs.
"""
from __future__ import annotations

import copy
import json
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

from ..errors import FeganError

PREFIX = "paper-"
EVAL = "metrics/eval.json"
ROBUSTNESS = "metrics/robustness.json"

# name -> the -S overrides that make it differ from the paper's baseline (FE-GAN on Fbank).
EXPERIMENTS: dict[str, list[str]] = {
    "fbank": [],                                       # FE-GAN, Fbank: Tables 2, 3, 4, 5
    "mfcc": ["features.kind=mfcc"],                    # Table 2
    "spectrogram": ["features.kind=spectrogram"],      # Table 2
    "no_c1": ["model.variant=no_c1"],                  # Table 2
    "no_c2": ["model.variant=no_c2"],                  # Table 2
    "no_d1": ["model.variant=no_d1"],                  # Table 2
    "no_d2": ["model.variant=no_d2"],                  # Table 2
    "acgan": ["model.variant=acgan"],                  # Tables 4, 5
    "cgan": ["model.variant=cgan"],                    # Tables 4, 5 (Wav2Pix's cGAN, as the paper compares)
    "cgan_proj": ["model.variant=cgan_proj"],          # Tables 4, 5 (a projection discriminator: not in the paper)
}
BASELINE = "fbank"
# the keys the experiments vary, pinned to the baseline's values in every experiment
PINNED = {"features.kind": "fbank", "model.variant": "fegan"}


SEED_KEY = "train.seed"


def exp_name(name: str, seed: int | None = None) -> str:
    """The DVC experiment's name: ``paper-<name>``, or ``paper-<name>-s<seed>`` for one of several seeds."""
    return f"{PREFIX}{name}" if seed is None else f"{PREFIX}{name}-s{seed}"


def parse_exp_name(full: str) -> tuple[str, int | None] | None:
    """``paper-<name>[-s<seed>]`` -> (name, seed); None for other experiments."""
    if not full.startswith(PREFIX):
        return None
    rest = full[len(PREFIX):]
    if rest in EXPERIMENTS:
        return rest, None
    head, sep, tail = rest.rpartition("-s")
    if sep and head in EXPERIMENTS and tail.isdigit():
        return head, int(tail)
    return None


def parse_seeds(text: str | None) -> list[int | None]:
    """``--seeds 0,1,2`` -> [0, 1, 2]; nothing -> [None] (the seed in params.yaml, unsuffixed names)."""
    if not text:
        return [None]
    try:
        seeds = [int(x) for x in str(text).split(",") if x.strip()]
    except ValueError:
        raise FeganError(f"--seeds wants comma-separated integers, got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise FeganError(f"--seeds wants distinct integers >= 0, got {text!r}")
    return seeds


def experiment_overrides(name: str, extra: Iterable[str] = (), seed: int | None = None) -> list[str]:
    """All ``-S`` values of experiment ``name``: the pinned keys, its own, ``extra``, then the seed."""
    if name not in EXPERIMENTS:
        raise FeganError(f"unknown paper experiment {name!r} (known: {', '.join(EXPERIMENTS)})")
    values = dict(PINNED)
    for item in [*EXPERIMENTS[name], *extra, *([f"{SEED_KEY}={seed}"] if seed is not None else [])]:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise FeganError(f"-S wants section.key=value, got {item!r}")
        values[key] = value
    return [f"{k}={v}" for k, v in values.items()]


def check_extra(extra: Iterable[str]) -> list[str]:
    extra = list(extra)
    for item in extra:
        key = item.partition("=")[0]
        if key in PINNED:
            raise FeganError(f"-S {item}: {key} is what the paper experiments vary; it cannot be set for all of them")
        if "=" not in item or not key:
            raise FeganError(f"-S wants section.key=value, got {item!r}")
    return extra


def select(names: Iterable[str] | None) -> list[str]:
    """``names`` (None: all) validated, in EXPERIMENTS' order; accepts ``paper-`` prefixes and commas."""
    if not names:
        return list(EXPERIMENTS)
    wanted = []
    for n in names:
        for part in str(n).split(","):
            part = part.strip().removeprefix(PREFIX)
            if part and part not in EXPERIMENTS:
                raise FeganError(f"unknown paper experiment {part!r} (known: {', '.join(EXPERIMENTS)})")
            if part:
                wanted.append(part)
    return [n for n in EXPERIMENTS if n in wanted]


def command(name: str, extra: Iterable[str] = (), queue: bool = True, copy: Iterable[str] = (),
            seed: int | None = None) -> list[str]:
    """The ``dvc exp run`` command line of one experiment (``copy``: ``-C`` arguments)."""
    args = ["dvc", "exp", "run", *(["--queue"] if queue else []), *copy, "--name", exp_name(name, seed)]
    for s in experiment_overrides(name, extra, seed):
        args += ["-S", s]
    return args


RUN_ALL = ["dvc", "exp", "run", "--run-all", "--jobs", "1"]


# --- running dvc ------------------------------------------------------------------------------

def _dvc(args: list[str]) -> list[str]:
    """``args`` with ``dvc`` resolved: the one beside this Python (the venv), else PATH's."""
    local = Path(sys.executable).parent / "dvc"
    exe = str(local) if local.is_file() else shutil.which("dvc")
    if exe is None:
        raise FeganError("dvc is not installed (run `make setup`)")
    return [exe, *args[1:]]


def _env() -> dict[str, str]:
    bindir = str(Path(sys.executable).parent)
    return dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""), DVC_NO_ANALYTICS="1")


def _call(args: list[str], cwd: str | Path, capture: bool) -> subprocess.CompletedProcess:
    """Run dvc; not captured, its output goes to our stderr (stdout is for the tables)."""
    if capture:
        return subprocess.run(_dvc(args), cwd=cwd, env=_env(), text=True, capture_output=True)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        err = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        err = None
    return subprocess.run(_dvc(args), cwd=cwd, env=_env(), text=True, stdout=err)


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("ERROR")]
    return (errors or lines or ["(no output)"])[0 if errors else -1]


# --- queueing and running ----------------------------------------------------------------------

def _stage_outs(repo: Path) -> set[str]:
    try:
        stages = (yaml.safe_load((repo / "dvc.yaml").read_text()) or {}).get("stages", {})
    except (OSError, yaml.YAMLError):
        return set()
    outs = set()
    for st in stages.values():
        for o in st.get("outs", []) or []:
            outs.add(str(next(iter(o))) if isinstance(o, dict) else str(o))
    return {o.rstrip("/") for o in outs}


def _queue_check(repo: Path, extra: list[str]) -> list[str]:
    """Refuse inputs a queued run (a temporary copy of git + DVC outputs) cannot see; ``-C``
    copies for small untracked files it needs. Returns the extra ``dvc exp run`` arguments."""
    from ..params import load_params

    params = load_params(repo / "params.yaml")
    flat = {k: v for k, v in (item.partition("=")[::2] for item in extra)}
    raw = str(flat.get("data.raw_dir", (params.get("data") or {}).get("raw_dir", "")))
    if raw and not os.path.isabs(raw) and raw.rstrip("/") not in _stage_outs(repo):
        raise FeganError(f"data.raw_dir is {raw!r}, a relative path that queued experiments (run in a "
                         "temporary copy of the repository) do not see; use --run (in the workspace) "
                         "or an absolute data.raw_dir")
    weights = flat.get("evaluate.inception_weights", (params.get("evaluate") or {}).get("inception_weights"))
    if weights and weights not in ("null", "None") and not os.path.isabs(str(weights)):
        return ["-C", str(weights)]
    return []


def _check_commit(repo: Path) -> None:
    """DVC experiments are commits on top of HEAD: a repository without one cannot run them."""
    try:
        ok = subprocess.run(["git", "rev-parse", "--verify", "-q", "HEAD"], cwd=repo, capture_output=True,
                            text=True).returncode == 0
    except OSError:
        raise FeganError("git is not installed; DVC experiments need it") from None
    if not ok:
        raise FeganError("no git commit yet: DVC experiments start from one (git add -A && git commit -m ...)")


def _existing(repo: Path) -> dict[str, str]:
    """Paper experiments of the HEAD commit (full names, seeds included) and their state."""
    return {exp_name(r.name, r.seed): r.state for group in collect(repo).values()
            for r in [group, *group.replicas] if r.state != "missing"}


Job = tuple[str, "int | None"]      # (experiment, seed or None)


def _jobs(names: list[str], seeds: Iterable[int | None]) -> list[Job]:
    return [(n, s) for n in names for s in seeds]


def recorded_done(recorded: Iterable[Run], params: dict, extra: Iterable[str] = ()) -> set[str]:
    """Full names of the ``recorded`` (ledger) runs made with ``params`` plus the ``extra``
    overrides (beyond what each experiment varies): runs that queueing again would repeat."""
    from ..profiles import apply_overrides

    like = apply_overrides(copy.deepcopy(params), extra)
    return {exp_name(r.name, r.seed) for r in recorded if r.done and not other_settings(r, like)}


def _skip(jobs: list[Job], repo: Path, force: bool, say: Callable[[str], None],
          recorded: set[str] = frozenset()) -> list[Job]:
    states = _existing(repo)
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
                p = _call(["dvc", "exp", "remove", full], repo, capture=True)
                if p.returncode != 0:
                    raise FeganError(f"dvc exp remove {full} failed: {_last_line(p.stderr or p.stdout)}")
                say(f"removed the previous {full}")
            todo.append((n, seed))
    return todo


def _recorded(recorded: Iterable[Run], repo: Path, extra: list[str]) -> set[str]:
    recorded = list(recorded)
    if not recorded:
        return set()
    from ..params import load_params

    return recorded_done(recorded, load_params(repo / "params.yaml"), extra)


def _check_seeds(extra: list[str], seeds: list[int | None]) -> None:
    if seeds != [None] and any(item.partition("=")[0] == SEED_KEY for item in extra):
        raise FeganError(f"-S {SEED_KEY}=... and --seeds both set the training seed; use one")


def queue(names: Iterable[str] | None = None, extra: Iterable[str] = (), run: bool = False,
          repo: str | Path = ".", dry_run: bool = False, force: bool = False,
          say: Callable[[str], None] = print, seeds: Iterable[int | None] = (None,),
          recorded: Iterable[Run] = ()) -> list[list[str]]:
    """Queue the experiments (``dvc exp run --queue``), then with ``run`` run the queue
    (``dvc exp run --run-all``). Experiments done, queued, or recorded in the ledger with these
    settings (``recorded``) are skipped (``force`` reruns done ones). With ``seeds``, each
    experiment once per training seed (``paper-<name>-s<seed>``, ``-S train.seed=<seed>``). Returns the dvc command lines
    (with ``dry_run``, only returns them)."""
    repo, extra, seeds = Path(repo), check_extra(extra), list(seeds)
    _check_seeds(extra, seeds)
    jobs = _jobs(select(names), seeds)
    copy = [] if dry_run else _queue_check(repo, extra)
    if not dry_run:
        _check_commit(repo)
        jobs = _skip(jobs, repo, force, say, _recorded(recorded, repo, extra))
    cmds = [command(n, extra, queue=True, copy=copy, seed=seed) for n, seed in jobs]
    if run and (jobs or dry_run):
        cmds.append(list(RUN_ALL))
    if dry_run:
        return cmds
    for args in cmds:
        say("$ " + shlex.join(args))
        if args == RUN_ALL:
            p = _call(args, repo, capture=False)
        else:
            p = _call(args, repo, capture=True)
            if p.returncode != 0:
                raise FeganError(f"{shlex.join(args[:6])} ... failed: {_last_line(p.stderr or p.stdout)}")
        if p.returncode != 0:
            raise FeganError(f"`{shlex.join(args)}` failed (exit status {p.returncode})")
    if jobs and not run:
        say(f"queued {len(jobs)} experiment(s); run them with `dvc queue start` (in the background; "
            "`dvc queue status` to follow) or `dvc exp run --run-all`, then `fegan paper-tables`")
    return cmds


def run_in_workspace(names: Iterable[str] | None = None, extra: Iterable[str] = (), repo: str | Path = ".",
                     dry_run: bool = False, force: bool = False,
                     say: Callable[[str], None] = print, seeds: Iterable[int | None] = (None,),
                     recorded: Iterable[Run] = ()) -> list[list[str]]:
    """Run the experiments one after another in the workspace (``dvc exp run -n ...``), the
    baseline last so the workspace ends on it (its first seed last of all). A failed one does
    not stop the others; the failures are one error at the end. Each run's wall time is said."""
    import time

    repo, extra, seeds = Path(repo), check_extra(extra), list(seeds)
    _check_seeds(extra, seeds)
    names = select(names)
    names = [n for n in names if n != BASELINE] + [n for n in names if n == BASELINE]
    jobs = _jobs(names, seeds)
    if jobs and jobs[-1][0] == BASELINE and len(seeds) > 1:       # the workspace ends on the first seed
        base = [j for j in jobs if j[0] == BASELINE]
        jobs = [j for j in jobs if j[0] != BASELINE] + base[1:] + base[:1]
    if not dry_run:
        _check_commit(repo)
        jobs = _skip(jobs, repo, force, say, _recorded(recorded, repo, extra))
    cmds = [command(n, extra, queue=False, seed=seed) for n, seed in jobs]
    if dry_run:
        return cmds
    failed = []
    for (n, seed), args in zip(jobs, cmds):
        say("$ " + shlex.join(args))
        t = time.monotonic()
        code = _call(args, repo, capture=False).returncode
        say(f"{exp_name(n, seed)}: {'failed' if code else 'done'} in {time.monotonic() - t:.0f} s")
        if code != 0:
            failed.append(exp_name(n, seed))
    if failed:
        raise FeganError(f"{len(failed)} experiment(s) failed: {', '.join(failed)} (see the output above)")
    return cmds


# --- reading the results back ------------------------------------------------------------------

@dataclass
class Run:
    """One paper experiment as ``dvc exp show`` reports it."""
    name: str                                   # key of EXPERIMENTS
    state: str = "missing"                      # success | queued | running | failed | missing
    seed: int | None = None                     # --seeds: the training seed in its name (paper-NAME-sSEED)
    rev: str | None = None
    baseline: str | None = None                 # the commit it was run on
    timestamp: str | None = None
    params: dict[str, Any] = field(default_factory=dict)     # params.yaml as used
    eval: dict[str, Any] = field(default_factory=dict)       # metrics/eval.json
    robustness: dict[str, Any] = field(default_factory=dict)  # metrics/robustness.json
    # the other seeds of the same experiment (collect: one Run per experiment, its seeds here)
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


def other_settings(run: Run, like: dict) -> dict[str, tuple[Any, Any]]:
    """``{key: (run's value, like's value)}`` for the params in which ``run`` differs from ``like``
    (a params.yaml), beyond what its experiment varies (the pinned keys, its own overrides, the seed)."""
    mine, ref = flat_params(run.params), flat_params(like)
    varied = {*PINNED, SEED_KEY, *(item.partition("=")[0] for item in EXPERIMENTS.get(run.name, []))}
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


def group(candidates: Iterable[Run], like: dict | None = None,
          left_out: list[str] | None = None) -> dict[str, Run]:
    """Runs (of ``dvc exp show`` and of a ledger) -> name -> Run, one per experiment.

    With several baselines (``-A``) or the same name twice the newest finished one wins.
    Seeded runs (``paper-<name>-s<seed>``) of one experiment are grouped: the lowest seed is
    the Run, the others its ``replicas``; where seeded runs exist an unseeded one is left out.

    ``like`` (a params.yaml): finished runs whose params differ from it in more than their
    experiment varies are left out, so the tables of several commits (``-A``) do not mix runs
    of other settings (an older default's learning rate, say); each is described in
    ``left_out``, when given."""
    runs: dict[tuple[str, int | None], Run] = {}
    order = {"success": 3, "running": 2, "queued": 1, "failed": 0}
    seen_out = set()
    for run in candidates:
        key = (run.name, run.seed)
        if run.state == "success":
            other = other_settings(run, like) if like is not None else {}
            if other:
                full = exp_name(run.name, run.seed)
                if left_out is not None and (full, run.rev) not in seen_out:
                    seen_out.add((full, run.rev))
                    shown = ", ".join(f"{k} {a!r} not {b!r}" for k, (a, b) in list(other.items())[:3])
                    left_out.append(f"{full} ({(run.baseline or '?')[:7]}: {shown}"
                                    f"{', ...' if len(other) > 3 else ''})")
                continue
        old = runs.get(key)
        if old is None or (order.get(run.state, 0), run.timestamp or "") > \
                (order.get(old.state, 0), old.timestamp or ""):
            runs[key] = run
    out = {}
    for n in EXPERIMENTS:
        seeded = sorted((r for (name, seed), r in runs.items() if name == n and seed is not None),
                        key=lambda r: r.seed)
        group_ = seeded or [runs.get((n, None), Run(name=n))]
        group_[0].replicas = group_[1:]
        out[n] = group_[0]
    return out


def parse_exp_show(payload: list[dict], like: dict | None = None,
                   left_out: list[str] | None = None, extra: Iterable[Run] = ()) -> dict[str, Run]:
    """``dvc exp show --json`` plus ``extra`` runs (a ledger's) -> name -> Run (see ``group``)."""
    return group([*runs_of_exp_show(payload), *extra], like, left_out)


def collect(repo: str | Path = ".", all_commits: bool = False, like: dict | None = None,
            left_out: list[str] | None = None, extra: Iterable[Run] = ()) -> dict[str, Run]:
    """The paper experiments of the HEAD commit (``all_commits``: of any commit, newest first),
    with ``extra`` runs (a ledger's) among them; ``like`` and ``left_out`` as in ``group``."""
    args = ["dvc", "exp", "show", "--json", *(["--all-commits"] if all_commits else [])]
    p = _call(args, Path(repo), capture=True)
    if p.returncode != 0:
        raise FeganError(f"`{shlex.join(args)}` failed: {_last_line(p.stderr or p.stdout)}")
    try:
        payload = json.loads(p.stdout)
    except json.JSONDecodeError:
        raise FeganError(f"`{shlex.join(args)}` printed no JSON: {_last_line(p.stdout)}") from None
    return parse_exp_show(payload, like, left_out, extra)
