"""Training throughput: ms a step and images/s of the pipeline's own loop, optionally side by side.

    python bench/train.py [--steps 60] [--rounds 3] [--device auto] [--threads N]
    python bench/train.py --against /tmp/fegan-base      # a git worktree of an older commit

What is timed is ``fegan.training.gan.train_gan``, the loop `train_fegan` runs, with the
stage's own curve logger (``gan_stage.Curves``, dvclive writing to a temporary folder) and
params.yaml's ``train`` section (``train.augment_shift``, ``train.ema_images``,
``train.log_every``, ``train.precision``; the "voice crops" setting turns ``train.voice_crops``
on, so the frozen V-net embeds a fresh crop of every voice each step, and "babble copies" draws
each crop from the clean voice or one of 4 noisy copies, as recipe fegan-v3): every step's D/C and G updates, the weight average,
the losses copied out, the curves, the progress line. So the bench and the stage cannot drift
apart: a cost added to the loop shows here. Not timed: building the model, the checkpoints
and sample grids (every ``train.checkpoint_every`` / ``sample_every`` steps, 1000 by default;
the bench stops before the first), the export at the end. The data are random tensors of the
default set's shapes (the speed does not depend on the values): 32x32 faces of
``synth.actors`` speakers and ``len(synth.emotions)`` emotions.

The clock runs from the end of step ``--warmup`` to the end of step ``--warmup + --steps``
(both multiples of ``train.log_every``, so the timed steps hold whole curve windows), read in
the loop's ``log`` callback. Each measurement runs in its own process (``--worker``), which
imports ``fegan`` and reads params.yaml from the tree it measures, so with ``--against`` the two
trees are timed alternately, round by round, on the same machine state; the medians and the
ratio are printed. A tree without ``gan_stage.Curves`` (older than this bench) is timed without
curves, which the line says. The model FLOP/s (torch's FLOP counter on one step) are printed
against the CPU's fp32 peak (cores x clock x FMA lanes x 2, from ``--peak-gflops`` or
/proc/cpuinfo), or on a GPU against ``--peak-tflops`` (H100 SXM dense bf16: 989).
Make a worktree of the commit to compare with: ``git worktree add /tmp/fegan-base <commit>``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SETTINGS = {
    "default (32x32, width 0.25)": dict(image_size=32, width=0.25),
    # E_v of a fresh 300-800 ms crop of each voice every step, through the frozen V-net
    "default + voice crops": dict(image_size=32, width=0.25, train={"voice_crops": True}),
    # ... drawn from the clean voice or one of 4 babble copies (recipe fegan-v3)
    "default + voice crops + 4 babble copies": dict(image_size=32, width=0.25, train={"voice_crops": True},
                                                     copies=4),
    "old default (64x64, width 0.25)": dict(image_size=64, width=0.25),
    "paper (128x128, width 1.0)": dict(image_size=128, width=1.0),
}
ROOT = Path(__file__).resolve().parent.parent


def worker(setting: dict, steps: int, warmup: int, batch: int, device_name: str, threads: int,
           precision: str) -> dict:
    """Time ``steps`` steps of ``train_gan`` with the ``fegan`` on sys.path (the tree being measured)."""
    import dataclasses

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from fegan.models.config import GANConfig
    from fegan.params import build_config, load_params
    from fegan.training import gan
    from fegan.training.device import resolve_device

    try:
        from fegan.training.gan_stage import Curves
        from fegan.training.stages import open_live
    except ImportError:                  # a tree older than this bench: its loop without curves
        Curves = open_live = None

    if threads:
        torch.set_num_threads(threads)
    device = resolve_device(device_name)
    params = load_params("params.yaml")                                  # the measured tree's (cwd)
    setting = dict(setting)
    copies = setting.pop("copies", 0)
    train = dict(params["train"], **setting.pop("train", {}), batch_size=batch)
    if precision != "auto":
        train["precision"] = precision
    tcfg = build_config(gan.GANTrainConfig, train, "train")
    every = getattr(tcfg, "log_every", 10)
    warmup, steps = (max(every, -(-n // every) * every) for n in (warmup, steps))   # whole curve windows
    # no checkpoint, sample grid or end-of-run step inside the timed steps
    tcfg = dataclasses.replace(tcfg, iterations=max(tcfg.iterations, warmup + steps + 1))
    n_id, n_emo = params["synth"]["actors"], len(params["synth"]["emotions"])
    cfg = GANConfig(n_identities=n_id, n_emotions=n_emo, **setting)
    g = torch.Generator().manual_seed(0)
    n, size = 512, cfg.image_size
    data = gan.GANData(faces=torch.randint(0, 255, (n, 3, size, size), dtype=torch.uint8, generator=g),
                       face_id=torch.randint(0, n_id, (n,), generator=g),
                       face_emo=torch.randint(0, n_emo, (n,), generator=g),
                       face_ev=torch.randn(n, 128, generator=g), voice_ev=torch.randn(n, 128, generator=g),
                       voice_id=torch.randint(0, n_id, (n,), generator=g),
                       voice_emo=torch.randint(0, n_emo, (n,), generator=g),
                       # the features stage's shape: 64 bands, 10 s at a 16 ms hop
                       voice_feat=torch.randn(n, 64, 625, generator=g),
                       face_voice=torch.randint(0, n, (n,), generator=g))
    if copies:                            # (n, copies, 64, 625): what the noisy_voices stage writes
        data.voice_noisy = torch.randn(n, copies, 64, 625, generator=g)
    vnet = extra = None
    if getattr(tcfg, "voice_crops", False):
        from fegan.models.vnet import VNet

        vnet = VNet(64, tuple(params["vnet"]["channels"]), n_id).eval()
    if hasattr(tcfg, "voice_crops"):          # a tree older than the recipes' switches has no V-net in its loop
        extra = {"vnet": vnet, "hop_ms": params["features"]["hop_ms"]}
    marks = {}

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    with tempfile.TemporaryDirectory() as tmp:
        live = open_live(f"{tmp}/live") if open_live else None
        curves = Curves(live, tcfg.log_every, tcfg.iterations) if Curves else None

        def log(step: int, d: dict) -> None:
            if curves is not None:
                curves(step, d)
            if step + 1 in (warmup, warmup + steps):
                sync()
                marks[step + 1] = time.perf_counter()

        gan.train_gan(cfg, tcfg, 0.7, 0.3, data, device, f"{tmp}/fegan.pt", log=log, stop_after=warmup + steps,
                      **(extra or {}))
        if live is not None:
            live.end()
    dt = (marks[warmup + steps] - marks[warmup]) / steps

    # the model FLOPs of one step (train_step alone: the loop's other work is no model arithmetic)
    model, opt_g, opt_d = gan.build(cfg, tcfg, device)
    with FlopCounterMode(display=False) as fc:
        gan.train_step(model, opt_g, opt_d, data.to(device), torch.Generator().manual_seed(0), tcfg, 0.7, 0.3,
                       device, vnet=None if vnet is None else vnet.to(device), hop_ms=params["features"]["hop_ms"])
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    return {"ms_step": 1000 * dt, "images_s": batch / dt, "flops_s": fc.get_total_flops() / dt, "device": name,
            "curves": curves is not None, "steps": steps}


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
    # the loop's progress lines go to the worker's captured stderr, as the stage's go to a log
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(setting), "--steps",
           str(args.steps), "--warmup", str(args.warmup), "--batch", str(args.batch), "--device", args.device,
           "--threads", str(args.threads), "--precision", args.precision if tree == ROOT else "auto"]
    out = subprocess.run(cmd, env=env, cwd=tree, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"bench worker in {tree} failed: {out.stderr.strip().splitlines()[-1]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=60, help="timed steps (rounded up to whole curve windows)")
    ap.add_argument("--warmup", type=int, default=10, help="untimed steps first (allocations, kernels)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"],
                    help="this tree's train.precision (auto: params.yaml's)")
    ap.add_argument("--against", type=Path, help="another checkout (e.g. a git worktree) to time side by side")
    ap.add_argument("--only", help="comma-separated substrings of the settings to run")
    ap.add_argument("--peak-gflops", type=float, help="the CPU's fp32 peak (default: from /proc/cpuinfo)")
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="the GPU's dense bf16 peak")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker), args.steps, args.warmup, args.batch, args.device,
                                args.threads, args.precision)))
        return
    trees = {"this tree": ROOT, **({"against": args.against.resolve()} if args.against else {})}
    settings = {k: v for k, v in SETTINGS.items()
                if not args.only or any(s.strip() in k for s in args.only.split(","))}
    print(f"train_gan's loop, batch {args.batch}; {args.steps} timed steps after {args.warmup}; {args.rounds} rounds, "
          f"trees alternating; precision {args.precision}")
    for label, setting in settings.items():
        runs = {t: [] for t in trees}
        for _ in range(args.rounds):
            for t, tree in trees.items():
                runs[t].append(measure(tree, setting, args))
        med = {t: statistics.median(r["ms_step"] for r in rs) for t, rs in runs.items()}
        r0 = runs["this tree"][0]
        flops = statistics.median(r["flops_s"] for r in runs["this tree"])
        line = (f"{label:<32} {med['this tree']:7.1f} ms a step, {args.batch * 1000 / med['this tree']:7.1f} images/s  "
                f"{flops / 1e12:6.3f} TFLOP/s  [{r0['device']}]")
        if "CPU" in r0["device"]:
            threads = int(r0["device"].split(",")[1].split()[0])
            peak = args.peak_gflops or cpu_peak_gflops(threads)
            if peak:
                line += f"  {100 * flops / (peak * 1e9):.1f}% of the {peak:.0f} GFLOP/s fp32 peak"
        else:
            line += f"  {100 * flops / (args.peak_tflops * 1e12):.1f}% of {args.peak_tflops:.0f} TFLOP/s bf16 peak"
        print(line)
        if args.against:
            ra = runs["against"]
            spread = ", ".join(f"{r['ms_step']:.1f}" for r in ra)
            note = "" if ra[0]["curves"] else " (no curves: a tree older than this bench)"
            print(f"{'':<32} {med['against']:7.1f} ms a step in {args.against}{note} (rounds: {spread}); "
                  f"this tree {med['against'] / med['this tree']:.2f}x as fast")


if __name__ == "__main__":
    main()
