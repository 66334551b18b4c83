"""The triple loss (paper eqs. 1-5): L_G + lambda1 L_D1 + lambda2 L_D2 + L_C1 + L_C2.

Discriminators are logits; "cross-entropy with sigmoid" is BCE-with-logits.
The D/C step minimises  lambda1 L_D1 + lambda2 L_D2 + L_C1 + L_C2, where
L_Di = -[log D_i(I_T) + log(1 - D_i(I_G))] (eq. 4 written as a loss to minimise)
and L_Ck is cross-entropy of C_k on real faces with face labels plus on fakes
with voice labels (eqs. 1-2; ``classify_fakes=False``: real faces only, as the authors'
``gan_train_v2.py`` and Wen et al. train their classifiers). The G step minimises L_G + the
classifiers' terms on fakes, L_G = 1/2 E[-log D1(I_G) - log D2(I_G)] (eq. 3; the mean over the
discriminators present), or with ``weights`` lambda1 L_G1 + lambda2 L_G2 (the authors' code
weighs both steps). Only terms whose heads exist appear.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits.float(), torch.full_like(logits.float(), target))


def dc_loss(real: dict, fake: dict, face_id, face_emo, voice_id, voice_emo,
            lambda1: float, lambda2: float, classify_fakes: bool = True) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Loss of the discriminator/classifier step; ``fake`` from detached G output."""
    terms = {}
    if "d1" in real:
        terms["L_D1"] = _bce(real["d1"], 1.0) + _bce(fake["d1"], 0.0)
    if "d2" in real:
        terms["L_D2"] = _bce(real["d2"], 1.0) + _bce(fake["d2"], 0.0)
    for head, labels_real, labels_fake, name in (("c1", face_id, voice_id, "L_C1"), ("c2", face_emo, voice_emo, "L_C2")):
        if head in real:
            terms[name] = F.cross_entropy(real[head].float(), labels_real)
            if classify_fakes:
                terms[name] = terms[name] + F.cross_entropy(fake[head].float(), labels_fake)
    weight = {"L_D1": lambda1, "L_D2": lambda2, "L_C1": 1.0, "L_C2": 1.0}
    total = sum(weight[k] * v for k, v in terms.items())
    return total, terms


def g_loss(fake: dict, voice_id, voice_emo, weights: tuple[float, float] | None = None
           ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Loss of the generator step: fool the discriminators, be classified as the voice.

    ``weights``: (lambda1, lambda2) for the D1 and D2 terms; None: their mean (eq. 3).
    """
    terms = {}
    ds = [(fake[k], w) for k, w in zip(("d1", "d2"), weights or (1.0, 1.0)) if k in fake]
    if ds:
        adv = sum(w * _bce(d, 1.0) for d, w in ds)
        terms["L_G"] = adv if weights is not None else adv / len(ds)
    if "c1" in fake:
        terms["L_G_C1"] = F.cross_entropy(fake["c1"].float(), voice_id)
    if "c2" in fake:
        terms["L_G_C2"] = F.cross_entropy(fake["c2"].float(), voice_emo)
    return sum(terms.values()), terms


# --- Wav2Pix's losses (the paper's cGAN baseline, variant ``cgan``) ---------------------------
# As in the trainer of Duarte et al.'s Wav2Pix (scripts/trainer.py there): least-squares real/fake
# terms, one-sided label smoothing (real target 0.9), a "wrong" pair (a real face of another
# speaker with this voice's E_v) that D must call fake, and for G a feature-matching term on the
# batch-mean 4x4 trunk map (x100) and an L1 term to the voice's own face (x50). Wav2Pix's third G
# term, a speaker softmax on its jointly trained speech encoder, has no counterpart here: V-net
# is pretrained and frozen for every variant.
WAV2PIX_REAL_TARGET, WAV2PIX_FEATURE_MATCHING, WAV2PIX_L1 = 0.9, 100.0, 50.0


def _mse(score: torch.Tensor, target: float) -> torch.Tensor:
    return F.mse_loss(score.float(), torch.full_like(score.float(), target))


def wav2pix_dc_loss(real: torch.Tensor, fake: torch.Tensor, wrong: torch.Tensor, wrong_ok: torch.Tensor
                    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """D's scores on (real face, its voice), (fake, voice), (another speaker's face, voice).

    ``wrong_ok`` masks the wrong pairs whose face really is of another speaker.
    """
    w = wrong.float()
    wrong_term = ((w ** 2) * wrong_ok).sum() / wrong_ok.sum().clamp(min=1)
    terms = {"L_D1": _mse(real, WAV2PIX_REAL_TARGET) + _mse(fake, 0.0) + wrong_term}
    return terms["L_D1"], terms


def wav2pix_g_loss(fake_score: torch.Tensor, fake_map: torch.Tensor, real_map: torch.Tensor,
                   fake_img: torch.Tensor, real_img: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """G's loss: fool D, match D's mean trunk features of real faces, stay near the voice's face."""
    terms = {"L_G": _mse(fake_score, 1.0),
             "L_G_FM": WAV2PIX_FEATURE_MATCHING * F.mse_loss(fake_map.float().mean(0), real_map.float().mean(0)),
             "L_G_L1": WAV2PIX_L1 * F.l1_loss(fake_img.float(), real_img.float())}
    return sum(terms.values()), terms
