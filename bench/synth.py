"""Time the synthesize stage: seconds per clip with 1 and N workers, and its parts.

    python bench/synth.py [--clips 8]

Prints per-clip wall time, the split between rendering frames, synthesising the
voice and encoding, and the speed-up of the process pool.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

from fegan.synth.dataset import SynthConfig, synthesize
from fegan.synth.face import FrameState, make_look, render_frame
from fegan.synth.identity import emotion_style, make_actor
from fegan.synth.voice import synthesize_voice


def parts(n_frames: int = 100) -> dict:
    actor = make_actor(0, 1)
    expr, pros = emotion_style(3, 2)
    rng = np.random.default_rng(0)
    t = time.perf_counter()
    synthesize_voice(actor, pros, 1, rng)
    voice = time.perf_counter() - t
    look = make_look(rng, 1280, 720)
    t = time.perf_counter()
    for i in range(n_frames):
        render_frame(actor, expr, FrameState(mouth_open=(i % 10) / 10), look)
    frame = (time.perf_counter() - t) / n_frames
    return {"voice_s": voice, "render_ms_per_frame": 1000 * frame}


def run(clips: int, workers: int) -> float:
    with tempfile.TemporaryDirectory() as d:
        cfg = SynthConfig(out_dir=f"{d}/raw", truth=f"{d}/t.parquet", actors=1, emotions=[3, 4, 5, 8],
                          intensities=[1, 2], statements=[1], repetitions=[1], workers=workers)
        names = cfg.names()[:clips]
        cfg.emotions = sorted({n.emotion for n in names})
        t = time.perf_counter()
        synthesize(cfg, progress=False)
        return (time.perf_counter() - t) / len(cfg.names())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=8)
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    p = parts()
    one = run(args.clips, 1)
    many = run(args.clips, cores)
    print(f"voice synthesis:       {p['voice_s']:.3f} s per clip")
    print(f"frame rendering:       {p['render_ms_per_frame']:.1f} ms per frame (1280x720)")
    print(f"synthesize, 1 worker:  {one:.2f} s per clip")
    print(f"synthesize, {cores} workers: {many:.2f} s per clip  (speed-up {one / many:.2f}x)")
    print(f"default dataset ({len(SynthConfig().names())} clips): about "
          f"{len(SynthConfig().names()) * many / 60:.1f} min on {cores} cores")


if __name__ == "__main__":
    main()
