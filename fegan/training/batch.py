"""One training step's randomness, drawn once for the whole batch (stylegan2-ada's pattern).

Every draw a step makes comes from the run's one generator, in one place, for the whole global
batch: which real faces and whether each is flipped, which voices (and, with
``train.voice_crops``, the crop of each), G's noise and dropout masks, the perturbation of E_v,
the translation offsets of what D1 sees. Under torchrun every rank draws the same ``Batch``
and takes its rows (``shard``), so N processes train on exactly the rows one process would, and
the stream of draws does not depend on how many processes share it.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch

from .augment import draw_offsets


@dataclass
class Batch:
    face: torch.Tensor                   # (B,) rows of GANData.faces
    flip: torch.Tensor                   # (B,) bool: mirror the real face
    voice: torch.Tensor                  # (B,) rows of GANData.voice_* whose E_v G draws from
    wrong: torch.Tensor                  # (B,) Wav2Pix's mismatched real faces (``face`` otherwise)
    noise: torch.Tensor                  # (B, noise_dim) G's noise
    drop: list[torch.Tensor]             # G's dropout masks, (B, 256) and (B, 128)
    ev_noise: torch.Tensor | None        # (B, embed) N(0, I), scaled by train.ev_noise; None: off
    crop_len: int                        # frames of every voice crop this step; 0: whole voices
    crop_start: torch.Tensor | None      # (2, B) first frame of the crop of ``voice`` and of the face's own voice
    crop_version: torch.Tensor | None    # (2, B) which version each crop is of: 0 clean, k the k-th babble copy
    offsets_d: torch.Tensor | None       # (k, B, 2) D1's translations of the D step's k image groups
    offsets_g: torch.Tensor | None       # (B, 2) D1's translations of the G step's fakes

    def shard(self, rows: slice) -> "Batch":
        """This rank's rows of the batch every rank drew alike."""
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "drop":
                v = [m[rows] for m in v]
            elif f.name in ("crop_start", "crop_version", "offsets_d") and v is not None:
                v = v[:, rows]
            elif isinstance(v, torch.Tensor):
                v = v[rows]
            out[f.name] = v
        return replace(self, **out)

    def to(self, device) -> "Batch":
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = [m.to(device) for m in v] if f.name == "drop" else (
                v.to(device) if isinstance(v, torch.Tensor) else v)
        return replace(self, **out)


def draw(gen: torch.Generator, size: int, n_faces: int, n_voices: int, g, *, wav2pix: bool,
         ev_noise: float, embed_dim: int, crop_frames: tuple[int, int] | None, n_frames: int,
         augment_shift: float, image_size: int, copies: int = 0) -> Batch:
    """The ``size`` rows of one step (on the CPU; the same on every rank for the same ``gen``).

    ``g``: the G-net (its noise size and dropout masks); ``crop_frames``: (shortest, longest) crop
    in feature frames, None for whole voices; ``copies``: noisy copies of each voice the crops may
    come from (drawn uniformly with the clean one; 0: clean only); ``wav2pix``: the objective draws a wrong face per row
    and takes each face's own voice (``voice`` is then unused).
    """
    face = torch.randint(0, n_faces, (size,), generator=gen)
    voice = torch.randint(0, n_voices, (size,), generator=gen)
    flip = torch.rand(size, generator=gen) < 0.5
    noise = torch.randn(size, g.noise_dim, generator=gen)
    wrong = torch.randint(0, n_faces, (size,), generator=gen) if wav2pix else face
    drop = g.dropout_masks(size, gen)
    noise_ev = torch.randn(size, embed_dim, generator=gen) * ev_noise if ev_noise > 0 else None
    crop_len, crop_start, crop_version = 0, None, None
    if crop_frames is not None:
        lo, hi = crop_frames
        crop_len = min(int(torch.randint(lo, hi + 1, (1,), generator=gen)), n_frames)
        crop_start = torch.randint(0, n_frames - crop_len + 1, (2, size), generator=gen)
        if copies:    # drawn only with copies: a run without them keeps its stream of draws
            crop_version = torch.randint(0, copies + 1, (2, size), generator=gen)
    offsets_d = offsets_g = None
    if augment_shift > 0:
        groups = 3 if wav2pix else 2          # real, fake (and wrong) faces of the D step
        offsets_d = draw_offsets(groups * size, image_size, augment_shift, gen).view(groups, size, 2)
        offsets_g = draw_offsets(size, image_size, augment_shift, gen)
    return Batch(face=face, flip=flip, voice=voice, wrong=wrong, noise=noise, drop=drop, ev_noise=noise_ev,
                 crop_len=crop_len, crop_start=crop_start, crop_version=crop_version, offsets_d=offsets_d, offsets_g=offsets_g)
