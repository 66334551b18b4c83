"""Atomic writes (an output appears whole or not at all, SPEC section 7), and the
spool through which pool workers hand large arrays to the file the parent writes."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Spooled:
    """Where a worker put an array: ``nbytes`` at ``offset`` of the spool file ``path``."""
    path: str
    offset: int
    nbytes: int


def spool(folder: str | os.PathLike, array: np.ndarray) -> Spooled:
    """Append ``array`` (as little-endian float32) to this process's file in ``folder``.

    Pool workers hand their clips' arrays back this way instead of through the
    pool's pipe: the parent then neither unpickles them (1.5 ms of its own CPU a
    clip for the audio, while the workers wait) nor holds them all in memory (the
    audio of RAVDESS's 1440 clips is ~0.7 GB); ``save_concatenated`` copies the
    bytes from file to file inside the kernel.
    """
    data = np.ascontiguousarray(array, dtype="<f4")
    with open(Path(folder) / f"{os.getpid()}.f32", "ab") as f:
        offset = f.tell()
        f.write(data.data)
    return Spooled(str(f.name), offset, data.nbytes)


def save_concatenated(path: str | os.PathLike, name: str, parts: list[np.ndarray | Spooled],
                      shape: tuple[int, ...] | None = None, metadata: dict[str, str] | None = None) -> None:
    """A safetensors file with one float32 tensor ``name``: ``parts`` end to end.

    The same bytes as ``safetensors.numpy.save_file({name: np.concatenate(parts)
    .reshape(shape)}, metadata=metadata)`` (tested), written part by part: the
    concatenation is never built in memory. ``parts`` are arrays or ``Spooled``
    ranges; ``shape`` defaults to 1-D.
    """
    nbytes = [p.nbytes for p in parts]
    n = sum(nbytes) // 4
    shape = [n] if shape is None else [int(k) for k in shape]
    if int(np.prod(shape)) != n:
        raise ValueError(f"{name}: {n} values do not fill the shape {shape}")
    head = {"__metadata__": metadata} if metadata else {}
    head[name] = {"dtype": "F32", "shape": shape, "data_offsets": [0, 4 * n]}
    header = json.dumps(head, separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)   # the format aligns the data to 8 bytes
    sources: dict[str, int] = {}
    try:
        with open(path, "wb", buffering=0) as f:   # unbuffered: writes and kernel copies interleave
            _write_all(f.fileno(), struct.pack("<Q", len(header)) + header)
            for p in parts:
                if isinstance(p, Spooled):
                    if p.path not in sources:
                        sources[p.path] = os.open(p.path, os.O_RDONLY)
                    _copy_range(sources[p.path], f.fileno(), p.offset, p.nbytes)
                else:
                    _write_all(f.fileno(), np.ascontiguousarray(p, dtype="<f4").data)
    finally:
        for fd in sources.values():
            os.close(fd)


def _write_all(fd: int, data) -> None:
    view = memoryview(data).cast("B")
    while view:
        view = view[os.write(fd, view):]


def _copy_range(src: int, dst: int, offset: int, count: int) -> None:
    """``count`` bytes from ``offset`` of ``src`` to the current end of ``dst``."""
    while count > 0:
        try:   # in the kernel, no copy through this process (Linux)
            done = os.copy_file_range(src, dst, count, offset)
        except (AttributeError, OSError):
            done = os.write(dst, os.pread(src, min(count, 1 << 24), offset))
        if done == 0:
            raise OSError(f"spool file ends early: {count} bytes missing")
        offset, count = offset + done, count - done
