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


def rng_state(gen: torch.Generator) -> dict:
    """Every random state a training step draws from, for an exact resume."""
    return {"torch": torch.get_rng_state(), "gen": gen.get_state()}


def set_rng_state(state: dict, gen: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    gen.set_state(state["gen"])
