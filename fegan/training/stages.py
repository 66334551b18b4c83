"""The `train_vnet` and `train_fegan` stages: artifacts in, checkpoints/metrics/curves out."""
from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors.numpy import load_file, save_file

from .. import paths
from ..errors import FeganError
from ..io import atomic_path
from ..models.config import GANConfig
from ..params import build_config
from . import checkpoint, distributed
from .data import Labels, load_faces, load_features, usable_clips
from .device import resolve_device
from .gan import GANData, GANTrainConfig, fingerprint, resumable_step, to_image, train_gan
from .vnet import VNetTrainConfig, embed_all, train_vnet


def write_json(path: str | Path, obj: dict) -> None:
    with atomic_path(path, suffix=".json") as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def _live(directory: str, resume: bool = False):
    from dvclive import Live
    # dvc.yaml declares the plots and metrics; dvclive must not edit it or make experiments
    return Live(directory, resume=resume, save_dvc_exp=False, dvcyaml=None, report=None)


def vnet_stage(params: dict) -> str:
    cfg = build_config(VNetTrainConfig, params.get("vnet"), "vnet")
    device = resolve_device(params.get("device", "auto"))
    clips = usable_clips()
    feats = load_features()[torch.as_tensor(clips.row.to_numpy().copy())]     # (N, F, T), rows of `clips`
    labels = Labels.from_clips(clips)
    speaker = labels.actor_index(clips.actor)
    train = (clips.split == "train").to_numpy()
    if train.sum() < 2:
        raise FeganError("train_vnet: fewer than 2 training clips")
    with _live(paths.VNET_LIVE) as live:
        def log(epoch, d):
            for k, v in d.items():
                live.log_metric(k, v)
            live.next_step()
        model, mcfg = train_vnet(cfg, feats, speaker, train, params["features"]["hop_ms"], device, log)
        e_v, logits = embed_all(model, feats)
        pred = logits.argmax(1).numpy()
        metrics = {"vnet_train_acc": float((pred[train] == speaker[train]).mean()),
                   "vnet_test_acc": float((pred[~train] == speaker[~train]).mean()),
                   "vnet_chance": 1.0 / len(labels.actors)}
        for k, v in metrics.items():
            live.summary[k] = v
    checkpoint.save(paths.VNET, config=mcfg.to_dict(), state_dict=model.cpu().state_dict(),
                    actors=labels.actors, feature_kind=params["features"]["kind"])
    with atomic_path(paths.EMBEDDINGS, suffix=".safetensors") as tmp:
        save_file({"e_v": e_v.numpy().astype(np.float32), "clip_row": clips.row.to_numpy().astype(np.int64)},
                  str(tmp))
    write_json(paths.VNET_METRICS, metrics)
    return (f"train_vnet: speaker accuracy train {metrics['vnet_train_acc']:.3f}, "
            f"test {metrics['vnet_test_acc']:.3f} (chance {metrics['vnet_chance']:.3f})")


def gan_data(split: str, labels: Labels) -> GANData:
    """Faces and voices of one split, with labels and the E_v of every face's clip."""
    clips = usable_clips()
    emb = load_file(paths.EMBEDDINGS)
    ev_by_row = dict(zip(emb["clip_row"].tolist(), range(len(emb["clip_row"]))))
    e_v_all = torch.from_numpy(emb["e_v"])
    fi = pd.read_parquet(paths.FACES_INDEX)
    fi = fi[fi.row >= 0].merge(clips[["clip_id", "actor", "emotion", "split", "row"]], on="clip_id",
                               suffixes=("", "_feat"))
    fi = fi[fi.split == split]
    voices = clips[clips.split == split]
    faces = load_faces()
    ev_face = torch.stack([e_v_all[ev_by_row[r]] for r in fi.row_feat]) if len(fi) else torch.zeros(0, 128)
    return GANData(
        faces=faces[torch.as_tensor(fi.row.to_numpy().copy())],
        face_id=torch.from_numpy(labels.actor_index(fi.actor)), face_emo=torch.from_numpy(labels.emotion_index(fi.emotion)),
        face_ev=ev_face,
        voice_ev=torch.stack([e_v_all[ev_by_row[r]] for r in voices.row]),
        voice_id=torch.from_numpy(labels.actor_index(voices.actor)),
        voice_emo=torch.from_numpy(labels.emotion_index(voices.emotion)))


@torch.no_grad()
def head_accuracy(model, data: GANData, device) -> dict[str, float]:
    """C1 (identity) and C2 (emotion) on real faces: do the classifier heads see the classes?"""
    model.eval()
    out = model.judge(to_image(data.faces.to(device)), data.face_ev.to(device))
    acc = {}
    if "c1" in out:
        acc["c1_acc"] = float((out["c1"].argmax(1).cpu() == data.face_id).float().mean())
    if "c2" in out:
        acc["c2_acc"] = float((out["c2"].argmax(1).cpu() == data.face_emo).float().mean())
    model.train()
    return acc


def gan_stage(params: dict) -> str:
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
                                    "embed_dim": vnet["config"]["channels"][-1],
                                    "n_identities": len(labels.actors), "n_emotions": len(labels.emotions)},
                        "model")
    train, test = gan_data("train", labels), gan_data("test", labels)
    lam1, lam2 = float(params["lambda1"]), float(params["lambda2"])

    # fixed noise and fixed test voices (one per identity) for the sample grids
    g = torch.Generator().manual_seed(1234)
    pick = [int(np.flatnonzero(test.voice_id.numpy() == i)[0]) for i in range(len(labels.actors))
            if (test.voice_id.numpy() == i).any()]
    fixed_ev = test.voice_ev[pick].repeat_interleave(4, 0)
    fixed_noise = torch.randn(len(fixed_ev), mcfg.noise_dim, generator=g)

    # curves continue (dvclive resume) only when the checkpoint is this run's; dvc.yaml
    # persists dvclive/fegan/plots beside the checkpoint for that
    resuming = resumable_step(paths.GAN_CHECKPOINT, fingerprint(mcfg, tcfg, (lam1, lam2), train),
                              tcfg.iterations) > 0
    with _live(paths.GAN_LIVE, resume=resuming) if ctx.is_main else contextlib.nullcontext() as live:
        window: dict[str, list[float]] = {}

        def log(step, d):
            # the mean of the last train.log_every steps, logged at the window's last step: dvclive's
            # cost per logged step grows with the steps logged (19 ms at 1000, 60 at 3000 here)
            for k, v in d.items():
                window.setdefault(k, []).append(v)
            if (step + 1) % tcfg.log_every and step + 1 != tcfg.iterations:
                return
            live.step = step  # a resumed run continues the curves at its own step
            for k, vs in window.items():
                live.log_metric(k, sum(vs) / len(vs))
            live.next_step()
            window.clear()

        @torch.no_grad()
        def sample(step, model, g):
            imgs = g(fixed_ev.to(device), fixed_noise.to(device)).float().cpu()
            grid = make_grid((imgs + 1) / 2, nrow=8).clamp(0, 1).mul(255).byte().permute(1, 2, 0).numpy()
            live.log_image(f"samples/step_{step:06d}.png", Image.fromarray(grid))

        model, g_out = train_gan(mcfg, tcfg, lam1, lam2, train, device, paths.GAN_CHECKPOINT,
                                 log=log if ctx.is_main else None, sample=sample if ctx.is_main else None)
        if not ctx.is_main:
            return f"train_fegan: rank {ctx.rank} of {ctx.world_size} done (rank 0 writes the outputs)"
        metrics = {**{f"{k}_test_real": v for k, v in head_accuracy(model, test, device).items()},
                   **{f"{k}_train_real": v for k, v in head_accuracy(model, train, device).items()},
                   "chance_identity": 1 / len(labels.actors), "chance_emotion": 1 / len(labels.emotions)}
        for k, v in metrics.items():
            live.summary[k] = v
    # the exported generator is G's weight average (train.ema_images), as the samples are
    checkpoint.save(paths.GENERATOR, model_config=mcfg.to_dict(), g=g_out.cpu().state_dict(),
                    actors=labels.actors, emotions=labels.emotions, lambda1=lam1, lambda2=lam2)
    write_json(paths.GAN_METRICS, metrics)
    return "train_fegan: " + ", ".join(f"{k} {v:.3f}" for k, v in metrics.items())
