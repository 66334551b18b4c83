"""D-net / C-net: a conv trunk with a real/fake head and a class head (paper 3.4).

The trunk mirrors G-net: a 1x1 conv from RGB, then convs (k4 s2 p1) that halve
the size, 32-64-128-256-512-1024 channels at 128x128, LeakyReLU only (DCGAN
style, no normalisation), down to 4x4. FC7 heads read the flattened trunk: the
discriminator D (1 logit; the sigmoid lives in the loss) and the classifier C
(class logits; softmax in the loss) share the trunk, as C1 shares D1's and C2
D2's.

Conditional real/fake heads (the cGAN baselines) also see the voice embedding E_v:
- ``cond="concat"``: Wav2Pix's discriminator (Duarte et al. 2019): E_v replicated over
  the 4x4 trunk output, concatenated with it along channels, then one k4 s1 p0 convolution
  gives the score. This is the cGAN of the paper's Tables 4-5.
- ``cond="projection"``: a projection discriminator (Miyato & Koyama 2018), the score
  FC7(h) + <W E_v, h>: a stronger, newer baseline (variant ``cgan_proj``).
"""
from __future__ import annotations

import torch
from torch import nn

from .gnet import tower_channels

CONDITIONING = (None, "concat", "projection")


class DTrunk(nn.Module):
    def __init__(self, image_size: int = 64, width: float = 1.0, n_classes: int = 0, real_fake: bool = True,
                 cond_dim: int = 0, cond: str | None = None):
        super().__init__()
        if cond not in CONDITIONING:
            raise ValueError(f"cond must be one of {CONDITIONING}, got {cond!r}")
        ch = tower_channels(image_size, width)[::-1]              # 32 ... 1024
        layers = [nn.Conv2d(3, ch[0], 1), nn.LeakyReLU(0.2, True)]
        for a, b in zip(ch, ch[1:]):
            layers += [nn.Conv2d(a, b, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        self.trunk = nn.Sequential(*layers)
        feat = ch[-1] * 4 * 4
        self.cond = cond if real_fake and cond_dim else None
        concat = self.cond == "concat"
        self.d_head = nn.Linear(feat, 1) if real_fake and not concat else None        # FC7 of D
        self.score = nn.Conv2d(ch[-1] + cond_dim, 1, 4, 1, 0) if concat else None     # Wav2Pix's last conv
        self.proj = nn.Linear(cond_dim, feat, bias=False) if self.cond == "projection" else None
        self.c_head = nn.Linear(feat, n_classes) if n_classes else None               # FC7 of C

    def forward(self, img: torch.Tensor, cond: torch.Tensor | None = None, features: bool = False):
        """(B, 3, S, S) -> (real/fake logit (B,) or None, class logits (B, n) or None[, 4x4 trunk map])."""
        fmap = self.trunk(img)                                    # (B, 1024 * width, 4, 4)
        h = fmap.flatten(1)                                       # (B, 1024 * 16 * width)
        d = c = None
        if self.score is not None:
            e = cond[:, :, None, None].expand(-1, -1, *fmap.shape[2:])       # (B, 128, 4, 4)
            d = self.score(torch.cat([fmap, e.to(fmap.dtype)], 1)).flatten()
        elif self.d_head is not None:
            d = self.d_head(h).squeeze(1)
            if self.proj is not None:
                d = d + (self.proj(cond) * h).sum(1)              # projection: <W e_v, h>
        if self.c_head is not None:
            c = self.c_head(h)
        return (d, c, fmap) if features else (d, c)
