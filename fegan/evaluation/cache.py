"""Expensive arrays (face descriptors, Inception features of real faces) cached under a key of their inputs.

The real faces do not change when only the GAN does, so `dvc exp run -S lambda1=...`
reuses their descriptors and features. The key hashes the input bytes and every
setting that changes the result; a file is written atomically, so a killed run
never leaves a half cache entry.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..io import atomic_path


def key(*parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(np.ascontiguousarray(p).tobytes() if isinstance(p, np.ndarray) else repr(p).encode())
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
