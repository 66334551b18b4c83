"""The user's entry points: the `fegan` CLI and `dvc repro` of the synthesize stage."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _run(args, cwd, check=True):
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", DVC_NO_ANALYTICS="1")
    p = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError(f"{args} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def test_cli_lists_stages_and_gives_one_line_errors(tmp_path):
    out = _run([BIN / "fegan", "--help"], tmp_path).stdout
    assert "synth" in out
    p = _run([BIN / "fegan", "synth", "--out", str(tmp_path / "x"), "--actors", "30"], tmp_path, check=False)
    assert p.returncode == 2
    assert p.stderr.strip() == "fegan: error: synth.actors must be 1..24, got 30"
    assert not (tmp_path / "x").exists()
    p = _run([BIN / "fegan", "synth", "--params", str(tmp_path / "nope.yaml")], tmp_path, check=False)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "no params file" in p.stderr


def test_cli_synth_writes_a_dataset(tmp_path):
    _run([BIN / "fegan", "synth", "--out", str(tmp_path / "mini"), "--actors", "1", "--emotions", "1",
          "--statements", "1", "--repetitions", "1", "--no-progress"], tmp_path)
    assert [p.name for p in (tmp_path / "mini").rglob("*.mp4")] == ["01-01-01-01-01-01-01.mp4"]
    assert (tmp_path / "mini_truth.parquet").is_file()


def _copy_repo(dst: Path) -> None:
    files = _run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], REPO).stdout.split()
    for f in files:
        if (REPO / f).is_file():
            (dst / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / f, dst / f)


def test_dvc_repro_runs_synthesize_once_and_records_it(tmp_path):
    _copy_repo(tmp_path)
    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    params["synth"].update(actors=1, emotions=[1, 3], statements=[1], repetitions=[1])
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (tmp_path / "dvc.lock").unlink(missing_ok=True)
    _run(["git", "init", "-q"], tmp_path)
    _run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qam", "x", "--allow-empty"], tmp_path)

    first = _run(["dvc", "repro", "synthesize"], tmp_path)
    assert "Running stage 'synthesize'" in first.stdout
    lock = yaml.safe_load((tmp_path / "dvc.lock").read_text())
    stage = lock["stages"]["synthesize"]
    assert stage["params"]["params.yaml"]["synth.actors"] == 1
    assert {o["path"] for o in stage["outs"]} == {"data/raw/synthetic", "data/synthetic_truth.parquet"}
    assert sorted(p.name for p in (tmp_path / "data/raw/synthetic").rglob("*.mp4")) == \
        ["01-01-01-01-01-01-01.mp4", "01-01-03-01-01-01-01.mp4", "01-01-03-02-01-01-01.mp4"]

    second = _run(["dvc", "repro", "synthesize"], tmp_path)
    assert "Running stage" not in second.stdout
    assert "didn't change, skipping" in second.stdout

    # a param the stage does not depend on (workers) changes nothing; the seed reruns it
    params["synth"]["workers"] = 1
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert "Running stage" not in _run(["dvc", "repro", "synthesize"], tmp_path).stdout
    params["synth"]["seed"] = 3
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert "Running stage 'synthesize'" in _run(["dvc", "repro", "synthesize"], tmp_path).stdout
