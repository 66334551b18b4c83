"""V-net pretraining as a speaker classifier (paper 3.2 and 4.1).

SGD, lr 0.03 halved every 100 epochs, batch 64; each batch is a random crop of
300-800 ms of the features (one length per batch, a random start per clip), so
V-net learns from short stretches and accepts any T at inference. Embeddings
and accuracies are computed on the full features in eval mode.

``attribute_weight`` > 0 (fegan's addition; 0, the paper's, by default) adds the voice-borne
attribute heads of ``VNet`` and their cross-entropy, times the weight, to the speaker loss, on the
training clips whose actor has that attribute known (-1 labels are left out of it).
``emotion_weight`` > 0 (fegan's addition too; 0 by default) adds the emotion head and its
cross-entropy against each training clip's emotion, times the weight.
``emotion_code`` (fegan's addition; off by default) adds the emotion reader of ``VNet`` and its
cross-entropy against each training clip's emotion. The reader shares no weight with the trunk
and the optimiser treats each weight alone (SGD, momentum, weight decay), so the trunk and its
heads come out exactly as without it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from .. import progress
from ..errors import FeganError
from ..models.config import VNetConfig
from ..models.vnet import VNet


@dataclass
class VNetTrainConfig:
    """The ``vnet`` section of params.yaml."""
    epochs: int = 150
    batch_size: int = 64
    lr: float = 0.03
    lr_halve_every: int = 100
    momentum: float = 0.9
    weight_decay: float = 5e-4
    crop_ms: list[int] = field(default_factory=lambda: [300, 800])
    channels: list[int] = field(default_factory=lambda: [256, 256, 256, 256, 128])
    seed: int = 0
    attribute_weight: float = 0.0           # the attribute heads' loss weight; 0: no heads (the paper's V-net)
    emotion_weight: float = 0.0             # the emotion head's loss weight; 0: no head (the paper's V-net)
    emotion_code: bool = False              # the emotion reader beside the trunk, its code appended to E_v for G

    def validate(self) -> None:
        for key in ("attribute_weight", "emotion_weight"):
            w = getattr(self, key)
            if isinstance(w, bool) or not (isinstance(w, (int, float)) and w >= 0):
                raise FeganError(f"vnet.{key} must be a number >= 0, got {w!r}")
        if not isinstance(self.emotion_code, bool):
            raise FeganError(f"vnet.emotion_code must be true or false, got {self.emotion_code!r}")


def random_crops(x: torch.Tensor, length: int, gen: torch.Generator | None = None,
                 starts: torch.Tensor | None = None) -> torch.Tensor:
    """(B, F, T) -> (B, F, length), a random start per row (or the given ``starts``, (B,))."""
    if starts is None:
        starts = torch.randint(0, x.shape[2] - length + 1, (x.shape[0],), generator=gen)
    idx = starts[:, None].to(x.device) + torch.arange(length, device=x.device)     # (B, L)
    return torch.gather(x, 2, idx[:, None, :].expand(-1, x.shape[1], -1).to(x.device))


@torch.no_grad()
def embed_all(model: VNet, feats: torch.Tensor, batch: int = 256, condition: bool = False
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """E_v and speaker logits for every row, in eval mode, on full-length features. ``condition``:
    what G reads instead of E_v (``VNet.condition``: E_v and the emotion code, when V-net has it)."""
    model.eval()
    dev = next(model.parameters()).device
    es, ls = [], []
    for i in range(0, len(feats), batch):
        x = feats[i:i + batch].to(dev)
        e, logit = model(x)
        es.append((model.condition(x, e) if condition else e).cpu())      # the trunk runs once
        ls.append(logit.cpu())
    return torch.cat(es), torch.cat(ls)


def pick_versions(clean: torch.Tensor, noisy: torch.Tensor | None, rows: torch.Tensor,
                  version: torch.Tensor | None) -> torch.Tensor:
    """(b, F, T) features of ``rows``: the clean voice where ``version`` is 0, else its noisy copy
    ``version - 1`` (``noisy``: (N, copies, F, T), the noisy_voices stage's; None: all clean)."""
    x = clean[rows]
    if noisy is None or version is None:
        return x
    v = version.to(x.device)
    copy = noisy[rows.to(noisy.device), (v - 1).clamp(min=0).to(noisy.device)].to(x.device)
    return torch.where((v > 0)[:, None, None], copy, x)


def attribute_loss(model: VNet, e: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Sum over V-net's attribute heads of the cross-entropy on E_v (B, 128) against ``labels``
    (B, A) class indices, -1 (unknown) left out; 0 for a head with no known label in the batch."""
    total = e.new_zeros(())
    for a, logits in enumerate(model.attributes(e)):
        known = labels[:, a] >= 0
        if known.any():
            total = total + F.cross_entropy(logits[known], labels[known, a])
    return total


def train_vnet(cfg: VNetTrainConfig, feats: torch.Tensor, speaker: np.ndarray, train_mask: np.ndarray,
               hop_ms: float, device: torch.device, log=None, noisy: torch.Tensor | None = None,
               attributes: np.ndarray | None = None,
               attribute_classes: tuple[int, ...] = (), emotions: np.ndarray | None = None,
               n_emotions: int = 0) -> tuple[VNet, VNetConfig]:
    """Train on the rows where ``train_mask``; ``log(epoch, dict)`` gets loss and accuracy per epoch.

    ``noisy``: (n_train, copies, F, T) babble-noisy copies of the training rows (noisy_voices
    stage); each crop then comes from the clean voice or one of its copies, with equal chance.
    ``attributes``: (N, A) class index of each row's actor per attribute (-1 unknown), and
    ``attribute_classes`` the class count of each; read only when ``cfg.attribute_weight`` > 0.
    ``emotions``: (N,) emotion class index of each row, of ``n_emotions``; read only when
    ``cfg.emotion_weight`` > 0 or ``cfg.emotion_code``.
    """
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    heads = tuple(attribute_classes) if cfg.attribute_weight > 0 else ()
    if heads and (attributes is None or attributes.shape != (len(feats), len(heads))):
        raise ValueError(f"vnet.attribute_weight > 0 needs (N={len(feats)}, {len(heads)}) attribute labels")
    n_emo = int(n_emotions) if cfg.emotion_weight > 0 else 0
    n_code = int(n_emotions) if cfg.emotion_code else 0
    if (n_emo or n_code) and (emotions is None or np.shape(emotions) != (len(feats),) or n_emotions < 2):
        raise ValueError(f"vnet.emotion_weight > 0 or vnet.emotion_code needs (N={len(feats)},) emotion labels "
                         "of at least 2 emotions")
    mcfg = VNetConfig(in_channels=feats.shape[1], channels=list(cfg.channels), n_speakers=int(speaker.max()) + 1,
                      attribute_classes=list(heads), emotion_classes=n_emo, emotion_code=n_code)
    model = VNet(mcfg.in_channels, tuple(mcfg.channels), mcfg.n_speakers, heads, n_emo, n_code).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.lr_halve_every, gamma=0.5)
    x = feats[torch.from_numpy(np.flatnonzero(train_mask))].to(device)   # the training set lives on the device
    y = torch.from_numpy(speaker[train_mask]).to(device)
    y_attr = torch.from_numpy(np.asarray(attributes)[train_mask]).long().to(device) if heads else None   # (n, A)
    y_emo = torch.from_numpy(np.asarray(emotions)[train_mask]).long().to(device) if n_emo or n_code else None  # (n,)
    if noisy is not None and len(noisy) != len(x):
        raise ValueError(f"noisy copies for {len(noisy)} clips, but {len(x)} training clips")
    lo, hi = (max(1, int(round(ms / hop_ms))) for ms in cfg.crop_ms)
    bar = progress.bar(cfg.epochs, "train_vnet", unit="epoch")
    for epoch in range(cfg.epochs):
        model.train()
        order = torch.randperm(len(x), generator=gen).to(device)
        total, correct, seen = 0.0, 0, 0
        for i in range(0, len(x), cfg.batch_size):
            b = order[i:i + cfg.batch_size]
            # a tail batch under half the batch is skipped (this epoch's order leaves other clips out
            # next time): BatchNorm's running statistics, which eval mode reads, moved a tenth of the
            # way to a handful of crops' statistics every epoch. With the validation split (136
            # training clips: batches of 64, 64, 8) that took V-net's whole-voice speaker accuracy
            # from 0.95 (train) / 0.93 (test) to 0.76 / 0.79; 168 clips' tail of 40 is kept, as before, and
            # so is a first batch (a training set smaller than the batch)
            if len(b) < 2 or (i > 0 and len(b) < cfg.batch_size // 2):
                continue
            length = int(torch.randint(lo, min(hi, x.shape[2]) + 1, (1,), generator=gen))
            # drawn only with copies, so a run without them keeps its stream of draws
            version = None if noisy is None else torch.randint(0, noisy.shape[1] + 1, (len(b),), generator=gen)
            crops = random_crops(pick_versions(x, noisy, b, version), length, gen)     # (b, F, length)
            e, logits = model(crops)
            loss = F.cross_entropy(logits, y[b])
            if heads:
                loss = loss + cfg.attribute_weight * attribute_loss(model, e, y_attr[b])
            if n_emo:
                loss = loss + cfg.emotion_weight * F.cross_entropy(model.emotion(e), y_emo[b])
            if n_code:
                loss = loss + F.cross_entropy(model.emotion_reader(crops), y_emo[b])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(b)
            correct += int((logits.argmax(1) == y[b]).sum())
            seen += len(b)
        sched.step()
        if log is not None and seen:
            log(epoch, {"loss": total / seen, "train_crop_acc": correct / seen, "lr": sched.get_last_lr()[0]})
        if seen:
            bar.set_postfix_str(f"loss {total / seen:.3f}, crop accuracy {correct / seen:.3f}", refresh=False)
        bar.update()
    bar.close()
    model.eval()
    return model, mcfg
