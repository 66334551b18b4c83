"""FE-GAN: G-net with two discriminator/classifier pairs, (D1, C1) and (D2, C2).

C1 classifies identity on D1's trunk and C2 emotion on D2's (eqs. 1-2; SPEC 3).
A variant without a part simply does not build it, so its parameters and loss
terms are absent, not zeroed.
"""
from __future__ import annotations

import torch
from torch import nn

from .config import GANConfig
from .dnet import DTrunk
from .gnet import GNet


class FEGAN(nn.Module):
    def __init__(self, cfg: GANConfig):
        super().__init__()
        self.cfg = cfg
        p = cfg.parts
        self.g = GNet(cfg.embed_dim, cfg.noise_dim, cfg.image_size, cfg.width, cfg.dropout, cfg.normalize_ev)
        cond, dim = p["conditional"], cfg.embed_dim if p["conditional"] else 0
        self.d1 = (DTrunk(cfg.image_size, cfg.width, cfg.n_identities if p["c1"] else 0, p["d1"], dim, cond)
                   if p["d1"] or p["c1"] else None)
        self.d2 = (DTrunk(cfg.image_size, cfg.width, cfg.n_emotions if p["c2"] else 0, p["d2"], dim, cond)
                   if p["d2"] or p["c2"] else None)

    def discriminators(self) -> list[nn.Module]:
        return [m for m in (self.d1, self.d2) if m is not None]

    def judge(self, img: torch.Tensor, e_v: torch.Tensor | None = None, features: bool = False,
              img1: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Every present head on ``img``: keys among d1, c1 (identity), d2, c2 (emotion);
        with ``features`` also f1/f2, the trunks' 4x4 maps (Wav2Pix's feature matching).
        ``img1``: what trunk 1 sees instead of ``img`` (the training loop's augmented batch)."""
        out = {}
        for name, trunk, x in (("1", self.d1, img if img1 is None else img1), ("2", self.d2, img)):
            if trunk is not None:
                d, c, f = trunk(x, e_v, features=True)
                if d is not None:
                    out["d" + name] = d
                if c is not None:
                    out["c" + name] = c
                if features:
                    out["f" + name] = f
        return out
