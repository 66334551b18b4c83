"""``-S section.key=value``, read the way ``dvc exp run -S`` reads it.

DVC parses ``-S`` with Hydra's override grammar, not YAML: ``4e-4`` is a float there (PyYAML,
a YAML 1.1 reader, keeps it a string), ``[1,5]`` a list, ``true``/``false`` booleans, ``null``
None, ``'a b'`` a quoted string, anything else a string; a key params.yaml lacks is refused
unless written ``+section.key=value``, and ``~section.key`` deletes one
(https://hydra.cc/docs/advanced/override_grammar/basic/). So that ``fegan <stage> -S``,
``fegan generate -S`` and ``fegan paper-tables -S`` mean what the DVC experiment they stand
for means, the values are applied here by DVC's own steps (``dvc.utils.hydra.apply_overrides``,
which works on a file) on a params dict: DVC's parser, then Hydra's applier on a struct
OmegaConf, as DVC does it.
"""
from __future__ import annotations

import re
from typing import Any, Iterable

from .errors import FeganError

GRAMMAR = "https://hydra.cc/docs/advanced/override_grammar/basic/"


def _one_line(e: BaseException) -> str:
    """Hydra's message without its caret and "See https://..." lines."""
    lines = [ln.strip() for ln in str(e).splitlines()]
    return " ".join(ln for ln in lines if ln and not ln.startswith("See https") and set(ln) != {"^"})


def parse(items: Iterable[str]) -> list:
    """``-S`` items -> Hydra ``Override`` objects (``.key_or_group``, ``.value()``), as DVC
    parses them; an item outside the grammar is one FeganError naming it."""
    from dvc.utils.hydra import to_hydra_overrides
    from hydra.errors import OverrideParseException

    out = []
    for item in items:
        try:
            out += to_hydra_overrides([item])
        except OverrideParseException as e:
            raise FeganError(f"-S {item}: not in the override grammar of dvc exp run -S "
                             f"({_one_line(e)}; {GRAMMAR})") from None
    return out


def apply_overrides(params: dict, overrides: Iterable[str]) -> dict:
    """``params`` with the ``-S`` ``overrides`` applied as ``dvc exp run -S`` applies them to
    params.yaml (a new dict; ``params`` is left as it is)."""
    import copy

    overrides = list(overrides)
    parsed = parse(overrides)
    if not parsed:
        return copy.deepcopy(params)
    from dvc.utils.collections import to_omegaconf
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra.errors import ConfigCompositionException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    # as dvc.utils.hydra.apply_overrides (DVC 3.67): struct mode, so a missing key needs `+`
    cfg = OmegaConf.create(to_omegaconf(params or {}), flags={"allow_objects": True})
    OmegaConf.set_struct(cfg, True)
    try:
        ConfigLoaderImpl._apply_overrides_to_config(parsed, cfg)
        out = OmegaConf.to_object(cfg)
    except (ConfigCompositionException, OmegaConfBaseException) as e:
        raise FeganError(f"-S {' '.join(overrides)}: {_one_line(e)}") from None
    assert isinstance(out, dict)
    return out


def format_value(value: Any) -> str:
    """A params value written so that ``-S key=<it>`` reads back as that value: strings with
    characters the grammar treats specially (or that would read as another type) are quoted."""
    if isinstance(value, str):
        plain = all(c.isalnum() or c in "/._-~+" for c in value) and _reads_back(value)
        # Hydra's quoted strings: a backslash escapes only before a quote (or the closing one)
        escaped = re.sub(r"(\\+)(?='|$)", lambda m: m.group(1) * 2, value).replace("'", "\\'")
        return value if plain else f"'{escaped}'"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _reads_back(text: str) -> bool:
    """Whether ``key=<text>`` unquoted reads back as the string ``text`` (not ``true``, ``4e-4``, ``null``)."""
    try:
        value = parse([f"key={text}"])[0].value()
    except FeganError:
        return False
    return isinstance(value, str) and value == text
