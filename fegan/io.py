"""Atomic writes: an output appears whole or not at all (SPEC section 7)."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike, suffix: str = ""):
    """Yield a temporary path beside ``dest``; on success move it into place.

    Works for files and directories: whatever the body creates at the yielded
    path replaces ``dest`` with ``os.replace`` (a directory replaces a previous
    one after the old one is moved aside). On error the temporary is removed.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=suffix + ".tmp", dir=dest.parent)
    os.close(fd)
    os.unlink(tmp)  # the body decides whether it is a file or a folder
    tmp = Path(tmp)
    try:
        yield tmp
        if tmp.is_dir() and dest.exists():
            old = dest.with_name(f".{dest.name}.old")
            _remove(old)
            os.replace(dest, old)
            os.replace(tmp, dest)
            _remove(old)
        else:
            os.replace(tmp, dest)
    finally:
        _remove(tmp)


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    elif p.exists() or p.is_symlink():
        p.unlink()


def save_concatenated(path: str | os.PathLike, name: str, parts: list[np.ndarray]) -> None:
    """A safetensors file with one 1-D float32 tensor ``name``: ``parts`` end to end.

    The same bytes as ``safetensors.numpy.save_file({name: np.concatenate(parts)})``
    (tested), written part by part: the demux stage's audio (48 MB for 96 clips) is
    then never copied into one array and a serialisation buffer by the parent
    process while the workers wait for it.
    """
    n = sum(len(p) for p in parts)
    header = json.dumps({name: {"dtype": "F32", "shape": [n], "data_offsets": [0, 4 * n]}},
                        separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)   # the format aligns the data to 8 bytes
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)))
        f.write(header)
        for p in parts:
            f.write(np.ascontiguousarray(p, dtype="<f4").data)
