"""The input conditions of the robustness table (paper Table 3), applied to test voices.

A condition changes the voiced audio a test clip's E_v is computed from, then
the pipeline's own features and V-net run on it:
- ``snrXX``: babble (other speakers' voiced audio, summed) mixed in at XX dB SNR;
- ``durXX``: only the first XX seconds of the voiced audio (clips shorter than
  that keep all of theirs; the mean seconds actually used is reported).
Noise is added to the voiced audio (after VAD of the clean clip), so the table
isolates what the noise does to the voice embedding from what it does to VAD.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .babble import babble_for, mix_at_snr


@dataclass(frozen=True)
class Condition:
    name: str
    snr_db: float | None = None
    duration_s: float | None = None


def conditions(snr_db: list[float], durations_s: list[float]) -> list[Condition]:
    return ([Condition(f"snr{int(s):02d}db", snr_db=float(s)) for s in snr_db]
            + [Condition(f"dur{int(d):02d}s", duration_s=float(d)) for d in durations_s])


def apply(cond: Condition, waves: list[np.ndarray], speakers: np.ndarray, sample_rate: int, talkers: int,
          seed: int) -> list[np.ndarray]:
    """The voiced audio of every test clip under ``cond`` (same seed -> same noise)."""
    if cond.duration_s is not None:
        n = int(round(cond.duration_s * sample_rate))
        return [w[:n] for w in waves]
    rng = np.random.default_rng(seed)
    out = []
    for i, w in enumerate(waves):
        out.append(mix_at_snr(w, babble_for(i, waves, speakers, talkers, rng), cond.snr_db))
    return out
