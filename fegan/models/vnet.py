"""V-net: the voice encoder (paper 3.2, Fig. 2 top row).

Five Conv1d (kernel 3, stride 2, padding 1), each followed by BatchNorm and
LeakyReLU, over the ``(F, T)`` features; average pooling over time gives the
128-d voice embedding E_v whatever T is; a linear head classifies the speaker
(V-net is pretrained as a speaker classifier with cross-entropy).

fegan's addition, off by default (``vnet.attribute_weight``): one more linear head per
voice-borne attribute (sex, age band, size band; ``fegan.datasets.attributes``), trained beside
the speaker head, so E_v is laid out by what a voice says of a speaker never heard, not only by
which of the training speakers it is. And one more, also off by default (``vnet.emotion_weight``):
a linear head for the clip's emotion, so E_v keeps the prosody that says how a new speaker feels
(a speaker classifier is free to discard it: on the synthetic population, a logistic read of the
attribute-heads V-net's E_v names the emotion of 0.60 of the val speakers' voices, never heard,
and of the utterance's mean and spread of each Fbank band 0.92). Without them the module and its state are the paper's.
"""
from __future__ import annotations

import torch
from torch import nn


class VNet(nn.Module):
    def __init__(self, in_channels: int = 64, channels: tuple[int, ...] = (256, 256, 256, 256, 128),
                 n_speakers: int = 24, attribute_classes: tuple[int, ...] = (), emotion_classes: int = 0):
        super().__init__()
        layers, c = [], in_channels
        for out in channels:
            layers += [nn.Conv1d(c, out, 3, stride=2, padding=1, bias=False), nn.BatchNorm1d(out),
                       nn.LeakyReLU(0.2, inplace=True)]
            c = out
        self.convs = nn.Sequential(*layers)
        self.embed_dim = c
        self.head = nn.Linear(c, n_speakers)
        # built after the speaker head and only when asked, so a V-net without them draws the same
        # initial weights and saves the same bytes as before they existed (an empty ModuleList
        # would still add its name to the state_dict's metadata)
        self.attribute_heads = nn.ModuleList(nn.Linear(c, k) for k in attribute_classes) if attribute_classes else ()
        self.emotion_head = nn.Linear(c, emotion_classes) if emotion_classes else None

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(B, F, T) features -> (B, 128) E_v."""
        h = self.convs(x)            # (B, 128, ceil(T / 32))
        return h.mean(dim=2)         # average pooling over time: any T works

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        e = self.embed(x)
        return e, self.head(e)       # (B, 128), (B, n_speakers)

    def attributes(self, e: torch.Tensor) -> list[torch.Tensor]:
        """E_v (B, 128) -> one (B, classes) logit tensor per attribute head."""
        return [h(e) for h in self.attribute_heads]

    def emotion(self, e: torch.Tensor) -> torch.Tensor:
        """E_v (B, 128) -> (B, emotions) logits of the emotion head."""
        if self.emotion_head is None:
            raise ValueError("this V-net has no emotion head (vnet.emotion_weight was 0)")
        return self.emotion_head(e)


def from_checkpoint(ck: dict) -> VNet:
    """The V-net of a ``models/vnet.pt`` checkpoint (``train_vnet``'s), in eval mode."""
    cfg = ck["config"]
    model = VNet(cfg["in_channels"], tuple(cfg["channels"]), cfg["n_speakers"],
                 tuple(cfg.get("attribute_classes", ())), cfg.get("emotion_classes", 0))
    model.load_state_dict(ck["state_dict"])
    return model.eval()
