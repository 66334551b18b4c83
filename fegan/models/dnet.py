"""D-net / C-net: a conv trunk with a real/fake head and a class head (paper 3.4).

The trunk mirrors G-net: a 1x1 conv from RGB, then convs (k4 s2 p1) that halve
the size, 32-64-128-256-512-1024 channels at 128x128, LeakyReLU only (DCGAN
style, no normalisation), down to 4x4. FC7 heads read the flattened trunk: the
discriminator D (1 logit; the sigmoid lives in the loss) and the classifier C
(class logits; softmax in the loss) share the trunk, as C1 shares D1's and C2
D2's. With ``cond_dim`` the real/fake head also sees the voice embedding
(projection discriminator), which is the conditional GAN of Wav2Pix.
"""
from __future__ import annotations

import torch
from torch import nn

from .gnet import tower_channels


class DTrunk(nn.Module):
    def __init__(self, image_size: int = 64, width: float = 1.0, n_classes: int = 0, real_fake: bool = True,
                 cond_dim: int = 0):
        super().__init__()
        ch = tower_channels(image_size, width)[::-1]              # 32 ... 1024
        layers = [nn.Conv2d(3, ch[0], 1), nn.LeakyReLU(0.2, True)]
        for a, b in zip(ch, ch[1:]):
            layers += [nn.Conv2d(a, b, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        self.trunk = nn.Sequential(*layers)
        feat = ch[-1] * 4 * 4
        self.d_head = nn.Linear(feat, 1) if real_fake else None                 # FC7 of D
        self.c_head = nn.Linear(feat, n_classes) if n_classes else None         # FC7 of C
        self.proj = nn.Linear(cond_dim, feat, bias=False) if cond_dim and real_fake else None

    def forward(self, img: torch.Tensor, cond: torch.Tensor | None = None):
        """(B, 3, S, S) -> (real/fake logit (B,) or None, class logits (B, n) or None)."""
        h = self.trunk(img).flatten(1)                            # (B, 1024 * 16 * width)
        d = c = None
        if self.d_head is not None:
            d = self.d_head(h).squeeze(1)
            if self.proj is not None:
                d = d + (self.proj(cond) * h).sum(1)              # projection: <W e_v, h>
        if self.c_head is not None:
            c = self.c_head(h)
        return d, c
