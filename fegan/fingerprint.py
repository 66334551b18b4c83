"""Identities of what computes a cached value: the code and the model files, for cache keys.

A key made of the inputs alone serves a stale value after an edit of the code that computes
it or a new model file. ``code_id`` hashes the source of a module's import closure
(``fegan.imports``: the module and every fegan file it imports), so an edit of any of them
is a new key; ``file_id`` hashes a file's bytes (dlib's and Inception's weights, which live
outside the repository, in installed packages), again only when its size or mtime changes.
"""
from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

from . import imports


@functools.lru_cache(maxsize=None)
def _code_id(module: str, root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(imports.closure(module, root)):
        h.update(f"{path.relative_to(root).as_posix()}\0".encode())
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()[:16]


def code_id(*modules: str) -> str:
    """sha256 prefix of the source files that importing ``modules`` (``fegan.x.y`` names) runs.

    Once per process, like the code itself: a process runs the code it imported at its start.
    """
    root = imports.ROOT.resolve()
    return "+".join(_code_id(m, root) for m in modules)


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@functools.lru_cache(maxsize=None)
def _file_id(path: str, size: int, mtime_ns: int) -> str:
    return file_sha256(path)[:16]


def file_id(path: str | os.PathLike) -> str:
    """sha256 prefix of a file's bytes, hashed again only when its size or mtime changes."""
    p = Path(path).resolve()
    st = p.stat()
    return _file_id(str(p), st.st_size, st.st_mtime_ns)
