"""Inception features (2048-d pool3) and logits of uint8 images.

Input convention: uint8 images ``(N, 3, H, W)`` (numpy or torch), RGB, any size; face crops are
uint8 already and generator outputs in [-1, 1] go through ``to_uint8`` first, so real and
generated faces are quantized alike. (N, 1, H, W) gray images are repeated to RGB.

Preprocessing is pytorch-fid's own and fixed: ``x / 255`` (as torchvision's ``ToTensor`` in
pytorch-fid's ``fid_score``), then inside ``InceptionV3``: half-pixel bilinear resize to
299 x 299 (``F.interpolate(..., align_corners=False)``) and ``2x - 1``. Numbers are therefore
comparable with pytorch-fid's on PNGs of the same images, not exactly with TF/StyleGAN FID,
which resizes with TF-style bilinear and scales ``(x - 128) / 128``.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch

from fegan.fingerprint import code_id
from fegan.io import atomic_path

PREPROCESS = "pytorch-fid: x/255, bilinear(align_corners=False) to 299, 2x-1"


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Generator output in [-1, 1] (N, C, H, W) -> uint8, rounded and clipped."""
    return ((images.detach().float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)


def _as_uint8_nchw(images) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(images)) if not isinstance(images, torch.Tensor) else images
    if x.dtype != torch.uint8:
        raise ValueError(f"images must be uint8 (N, 3, H, W); got {x.dtype} (use to_uint8)")
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"images must be uint8 (N, 3, H, W); got shape {tuple(x.shape)}")
    return x


@torch.inference_mode()
def inception_features(model: torch.nn.Module, images, batch_size: int = 32,
                       device: str | torch.device = "cpu") -> np.ndarray:
    """2048-d pool3 features, float64 ``(N, 2048)``, of uint8 ``(N, 3, H, W)`` images.

    ``model`` is the ``InceptionV3`` of ``fid_inception`` (or any module with its interface:
    images in [0, 1] in, a list whose first item is ``(N, D, 1, 1)`` out).
    """
    x = _as_uint8_nchw(images)
    # channels-last memory: oneDNN's fastest layout, 1.7x faster on this CPU (107 -> 63 ms a face),
    # the same features to float rounding (8e-6 of values up to 5)
    model = model.eval().to(memory_format=torch.channels_last)
    out = []
    for i in range(0, x.shape[0], batch_size):
        b = x[i:i + batch_size].to(device).float().div_(255)
        if b.shape[1] == 1:
            b = b.expand(-1, 3, -1, -1)
        pred = model(b.contiguous(memory_format=torch.channels_last))[0]
        if pred.shape[2:] != (1, 1):
            # earlier blocks (dims 64/192/768) are pooled as pytorch-fid's get_activations does
            pred = torch.nn.functional.adaptive_avg_pool2d(pred, (1, 1))
        out.append(pred.flatten(1).double().cpu())
    if not out:
        raise ValueError("no images")
    return torch.cat(out).numpy()


@torch.inference_mode()
def inception_logits(head: torch.nn.Linear, feats: np.ndarray) -> np.ndarray:
    """1008-class logits from pool3 features, without the bias: the "unbiased" logits of
    OpenAI's ``inception_score.py`` (``pool3 @ softmax/logits/MatMul`` weights), which
    torch-fidelity also uses for IS. float64 ``(N, 1008)``."""
    w = head.weight.detach().double().cpu().numpy()
    return np.asarray(feats, dtype=np.float64) @ w.T


def cached_features(model: torch.nn.Module, weights_id: str, images, cache_dir: str | os.PathLike,
                    batch_size: int = 32, device: str | torch.device = "cpu") -> np.ndarray:
    """``inception_features`` cached as ``<cache_dir>/inception_feats_<key>.npy``.

    The key hashes the images' bytes and shape, the weights (``Inception.weights_id``), the
    preprocessing and the code: this module's and ``inception``'s import closures (``code_id``)
    and the versions of torch and pytorch-fid (whose ``InceptionV3`` it runs), so the real test
    set's features are computed once per weights and code, and an edit of either is a miss.
    """
    import pytorch_fid

    x = _as_uint8_nchw(images)
    code = (f"{code_id(__name__, 'fegan.metrics.inception')}|torch={torch.__version__}"
            f"|pytorch_fid={pytorch_fid.__version__}")
    h = hashlib.sha256()
    h.update(f"{weights_id}|{PREPROCESS}|{code}|{tuple(x.shape)}|".encode())
    h.update(x.contiguous().cpu().numpy().tobytes())
    dest = Path(cache_dir) / f"inception_feats_{h.hexdigest()[:16]}.npy"
    if dest.is_file():
        return np.load(dest)
    feats = inception_features(model, x, batch_size=batch_size, device=device)
    with atomic_path(dest) as tmp:
        with open(tmp, "wb") as f:  # np.save(path) would append ".npy" to the temp name
            np.save(f, feats)
    return feats
