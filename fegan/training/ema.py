"""An exponential moving average of G-net's weights (as StyleGAN2-ADA's G_ema).

A GAN's live generator jitters from step to step as it chases the discriminators; the
average of its recent weights draws steadier, cleaner faces. Samples, the exported
``models/generator.pt`` and everything ``evaluate`` and ``fegan generate`` draw use the
average. ``train.ema_images`` is the half-life in images seen (StyleGAN2-ADA's ``ema_kimg``
times 1000); early in training the half-life is at most ``ema_rampup`` of the images seen,
so the average does not drag the random initial weights along.

G-net has BatchNorm: the average's running statistics are those of the live G, which were
gathered with other weights. ``recalibrate`` recomputes them for the averaged weights from
a few batches of training voices (BigGAN's "standing statistics").
"""
from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    def __init__(self, g: nn.Module, half_life_images: float, rampup: float = 0.05):
        self.g = copy.deepcopy(g).eval().requires_grad_(False)
        self.half_life, self.rampup = float(half_life_images), float(rampup)

    @torch.no_grad()
    def update(self, g: nn.Module, images_seen: int, batch: int) -> None:
        half_life = self.half_life
        if self.rampup > 0:
            half_life = min(half_life, images_seen * self.rampup)
        beta = 0.5 ** (batch / max(half_life, 1e-8))
        for pe, p in zip(self.g.parameters(), g.parameters()):
            pe.lerp_(p.detach(), 1.0 - beta)          # pe = beta * pe + (1 - beta) * p
        for be, b in zip(self.g.buffers(), g.buffers()):
            be.copy_(b)

    def state_dict(self) -> dict:
        return self.g.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.g.load_state_dict(state)


@torch.no_grad()
def recalibrate(g: nn.Module, e_v: torch.Tensor, seed: int = 0, batches: int = 16, batch: int = 64) -> nn.Module:
    """Recompute G's BatchNorm running statistics on its own weights, from ``e_v`` and fresh noise.

    Returns ``g`` in eval mode; its weights are untouched. Seeded, so the result is repeatable.
    """
    gen = torch.Generator().manual_seed(seed)
    norms = [m for m in g.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None                              # a cumulative average over the batches
    g.train()
    for m in g.modules():                              # no dropout while measuring
        if isinstance(m, nn.Dropout):
            m.eval()
    device = next(g.parameters()).device
    for _ in range(batches):
        idx = torch.randint(0, len(e_v), (batch,), generator=gen)
        noise = torch.randn(batch, g.noise_dim, generator=gen)
        g(e_v[idx.to(e_v.device)].to(device), noise.to(device))
    for m, mom in zip(norms, momenta):
        m.momentum = mom
    return g.eval()
