"""One synthetic clip: frames and voice muxed into H.264 + AAC with PyAV."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from ..datasets.ravdess import RavdessName
from ..io import atomic_path
from .face import FrameState, make_look, render_frame
from .identity import emotion_style, make_actor
from .population import make_person
from .voice import synthesize_voice


@dataclass(frozen=True)
class VideoFormat:
    width: int = 1280
    height: int = 720
    fps: int = 30
    sample_rate: int = 48000
    crf: int = 23
    preset: str = "veryfast"


def _smooth_walk(rng: np.random.Generator, n: int, scale: float, smooth: int = 15) -> np.ndarray:
    """Slow head motion: white noise low-passed by a moving average, unit peak."""
    x = np.convolve(rng.normal(0, 1, n + smooth), np.ones(smooth) / smooth, mode="valid")[:n]
    return scale * x / (np.abs(x).max() + 1e-9)


def _blinks(rng: np.random.Generator, n: int, fps: int) -> np.ndarray:
    b = np.zeros(n)
    t = rng.uniform(0.3, 2.0)
    while t * fps < n:
        i = int(t * fps)
        b[i:i + 3] = [0.6, 1.0, 0.5][: len(b[i:i + 3])]
        t += rng.uniform(2.0, 4.5)
    return b


def render_clip(name: RavdessName, seed: int, out_path: Path, fmt: VideoFormat, population: bool = False) -> dict:
    """Write one clip to ``out_path`` (atomically) and return its ground truth (with the
    actor's attributes in ``population`` mode)."""
    # Each clip has its own generator keyed by (seed, labels): clips are
    # independent of each other and of the order or process that renders them.
    rng = np.random.default_rng([seed, 2, name.actor, name.emotion, name.intensity,
                                 name.statement, name.repetition])
    actor = make_person(seed, name.actor) if population else make_actor(seed, name.actor)
    expr, prosody = emotion_style(name.emotion, name.intensity)
    voice = synthesize_voice(actor, prosody, name.statement, rng, fmt.sample_rate)
    look = make_look(rng, fmt.width, fmt.height)

    n_frames = int(np.ceil(len(voice.audio) / fmt.sample_rate * fmt.fps))
    spf = fmt.sample_rate / fmt.fps
    mouth = [float(voice.articulation[int(i * spf):int((i + 1) * spf)].mean()) if int(i * spf) < len(voice.audio)
             else 0.0 for i in range(n_frames)]
    dx, dy = _smooth_walk(rng, n_frames, 0.012 * fmt.width), _smooth_walk(rng, n_frames, 0.01 * fmt.height)
    droll, dscale = _smooth_walk(rng, n_frames, 3.0), 1 + _smooth_walk(rng, n_frames, 0.03)
    blink = _blinks(rng, n_frames, fmt.fps)

    with atomic_path(out_path, suffix=".mp4") as tmp:
        with av.open(str(tmp), "w", format="mp4") as out:
            vs = out.add_stream("libx264", rate=fmt.fps, options={
                "crf": str(fmt.crf), "preset": fmt.preset,
                # one thread per clip: clips run in parallel, and a single-threaded
                # x264 is bit-for-bit reproducible
                "threads": "1"})
            vs.width, vs.height, vs.pix_fmt = fmt.width, fmt.height, "yuv420p"
            aus = out.add_stream("aac", rate=fmt.sample_rate, layout="mono")
            for i in range(n_frames):
                st = FrameState(mouth_open=mouth[i], blink=float(blink[i]), dx=float(dx[i]), dy=float(dy[i]),
                                droll=float(droll[i]), dscale=float(dscale[i]))
                frame = av.VideoFrame.from_image(render_frame(actor, expr, st, look))
                frame.pts = i
                out.mux(vs.encode(frame))
            out.mux(vs.encode())
            af = av.AudioFrame.from_ndarray(voice.audio[None, :], format="flt", layout="mono")
            af.sample_rate = fmt.sample_rate
            af.pts = 0
            out.mux(aus.encode(af))
            out.mux(aus.encode())

    return {
        "relpath": name.relpath, "actor": name.actor, "emotion": name.emotion,
        "intensity": name.intensity, "statement": name.statement, "repetition": name.repetition,
        "duration_s": len(voice.audio) / fmt.sample_rate, "speech_start_s": voice.speech_start,
        "speech_end_s": voice.speech_end, "voiced_s": voice.voiced_s, "n_frames": n_frames,
        "f0_hz": actor.f0 * prosody.pitch, "face_cx": look.cx, "face_cy": look.cy, "face_s": look.s,
        **(actor.attributes or {}),
    }
