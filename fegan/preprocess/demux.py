"""Stage `demux`: find clips, read labels, decode and resample the audio track.

Writes the clip table (one row per video file found, usable or not) and one
tensor file with every usable clip's mono audio at ``sample_rate`` (32 kHz: the
rate of the paper's features and one webrtcvad accepts), concatenated; the table's
``audio_offset``/``audio_len`` index into it. Frames are not decoded here: which
frames the faces stage needs depends on the voiced part found by `vad`, so that
stage seeks to exactly those.
"""
from __future__ import annotations

import functools
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .. import paths
from ..datasets.adapters import FORMATS, scan
from ..datasets.actors import read_actors
from ..errors import FeganError
from ..io import Spooled, atomic_path, save_concatenated, spool
from ..media import MediaError, read_audio_probed
from ..parallel import pmap
from ..params import build_config
from .common import require_clips
from .guard import Guard, Unforeseen, log_path, write_log
from .split import SPLITS, assign_speaker_split, assign_split


@dataclass
class DataConfig:
    """The ``data`` section of params.yaml."""
    format: str = "ravdess"
    raw_dir: str = "data/raw/synthetic"
    sample_rate: int = 32000
    split_seed: int = 0
    test_fraction: float = 0.25
    val_fraction: float = 0.15              # of each group's clips left after test (fegan.preprocess.split)
    split: str = "utterance"                # utterance (the paper's: held-out clips of seen speakers) | speaker
    test_speakers: int = 16                 # split: speaker: speakers held out whole for test ...
    val_speakers: int = 8                   # ... and for val (the choices); the rest train
    min_clips: int = 8
    min_duration_s: float = 0.5
    workers: int = 0

    def validate(self) -> None:
        if self.format not in FORMATS:
            raise FeganError(f"data.format must be one of {', '.join(FORMATS)}, got {self.format!r}")
        if self.sample_rate not in (8000, 16000, 32000, 48000):
            raise FeganError(f"data.sample_rate must be 8000, 16000, 32000 or 48000 (webrtcvad), "
                             f"got {self.sample_rate}")
        if not 0 < self.test_fraction < 1:
            raise FeganError(f"data.test_fraction must be in (0, 1), got {self.test_fraction}")
        if not 0 <= self.val_fraction < 1:
            raise FeganError(f"data.val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.split not in SPLITS:
            raise FeganError(f"data.split must be one of {', '.join(SPLITS)}, got {self.split!r}")
        if self.split == "speaker" and (self.test_speakers < 1 or self.val_speakers < 0):
            raise FeganError(f"data.test_speakers must be >= 1 and data.val_speakers >= 0, got "
                             f"{self.test_speakers} and {self.val_speakers}")


@functools.lru_cache(maxsize=8)
def _resampler(sr: int, target: int):
    import torchaudio.transforms as AT
    return AT.Resample(sr, target)


def resample(x: np.ndarray, sr: int, target: int) -> np.ndarray:
    """torchaudio's windowed-sinc resampling; the kernel is built once per rate pair."""
    if sr == target:
        return x
    import torch
    with torch.no_grad():
        return _resampler(sr, target)(torch.from_numpy(x)).numpy()


# what `_demux_one` reads from a usable clip, with the value a failed clip keeps
_PROBED = {"duration_s": 0.0, "sample_rate": 0, "width": 0, "height": 0, "fps": 0.0}


def _demux_one(job) -> tuple[dict, Spooled | None]:
    root, path, target_sr, min_dur, spool_dir = job
    try:
        info, audio = read_audio_probed(Path(root) / path)
        if not info.has_video:
            raise MediaError("no video stream")
        sr = info.sample_rate
        dur = len(audio) / sr
        if dur < min_dur:
            raise MediaError(f"audio too short ({dur:.2f} s)")
        if info.duration_s and dur < 0.8 * info.duration_s:
            raise MediaError(f"truncated: audio decodes {dur:.2f} s of {info.duration_s:.2f} s")
    except MediaError as e:
        return {"status": "error", "reason": str(e)}, None
    row = {"duration_s": dur, "sample_rate": sr, "width": info.width, "height": info.height,
           "fps": info.fps}
    return row, spool(spool_dir, resample(audio, sr, target_sr))


def _single_thread_torch():
    import torch
    torch.set_num_threads(1)


def demux(cfg: DataConfig, clips_out: str | Path, audio_out: str | Path, progress: bool = True) -> pd.DataFrame:
    table = scan(cfg.raw_dir, cfg.format)
    todo = table.index[table.status == "ok"]
    Path(audio_out).parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".demux-spool-", dir=Path(audio_out).parent) as spool_dir:
        jobs = [(cfg.raw_dir, path, cfg.sample_rate, cfg.min_duration_s, spool_dir) for path in table.path.loc[todo]]
        results = pmap(Guard(_demux_one), jobs, cfg.workers, desc="demux", progress=progress,
                       initializer=_single_thread_torch)
        failures = [(cid, r) for cid, r in zip(table.clip_id.loc[todo], results) if isinstance(r, Unforeseen)]
        results = [({"status": "error", "reason": r.reason}, None) if isinstance(r, Unforeseen) else r
                   for r in results]
        table = _write(cfg, table, todo, results, clips_out, audio_out)
    write_log(log_path(clips_out, "demux"), "demux", failures)
    return table


def _write(cfg: DataConfig, table: pd.DataFrame, todo: pd.Index, results: list, clips_out: str | Path,
           audio_out: str | Path) -> pd.DataFrame:
    """The clip table and the audio file from the workers' rows and spooled waves."""
    # whole columns at once: a .loc write per clip and field cost more than the decoding
    # of a clip on two workers
    found = pd.DataFrame([row for row, _ in results], index=todo,
                         columns=[*_PROBED, "status", "reason"])
    for col, default in _PROBED.items():
        table[col] = default
        table.loc[todo, col] = found[col].fillna(default).astype(type(default)).to_numpy()
    failed = found.status.notna().to_numpy()
    table.loc[todo[failed], ["status", "reason"]] = found.loc[failed, ["status", "reason"]].to_numpy()
    waves = [wave for _, wave in results if wave is not None]   # Spooled
    lens = np.array([w.nbytes // 4 for w in waves], dtype=np.int64)
    table["audio_offset"], table["audio_len"] = -1, 0
    table.loc[todo[~failed], "audio_offset"] = np.cumsum(lens) - lens
    table.loc[todo[~failed], "audio_len"] = lens
    table["audio_rate"] = cfg.sample_rate
    table["split"] = split_clips(table, cfg)
    table = table[["clip_id", "path", "actor", "gender", "emotion", "intensity", "statement", "repetition",
                   "split", "duration_s", "sample_rate", "width", "height", "fps", "audio_offset",
                   "audio_len", "audio_rate", "status", "reason"]]
    require_clips(int((table.status == "ok").sum()), cfg.min_clips, "demux", table)
    with atomic_path(audio_out, suffix=".safetensors") as tmp:
        save_concatenated(tmp, "audio", waves)
    with atomic_path(clips_out, suffix=".parquet") as tmp:
        table.to_parquet(tmp, index=False)
    return table


def split_clips(table: pd.DataFrame, cfg: DataConfig) -> pd.Series:
    """The clip table's ``split`` column under ``data.split`` (fegan.preprocess.split)."""
    if cfg.split == "utterance":
        return assign_split(table, cfg.split_seed, cfg.test_fraction, cfg.val_fraction)
    try:
        return assign_speaker_split(table, cfg.split_seed, cfg.test_speakers, cfg.val_speakers)
    except ValueError as e:
        raise FeganError(f"data.split speaker: {e}") from None


def write_actors(cfg: DataConfig, table: pd.DataFrame, out: str | Path) -> pd.DataFrame:
    """The usable actors' attributes (fegan.datasets.attributes) and the split each one is in under
    the speaker protocol (``mixed`` under the utterance one: every actor is in every split)."""
    ok = table[table.status == "ok"]
    actors = read_actors(cfg.raw_dir, cfg.format, ok.actor)
    splits = ok.groupby("actor").split.agg(lambda s: s.iloc[0] if s.nunique() == 1 else "mixed")
    actors["split"] = actors.actor.map(splits).fillna("").astype(str)
    with atomic_path(out, suffix=".parquet") as tmp:
        actors.to_parquet(tmp, index=False)
    return actors


def _actors_readable(cfg: DataConfig) -> None:
    try:
        read_actors(cfg.raw_dir, cfg.format, [])
    except (OSError, ValueError, KeyError) as e:
        raise FeganError(f"demux: the actors' attributes in {cfg.raw_dir} cannot be read: {e}") from None


def stage(params: dict) -> str:
    """The `demux` stage: params.yaml's ``data`` section in; clip table, audio and actors' table out."""
    cfg = build_config(DataConfig, params.get("data"), "data")
    _actors_readable(cfg)           # before decoding: a bad attribute file must not leave half the outputs
    table = demux(cfg, paths.CLIPS, paths.AUDIO)
    write_actors(cfg, table, paths.ACTORS)
    return f"demux: {(table.status == 'ok').sum()} usable of {len(table)} clips"
