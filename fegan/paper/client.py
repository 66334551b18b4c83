"""The dvc (and git) commands the paper experiments need, run in one repository.

The only place ``fegan.paper`` starts a subprocess: ``runs`` and ``results`` take a
``DvcClient``, and tests give them a fake with the same methods. dvc's own output goes to our
stderr when it is not captured (stdout is for the tables), and a failure is one FeganError
with dvc's ERROR line (or its last one).
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from ..errors import FeganError


def _exe() -> str:
    """The dvc beside this Python (the venv), else PATH's."""
    local = Path(sys.executable).parent / "dvc"
    exe = str(local) if local.is_file() else shutil.which("dvc")
    if exe is None:
        raise FeganError("dvc is not installed (run `make setup`)")
    return exe


def _env() -> dict[str, str]:
    bindir = str(Path(sys.executable).parent)
    return dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""), DVC_NO_ANALYTICS="1")


def last_line(text: str) -> str:
    """dvc's first ERROR line, else its last line: what a failure says in one line."""
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("ERROR")]
    return (errors or lines or ["(no output)"])[0 if errors else -1]


class DvcClient:
    def __init__(self, repo: str | Path = "."):
        self.repo = Path(repo)

    def _captured(self, args: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run([_exe(), *args[1:]], cwd=self.repo, env=_env(), text=True, capture_output=True)

    def stream(self, args: list[str]) -> int:
        """Run the dvc command line ``args`` (``["dvc", ...]``) with its output on our stderr;
        returns its exit status."""
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            err = sys.stderr.fileno()
        except (AttributeError, OSError, ValueError):
            err = None
        return subprocess.run([_exe(), *args[1:]], cwd=self.repo, env=_env(), text=True, stdout=err).returncode

    def queue(self, args: list[str]) -> None:
        """Run one ``dvc exp run --queue ...`` line quietly; a failure is one error."""
        p = self._captured(args)
        if p.returncode != 0:
            raise FeganError(f"{shlex.join(args[:6])} ... failed: {last_line(p.stderr or p.stdout)}")

    def exp_remove(self, name: str) -> None:
        p = self._captured(["dvc", "exp", "remove", name])
        if p.returncode != 0:
            raise FeganError(f"dvc exp remove {name} failed: {last_line(p.stderr or p.stdout)}")

    def exp_show(self, all_commits: bool = False) -> list[dict]:
        """``dvc exp show --json`` (``--all-commits``), parsed."""
        args = ["dvc", "exp", "show", "--json", *(["--all-commits"] if all_commits else [])]
        p = self._captured(args)
        if p.returncode != 0:
            raise FeganError(f"`{shlex.join(args)}` failed: {last_line(p.stderr or p.stdout)}")
        try:
            return json.loads(p.stdout)
        except json.JSONDecodeError:
            raise FeganError(f"`{shlex.join(args)}` printed no JSON: {last_line(p.stdout)}") from None

    def check_commit(self) -> None:
        """DVC experiments are commits on top of HEAD: a repository without one cannot run them."""
        try:
            ok = subprocess.run(["git", "rev-parse", "--verify", "-q", "HEAD"], cwd=self.repo, capture_output=True,
                                text=True).returncode == 0
        except OSError:
            raise FeganError("git is not installed; DVC experiments need it") from None
        if not ok:
            raise FeganError("no git commit yet: DVC experiments start from one (git add -A && git commit -m ...)")
