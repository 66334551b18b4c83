"""The emotion evaluator: a small CNN trained on real face crops of the training split.

Why a CNN on pixels: dlib's descriptor is built to ignore expression, and
landmark geometry needs a landmark detector that often fails on blurry
generated faces; a small convnet trained on our own real crops (flips as
augmentation) reads the whole face at any ``image_size`` and trains in seconds
on a CPU. It never sees a generated face, so it judges the GAN from outside.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass
class EmotionConfig:
    """``evaluate.emotion`` in params.yaml."""
    steps: int = 300         # steps, not epochs: small sets need as many updates as large ones
    batch_size: int = 32
    lr: float = 2e-3
    width: int = 16
    seed: int = 0


class EmotionNet(nn.Module):
    def __init__(self, n_classes: int, width: int = 16):
        super().__init__()
        ch = [3, width, 2 * width, 4 * width, 8 * width]
        layers = []
        for a, b in zip(ch, ch[1:]):
            layers += [nn.Conv2d(a, b, 3, 2, 1), nn.BatchNorm2d(b), nn.LeakyReLU(0.2)]
        self.trunk = nn.Sequential(*layers)
        self.head = nn.Linear(ch[-1], n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) in [-1, 1] -> (B, n_classes) logits."""
        return self.head(self.trunk(x).mean((2, 3)))     # (B, 8w) after global pooling


def _images(u8: np.ndarray | torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(u8).float() / 127.5 - 1.0


def train_emotion(cfg: EmotionConfig, faces: np.ndarray, labels: np.ndarray, n_classes: int) -> EmotionNet:
    """Fit on (N >= 2, 3, S, S) uint8 real faces with their emotion indices; CPU, seeded."""
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    net = EmotionNet(n_classes, cfg.width)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    x, y = _images(faces), torch.as_tensor(labels)
    net.train()
    batch = min(cfg.batch_size, len(x))
    for _ in range(cfg.steps):
        idx = torch.randint(0, len(x), (batch,), generator=gen)
        flip = torch.rand(batch, generator=gen) < 0.5
        xb = torch.where(flip[:, None, None, None], x[idx].flip(3), x[idx])
        loss = nn.functional.cross_entropy(net(xb), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return net.eval()


@torch.no_grad()
def predict_emotion(net: EmotionNet, faces: np.ndarray, batch: int = 256) -> np.ndarray:
    x = _images(faces)
    return np.concatenate([net(x[i:i + batch]).argmax(1).numpy() for i in range(0, len(x), batch)]
                          or [np.zeros(0, dtype=np.int64)])
