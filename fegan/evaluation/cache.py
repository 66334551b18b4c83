"""Expensive arrays (face descriptors of real faces) cached under a key of everything that makes them.

The real faces do not change when only the GAN does, so `dvc exp run -S lambda1=...`
reuses their descriptors. The key hashes the input bytes, every setting that changes the
result, and what computes it: the source of the computing code's import closure, the
model files' bytes and the third-party library's version (``fegan.fingerprint``), so an
edit of ``descriptor.py`` or another dlib model is a miss, not a stale hit. A file is
written atomically, so a killed run never leaves a half cache entry.
"""
from __future__ import annotations

import hashlib
import importlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from ..fingerprint import code_id, file_id
from ..io import atomic_path


def key(*inputs, code: Iterable[str], files: Iterable[str | os.PathLike] = (),
        libraries: Iterable[str] = ()) -> str:
    """The cache key of a value computed from ``inputs`` (arrays or reprs) by the fegan modules
    ``code`` (and what they import), with the model ``files`` and the third-party ``libraries``
    (module names, by ``__version__``). ``code`` is required: no key without the code."""
    code = tuple(code)
    if not code:
        raise ValueError("a cache key needs the modules that compute the value")
    h = hashlib.sha256()
    for p in inputs:
        if isinstance(p, np.ndarray):
            h.update(f"{p.dtype}{p.shape}".encode())   # the same bytes in another shape are other faces
            h.update(np.ascontiguousarray(p).tobytes())
        else:
            h.update(repr(p).encode())
    made_by = [code_id(*code), *(file_id(f) for f in files),
               *(f"{m}={importlib.import_module(m).__version__}" for m in libraries)]
    h.update("|".join(made_by).encode())
    return h.hexdigest()[:20]


def cached(cache_dir: str | Path | None, name: str, k: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
    if not cache_dir:
        return compute()
    path = Path(cache_dir) / f"{name}-{k}.npy"
    if path.is_file():
        return np.load(path)
    value = compute()
    with atomic_path(path, suffix=".npy") as tmp:
        with open(tmp, "wb") as f:
            np.save(f, value)
    return value
