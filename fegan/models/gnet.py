"""G-net: E_v + noise -> face (paper 3.3, Fig. 2 middle row).

concat(E_v, N_g) -> FC1, FC2 (BN, ReLU; dropout) -> (128, 1, 1) -> a first
transposed conv (k4 s1 p0) to 4x4 -> transposed convs (k4 s2 p1, BN, ReLU) that
double the size -> a 1x1 conv to RGB and Tanh. At 128x128 the transposed convs
have 1024-512-256-128-64-32 channels as in the paper; a smaller ``image_size``
drops layers from the wide end (64: 512..32), and ``width`` scales all channels
(the default CPU run uses a narrow model; the paper's is width 1).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

PAPER_CHANNELS = (1024, 512, 256, 128, 64, 32)  # at 128 x 128


def tower_channels(image_size: int, width: float) -> list[int]:
    """Channels of the transposed-conv tower for ``image_size`` (4 * 2**k)."""
    k = int(round(math.log2(image_size / 4)))
    if 4 * 2 ** k != image_size or not 1 <= k <= 5:
        raise ValueError(f"image_size must be one of 8, 16, 32, 64, 128; got {image_size}")
    return [max(8, int(c * width)) for c in PAPER_CHANNELS[5 - k:]]


class GNet(nn.Module):
    def __init__(self, embed_dim: int = 128, noise_dim: int = 128, image_size: int = 64, width: float = 1.0,
                 dropout: float = 0.2, normalize_ev: bool = False):
        super().__init__()
        self.noise_dim, self.dropout, self.normalize_ev = noise_dim, dropout, normalize_ev
        self.fc = nn.Sequential(
            nn.Linear(embed_dim + noise_dim, 256, bias=False), nn.BatchNorm1d(256), nn.ReLU(True),   # FC1
            nn.Dropout(dropout),
            nn.Linear(256, 128, bias=False), nn.BatchNorm1d(128), nn.ReLU(True),                     # FC2
            nn.Dropout(dropout),
        )
        ch = tower_channels(image_size, width)
        layers = [nn.ConvTranspose2d(128, ch[0], 4, 1, 0, bias=False), nn.BatchNorm2d(ch[0]), nn.ReLU(True)]
        for a, b in zip(ch, ch[1:]):
            layers += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(True)]
        layers += [nn.Conv2d(ch[-1], 3, 1), nn.Tanh()]
        self.tower = nn.Sequential(*layers)

    def dropout_masks(self, batch: int, gen: torch.Generator) -> list[torch.Tensor]:
        """Masks for FC1's and FC2's dropout, ``(batch, 256)`` and ``(batch, 128)``, already scaled by
        1/(1-p): the training loop draws them with the rest of the batch, so that N processes each
        taking its rows of one drawn batch drop what one process would."""
        keep = 1.0 - self.dropout
        return [(torch.rand(batch, m.num_features, generator=gen) < keep).float() / keep
                for m in self.fc if isinstance(m, nn.modules.batchnorm._BatchNorm)]

    def forward(self, e_v: torch.Tensor, noise: torch.Tensor, drop: list[torch.Tensor] | None = None
                ) -> torch.Tensor:
        """(B, 128) E_v and (B, noise_dim) noise -> (B, 3, S, S) in [-1, 1].

        ``drop``: dropout masks (``dropout_masks``) to use in training instead of drawing them from
        torch's global generator; ignored in eval mode, where dropout is off.
        """
        if self.normalize_ev:          # the authors' G reads the unit E_v (recipes.py)
            e_v = F.normalize(e_v, dim=1)
        h = torch.cat([e_v, noise], dim=1)
        masks = iter(drop if drop is not None and self.training else ())
        for layer in self.fc:
            if isinstance(layer, nn.Dropout) and drop is not None and self.training:
                h = h * next(masks).to(h.dtype)
            else:
                h = layer(h)                            # (B, 256), then (B, 128)
        return self.tower(h[:, :, None, None])          # (B, 3, S, S) in [-1, 1]
