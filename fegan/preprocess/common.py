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


_OPEN: dict = {}


def clip_audio(audio_path: str | Path, offset: int, length: int) -> np.ndarray:
    """One clip's samples from the audio file written by `demux`, read lazily.

    Workers read their own slices from the file instead of receiving arrays
    through the process pool's pipes; the open handle is kept per process.
    """
    from safetensors import safe_open

    st = Path(audio_path).stat()
    key = (str(audio_path), st.st_mtime_ns, st.st_size)  # a rewritten file is a new key
    if key not in _OPEN:
        _OPEN.clear()
        _OPEN[key] = safe_open(str(audio_path), framework="np").get_slice("audio")
    return _OPEN[key][int(offset):int(offset) + int(length)]
