"""Training throughput: images/s of FE-GAN steps for the default and the paper-scale model.

    python bench/train.py [--steps 5] [--device auto]

One step is a D/C update and a G update on a batch of real faces and voices
(random tensors of the right shapes: the speed does not depend on the values).
On a GPU it also reports the model FLOP/s (counted with torch's FLOP counter)
as a fraction of the device's peak bf16 FLOP/s, given with --peak-tflops
(H100 SXM dense bf16: 989).
"""
from __future__ import annotations

import argparse
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from fegan.models.config import GANConfig
from fegan.training.device import resolve_device
from fegan.training.gan import GANData, GANTrainConfig, build, train_step

SETTINGS = {
    "default (64x64, width 0.25)": dict(image_size=64, width=0.25),
    "paper (128x128, width 1.0)": dict(image_size=128, width=1.0),
}


def fake_data(n: int, size: int, device) -> GANData:
    g = torch.Generator().manual_seed(0)
    return GANData(faces=torch.randint(0, 255, (n, 3, size, size), dtype=torch.uint8, generator=g),
                   face_id=torch.randint(0, 24, (n,), generator=g), face_emo=torch.randint(0, 8, (n,), generator=g),
                   face_ev=torch.randn(n, 128, generator=g), voice_ev=torch.randn(n, 128, generator=g),
                   voice_id=torch.randint(0, 24, (n,), generator=g),
                   voice_emo=torch.randint(0, 8, (n,), generator=g)).to(device)


def bench(setting: dict, steps: int, batch: int, device) -> tuple[float, float]:
    cfg = GANConfig(n_identities=24, n_emotions=8, **setting)
    model, opt_g, opt_d = build(cfg, GANTrainConfig(), device)
    data = fake_data(256, cfg.image_size, device)
    gen = torch.Generator().manual_seed(0)
    step = lambda: train_step(model, opt_g, opt_d, data, gen, batch, 0.7, 0.3, device)  # noqa: E731
    step()                                               # warm-up (allocations, kernels)
    with FlopCounterMode(display=False) as fc:
        step()
    flops = fc.get_total_flops()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    dt = (time.perf_counter() - t) / steps
    return batch / dt, flops / dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="the GPU's dense bf16 peak")
    args = ap.parse_args()
    device = resolve_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}; batch {args.batch}; {args.steps} timed steps after one warm-up")
    for label, setting in SETTINGS.items():
        ips, fps = bench(setting, args.steps, args.batch, device)
        line = f"{label:<30} {ips:8.1f} images/s   {fps / 1e12:7.3f} TFLOP/s"
        if device.type == "cuda":
            line += f"   ({100 * fps / (args.peak_tflops * 1e12):.1f}% of {args.peak_tflops:.0f} TFLOP/s bf16 peak)"
        print(line)


if __name__ == "__main__":
    main()
