"""Building odd clips for bad-input tests: PyAV writers for custom frames and audio."""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np


def write_clip(path: Path, frames: list[np.ndarray] | None, audio: np.ndarray | None,
               fps: int = 30, sample_rate: int = 48000, fmt: str = "mp4") -> Path:
    """An mp4 (or another of FFmpeg's muxers, ``fmt``: "ipod" writes .m4a) with the given RGB
    frames and/or mono float audio (either may be None)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format=fmt) as out:
        vs = aus = None
        if frames is not None:
            vs = out.add_stream("libx264", rate=fps, options={"preset": "ultrafast"})
            vs.height, vs.width = frames[0].shape[:2]
            vs.pix_fmt = "yuv420p"
        if audio is not None:
            aus = out.add_stream("aac", rate=sample_rate, layout="mono")
        for i, f in enumerate(frames or []):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts = i
            out.mux(vs.encode(vf))
        if vs is not None:
            out.mux(vs.encode())
        if aus is not None:
            af = av.AudioFrame.from_ndarray(audio.astype(np.float32)[None], format="flt", layout="mono")
            af.sample_rate, af.pts = sample_rate, 0
            out.mux(aus.encode(af))
            out.mux(aus.encode())
    return path


def decode_all(path: Path) -> tuple[list[np.ndarray], np.ndarray]:
    with av.open(str(path)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        c.seek(0)
        audio = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])
    return frames, audio
