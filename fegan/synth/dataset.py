"""Write the whole synthetic dataset: RAVDESS layout, parallel over clips.

In population mode (``population: true``, ``fegan.synth.population``) it also writes
``actors.csv`` at the dataset's root: one row per actor, ``actor, sex, age, size`` and then
the attributes drawn independently of them, the file that ``fegan.datasets.actors.read_actors``
reads.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..datasets.attributes import ACTORS_FILE
from ..datasets.ravdess import EMOTIONS, RavdessName, format_name
from ..errors import FeganError
from ..io import atomic_path
from ..parallel import pmap
from ..params import build_config
from .clip import VideoFormat, render_clip
from .population import actor_table


@dataclass
class SynthConfig:
    """The ``synth`` section of params.yaml; field names mirror its keys."""
    out_dir: str = "data/raw/synthetic"
    truth: str = "data/synthetic_truth.parquet"
    seed: int = 0
    actors: int = 8
    emotions: list[int] = field(default_factory=lambda: [1, 3, 4, 5])
    intensities: list[int] = field(default_factory=lambda: [1, 2])
    statements: list[int] = field(default_factory=lambda: [1, 2])
    repetitions: list[int] = field(default_factory=lambda: [1, 2])
    width: int = 1280
    height: int = 720
    fps: int = 30
    sample_rate: int = 48000
    crf: int = 23
    preset: str = "veryfast"
    workers: int = 0  # 0: one per core
    population: bool = False  # actors' sex, age and size drive voice and face (fegan.synth.population)

    def validate(self) -> None:
        if not isinstance(self.population, bool):
            raise FeganError(f"synth.population must be true or false, got {self.population!r}")
        if self.population and not 1 <= self.actors <= 99:
            # RAVDESS names hold the actor in two digits
            raise FeganError(f"synth.actors must be 1..99 in population mode, got {self.actors}")
        if not self.population and not 1 <= self.actors <= 24:
            raise FeganError(f"synth.actors must be 1..24, got {self.actors}")
        bad = [e for e in self.emotions if e not in EMOTIONS]
        if bad:
            raise FeganError(f"synth.emotions must be RAVDESS codes 1..8, got {bad}")
        for key, allowed in (("intensities", (1, 2)), ("statements", (1, 2)), ("repetitions", (1, 2))):
            vals = getattr(self, key)
            if not vals or any(v not in allowed for v in vals):
                raise FeganError(f"synth.{key} must be a non-empty subset of {list(allowed)}, got {vals}")
        if self.width % 2 or self.height % 2 or self.width < 320 or self.height < 240:
            raise FeganError(f"synth.width/height must be even and at least 320x240, got {self.width}x{self.height}")

    def names(self) -> list[RavdessName]:
        """Every clip name; neutral has no strong intensity in RAVDESS."""
        return [format_name(emotion=e, intensity=i, statement=s, repetition=r, actor=a)
                for a in range(1, self.actors + 1) for e in self.emotions for i in self.intensities
                if not (e == 1 and i == 2) for s in self.statements for r in self.repetitions]

    def video_format(self) -> VideoFormat:
        return VideoFormat(self.width, self.height, self.fps, self.sample_rate, self.crf, self.preset)


def _render_one(args):
    name, seed, root, fmt, population = args
    return render_clip(name, seed, Path(root) / name.relpath, fmt, population)


def synthesize(cfg: SynthConfig, progress: bool = True) -> pd.DataFrame:
    """Render every clip into ``cfg.out_dir`` and the ground truth into ``cfg.truth``.

    The folder is built under a temporary name and swapped in at the end, so an
    interrupted run never leaves a half dataset behind.
    """
    names = cfg.names()
    fmt = cfg.video_format()
    with atomic_path(cfg.out_dir) as tmp_root:
        tmp_root.mkdir()
        jobs = [(n, cfg.seed, str(tmp_root), fmt, cfg.population) for n in names]
        rows = pmap(_render_one, jobs, cfg.workers, desc="synthesize", progress=progress)
        if cfg.population:
            pd.DataFrame(actor_table(cfg.seed, cfg.actors)).to_csv(tmp_root / ACTORS_FILE, index=False)
        truth = pd.DataFrame(rows)
        truth.insert(0, "seed", cfg.seed)
        with atomic_path(cfg.truth, suffix=".parquet") as tmp:
            truth.to_parquet(tmp, index=False)
    return truth


def stage(params: dict) -> str:
    """The `synthesize` stage: params.yaml's ``synth`` section in, dataset out."""
    cfg = build_config(SynthConfig, params.get("synth"), "synth")
    truth = synthesize(cfg)
    return f"synthesize: {len(truth)} clips in {cfg.out_dir}"
