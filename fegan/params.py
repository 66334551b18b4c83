"""Reading ``params.yaml`` sections into typed configs with clear errors."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, TypeVar

import yaml

from .errors import FeganError

T = TypeVar("T")


def load_params(path: str | Path = "params.yaml") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FeganError(f"no params file at {path} (run from the repository root)")
    with open(path) as f:
        return yaml.safe_load(f) or {}


def build_config(cls: type[T], values: dict[str, Any] | None, section: str) -> T:
    """``cls(**values)`` but an unknown or mistyped key is one clear line."""
    values = dict(values or {})
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise FeganError(f"unknown key(s) in params section '{section}': {', '.join(unknown)} "
                         f"(known: {', '.join(sorted(names))})")
    cfg = cls(**values)
    check = getattr(cfg, "validate", None)
    if check:
        check()
    return cfg
