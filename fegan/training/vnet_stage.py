"""The `train_vnet` stage: features in; V-net, every clip's E_v, metrics and curves out; and the
calibration of "close to a training speaker or new" that `fegan generate` and the demo read
(``voice_calibration``: ``models/vnet_calibration.json``)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from safetensors.numpy import save_file

from .. import paths
from ..datasets.attributes import ATTRIBUTES, SEXES
from ..errors import FeganError
from ..io import atomic_path
from ..params import build_config
from . import checkpoint
from .data import Labels, load_features, load_noisy, protocol, usable_clips
from .device import resolve_device
from .stages import open_live, write_json
from .vnet import VNetTrainConfig, embed_all, train_vnet
from .voice_calibration import stage_calibration


def attribute_labels(actors: pd.DataFrame, clip_actors) -> np.ndarray:
    """(N, len(ATTRIBUTES)) class index of each clip's actor per attribute, in ``ATTRIBUTES``' order
    (sex by ``SEXES``; the bands as stored); -1 where unknown or the actor is not in ``actors``."""
    table = actors.set_index("actor")
    sex = table.sex.map({s: i for i, s in enumerate(SEXES)}).fillna(-1)
    cols = {"sex": sex, "age_band": table.age_band, "size_band": table.size_band}
    ids = pd.Series(np.asarray(clip_actors, dtype=np.int64))
    return np.stack([ids.map(cols[a]).fillna(-1).to_numpy().astype(np.int64) for a in ATTRIBUTES], axis=1)


def _attributes(clips, train: np.ndarray) -> np.ndarray:
    """(N, A) attribute labels of the clips' actors (demux's actors table); refused when no training
    clip has any attribute known (vnet.attribute_weight > 0 would train heads on nothing)."""
    labels = attribute_labels(pd.read_parquet(paths.ACTORS), clips.actor.to_numpy())
    if not (labels[train] >= 0).any():
        raise FeganError("train_vnet: vnet.attribute_weight > 0, but no training actor has a known sex, age or "
                         "size (data/interim/actors.parquet); set it to 0 for this dataset")
    return labels


@torch.no_grad()
def emotion_accuracy(model, e_v: torch.Tensor, emotions: np.ndarray, split: np.ndarray) -> dict[str, float]:
    """``vnet_<split>_emotion_acc``: V-net's emotion head on each clip's whole-voice E_v, per split."""
    pred = model.emotion(e_v.to(next(model.parameters()).device)).argmax(1).cpu().numpy()
    return {f"vnet_{s}_emotion_acc": float((pred[split == s] == emotions[split == s]).mean())
            for s in ("train", "val", "test") if (split == s).any()}


def code_accuracy(code: torch.Tensor, emotions: np.ndarray, split: np.ndarray) -> dict[str, float]:
    """``vnet_<split>_emotion_code_acc``: the emotion code's most likely emotion on each clip's whole
    voice against its label, per split (unseen speakers included)."""
    pred = code.argmax(1).numpy()
    return {f"vnet_{s}_emotion_code_acc": float((pred[split == s] == emotions[split == s]).mean())
            for s in ("train", "val", "test") if (split == s).any()}


@torch.no_grad()
def attribute_accuracy(model, e_v: torch.Tensor, labels: np.ndarray, split: np.ndarray) -> dict[str, float]:
    """``vnet_<split>_<attribute>_acc``: V-net's attribute heads on each clip's whole-voice E_v, against
    its actor's truth, per split (unseen speakers included: what the voice says of a new speaker)."""
    dev = next(model.parameters()).device
    preds = [logits.argmax(1).cpu().numpy() for logits in model.attributes(e_v.to(dev))]
    out = {}
    for s in ("train", "val", "test"):
        for a, (name, pred) in enumerate(zip(ATTRIBUTES, preds)):
            m = (split == s) & (labels[:, a] >= 0)
            if m.any():
                out[f"vnet_{s}_{name}_acc"] = float((pred[m] == labels[m, a]).mean())
    return out


def stage(params: dict) -> str:
    cfg = build_config(VNetTrainConfig, params.get("vnet"), "vnet")
    device = resolve_device(params.get("device", "auto"))
    clips = usable_clips()
    feats = load_features()[torch.as_tensor(clips.row.to_numpy().copy())]     # (N, F, T), rows of `clips`
    labels = Labels.from_clips(clips)
    speaker = labels.actor_index(clips.actor, unseen=True)      # -1: a speaker never trained on (data.split speaker)
    train = (clips.split == "train").to_numpy()
    held_out = {s: (clips.split == s).to_numpy() & (speaker >= 0) for s in ("val", "test")}
    if train.sum() < 2:
        raise FeganError("train_vnet: fewer than 2 training clips")
    with open_live(paths.VNET_LIVE) as live:
        def log(epoch, d):
            for k, v in d.items():
                live.log_metric(k, v)
            live.next_step()
        noisy = load_noisy(clips.row.to_numpy()[train])      # (n_train, copies, F, T) or None
        attrs = _attributes(clips, train) if cfg.attribute_weight > 0 else None       # (N, A) or None
        emotions = labels.emotion_index(clips.emotion)                                 # (N,)
        model, mcfg = train_vnet(cfg, feats, speaker, train, params["features"]["hop_ms"], device, log, noisy,
                                 attrs, tuple(len(v) for v in ATTRIBUTES.values()),
                                 emotions, len(labels.emotions))
        # what G reads of each whole voice: E_v, and the emotion code after it with vnet.emotion_code;
        # the heads and the calibration read the speaker part, the first embed_dim columns
        cond, logits = embed_all(model, feats, condition=True)                       # (N, D)
        e_v = cond[:, :model.embed_dim]                                                # (N, 128)
        pred = logits.argmax(1).numpy()
        metrics = {"vnet_train_acc": float((pred[train] == speaker[train]).mean()),
                   **{f"vnet_{s}_acc": float((pred[m] == speaker[m]).mean()) for s, m in held_out.items()
                      if m.any()},     # no val split when data.val_fraction is 0; none of unseen speakers
                   "vnet_chance": 1.0 / len(labels.actors)}
        if attrs is not None:
            metrics.update(attribute_accuracy(model, e_v, attrs, clips.split.to_numpy()))
        if cfg.emotion_weight > 0:
            metrics.update(emotion_accuracy(model, e_v, emotions, clips.split.to_numpy()))
        if cfg.emotion_code:
            metrics.update(code_accuracy(cond[:, model.embed_dim:], emotions, clips.split.to_numpy()))
        for k, v in metrics.items():
            live.summary[k] = v
    checkpoint.save(paths.VNET, config=mcfg.to_dict(), state_dict=model.cpu().state_dict(),
                    actors=labels.actors, feature_kind=params["features"]["kind"])
    out = {"e_v": cond.numpy().astype(np.float32), "clip_row": clips.row.to_numpy().astype(np.int64)}
    if noisy is not None:     # the whole-voice E_v of every babble copy: G's extra voices (train.noisy_voices)
        e_noisy, _ = embed_all(model, noisy.flatten(0, 1), condition=True)            # (n_train * copies, D)
        out["e_v_noisy"] = e_noisy.view(*noisy.shape[:2], -1).numpy().astype(np.float32)   # (n_train, copies, D)
        out["noisy_clip_row"] = clips.row.to_numpy()[train].astype(np.int64)
    with atomic_path(paths.EMBEDDINGS, suffix=".safetensors") as tmp:
        save_file(out, str(tmp))
    write_json(paths.VNET_METRICS, metrics)
    cal = stage_calibration(model, e_v.numpy(), speaker, clips.split.to_numpy(), labels.actors, labels.emotions,
                            protocol(clips), params, paths.VNET)
    write_json(paths.VNET_CALIBRATION, cal)
    return (f"train_vnet: speaker accuracy train {metrics['vnet_train_acc']:.3f}, "
            f"val {metrics.get('vnet_val_acc', float('nan')):.3f}, test {metrics.get('vnet_test_acc', float('nan')):.3f} "
            f"(chance {metrics['vnet_chance']:.3f}); a new voice below similarity {cal['threshold']:.3f} "
            f"(equal error {cal['eer']:.3f})")
