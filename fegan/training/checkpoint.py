"""Checkpoints: atomic, loadable with ``torch.load(weights_only=True)``, config inside.

Only tensors, numbers, strings, lists and dicts are stored (no pickled objects), so
a checkpoint is data, not code.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..io import atomic_path


def save(path: str | Path, **payload) -> None:
    with atomic_path(path, suffix=".pt") as tmp:
        # through a file object: given a path, torch.save names the zip's inner folder after
        # the (random) temporary file, and the same weights would give other bytes (and md5s)
        with open(tmp, "wb") as f:
            torch.save(payload, f)


def load(path: str | Path, map_location="cpu") -> dict:
    return torch.load(path, map_location=map_location, weights_only=True)


def global_rng_state(device: torch.device | str = "cpu") -> dict:
    """The global torch RNG streams: the CPU's, and the GPU's when training there
    (dropout on CUDA tensors draws from the device's own generator)."""
    state = {"torch": torch.get_rng_state()}
    if torch.device(device).type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_global_rng_state(state: dict, device: torch.device | str = "cpu") -> None:
    # checkpoints load with map_location=device, but RNG states must be CPU byte tensors
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.device(device).type == "cuda":
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)


def rng_state(gen: torch.Generator, device: torch.device | str = "cpu") -> dict:
    """Every random state a training step draws from, for an exact resume."""
    return {**global_rng_state(device), "gen": gen.get_state()}


def set_rng_state(state: dict, gen: torch.Generator, device: torch.device | str = "cpu") -> None:
    set_global_rng_state(state, device)
    gen.set_state(state["gen"].cpu())
