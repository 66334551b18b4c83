"""`device: auto | cpu | cuda`: CUDA when present, with bf16 autocast there."""
from __future__ import annotations

import contextlib

import torch

from ..errors import FeganError


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise FeganError(f"device {name!r} asked for, but torch sees no CUDA device (use device: auto)")
    if name != "cpu" and not name.startswith("cuda"):
        raise FeganError(f"device must be auto, cpu or cuda[:N], got {name!r}")
    return torch.device(name)


def autocast(device: torch.device):
    """bf16 autocast on CUDA; on the CPU full fp32 (repeatable, and bf16 is slow there)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
