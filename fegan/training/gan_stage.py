"""The `train_fegan` stage: faces, E_v and V-net in; the generator, metrics, curves and samples out."""
from __future__ import annotations

import contextlib

import numpy as np
import torch

from .. import paths
from ..models.config import GANConfig
from ..models.vnet import from_checkpoint as vnet_from_checkpoint
from ..params import build_config
from . import checkpoint, distributed
from .data import Labels, usable_clips
from .device import resolve_device
from .gan import GANData, GANTrainConfig, fingerprint, resumable_step, to_image, train_gan
from .gan_data import gan_data, split_actors
from .stages import open_live, write_json


@torch.no_grad()
def head_accuracy(model, data: GANData, device) -> dict[str, float]:
    """C1 (identity) and C2 (emotion) on real faces: do the classifier heads see the classes?"""
    model.eval()
    out = model.judge(to_image(data.faces.to(device)), data.face_ev.to(device))
    acc = {}
    seen = data.face_id >= 0                  # unseen speakers (data.split speaker) have no class
    if "c1" in out and seen.any():
        acc["c1_acc"] = float((out["c1"].argmax(1).cpu()[seen] == data.face_id[seen]).float().mean())
    if "c2" in out:
        acc["c2_acc"] = float((out["c2"].argmax(1).cpu() == data.face_emo).float().mean())
    model.train()
    return acc


class Curves:
    """``train_gan``'s ``log``: the mean of every ``log_every`` steps' values, logged in dvclive at
    the window's last step (a logged step costs dvclive ~4 ms: a file append per curve, the summary)."""

    def __init__(self, live, log_every: int, iterations: int):
        self.live, self.log_every, self.iterations = live, log_every, iterations
        self.window: dict[str, list[float]] = {}

    def __call__(self, step: int, d: dict[str, float]) -> None:
        for k, v in d.items():
            self.window.setdefault(k, []).append(v)
        if (step + 1) % self.log_every and step + 1 != self.iterations:
            return
        self.live.step = step  # a resumed run continues the curves at its own step
        for k, vs in self.window.items():
            self.live.log_metric(k, sum(vs) / len(vs))
        self.live.next_step()
        self.window.clear()


def stage(params: dict) -> str:
    from PIL import Image
    from torchvision.utils import make_grid

    tcfg = build_config(GANTrainConfig, params.get("train"), "train")
    # under torchrun every rank runs this; rank r trains on cuda:LOCAL_RANK, rank 0 alone writes
    ctx = distributed.from_env()
    ctx.local_batch(tcfg.batch_size)    # a batch that does not divide among the ranks: fail first
    device = distributed.local_device(resolve_device(params.get("device", "auto")), ctx)
    vnet = checkpoint.load(paths.VNET)
    labels = Labels.from_clips(usable_clips())
    mcfg = build_config(GANConfig, {**params.get("model", {}), "image_size": params["faces"]["image_size"],
                                    # E_v, and V-net's emotion code after it (vnet.emotion_code)
                                    "embed_dim": vnet["config"]["channels"][-1] + vnet["config"].get("emotion_code", 0),
                                    "n_identities": len(labels.actors), "n_emotions": len(labels.emotions)},
                        "model")
    train = gan_data("train", labels, features=tcfg.voice_crops, noisy=tcfg.noisy_voices)
    # the sample grids and the heads' held-out accuracies read validation voices: test is read
    # once, by evaluate (test only when data.val_fraction is 0)
    held_name = "val" if (usable_clips().split == "val").sum() >= 2 else "test"
    held = gan_data(held_name, labels)
    hop_ms = float(params["features"]["hop_ms"])
    encoder = vnet_from_checkpoint(vnet) if tcfg.voice_crops else None
    lam1, lam2 = float(params["lambda1"]), float(params["lambda2"])

    # fixed noise and fixed held-out voices (one per identity) for the sample grids
    g = torch.Generator().manual_seed(1234)
    # (data.split speaker: held-out voices are unseen speakers, with no identity class: their actor codes)
    who = held.voice_id.numpy() if (held.voice_id >= 0).any() else split_actors(held_name)[0]
    pick = [int(np.flatnonzero(who == i)[0]) for i in sorted(set(who.tolist()))]
    fixed_ev = held.voice_ev[pick].repeat_interleave(4, 0)
    fixed_noise = torch.randn(len(fixed_ev), mcfg.noise_dim, generator=g)

    # curves continue (dvclive resume) only when the checkpoint is this run's; dvc.yaml
    # persists dvclive/fegan/plots beside the checkpoint for that
    resuming = resumable_step(paths.GAN_CHECKPOINT, fingerprint(mcfg, tcfg, (lam1, lam2), train,
                                                                tcfg.crop_frames(hop_ms)),
                              tcfg.iterations) > 0
    with open_live(paths.GAN_LIVE, resume=resuming) if ctx.is_main else contextlib.nullcontext() as live:
        log = Curves(live, tcfg.log_every, tcfg.iterations)

        @torch.no_grad()
        def sample(step, model, g):
            imgs = g(fixed_ev.to(device), fixed_noise.to(device)).float().cpu()
            grid = make_grid((imgs + 1) / 2, nrow=8).clamp(0, 1).mul(255).byte().permute(1, 2, 0).numpy()
            live.log_image(f"samples/step_{step:06d}.png", Image.fromarray(grid))

        model, g_out = train_gan(mcfg, tcfg, lam1, lam2, train, device, paths.GAN_CHECKPOINT,
                                 log=log if ctx.is_main else None, sample=sample if ctx.is_main else None,
                                 vnet=encoder, hop_ms=hop_ms)
        if not ctx.is_main:
            return f"train_fegan: rank {ctx.rank} of {ctx.world_size} done (rank 0 writes the outputs)"
        metrics = {**{f"{k}_{held_name}_real": v for k, v in head_accuracy(model, held, device).items()},
                   **{f"{k}_train_real": v for k, v in head_accuracy(model, train, device).items()},
                   "chance_identity": 1 / len(labels.actors), "chance_emotion": 1 / len(labels.emotions)}
        for k, v in metrics.items():
            live.summary[k] = v
    # the exported generator is G's weight average (train.ema_images), as the samples are
    checkpoint.save(paths.GENERATOR, model_config=mcfg.to_dict(), g=g_out.cpu().state_dict(),
                    actors=labels.actors, emotions=labels.emotions, lambda1=lam1, lambda2=lam2)
    write_json(paths.GAN_METRICS, metrics)
    return "train_fegan: " + ", ".join(f"{k} {v:.3f}" for k, v in metrics.items())
