"""What the preprocessing stages share: the too-few-clips rule and the audio artifact."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import FeganError


def require_clips(n_ok: int, min_clips: int, stage: str, table: pd.DataFrame) -> None:
    """The one failure a stage has for bad input: too few usable clips left."""
    if n_ok < min_clips:
        reasons = table.loc[table.status != "ok", "reason"].value_counts().head(3)
        why = "; ".join(f"{n}x {r}" for r, n in reasons.items()) or "no clips found"
        raise FeganError(f"{stage}: only {n_ok} usable clips, need data.min_clips={min_clips} ({why})")


def load_audio(audio_path: str | Path) -> np.ndarray:
    """The concatenated 32 kHz audio written by `demux` (see its table's audio_offset/len)."""
    from safetensors.numpy import load_file
    return load_file(str(audio_path))["audio"]
