"""`device: auto | cpu | cuda`, and the precision and memory layout the networks run in.

CUDA when present, with bf16 autocast there. On the CPU, bf16 autocast pays only where the
CPU has bf16 dot products (AVX512-BF16 or AMX, which oneDNN uses); elsewhere it emulates them
and is slower than fp32, so ``precision: auto`` keeps fp32 there.
"""
from __future__ import annotations

import contextlib
import functools

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


@functools.lru_cache(maxsize=None)
def cpu_has_bf16() -> bool:
    """Whether this CPU has bf16 dot-product instructions (Linux: /proc/cpuinfo's flags)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def uses_bf16(device: torch.device, precision: str = "auto") -> bool:
    if precision == "fp32":
        return False
    if precision == "bf16" or device.type == "cuda":
        return True
    return cpu_has_bf16()


def autocast(device: torch.device, precision: str = "auto"):
    """bf16 autocast where it is fast (``uses_bf16``), else full fp32."""
    if uses_bf16(device, precision):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """An image batch in channels-last (NHWC) memory, the layout oneDNN and cuDNN convolve fastest."""
    return x.contiguous(memory_format=torch.channels_last)
