"""Preprocessing speed: clips/s of demux, vad, features and faces against the decode floor.

    python bench/preprocess.py [--raw data/raw/synthetic] [--clips 48]

The decode floor is the time to decode just what the chain needs from each
container: the audio track and the frames the faces stage seeks to. The chain is
the four stages end to end. Both are timed with 1 worker and with one per core.
Targets (issue 3): chain <= 1.5x the floor, and >= 1.8x faster with 2 workers.

It also prints the chain's CPU time with 1 and with N workers (what sharing caches
and memory costs) and the parent's own CPU time with N workers (what does not
split), the two reasons a chain falls short of N times faster.

Shared and virtual machines drift: the same decode took 13 s and 18 s here a few
minutes apart. So every figure is a ratio of runs made next to each other (a chain
and the floor just before or after it; the 1-worker and N-worker chains of one
round), and the median over ``--repeat`` rounds is reported. Two readings drift
less still. The 1-worker chain also times its own decoding (the calls that decode
audio in demux and frames in faces; faces' extra decode of a folder's reference frame
counts as the chain's own work), a floor measured at the same moments as the chain.
And the chain's speed-up is divided by the floor's of the same round: how close the
chain comes to what this machine's cores give a purely parallel job.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd

import fegan.preprocess.demux as demux_stage
import fegan.preprocess.faces as faces_stage
from fegan.media import read_audio, read_frames
from fegan.parallel import pmap
from fegan.preprocess.demux import DataConfig, demux
from fegan.preprocess.faces import FacesConfig, frame_times, run_faces
from fegan.preprocess.features import FeaturesConfig, run_features
from fegan.preprocess.vad import VadConfig, run_vad
from fegan.synth.dataset import SynthConfig, synthesize


def _floor_one(job):
    path, times = job
    read_audio(path)
    read_frames(path, times)


def floor(raw: Path, clips, vad, workers: int) -> float:
    jobs = [(str(raw / p), frame_times(a, b, FacesConfig().frames_per_clip))
            for p, a, b in zip(clips.path, vad.seg_start, vad.seg_end)]
    s = time.perf_counter()
    pmap(_floor_one, jobs, workers, progress=False)
    return time.perf_counter() - s


@contextlib.contextmanager
def decode_clock():
    """Wall seconds the stages spend decoding while the block runs, in this process.

    Wraps the two decoding calls the stages make (demux's audio, faces' frames), so it
    counts only where the stages run here: a 1-worker chain. Faces' reference pass
    decodes a frame its first run decodes again; that is the chain's own work, not
    timed.
    """
    spent, paused = [0.0], [False]

    def timed(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kw):
            if paused[0]:
                return fn(*args, **kw)
            s = time.perf_counter()
            try:
                return fn(*args, **kw)
            finally:
                spent[0] += time.perf_counter() - s
        return wrapper

    def untimed(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kw):
            paused[0] = True
            try:
                return fn(*args, **kw)
            finally:
                paused[0] = False
        return wrapper

    patches = [(demux_stage, "read_audio_probed", timed), (faces_stage, "read_frames", timed),
               (faces_stage, "_reference_face", untimed)]
    saved = [(module, name, getattr(module, name)) for module, name, _ in patches]
    for module, name, wrap in patches:
        setattr(module, name, wrap(getattr(module, name)))
    try:
        yield spent
    finally:
        for module, name, fn in saved:
            setattr(module, name, fn)
    if not spent[0]:
        raise RuntimeError("decode_clock timed nothing: the stages no longer call read_audio_probed/read_frames")


def chain(raw: Path, out: Path, workers: int, floor_first: bool) -> dict:
    t = {}
    if floor_first:    # the clip and VAD tables of an earlier round give the same frame times
        before = floor(raw, pd.read_parquet(out / "c.parquet"), pd.read_parquet(out / "v.parquet"), workers)
    # with 1 worker the stages run in this process, where the clock can time their decoding
    clock = decode_clock() if workers == 1 else contextlib.nullcontext([float("nan")])
    cpu = os.times()
    with clock as decoding:
        s = time.perf_counter()
        clips = demux(DataConfig(raw_dir=str(raw), min_clips=1, workers=workers), out / "c.parquet",
                      out / "a.safetensors", progress=False)
        t["demux"] = time.perf_counter() - s
        s = time.perf_counter()
        vad = run_vad(VadConfig(workers=workers), clips, out / "a.safetensors", out / "v.parquet", progress=False)
        t["vad"] = time.perf_counter() - s
        s = time.perf_counter()
        run_features(FeaturesConfig(workers=workers), clips, vad, out / "a.safetensors", out / "f.safetensors",
                     out / "f.parquet", progress=False)
        t["features"] = time.perf_counter() - s
        s = time.perf_counter()
        run_faces(FacesConfig(workers=workers), clips, vad, raw, out / "x.safetensors", out / "x.parquet",
                  progress=False)
        t["faces"] = time.perf_counter() - s
    t["chain"] = sum(t.values())
    t["decoding in chain"] = decoding[0]
    now = os.times()
    # the parent's own CPU time, and its pool workers' (counted once each pool has exited)
    t["parent cpu"] = now.user + now.system - cpu.user - cpu.system
    t["workers cpu"] = now.children_user + now.children_system - cpu.children_user - cpu.children_system
    t["decode floor"] = before if floor_first else floor(raw, clips, vad, workers)
    return t


def source_clips(raw: Path, tmp: Path, n: int) -> list[Path]:
    """The first ``n`` clips of the folder ``raw``, or of 4 synthetic actors written under
    ``tmp`` when it is missing (a fresh clone before `make repro`)."""
    if not raw.is_dir():
        print(f"{raw} missing: synthesising 4 actors first")
        synthesize(SynthConfig(out_dir=str(tmp / "synth"), truth=str(tmp / "t.parquet"), actors=4), progress=False)
        raw = tmp / "synth"
    return sorted(raw.rglob("*.mp4"))[:n]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", default="data/raw/synthetic", help="a RAVDESS-layout folder of 720p clips")
    ap.add_argument("--clips", type=int, default=96, help="how many of its clips to time")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="compared with 1 worker")
    ap.add_argument("--repeat", type=int, default=3, help="rounds; each figure is the median over them")
    args = ap.parse_args()
    cores = args.workers
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        raw = tmp / "raw"
        for p in source_clips(Path(args.raw), tmp, args.clips):
            (raw / p.parent.name).mkdir(parents=True, exist_ok=True)
            shutil.copy(p, raw / p.parent.name / p.name)
        n = len(list(raw.rglob("*.mp4")))
        cases = (1, cores)
        rounds = []
        for r in range(args.repeat):
            # the floor goes before the chain in odd rounds and after it in even ones
            rounds.append({w: chain(raw, tmp / f"out{w}", w, floor_first=r % 2 == 1) for w in cases})
    median = statistics.median
    print(f"{n} clips, 1280x720, {os.cpu_count()} cores; median of {len(rounds)} rounds\n")
    print(f"{'step':<14}" + "".join(f"{f'{w} worker(s)':>22}" for w in cases))
    for k in ("demux", "vad", "features", "faces", "chain", "decode floor"):
        print(f"{k:<14}" + "".join(f"{median(r[w][k] for r in rounds):>9.2f} s "
                                   f"{n / median(r[w][k] for r in rounds):>7.1f} c/s" for w in cases))
    for w in cases:
        ratios = [r[w]["chain"] / r[w]["decode floor"] for r in rounds]
        print(f"\nchain / decode floor with {w} worker(s): {median(ratios):.2f}x  (target <= 1.5x; "
              f"rounds: {', '.join(f'{x:.2f}' for x in ratios)})")
    paired = [r[1]["chain"] / r[1]["decoding in chain"] for r in rounds]
    print(f"\nchain / its own decoding, 1 worker (the floor timed inside the chain): {median(paired):.2f}x  "
          f"(rounds: {', '.join(f'{x:.2f}' for x in paired)})")
    one, many = (median(r[w]["parent cpu"] + r[w]["workers cpu"] for r in rounds) for w in cases)
    serial, t1 = median(r[cores]["parent cpu"] for r in rounds), median(r[1]["chain"] for r in rounds)
    print(f"\nCPU time of the chain: {one:.2f} s with 1 worker, {many:.2f} s with {cores} "
          f"({100 * (many / one - 1):+.0f} %: the same work costs more where {cores} processes share caches "
          f"and memory)")
    print(f"the parent's own CPU time with {cores} workers: {serial:.2f} s (pools starting, results "
          f"collected, tables and tensors written); were the rest to split with no such cost, the "
          f"speed-up would be {t1 / (serial + (t1 - serial) / cores):.2f}x")
    for k, target in (("chain", "  (target >= 1.8x"), ("decode floor", "  (decoding alone: what these cores give a parallel job")):
        ups = [r[1][k] / r[cores][k] for r in rounds]
        print(f"speed-up of the {k}, {cores} workers vs 1: {median(ups):.2f}x{target}; "
              f"rounds: {', '.join(f'{x:.2f}' for x in ups)})")
    rel = [(r[1]["chain"] / r[cores]["chain"]) / (r[1]["decode floor"] / r[cores]["decode floor"]) for r in rounds]
    print(f"the chain's speed-up / the floor's, round by round: {median(rel):.2f}  (1.00: the chain scales "
          f"as well as decoding does on this machine; rounds: {', '.join(f'{x:.2f}' for x in rel)})")


if __name__ == "__main__":
    main()
