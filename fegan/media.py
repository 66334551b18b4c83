"""Container I/O with PyAV: probe, decode the audio track, seek to a few frames.

Every function raises ``MediaError`` with a short reason (the text that ends up in
a clip table's ``reason`` column) instead of PyAV's own exceptions.
"""
from __future__ import annotations

import itertools
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
    duration_s: float       # the audio track's declared length (else the container's); 0: unknown
    sample_rate: int
    width: int              # the picture as shown: square pixels (rotation is per frame)
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
    # the audio track's own length where the container knows it: a clip whose video runs
    # longer than its audio is not truncated (the container's duration is the longer one)
    if a is not None and a.duration and a.time_base:
        dur = float(a.duration * a.time_base)
    else:
        dur = float(c.duration / av.time_base) if c.duration else 0.0
    width, height = display_size(v) if v is not None else (0, 0)
    return Probe(
        has_audio=a is not None, has_video=v is not None, duration_s=dur,
        sample_rate=a.codec_context.sample_rate if a else 0, width=width, height=height,
        fps=float(v.average_rate) if v is not None and v.average_rate else 0.0)


def _square_width(stream) -> int | None:
    """The width that makes ``stream``'s pixels square, or None if they are.

    Anamorphic video (PAL/NTSC DVD, HDV, some camcorders) stores a picture in
    fewer columns than it is shown with; the face detector and the alignment
    assume square pixels, so the frames are stretched to the shown width.
    """
    sar = stream.codec_context.sample_aspect_ratio or stream.sample_aspect_ratio
    if not sar or sar == 1:
        return None
    return max(2, 2 * round(stream.codec_context.width * float(sar) / 2))


def display_size(stream) -> tuple[int, int]:
    """(width, height) of the picture as shown: square pixels, before any rotation
    (a rotation is per frame: ``upright_rgb``)."""
    return _square_width(stream) or stream.codec_context.width, stream.codec_context.height


def upright_rgb(frame, stream) -> np.ndarray:
    """A decoded frame as shown: ``(H, W, 3)`` uint8 RGB, C-contiguous, square pixels, upright.

    Three things real footage needs. Rows of a decoded frame are padded to the
    decoder's alignment (854 pixels wide: 2562 bytes of pixels in 2592-byte
    rows), a strided array that dlib's bindings refuse, so the result is always
    C-contiguous. Phone videos store the sensor's landscape frames with a display
    matrix (``frame.rotation``, degrees counter-clockwise) that players apply.
    And anamorphic pixels are made square (``_square_width``). Any pixel format
    (yuvj420p, yuv422p, 10-bit) is converted by FFmpeg's swscale.
    """
    rgb = frame.to_ndarray(format="rgb24", width=_square_width(stream))
    turns = round((frame.rotation or 0) / 90) % 4
    if turns:
        rgb = np.rot90(rgb, turns)
    return np.ascontiguousarray(rgb)


def read_audio(path: str | Path, max_s: float | None = None) -> tuple[np.ndarray, int]:
    """The first audio track, averaged to mono float32, at its own sample rate (at most
    its first ``max_s`` seconds)."""
    info, wave = read_audio_probed(path, max_s)
    return wave, info.sample_rate


def read_audio_probed(path: str | Path, max_s: float | None = None) -> tuple[Probe, np.ndarray]:
    """The container's streams and its first audio track (mono float32), from one open.

    Opening a container costs a few milliseconds (the demux stage's whole budget
    per clip is ~20), so the stage probes and decodes in one go. With ``max_s``,
    decoding stops after that many seconds: a small file can hold hours of Opus, and
    hours of float32 are gigabytes (the demo's uploads).
    """
    with _open(path) as c:
        info = _probe(c)
        if not info.has_audio:
            # a container FFmpeg opens with no stream at all (a metadata or subtitle file
            # named .mp4) is not an audio problem: saying "no audio" would send one looking
            # for a muted recording
            raise MediaError("no audio stream" if info.has_video else "no audio or video stream")
        stream = c.streams.audio[0]
        limit = None if max_s is None else max(1, int(max_s * info.sample_rate))
        chunks, dtype, decoded = [], None, 0
        try:
            for frame in c.decode(stream):
                x = frame.to_ndarray()
                if not frame.format.is_planar:   # (1, n * channels) interleaved -> (channels, n)
                    x = x.reshape(-1, len(frame.layout.channels)).T
                # mono at once, so memory holds one channel's samples whatever the channel count;
                # astype keeps x's memory order (interleaved: channels contiguous), as the one
                # concatenation of every frame before the mean used to: the same sums, bit for bit
                chunks.append(x.astype(np.float32).mean(axis=0))
                dtype = x.dtype
                decoded += x.shape[1]
                if limit is not None and decoded >= limit:
                    break
        except (av.error.InvalidDataError, av.error.FFmpegError) as e:
            if not chunks:
                raise MediaError(f"audio does not decode: {type(e).__name__}") from None
            # a truncated file: keep what decoded, the caller sees the short duration
        if not chunks:
            raise MediaError("audio stream is empty")
        wave = np.concatenate(chunks)[:limit]     # (n,)
        if np.issubdtype(dtype, np.integer):
            wave /= float(np.iinfo(dtype).max)
        return info, wave


# A seek aims this far before the wanted time: a frame shown before its keyframe (a
# B-frame of an open GOP) needs the GOP before it, and some containers' seeks land late.
SEEK_BACK_S = 0.25


def read_frames(path: str | Path, times: list[float], seek_gap_s: float = 1.0) -> list[tuple[float, np.ndarray]]:
    """RGB frames at (or just after) the given times in seconds.

    The decoder seeks only when a keyframe lies between it and the next wanted
    time (from the container's index; without one, when the time is more than
    ``seek_gap_s`` ahead); other times are reached by decoding forward (a seek would
    restart at the keyframe the decoder already passed: clips often have one
    keyframe for several seconds). A seek that lands past the wanted time or off a
    keyframe (an imprecise container such as MPEG-TS) starts over from the
    beginning. On the way, packets shown before the wanted time are decoded only if
    other frames refer to them: the decoder skips non-reference frames (most
    B-frames of H.264, all of MPEG-4 part 2's), which halved the decoding time of
    the synthetic 720p clips; the frames returned are the same (tested against
    decoding every frame). Only the returned frames are converted to RGB, as shown
    (``upright_rgb``). Returns ``(frame_time_s, (H, W, 3) uint8)`` pairs in time
    order; a time past the end gives the last frame.
    """
    out = []
    with _open(path) as c:
        if not c.streams.video:
            raise MediaError("no video stream")
        v = c.streams.video[0]
        tb = float(v.time_base)
        index = v.index_entries
        indexed_to = index[len(index) - 1].timestamp * tb if len(index) else float("-inf")
        keys = [e.timestamp * tb for e in index if e.is_keyframe]
        wanted = [0.0]          # the time being looked for; the packet loop reads it

        def decode():
            for packet in c.demux(v):
                early = packet.pts is not None and packet.pts * tb < wanted[0] - 1e-6
                v.codec_context.skip_frame = "NONREF" if early else "DEFAULT"
                yield from packet.decode()

        def rewind():
            """To the container's start, whatever its first timestamp. FFmpeg's backward seek
            to 0 finds no keyframe at or before 0 where the first one is later (an FLV with MP3,
            CREMA-D's format, whose encoder priming put the video 25 ms in: tests/test_cremad.py)
            and fails; a forward one lands on that first keyframe."""
            try:
                c.seek(0)
            except av.error.FFmpegError:
                c.seek(0, backward=False)

        def frames_from(t: float):
            """Decoded frames from a keyframe at or before ``t`` on."""
            if t - SEEK_BACK_S <= 0:
                rewind()
                return decode()
            c.seek(int((t - SEEK_BACK_S) / tb), stream=v, backward=True)
            frames = decode()
            first = next(frames, None)
            if first is None or not first.key_frame or first.pts is None or first.pts * tb > t + 1e-6:
                rewind()        # landed past t or between keyframes: start over
                return decode()
            return itertools.chain([first], frames)

        def seek_ahead(t: float) -> bool:
            if t <= indexed_to:
                return any(now < k <= t - SEEK_BACK_S for k in keys)
            return t - now > seek_gap_s

        frames, now, last, at_end = None, float("-inf"), None, False
        try:
            for t in sorted(times):
                if out and (t <= now + 1e-6 or at_end):
                    # times are sorted, so the frame found for the previous time
                    # (the first at or after it, or the last) is also the one for this time
                    out.append(out[-1])
                    continue
                wanted[0] = t
                if frames is None or seek_ahead(t):
                    frames = frames_from(t)
                for frame in frames:
                    last = frame
                    now = frame.pts * tb if frame.pts is not None else now
                    if now >= t - 1e-6:
                        break
                else:
                    if last is None:
                        raise MediaError("video does not decode")
                    # past the end: the last frame may have been a skipped one, so the
                    # tail is decoded again with nothing skipped
                    wanted[0], at_end = float("-inf"), True
                    for frame in frames_from(now):
                        last = frame
                    now = last.pts * tb if last.pts is not None else now
                out.append((now, upright_rgb(last, v)))
        except (av.error.InvalidDataError, av.error.FFmpegError) as e:
            raise MediaError(f"video does not decode: {type(e).__name__}") from None
    return out
