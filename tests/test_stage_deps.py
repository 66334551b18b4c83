"""Each DVC stage's code deps are exactly its import closure, so an edit reruns what it changes.

The closure (``fegan.imports.closure``) is the stage script and every ``fegan/`` file it
imports, transitively, lazy imports included. A code dep is a dvc.yaml dep under ``fegan/`` or
``stages/``; data deps (``data/...``, ``models/...``, ``${data.raw_dir}``) are not checked here.
A folder dep stands for every ``.py`` file in it, so it is right only when all of them are in
the closure. A package ``__init__`` made only of its docstring and constants need not be
listed: importing it runs nothing a stage reads.
"""
from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from fegan.imports import closure

REPO = Path(__file__).resolve().parents[1]
CODE_ROOTS = ("fegan", "stages")


def stage_script(cmd: str) -> str:
    scripts = [t for t in cmd.split() if t.endswith(".py")]
    assert len(scripts) == 1 and cmd.split()[0] == "python", f"not `python stages/X.py ...`: {cmd!r}"
    return scripts[0]


def runs_code(path: Path) -> bool:
    """False for a package ``__init__`` made only of a docstring and constants (``__version__``).

    Only for an ``__init__``: a module of constants such as ``fegan/paths.py`` is read by name,
    and changing it changes what the stage does."""
    if path.name != "__init__.py":
        return True
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            continue
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            continue
        return True
    return False


def dep_problems(deps: list[str], files: set[Path], root: Path) -> list[str]:
    """What is wrong with ``deps`` for a stage whose closure is ``files``: one line per problem."""
    problems, covered = [], set()
    for dep in deps:
        if dep.split("/")[0] not in CODE_ROOTS:
            continue
        path = root / dep
        if path.is_dir():
            listed = {p for p in path.rglob("*.py") if "__pycache__" not in p.parts}
            unused = sorted(str(p.relative_to(root)) for p in listed - files)
            if unused:
                problems.append(f"folder {dep} holds files the stage does not import: {', '.join(unused)} "
                                "(list its imported files instead)")
        elif path.is_file():
            listed = {path}
            if path not in files:
                problems.append(f"{dep} is listed but not imported")
        else:
            problems.append(f"{dep} does not exist")
            continue
        covered |= listed
    for p in sorted(files - covered):
        if runs_code(p):
            problems.append(f"{p.relative_to(root)} is imported but not listed")
    return problems


def _stages():
    return yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


@pytest.mark.parametrize("name", list(_stages()))
def test_stage_deps_are_its_import_closure(name):
    stage = _stages()[name]
    files = set(closure(stage_script(stage["cmd"]), REPO))
    problems = dep_problems(stage.get("deps", []), files, REPO.resolve())
    assert not problems, f"dvc.yaml stage {name}:\n  " + "\n  ".join(problems)


def test_every_stage_is_a_fegan_subcommand_running_the_same_code():
    """SPEC 1: `fegan --help` has a command for everything a stage does; the command must call
    the ``stage`` function of the module the stage's script calls, not a copy."""
    from fegan.cli import STAGE_MODULES, cli

    for name, stage in _stages().items():
        assert name in cli.commands and name in STAGE_MODULES, f"dvc.yaml stage {name} has no `fegan {name}` command"
        script = (REPO / stage_script(stage["cmd"])).read_text()
        assert f"from {STAGE_MODULES[name]} import stage" in script, (name, STAGE_MODULES[name])


def test_train_vnet_does_not_rerun_when_the_gan_changes():
    """The reason the training stages are separate modules: V-net's closure holds no GAN code."""
    files = {str(p.relative_to(REPO.resolve())) for p in closure("stages/train_vnet.py", REPO)}
    assert "fegan/training/vnet.py" in files
    assert not files & {"fegan/training/gan.py", "fegan/training/augment.py", "fegan/models/gnet.py",
                        "fegan/losses.py"}


def _tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text))


def test_closure_follows_lazy_relative_and_submodule_imports(tmp_path):
    _tree(tmp_path, {
        "fegan/__init__.py": '"""doc"""\n__version__ = "0"\n',
        "fegan/a.py": """
            from .pkg import mod           # a submodule imported by name
            import numpy                   # third party: not followed
            def f():
                from .lazy import g        # runs when f does
            """,
        "fegan/lazy.py": "from . import leaf\n",
        "fegan/leaf.py": "X = 1\n",
        "fegan/pkg/__init__.py": "from ..side import s\n",   # a package's __init__ runs, with its imports
        "fegan/pkg/mod.py": "import importlib\nm = importlib.import_module('fegan.dyn')\n",
        "fegan/side.py": "s = 1\n",
        "fegan/dyn.py": "",
        "fegan/unused.py": "",
        "stages/s.py": "from fegan.a import f\n",
    })
    got = {str(p.relative_to(tmp_path.resolve())) for p in closure("stages/s.py", tmp_path)}
    assert got == {"stages/s.py", "fegan/__init__.py", "fegan/a.py", "fegan/lazy.py", "fegan/leaf.py",
                   "fegan/pkg/__init__.py", "fegan/pkg/mod.py", "fegan/side.py", "fegan/dyn.py"}

    files = set(closure("stages/s.py", tmp_path))
    root = tmp_path.resolve()
    full = ["stages/s.py", "fegan/a.py", "fegan/lazy.py", "fegan/leaf.py", "fegan/pkg", "fegan/side.py",
            "fegan/dyn.py"]
    assert dep_problems(full + ["data/x.parquet", "${data.raw_dir}"], files, root) == []
    assert dep_problems([d for d in full if d != "fegan/leaf.py"], files, root) == \
        ["fegan/leaf.py is imported but not listed"]
    assert dep_problems(full + ["fegan/unused.py"], files, root) == ["fegan/unused.py is listed but not imported"]
    (tmp_path / "fegan/pkg/other.py").write_text("")
    assert dep_problems(full, files, root) == [
        "folder fegan/pkg holds files the stage does not import: fegan/pkg/other.py (list its imported files instead)"]
    # the inert fegan/__init__.py need not be listed; one that runs code must be
    (tmp_path / "fegan/__init__.py").write_text("import os\n")
    assert dep_problems(full, files, root)[-1] == "fegan/__init__.py is imported but not listed"


@pytest.mark.parametrize("name", ["train_vnet", "evaluate"])
def test_closure_holds_every_module_python_imports(name):
    """The static walk against Python itself: importing the stage script loads no fegan file
    outside the closure (the walk may hold more: lazy imports that have not run yet)."""
    script = stage_script(_stages()[name]["cmd"])
    code = ("import runpy, sys\n"
            f"runpy.run_path({script!r}, run_name='not_main')\n"      # its imports, not its main()
            "print('\\n'.join(m.__file__ for n, m in list(sys.modules.items())\n"
            "                 if n.split('.')[0] == 'fegan' and getattr(m, '__file__', None)))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    loaded = {Path(f).resolve() for f in out.stdout.split()}
    assert {Path(p).name for p in loaded} >= {"params.py", "errors.py"}
    assert loaded <= set(closure(script, REPO))
