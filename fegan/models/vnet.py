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

And a third addition, off by default (``vnet.emotion_code``): the **emotion code**, a linear
reader of the clip's emotion from that mean and spread of each feature band (``EmotionReader``),
beside the conv trunk rather than on it. Its probabilities are appended to E_v for G
(``condition``), so G is told how the voice sounds without E_v being moved to say it: an emotion
head on E_v itself (``emotion_weight``) bought emotion on unseen speakers with the speaker
(docs/results.md, "Which change costs the speaker"). The reader shares no weight with the trunk,
so the speaker part of E_v is the one a V-net without it learns, bit for bit.
"""
from __future__ import annotations

import torch
from torch import nn


class EmotionReader(nn.Module):
    """(B, F, T) features -> (B, classes) emotion logits, read linearly from each band's mean and
    spread over time (prosody: loudness, pitch energy and their movement), normalised by
    BatchNorm without affine terms (a linear probe's standardisation, kept in the checkpoint)."""

    def __init__(self, in_channels: int, classes: int):
        super().__init__()
        self.norm = nn.BatchNorm1d(2 * in_channels, affine=False)
        self.linear = nn.Linear(2 * in_channels, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stats = torch.cat([x.mean(dim=2), x.std(dim=2, correction=0)], dim=1)     # (B, 2F)
        return self.linear(self.norm(stats))


class VNet(nn.Module):
    def __init__(self, in_channels: int = 64, channels: tuple[int, ...] = (256, 256, 256, 256, 128),
                 n_speakers: int = 24, attribute_classes: tuple[int, ...] = (), emotion_classes: int = 0,
                 emotion_code: int = 0):
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
        # last of all, for the same reason: the trunk and heads draw the weights they draw without it
        self.emotion_reader = EmotionReader(in_channels, emotion_code) if emotion_code else None

    @property
    def condition_dim(self) -> int:
        """The width of what G reads: E_v, plus the emotion code's classes when V-net has one."""
        return self.embed_dim + (self.emotion_reader.linear.out_features if self.emotion_reader else 0)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(B, F, T) features -> (B, 128) E_v."""
        h = self.convs(x)            # (B, 128, ceil(T / 32))
        return h.mean(dim=2)         # average pooling over time: any T works

    def emotion_code(self, x: torch.Tensor) -> torch.Tensor:
        """(B, F, T) features -> (B, emotions) the emotion reader's probabilities."""
        if self.emotion_reader is None:
            raise ValueError("this V-net has no emotion code (vnet.emotion_code was false)")
        return torch.softmax(self.emotion_reader(x), dim=1)

    def condition(self, x: torch.Tensor, e: torch.Tensor | None = None) -> torch.Tensor:
        """(B, F, T) features -> (B, condition_dim): what G reads, E_v and, when V-net has the
        reader, the emotion code after it. ``e``: E_v of ``x`` when the caller has it already."""
        e = self.embed(x) if e is None else e
        return e if self.emotion_reader is None else torch.cat([e, self.emotion_code(x)], dim=1)

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
                 tuple(cfg.get("attribute_classes", ())), cfg.get("emotion_classes", 0), cfg.get("emotion_code", 0))
    model.load_state_dict(ck["state_dict"])
    return model.eval()
