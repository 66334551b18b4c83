"""A tiny copy of this repository as a DVC project: the whole pipeline in about a minute.

The `tiny_project` fixture (conftest.py) runs it once per session; tests that change it work
on a copy (`copy_project`).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
STAGES = ["synthesize", "demux", "vad", "features", "faces", "noisy_voices", "train_judges", "train_vnet", "train_fegan", "evaluate"]


def run(args, cwd, check=True) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", DVC_NO_ANALYTICS="1")
    p = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError(f"{args} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def ran(out: str) -> list[str]:
    """The stages a `dvc repro` / `dvc exp run` output says it ran, in pipeline order."""
    return [s for s in STAGES if f"Running stage '{s}'" in out]


def commit(repo: Path, message: str, init: bool = False) -> None:
    if init:
        run(["git", "init", "-q"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", message], repo)


def copy_repo(dst: Path) -> None:
    """This checkout's files (tracked, and untracked but not ignored) into ``dst``."""
    files = run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], REPO).stdout.split()
    for f in files:
        if (REPO / f).is_file():
            (dst / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / f, dst / f)


def tiny_params(params: dict) -> dict:
    params["synth"].update(actors=2, emotions=[1, 3], statements=[1], repetitions=[1, 2])
    params["data"]["min_clips"] = 4
    params["faces"]["image_size"] = 32
    params["vnet"]["epochs"] = 3
    params["model"]["width"] = 0.125
    params["train"].update(iterations=4, batch_size=8, checkpoint_every=2, sample_every=2)
    # pytorch-fid's 64-d block: the 2048-d FID's sqrtm alone takes ~20 s per FID on 2 cores
    params["evaluate"].update(fid_dims=64, snr_db=[1, 25], durations_s=[1], samples_per_voice=2,
                              robust_samples_per_voice=1)
    params["evaluate"]["emotion"]["steps"] = 20
    params["evaluate"]["identity"]["steps"] = 20
    return params


def build(root: Path) -> str:
    """This repository's files with tiny params, committed as a fresh git repo, after one
    `dvc repro` of every stage (whose output it returns); dvc.lock is left uncommitted."""
    copy_repo(root)
    params = tiny_params(yaml.safe_load((root / "params.yaml").read_text()))
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (root / "dvc.lock").unlink(missing_ok=True)
    commit(root, "x", init=True)
    return run(["dvc", "repro", *STAGES], root).stdout


def copy_project(src: Path, dst: Path) -> Path:
    """A copy to change: git history, DVC cache and workspace (DVC rehashes by inode, so
    the copy's state is its own)."""
    shutil.copytree(src, dst, symlinks=True, dirs_exist_ok=True)
    return dst
