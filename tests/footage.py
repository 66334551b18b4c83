"""A corpus of real-footage variants, re-encoded from one synthetic clip with PyAV.

Real datasets and users' recordings differ from the synthetic set in frame size, pixel
format, rotation, pixel aspect, codec, container, audio layout and rate, frame timing,
length, and in how the face is framed. Each ``Variant`` here makes one such file from a
synthetic clip's decoded frames and audio, and says what the pipeline must give for it:
``"ok"`` (a usable clip with face crops) or the start of the reason it is refused with.

Kept small for the suite's time: most variants keep the source's 3.4 s; the big frame
sizes and the one-minute clip are encoded at a low frame rate (what is tested is the frame
size or the length, not the motion).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable

import av
import numpy as np
from PIL import Image

Frames = list[np.ndarray]


# ---------------------------------------------------------------- frame transforms

def cover(frames: Frames, w: int, h: int) -> Frames:
    """The largest centred region of ``w``:``h`` shape, resized to ``w``x``h`` (the face
    stays in the middle)."""
    H, W = frames[0].shape[:2]
    cw, ch = min(W, round(H * w / h)), min(H, round(W * h / w))
    x0, y0 = (W - cw) // 2, (H - ch) // 2
    box = (x0, y0, x0 + cw, y0 + ch)
    return [np.asarray(Image.fromarray(f).resize((w, h), Image.BILINEAR, box=box)) for f in frames]


def squeeze(frames: Frames, w: int, h: int) -> Frames:
    """Resized to ``w``x``h`` whatever the aspect (anamorphic storage of a wider picture)."""
    return [np.asarray(Image.fromarray(f).resize((w, h), Image.BILINEAR)) for f in frames]


def shrink(frames: Frames, factor: float, at: tuple[float, float] = (0.5, 0.5)) -> Frames:
    """The picture shrunk by ``factor`` and placed at ``at`` (fractions of the free room)
    on a canvas of the source's size, filled with the picture's top-left colour."""
    H, W = frames[0].shape[:2]
    w, h = round(W / factor), round(H / factor)
    x0, y0 = round((W - w) * at[0]), round((H - h) * at[1])
    out = []
    for f in frames:
        canvas = np.empty_like(f)
        canvas[:] = f[0, 0]
        canvas[y0:y0 + h, x0:x0 + w] = np.asarray(Image.fromarray(f).resize((w, h), Image.BILINEAR))
        out.append(canvas)
    return out


def shift(frames: Frames, dx: int) -> Frames:
    """Moved ``dx`` pixels sideways (negative: left), the gap filled with the edge column."""
    if dx < 0:
        return [np.concatenate([f[:, -dx:], np.repeat(f[:, -1:], -dx, axis=1)], axis=1) for f in frames]
    return [np.concatenate([np.repeat(f[:, :1], dx, axis=1), f[:, :-dx]], axis=1) for f in frames]


def to_edge(frames: Frames, out: float) -> Frames:
    """Moved left until ``out`` of the face's width is outside the frame (negative: that
    much room left between face and edge); the face found by dlib on the middle frame."""
    import dlib

    rects = dlib.get_frontal_face_detector()(frames[len(frames) // 2], 0)
    r = max(rects, key=lambda r: r.area())
    return shift(frames, -round(r.left() + out * r.width()))


def away(frames: Frames, fraction: float) -> Frames:
    """The first ``fraction`` of the frames without a face (the person turned away): the
    face region painted over with the background colour."""
    out = []
    n = round(len(frames) * fraction)
    for i, f in enumerate(frames):
        if i < n:
            f = f.copy()
            f[150:720, 420:860] = f[0, 0]
        out.append(f)
    return out


def rotate(frames: Frames, degrees: int) -> Frames:
    """Stored turned ``-degrees`` (clockwise for positive), so that a display matrix of
    ``degrees`` (counter-clockwise, as PyAV's ``rotation``) shows it upright."""
    return [np.ascontiguousarray(np.rot90(f, -degrees // 90)) for f in frames]


# ---------------------------------------------------------------- audio transforms

def channels(audio: np.ndarray, layout: str) -> np.ndarray:
    """Mono speech as ``(C, n)`` in ``layout``: stereo with the right channel a little
    quieter; 5.1 with the speech in the centre and faint room noise elsewhere."""
    if layout == "mono":
        return audio[None]
    if layout == "stereo":
        return np.stack([audio, 0.8 * audio])
    noise = np.random.default_rng(0).normal(0, 1e-3, (6, audio.size)).astype(np.float32)
    noise[2] = audio                      # FL FR FC LFE BL BR: speech in FC
    return noise


def resample_to(audio: np.ndarray, rate: int, target: int) -> np.ndarray:
    if rate == target:
        return audio
    n = round(audio.size * target / rate)
    return np.interp(np.arange(n) * rate / target, np.arange(audio.size), audio).astype(np.float32)


# ---------------------------------------------------------------- encoding

# PyAV's audio sample formats each encoder takes
_SAMPLE_FMT = {"aac": "fltp", "libopus": "flt", "libmp3lame": "fltp", "pcm_s16le": "s16", "mp3": "fltp",
               "libvorbis": "fltp"}


@dataclass(frozen=True)
class Variant:
    """One file of the corpus and what the pipeline must make of it."""
    name: str
    expect: str = "ok"                         # "ok" or the start of the refusal's reason
    ext: str = "mp4"
    vcodec: str = "libx264"
    pix_fmt: str = "yuv420p"
    fps: Fraction = Fraction(30)
    acodec: str | None = "aac"
    layout: str = "mono"
    rate: int = 48000
    frames: Callable[[Frames], Frames] | None = None       # transform of the source's frames
    rotation: int = 0                          # display matrix, degrees counter-clockwise
    sar: Fraction | None = None                # sample (pixel) aspect ratio
    faststart: bool = False                    # mp4/mov: the moov atom first
    vfr: bool = False                          # irregular frame times
    audio_s: float | None = None               # cut the audio to this many seconds
    video_s: float | None = None               # cut the video to this many seconds
    loop_to_s: float | None = None             # repeat the clip to this length
    cut: float | None = None                   # keep this fraction of the file's bytes (a truncated copy)
    options: dict = field(default_factory=dict)  # the video encoder's options


def build(v: Variant, path: Path, frames: Frames, audio: np.ndarray, src_fps: int = 30,
          src_rate: int = 48000) -> Path:
    """Write ``v`` at ``path`` from a clip's RGB frames and mono float audio."""
    if v.loop_to_s:
        reps = int(np.ceil(v.loop_to_s * src_fps / len(frames)))
        frames = (frames * reps)[:round(v.loop_to_s * src_fps)]
        audio = np.tile(audio, reps)[:round(v.loop_to_s * src_rate)]
    # re-time to the variant's rate by picking the source frame shown at each new time
    dur = len(frames) / src_fps
    if v.video_s:
        dur = min(dur, v.video_s)
    n = int(dur * v.fps)
    idx = np.minimum((np.arange(n) / v.fps * src_fps).astype(int), len(frames) - 1)
    frames = [frames[i] for i in idx]
    if v.frames is not None:
        frames = v.frames(frames)
    if v.audio_s:
        audio = audio[:round(v.audio_s * src_rate)]
    audio = channels(resample_to(audio, src_rate, v.rate), v.layout)
    path.parent.mkdir(parents=True, exist_ok=True)
    opts = {"movflags": "+faststart"} if v.faststart else {}
    with av.open(str(path), "w", options=opts) as out:
        vs = out.add_stream(v.vcodec, rate=v.fps, options={"preset": "ultrafast"} if v.vcodec == "libx264" else {})
        vs.options.update(v.options)
        vs.height, vs.width = frames[0].shape[:2]
        vs.pix_fmt = v.pix_fmt
        if v.vcodec in ("libvpx", "libvpx-vp9"):
            vs.codec_context.options.update({"deadline": "realtime", "cpu-used": "8"})
        if v.sar:
            vs.codec_context.sample_aspect_ratio = v.sar
        if v.rotation:
            vs.set_display_rotation(v.rotation)
        aus = None
        if v.acodec:
            aus = out.add_stream(v.acodec, rate=v.rate, layout=v.layout)
        # VFR: frames at times jittered by up to 40 % of a frame, always increasing
        tb = Fraction(1, 90000) if v.vfr else 1 / Fraction(v.fps)
        vs.codec_context.time_base = vs.time_base = tb
        rng = np.random.default_rng(1)
        fmt = _SAMPLE_FMT.get(v.acodec, "fltp")
        x = audio.astype(np.float32)
        if fmt == "s16":
            x = (np.clip(x, -1, 1) * 32767).astype(np.int16)
        # audio in pieces between the frames, as cameras interleave it (a cut file then
        # loses the end of both tracks, not all of the one written last)
        per_frame = max(1, round(v.rate / float(v.fps)))
        t, sent = 0.0, 0
        for i, f in enumerate(frames + [None] * max(0, -(-x.shape[1] // per_frame) - len(frames))):
            if f is not None:
                vf = av.VideoFrame.from_ndarray(f, format="rgb24")
                if v.vfr:
                    vf.pts = round(t / tb)
                    t += float(1 / v.fps) * (1 + rng.uniform(-0.4, 0.4))
                else:
                    vf.pts = i
                vf.time_base = tb
                out.mux(vs.encode(vf))
            if aus is not None and sent < x.shape[1]:
                piece = x[:, sent:sent + per_frame]
                data = piece if fmt.endswith("p") else piece.T.reshape(1, -1)
                af = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format=fmt, layout=v.layout)
                af.sample_rate, af.pts = v.rate, sent
                out.mux(aus.encode(af))
                sent += piece.shape[1]
        out.mux(vs.encode())
        if aus is not None:
            out.mux(aus.encode())
    if v.cut:
        data = path.read_bytes()
        path.write_bytes(data[:round(len(data) * v.cut)])
    return path


# Points 2-4 of the real-footage issue, one file each. A 3.4 s, 1280x720, 30 fps source.
VARIANTS: list[Variant] = [
    # frame sizes and shapes (point 2)
    Variant("854x480", frames=lambda f: cover(f, 854, 480)),
    Variant("640x360", frames=lambda f: cover(f, 640, 360)),
    Variant("720x576", frames=lambda f: cover(f, 720, 576), fps=Fraction(25)),
    Variant("1366x768", frames=lambda f: cover(f, 1366, 768)),
    Variant("853x479-odd", frames=lambda f: cover(f, 853, 479), pix_fmt="yuv444p"),
    Variant("portrait-720x1280", frames=lambda f: cover(f, 720, 1280)),
    Variant("1080p", frames=lambda f: cover(f, 1920, 1080), fps=Fraction(10)),
    Variant("4k", frames=lambda f: cover(f, 3840, 2160), fps=Fraction(5)),
    Variant("yuvj420p", pix_fmt="yuvj420p"),
    Variant("yuv422p", pix_fmt="yuv422p"),
    Variant("yuv420p10le", pix_fmt="yuv420p10le"),
    Variant("rotate-90", frames=lambda f: rotate(f, 90), rotation=90),
    Variant("rotate-270-phone", frames=lambda f: rotate(f, -90), rotation=-90),
    Variant("rotate-180", frames=lambda f: rotate(f, 180), rotation=180),
    # 720x576 storing a 16:9 picture (PAL widescreen DVD): pixels 64:45 wide
    Variant("anamorphic-pal-16x9", frames=lambda f: squeeze(f, 720, 576), sar=Fraction(64, 45), fps=Fraction(25)),
    # audio and containers (point 3)
    Variant("stereo-44k", layout="stereo", rate=44100),
    Variant("5.1-48k", layout="5.1", rate=48000),
    Variant("16k", rate=16000),
    Variant("8k", rate=8000),
    Variant("moov-first", faststart=True),
    Variant("mov-pcm", ext="mov", acodec="pcm_s16le"),
    Variant("mkv-mp3", ext="mkv", acodec="libmp3lame", rate=44100, layout="stereo"),
    Variant("mkv-opus", ext="mkv", acodec="libopus", rate=48000, layout="stereo"),
    Variant("webm-vp9-opus", ext="webm", vcodec="libvpx-vp9", acodec="libopus", fps=Fraction(15),
            frames=lambda f: cover(f, 640, 360)),
    Variant("webm-vp8-opus", ext="webm", vcodec="libvpx", acodec="libopus", fps=Fraction(15),
            frames=lambda f: cover(f, 640, 360)),
    Variant("avi-h264-mp3", ext="avi", acodec="libmp3lame", rate=44100),
    Variant("avi-xvid-mp3", ext="avi", vcodec="mpeg4", acodec="libmp3lame", rate=44100,
            options={"vtag": "XVID"}),
    Variant("avi-mjpeg-pcm", ext="avi", vcodec="mjpeg", pix_fmt="yuvj420p", acodec="pcm_s16le", fps=Fraction(15)),
    Variant("vfr", vfr=True),
    Variant("23.976fps", fps=Fraction(24000, 1001)),
    Variant("29.97fps", fps=Fraction(30000, 1001)),
    Variant("60fps", fps=Fraction(60)),
    Variant("one-minute", loop_to_s=60.0, fps=Fraction(5), frames=lambda f: cover(f, 640, 360)),
    Variant("audio-shorter", audio_s=2.6),
    Variant("video-shorter", video_s=2.4),
    # faces as real footage shows them (point 4); more than one person: the bad-input corpus
    Variant("face-at-edge", frames=lambda f: to_edge(f, -0.05)),      # 5 % of its width from the edge
    Variant("face-cut-by-edge", frames=lambda f: to_edge(f, 0.4), expect="no face in any sampled frame"),
    Variant("turns-away", frames=lambda f: away(f, 0.5)),
    Variant("small-face", frames=lambda f: shrink(f, 4.0, (0.2, 0.3))),      # found by the full-resolution search
    # refused, with their reason
    Variant("no-audio-track", acodec=None, expect="no audio stream"),
    Variant("audio-too-short", audio_s=0.3, expect="audio too short"),
    Variant("cut-moov-first", faststart=True, cut=0.5, expect="truncated"),
    Variant("cut-moov-last", cut=0.5, expect="unreadable container"),
]


def ravdess_name(k: int) -> str:
    """The k-th of a list of distinct RAVDESS speech-clip names (emotions 02-08, which
    allow both intensities; actors 01-24)."""
    emotion, rest = k % 7 + 2, k // 7
    intensity, statement, repetition = rest % 2 + 1, rest // 2 % 2 + 1, rest // 4 % 2 + 1
    actor = rest // 8 + 1
    return f"01-01-{emotion:02d}-{intensity:02d}-{statement:02d}-{repetition:02d}-{actor:02d}"


def build_corpus(root: Path, frames: Frames, audio: np.ndarray, variants: list[Variant] = VARIANTS
                 ) -> dict[str, Variant]:
    """Every variant under ``root`` in RAVDESS layout; clip id -> variant."""
    out = {}
    for k, v in enumerate(variants):
        name = ravdess_name(k)
        build(v, root / f"Actor_{name[-2:]}" / f"{name}.{v.ext}", frames, audio)
        out[name] = v
    return out
