"""Stage `vad`: webrtcvad speech segments per clip (paper 3.2, SPEC section 2).

webrtcvad labels each ``frame_ms`` frame speech or not; runs of speech are padded
by ``padding_ms`` on both sides (which also bridges inner pauses shorter than
twice the padding), and runs shorter than ``min_speech_ms`` are dropped as clicks.
Leading, trailing and longer inner silences are what is removed.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import webrtcvad

from .. import paths
from ..errors import FeganError
from ..io import atomic_path
from ..parallel import pmap
from ..params import build_config
from .common import clip_audio, require_clips
from .guard import Guard, Unforeseen, log_path, write_log


@dataclass
class VadConfig:
    """The ``vad`` section of params.yaml."""
    aggressiveness: int = 2
    frame_ms: int = 30
    padding_ms: int = 150
    min_speech_ms: int = 90
    workers: int = 0

    def validate(self) -> None:
        if self.aggressiveness not in (0, 1, 2, 3):
            raise FeganError(f"vad.aggressiveness must be 0..3, got {self.aggressiveness}")
        if self.frame_ms not in (10, 20, 30):
            raise FeganError(f"vad.frame_ms must be 10, 20 or 30 (webrtcvad), got {self.frame_ms}")


def speech_segments(wave: np.ndarray, sample_rate: int, aggressiveness: int = 2, frame_ms: int = 30,
                    padding_ms: int = 150, min_speech_ms: int = 90) -> list[tuple[float, float]]:
    """Voiced ``(start_s, end_s)`` segments of a mono float wave in [-1, 1]."""
    vad = webrtcvad.Vad(aggressiveness)
    n = sample_rate * frame_ms // 1000
    pcm = (np.clip(wave, -1, 1) * 32767).astype("<i2")
    frames = len(pcm) // n
    speech = np.array([vad.is_speech(pcm[i * n:(i + 1) * n].tobytes(), sample_rate) for i in range(frames)],
                      dtype=bool)
    # drop isolated clicks, then pad what is left
    runs = _runs(speech)
    keep = np.zeros_like(speech)
    for a, b in runs:
        if (b - a) * frame_ms >= min_speech_ms:
            keep[a:b] = True
    pad = int(round(padding_ms / frame_ms))
    padded = keep.copy()
    for a, b in _runs(keep):
        padded[max(0, a - pad):min(frames, b + pad)] = True
    dur = len(wave) / sample_rate
    return [(a * frame_ms / 1000, min(dur, b * frame_ms / 1000)) for a, b in _runs(padded)]


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


def voiced_audio(wave: np.ndarray, sample_rate: int, starts, ends) -> np.ndarray:
    """The samples inside the segments, concatenated."""
    return np.concatenate([wave[int(a * sample_rate):int(b * sample_rate)] for a, b in zip(starts, ends)])


def _vad_one(job):
    audio_path, offset, length, sr, kw = job
    return speech_segments(clip_audio(audio_path, offset, length), sr, **kw)


def run_vad(cfg: VadConfig, clips: pd.DataFrame, audio_path: str | Path, out: str | Path,
            min_clips: int = 1, progress: bool = True) -> pd.DataFrame:
    table = clips[["clip_id", "status", "reason"]].copy()
    table["voiced_s"] = 0.0
    table["seg_start"] = [[] for _ in range(len(table))]
    table["seg_end"] = [[] for _ in range(len(table))]
    todo = clips.index[clips.status == "ok"]
    kw = dict(aggressiveness=cfg.aggressiveness, frame_ms=cfg.frame_ms, padding_ms=cfg.padding_ms,
              min_speech_ms=cfg.min_speech_ms)
    ok = clips.loc[todo]
    jobs = [(str(audio_path), offset, length, int(rate), kw)
            for offset, length, rate in zip(ok.audio_offset, ok.audio_len, ok.audio_rate)]
    found = pmap(Guard(_vad_one), jobs, cfg.workers, desc="vad", progress=progress)
    # whole columns at once: pandas' per-cell writes cost more than a clip's VAD
    starts, ends, voiced, silent = list(table.seg_start), list(table.seg_end), table.voiced_s.to_numpy(copy=True), []
    failures = []
    for k, segs in zip(table.index.get_indexer(todo), found):
        if isinstance(segs, Unforeseen):
            failures.append((table.clip_id.iloc[k], segs))
            continue
        if not segs:
            silent.append(table.index[k])
            continue
        starts[k], ends[k] = [a for a, _ in segs], [b for _, b in segs]
        voiced[k] = float(sum(b - a for a, b in segs))
    table["seg_start"], table["seg_end"], table["voiced_s"] = starts, ends, voiced
    if silent:
        table.loc[silent, ["status", "reason"]] = ["error", "no speech detected (silent or noise only)"]
    for clip_id, u in failures:
        table.loc[table.clip_id == clip_id, ["status", "reason"]] = ["error", u.reason]
    require_clips(int((table.status == "ok").sum()), min_clips, "vad", table)
    with atomic_path(out, suffix=".parquet") as tmp:
        table.to_parquet(tmp, index=False)
    write_log(log_path(out, "vad"), "vad", failures)
    return table


def stage(params: dict) -> str:
    """The `vad` stage: ``vad`` section and ``data.min_clips``."""
    cfg = build_config(VadConfig, params.get("vad"), "vad")
    table = run_vad(cfg, pd.read_parquet(paths.CLIPS), paths.AUDIO, paths.VAD,
                    params["data"]["min_clips"])
    ok = table.status == "ok"
    return f"vad: {ok.sum()} clips with speech, mean voiced {table.voiced_s[ok].mean():.2f} s"
