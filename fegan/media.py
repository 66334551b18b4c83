"""Container I/O with PyAV: probe, decode the audio track, seek to a few frames.

Every function raises ``MediaError`` with a short reason (the text that ends up in
a clip table's ``reason`` column) instead of PyAV's own exceptions.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np


class MediaError(Exception):
    """A clip that cannot be used; the message is the recorded reason."""


@dataclass(frozen=True)
class Probe:
    has_audio: bool
    has_video: bool
    duration_s: float
    sample_rate: int
    width: int
    height: int
    fps: float


def _open(path: str | Path):
    try:
        return av.open(str(path))
    except (av.error.InvalidDataError, av.error.FFmpegError, OSError) as e:
        raise MediaError(f"unreadable container: {type(e).__name__}") from None


def _probe(c) -> Probe:
    a = c.streams.audio[0] if c.streams.audio else None
    v = c.streams.video[0] if c.streams.video else None
    dur = float(c.duration / av.time_base) if c.duration else 0.0
    return Probe(
        has_audio=a is not None, has_video=v is not None, duration_s=dur,
        sample_rate=a.codec_context.sample_rate if a else 0,
        width=v.codec_context.width if v else 0, height=v.codec_context.height if v else 0,
        fps=float(v.average_rate) if v is not None and v.average_rate else 0.0)


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """The first audio track, averaged to mono float32, at its own sample rate."""
    info, wave = read_audio_probed(path)
    return wave, info.sample_rate


def read_audio_probed(path: str | Path) -> tuple[Probe, np.ndarray]:
    """The container's streams and its first audio track (mono float32), from one open.

    Opening a container costs a few milliseconds (the demux stage's whole budget
    per clip is ~20), so the stage probes and decodes in one go.
    """
    with _open(path) as c:
        info = _probe(c)
        if not info.has_audio:
            raise MediaError("no audio stream")
        stream = c.streams.audio[0]
        chunks, dtype = [], None
        try:
            for frame in c.decode(stream):
                x = frame.to_ndarray()
                if not frame.format.is_planar:   # (1, n * channels) interleaved -> (channels, n)
                    x = x.reshape(-1, len(frame.layout.channels)).T
                chunks.append(x)
                dtype = x.dtype
        except (av.error.InvalidDataError, av.error.FFmpegError) as e:
            if not chunks:
                raise MediaError(f"audio does not decode: {type(e).__name__}") from None
            # a truncated file: keep what decoded, the caller sees the short duration
        if not chunks:
            raise MediaError("audio stream is empty")
        # one concatenate and one mean per clip, not per 1024-sample frame
        wave = np.concatenate(chunks, axis=1).astype(np.float32).mean(axis=0)   # (n,)
        if np.issubdtype(dtype, np.integer):
            wave /= float(np.iinfo(dtype).max)
        return info, wave


def read_frames(path: str | Path, times: list[float], seek_gap_s: float = 1.0) -> list[tuple[float, np.ndarray]]:
    """RGB frames at (or just after) the given times in seconds.

    The decoder seeks to the keyframe before a requested time only when that time
    is behind the decoder or more than ``seek_gap_s`` ahead of it; nearer times are
    reached by decoding forward (a seek would restart at the same keyframe: clips
    often have one keyframe for several seconds). Only the returned frames are
    converted to RGB. Returns ``(frame_time_s, (H, W, 3) uint8)`` pairs in time
    order; a time past the end gives the last frame.
    """
    out = []
    with _open(path) as c:
        if not c.streams.video:
            raise MediaError("no video stream")
        v = c.streams.video[0]
        tb = float(v.time_base)
        frames, now, last = None, float("inf"), None
        try:
            for t in sorted(times):
                if frames is None or t < now or t - now > seek_gap_s:
                    c.seek(max(0, int(t / tb)), stream=v, backward=True)
                    frames = c.decode(v)
                for frame in frames:
                    last = frame
                    now = frame.pts * tb if frame.pts is not None else now
                    if now >= t - 1e-6:
                        break
                if last is None:
                    raise MediaError("video does not decode")
                out.append((now, last.to_ndarray(format="rgb24")))
        except (av.error.InvalidDataError, av.error.FFmpegError) as e:
            raise MediaError(f"video does not decode: {type(e).__name__}") from None
    return out
