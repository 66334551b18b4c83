"""Training throughput: images/s of FE-GAN steps, optionally side by side with another checkout.

    python bench/train.py [--steps 20] [--rounds 3] [--device auto] [--threads N]
    python bench/train.py --against /tmp/fegan-base      # a git worktree of an older commit

One step is a D/C update and a G update on a batch of real faces and voices (random tensors
of the right shapes: the speed does not depend on the values). Each measurement runs in its
own process (``--worker``), which imports ``fegan`` from the tree it measures, so with
``--against`` the two trees are timed alternately, round by round, on the same machine state;
the medians and the ratio are printed. On a CPU it also prints the model FLOP/s (torch's FLOP
counter) against the CPU's fp32 peak (cores x clock x FMA lanes x 2, from ``--peak-gflops``
or /proc/cpuinfo); on a GPU against ``--peak-tflops`` (H100 SXM dense bf16: 989).
Make a worktree of the commit to compare with: ``git worktree add /tmp/fegan-base <commit>``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

SETTINGS = {
    "default (32x32, width 0.25)": dict(image_size=32, width=0.25),
    "old default (64x64, width 0.25)": dict(image_size=64, width=0.25),
    "paper (128x128, width 1.0)": dict(image_size=128, width=1.0),
}
ROOT = Path(__file__).resolve().parent.parent


def worker(setting: dict, steps: int, batch: int, device_name: str, threads: int, precision: str) -> dict:
    """Time ``steps`` training steps with the ``fegan`` on sys.path (the tree being measured)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from fegan.models.config import GANConfig
    from fegan.training.device import resolve_device
    from fegan.training.gan import GANData, GANTrainConfig, build, train_step

    if threads:
        torch.set_num_threads(threads)
    device = resolve_device(device_name)
    cfg = GANConfig(n_identities=24, n_emotions=8, **setting)
    model, opt_g, opt_d = build(cfg, GANTrainConfig(), device)
    g = torch.Generator().manual_seed(0)
    n, size = 256, cfg.image_size
    data = GANData(faces=torch.randint(0, 255, (n, 3, size, size), dtype=torch.uint8, generator=g),
                   face_id=torch.randint(0, 24, (n,), generator=g), face_emo=torch.randint(0, 8, (n,), generator=g),
                   face_ev=torch.randn(n, 128, generator=g), voice_ev=torch.randn(n, 128, generator=g),
                   voice_id=torch.randint(0, 24, (n,), generator=g),
                   voice_emo=torch.randint(0, 8, (n,), generator=g)).to(device)
    gen = torch.Generator().manual_seed(0)
    # an older tree's train_step may not take `precision`: pass it only when asked for
    kw = {"precision": precision} if precision != "auto" else {}
    step = lambda: train_step(model, opt_g, opt_d, data, gen, batch, 0.7, 0.3, device, **kw)  # noqa: E731
    step()                                               # warm-up (allocations, kernels)
    step()
    with FlopCounterMode(display=False) as fc:
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    dt = (time.perf_counter() - t) / steps
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    return {"images_s": batch / dt, "flops_s": fc.get_total_flops() / dt, "device": name}


def cpu_peak_gflops(threads: int) -> float | None:
    """fp32 peak of ``threads`` cores: clock x 2 FMA units x lanes x 2 flops (x86 /proc/cpuinfo)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    mhz = [float(line.split(":")[1]) for line in info.splitlines() if line.startswith("cpu MHz")]
    flags = next((line for line in info.splitlines() if line.startswith("flags")), "").split()
    if not mhz:
        return None
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    return threads * mhz[0] / 1000 * 2 * lanes * 2


def measure(tree: Path, setting: dict, args) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(setting), "--steps",
           str(args.steps), "--batch", str(args.batch), "--device", args.device, "--threads", str(args.threads),
           "--precision", args.precision if tree == ROOT else "auto"]
    out = subprocess.run(cmd, env=env, cwd=tree, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"bench worker in {tree} failed: {out.stderr.strip().splitlines()[-1]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"],
                    help="this tree's train.precision (auto: bf16 where the CPU has bf16 dot products)")
    ap.add_argument("--against", type=Path, help="another checkout (e.g. a git worktree) to time side by side")
    ap.add_argument("--only", help="comma-separated substrings of the settings to run")
    ap.add_argument("--peak-gflops", type=float, help="the CPU's fp32 peak (default: from /proc/cpuinfo)")
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="the GPU's dense bf16 peak")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker), args.steps, args.batch, args.device, args.threads,
                                args.precision)))
        return
    trees = {"this tree": ROOT, **({"against": args.against.resolve()} if args.against else {})}
    settings = {k: v for k, v in SETTINGS.items()
                if not args.only or any(s.strip() in k for s in args.only.split(","))}
    print(f"batch {args.batch}; {args.steps} timed steps after warm-up; {args.rounds} rounds, trees alternating; "
          f"precision {args.precision}")
    for label, setting in settings.items():
        runs = {t: [] for t in trees}
        for _ in range(args.rounds):
            for t, tree in trees.items():
                runs[t].append(measure(tree, setting, args))
        med = {t: statistics.median(r["images_s"] for r in rs) for t, rs in runs.items()}
        r0 = runs["this tree"][0]
        flops = statistics.median(r["flops_s"] for r in runs["this tree"])
        line = f"{label:<32} {med['this tree']:8.1f} images/s  {flops / 1e12:6.3f} TFLOP/s  [{r0['device']}]"
        if "CPU" in r0["device"]:
            threads = int(r0["device"].split(",")[1].split()[0])
            peak = args.peak_gflops or cpu_peak_gflops(threads)
            if peak:
                line += f"  {100 * flops / (peak * 1e9):.1f}% of the {peak:.0f} GFLOP/s fp32 peak"
        else:
            line += f"  {100 * flops / (args.peak_tflops * 1e12):.1f}% of {args.peak_tflops:.0f} TFLOP/s bf16 peak"
        print(line)
        if args.against:
            spread = ", ".join(f"{r['images_s']:.1f}" for r in runs["against"])
            print(f"{'':<32} {med['against']:8.1f} images/s in {args.against} (rounds: {spread}); "
                  f"this tree {med['this tree'] / med['against']:.2f}x")


if __name__ == "__main__":
    main()
