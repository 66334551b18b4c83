"""What a training step optimises, one class per objective: a D phase and a G phase each.

- ``TripleLoss``: FE-GAN's (paper eqs. 1-5) and every variant of its Tables 2 and 4 but
  Wav2Pix's: the real/fake heads and classifiers present, under the recipe's switches
  (``train.classify_fakes``, ``train.lambda_in_g``, lambda1/lambda2; fegan/recipes.py).
- ``Wav2Pix``: the paper's cGAN baseline as Duarte et al. trained it (``losses.wav2pix_*``):
  voices drawn with their own faces, a mismatched face D must call fake, feature matching and L1.

A phase gets the step's ``Inputs`` (real faces, labels, E_v: what ``gan.train_step`` built from
the drawn ``Batch``) and returns its loss, its terms and what the logs read. The objective never
draws: every random choice is in the ``Batch``, so a phase computes the same on one process as on
its rows under torchrun.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..losses import dc_loss, g_loss, wav2pix_dc_loss, wav2pix_g_loss
from .augment import shift_by


@dataclass
class Inputs:
    real: torch.Tensor            # (b, 3, S, S) real faces, flipped as drawn, in [-1, 1]
    face_id: torch.Tensor         # (b,)
    face_emo: torch.Tensor        # (b,)
    face_ev: torch.Tensor         # (b, 128) E_v of each real face's own voice (conditional heads)
    e_v: torch.Tensor             # (b, 128) E_v G draws from
    voice_id: torch.Tensor        # (b,) its labels
    voice_emo: torch.Tensor       # (b,)
    wrong: torch.Tensor | None    # (b, 3, S, S) Wav2Pix's mismatched faces
    wrong_ok: torch.Tensor | None  # (b,) the mismatched face really is another speaker's
    offsets_d: torch.Tensor | None  # (k, b, 2) D1's translations in the D step
    offsets_g: torch.Tensor | None  # (b, 2) ... in the G step


def _aug(x: torch.Tensor, offsets: torch.Tensor | None) -> torch.Tensor | None:
    """What trunk 1 sees instead of ``x``: translated (augment.py), or None (the same images)."""
    return None if offsets is None else shift_by(x, offsets)


class TripleLoss:
    wav2pix = False

    def __init__(self, lambda1: float, lambda2: float, classify_fakes: bool = True, lambda_in_g: bool = False):
        self.lambda1, self.lambda2 = lambda1, lambda2
        self.classify_fakes, self.lambda_in_g = classify_fakes, lambda_in_g

    def d_phase(self, judge, x: Inputs, fake: torch.Tensor):
        """D/C step on real faces and ``fake`` (detached): lambda1 L_D1 + lambda2 L_D2 + L_C1 + L_C2."""
        n = len(x.real)
        both = torch.cat([x.real, fake])
        offsets = None if x.offsets_d is None else x.offsets_d.flatten(0, 1)
        out = judge(both, torch.cat([x.face_ev, x.e_v]), img1=_aug(both, offsets))     # one pass per trunk
        real = {k: v[:n] for k, v in out.items()}
        fake_out = {k: v[n:] for k, v in out.items()}
        loss, terms = dc_loss(real, fake_out, x.face_id, x.face_emo, x.voice_id, x.voice_emo, self.lambda1,
                              self.lambda2, classify_fakes=self.classify_fakes)
        return loss, terms, real, fake_out

    def g_phase(self, judge, x: Inputs, fake: torch.Tensor):
        """G step: fool the real/fake heads, be classified as the voice's speaker and emotion."""
        out = judge(fake, x.e_v, img1=_aug(fake, x.offsets_g))
        weights = (self.lambda1, self.lambda2) if self.lambda_in_g else None
        loss, terms = g_loss(out, x.voice_id, x.voice_emo, weights=weights)
        return loss, terms, out


class Wav2Pix:
    wav2pix = True

    def d_phase(self, judge, x: Inputs, fake: torch.Tensor):
        n = len(x.real)
        both = torch.cat([x.real, fake, x.wrong])
        offsets = None if x.offsets_d is None else x.offsets_d.flatten(0, 1)
        out = judge(both, torch.cat([x.e_v, x.e_v, x.e_v]), features=True, img1=_aug(both, offsets))
        d_real, d_fake, d_wrong = out["d1"].split(n)
        self._real_map = out["f1"][:n].detach()          # for G's feature matching
        loss, terms = wav2pix_dc_loss(d_real, d_fake, d_wrong, x.wrong_ok)
        return loss, terms, {"d1": d_real}, {"d1": d_fake}

    def g_phase(self, judge, x: Inputs, fake: torch.Tensor):
        out = judge(fake, x.e_v, features=True, img1=_aug(fake, x.offsets_g))
        loss, terms = wav2pix_g_loss(out["d1"], out["f1"], self._real_map, fake, x.real)
        return loss, terms, out


def objective(conditional: str | None, lambda1: float, lambda2: float, classify_fakes: bool = True,
              lambda_in_g: bool = False):
    """The objective of a variant (``GANConfig.parts["conditional"]``) under the recipe's switches."""
    if conditional == "concat":
        return Wav2Pix()
    return TripleLoss(lambda1, lambda2, classify_fakes, lambda_in_g)
