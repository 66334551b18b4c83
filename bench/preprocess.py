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
round), and the median over ``--repeat`` rounds is reported.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd

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


def chain(raw: Path, out: Path, workers: int, floor_first: bool) -> dict:
    t = {}
    if floor_first:    # the clip and VAD tables of an earlier round give the same frame times
        before = floor(raw, pd.read_parquet(out / "c.parquet"), pd.read_parquet(out / "v.parquet"), workers)
    cpu = os.times()
    s = time.perf_counter()
    clips = demux(DataConfig(raw_dir=str(raw), min_clips=1, workers=workers), out / "c.parquet",
                  out / "a.safetensors", progress=False)
    t["demux"] = time.perf_counter() - s
    s = time.perf_counter()
    vad = run_vad(VadConfig(workers=workers), clips, out / "a.safetensors", out / "v.parquet", progress=False)
    t["vad"] = time.perf_counter() - s
    s = time.perf_counter()
    run_features(FeaturesConfig(workers=workers), clips, vad, out / "a.safetensors", out / "f.safetensors", out / "f.parquet",
                 progress=False)
    t["features"] = time.perf_counter() - s
    s = time.perf_counter()
    run_faces(FacesConfig(workers=workers), clips, vad, raw, out / "x.safetensors", out / "x.parquet",
              progress=False)
    t["faces"] = time.perf_counter() - s
    t["chain"] = sum(t.values())
    now = os.times()
    # the parent's own CPU time, and its pool workers' (counted once each pool has exited)
    t["parent cpu"] = now.user + now.system - cpu.user - cpu.system
    t["workers cpu"] = now.children_user + now.children_system - cpu.children_user - cpu.children_system
    t["decode floor"] = before if floor_first else floor(raw, clips, vad, workers)
    return t


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
        src = Path(args.raw)
        if not src.is_dir():
            print(f"{src} missing: synthesising {args.clips} clips first")
            synthesize(SynthConfig(out_dir=str(tmp / "synth"), truth=str(tmp / "t.parquet"), actors=4),
                       progress=False)
            src = tmp / "synth"
        raw = tmp / "raw"
        for p in sorted(src.rglob("*.mp4"))[: args.clips]:
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
    one, many = (median(r[w]["parent cpu"] + r[w]["workers cpu"] for r in rounds) for w in cases)
    serial, t1 = median(r[cores]["parent cpu"] for r in rounds), median(r[1]["chain"] for r in rounds)
    print(f"\nCPU time of the chain: {one:.2f} s with 1 worker, {many:.2f} s with {cores} "
          f"({100 * (many / one - 1):+.0f} %: the same work costs more where {cores} processes share caches "
          f"and memory)")
    print(f"the parent's own CPU time with {cores} workers: {serial:.2f} s (pools starting, results "
          f"collected, tables and tensors written); were the rest to split with no such cost, the "
          f"speed-up would be {t1 / (serial + (t1 - serial) / cores):.2f}x")
    for k, target in (("chain", "  (target >= 1.8x"), ("decode floor", "  (the ceiling for the chain on this machine")):
        ups = [r[1][k] / r[cores][k] for r in rounds]
        print(f"speed-up of the {k}, {cores} workers vs 1: {median(ups):.2f}x{target}; "
              f"rounds: {', '.join(f'{x:.2f}' for x in ups)})")


if __name__ == "__main__":
    main()
