"""The experiments behind the paper's Tables 2-5, as DVC experiments named ``paper-<name>``.

Each one is the pipeline with a few ``-S`` overrides. Every experiment sets both keys the
tables vary (``features.kind`` and ``model.variant``), so none inherits the other's value from
a workspace a previous experiment left behind; everything else comes from the workspace's
params.yaml plus the user's extra overrides. Table 3 (robustness) needs no runs of its own: the
``evaluate`` stage of every run scores all noise and duration conditions, and the table reads
``paper-fbank``'s.

This module is the catalogue only: names, settings and the ``dvc exp run`` command line of
each; ``runs`` runs them, ``results`` reads them back.
"""
from __future__ import annotations

from typing import Iterable

from .. import overrides
from ..errors import FeganError

PREFIX = "paper-"

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

RUN_ALL = ["dvc", "exp", "run", "--run-all", "--jobs", "1"]


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


def _key(item: str) -> str:
    """The dotted key of ``section.key=value`` (``+``/``++``, which add a key, aside)."""
    return item.partition("=")[0].lstrip("+")


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


def check_extra(extra: Iterable[str], seeds: Iterable[int | None] = (None,)) -> list[str]:
    """The user's extra ``-S`` for every experiment, checked before anything is queued or run:
    not a pinned key, ``section.key=value`` in the grammar DVC reads, and no seed beside ``--seeds``."""
    extra = list(extra)
    for item in extra:
        key = _key(item)
        if key in PINNED:
            raise FeganError(f"-S {item}: {key} is what the paper experiments vary; it cannot be set for all of them")
        if "=" not in item or not key:
            raise FeganError(f"-S wants section.key=value, got {item!r}")
    overrides.parse(extra)
    if list(seeds) != [None] and any(_key(item) == SEED_KEY for item in extra):
        raise FeganError(f"-S {SEED_KEY}=... and --seeds both set the training seed; use one")
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
