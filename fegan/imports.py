"""The fegan files a module or script runs when it is imported: its import closure, read statically.

Two things rest on it: each DVC stage's ``deps`` are its script's closure
(``tests/test_stage_deps.py`` holds dvc.yaml to that), and a cache key hashes the closure of
the code that computes the cached value (``fingerprint.code_id``).

Read from the source (``ast``), never by importing, so nothing runs and nothing is missed
that only some runs import:
- every ``import`` statement counts, also one inside a function or a branch: a lazy import
  runs when its function does;
- ``import a.b.c`` runs ``a``, ``a.b`` and ``a.b.c``; a package's ``__init__`` runs before any
  of its modules, so it is in the closure with whatever it imports;
- ``from pkg import name`` takes the submodule ``pkg.name`` too when there is one;
- relative imports are resolved against the importing module's package;
- ``importlib.import_module("fegan.x")`` with a literal name counts; a computed name cannot
  be read statically (``fegan.cli`` has one; no stage imports it).
Only the ``fegan`` package is followed: third-party code is pinned by requirements.txt.
"""
from __future__ import annotations

import ast
import functools
from pathlib import Path

PACKAGE = "fegan"
# the folder that holds the fegan package: the repository root, or site-packages when installed
ROOT = Path(__file__).resolve().parent.parent


def module_file(name: str, root: Path | None = None) -> Path | None:
    """``fegan.a.b`` -> ``<root>/fegan/a/b.py`` or ``<root>/fegan/a/b/__init__.py``; None when
    it is not a module of the package (a class or function imported by name, a third-party module)."""
    if name.split(".")[0] != PACKAGE:
        return None
    base = (root or ROOT).joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _name_of(path: Path, root: Path) -> str | None:
    """The module name of a file of the package, None for a script outside it."""
    try:
        parts = list(path.relative_to(root).with_suffix("").parts)
    except ValueError:
        return None
    if not parts or parts[0] != PACKAGE:
        return None
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_names(tree: ast.AST, module: str | None, is_package: bool) -> set[str]:
    """Every module name the statements of ``tree`` may import (the package's and others)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if module is None:
                    raise ValueError("relative import in a script outside the package")
                parts = module.split(".") if is_package else module.split(".")[:-1]
                parts = parts[:len(parts) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names if a.name != "*")
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"):
            names.add(node.args[0].value)
    return names


def _with_parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


@functools.lru_cache(maxsize=None)
def closure(start: str, root: Path | None = None) -> frozenset[Path]:
    """The files that importing ``start`` (a module name such as ``fegan.evaluation.descriptor``,
    or the path of a script such as ``stages/evaluate.py``) runs, ``start``'s own file included.

    Cached per process: the code a process runs is the code it imported, edits after that
    do not change it.
    """
    root = (root or ROOT).resolve()
    if start.endswith(".py"):
        first = Path(start) if Path(start).is_absolute() else root / start
        if not first.is_file():
            raise FileNotFoundError(first)
        todo = [first.resolve()]
    else:
        todo = [p for n in _with_parents(start) if (p := module_file(n, root)) is not None]
        if module_file(start, root) is None:
            raise ModuleNotFoundError(f"{start} is not a module of {root / PACKAGE}")
    seen: set[Path] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        name = _name_of(path, root)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for imported in _imported_names(tree, name, path.name == "__init__.py"):
            for n in _with_parents(imported):
                if (p := module_file(n, root)) is not None and p not in seen:
                    todo.append(p)
    return frozenset(seen)
