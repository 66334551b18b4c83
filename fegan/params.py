"""Reading ``params.yaml`` sections into typed configs with clear errors."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, TypeVar

from .errors import FeganError

T = TypeVar("T")
REPO_PARAMS = Path(__file__).resolve().parent.parent / "params.yaml"     # the checkout's (an editable install)


def read_yaml(text: str) -> Any:
    """A params file's text read as DVC reads it: ruamel.yaml's safe loader, YAML 1.2.

    PyYAML follows YAML 1.1, where ``1e-05`` (what `dvc exp run -S train.lr=1e-5` writes) is
    a string, ``yes`` a boolean and ``1:2`` a base-60 number: a stage would get other values
    than the ones `dvc params diff` shows.
    """
    from ruamel.yaml import YAML

    return YAML(typ="safe").load(text)


def load_params(path: str | Path = "params.yaml") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FeganError(f"no params file at {path} (run from the repository root)")
    from ruamel.yaml import YAMLError

    try:
        return read_yaml(path.read_text()) or {}
    except YAMLError as e:
        where = getattr(e, "problem_mark", None)
        raise FeganError(f"{path} is not valid YAML" + (f" (line {where.line + 1})" if where else "")) from None


def defaults(section: str) -> dict[str, Any]:
    """Section ``section`` (dotted: ``evaluate.identity``) of the repository's own params.yaml.

    params.yaml is the one place the pipeline's values live (``GANTrainConfig`` has no
    defaults of its own); code that runs outside the stages, tests and benches, starts from
    this and overrides what it needs.
    """
    node = load_params(REPO_PARAMS)
    for part in section.split("."):
        node = node[part]
    return dict(node)


def build_config(cls: type[T], values: dict[str, Any] | None, section: str) -> T:
    """``cls(**values)`` but an unknown or mistyped key is one clear line."""
    values = dict(values or {})
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise FeganError(f"unknown key(s) in params section '{section}': {', '.join(unknown)} "
                         f"(known: {', '.join(sorted(names))})")
    # a config without defaults (``GANTrainConfig``) takes every value from params.yaml
    required = {f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    missing = sorted(required - set(values))
    if missing:
        raise FeganError(f"params section '{section}' lacks key(s) {', '.join(missing)} (an older params.yaml? "
                         f"compare with the repository's)")
    cfg = cls(**values)
    check = getattr(cfg, "validate", None)
    if check:
        check()
    return cfg
