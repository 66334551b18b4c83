"""Sharing a trained pipeline through a DVC remote (docs/sharing.md), end to end.

One clone trains and pushes to a local folder remote; a fresh `git clone` pulls, and has the
models, metrics and plots without recomputing: `dvc status` clean, `dvc repro` runs nothing,
and `fegan generate` and `fegan demo` draw on the pulled models what the trainer's clone draws.
"""
from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from click.testing import CliRunner
from dvcproject import BIN, STAGES, commit, copy_project, ran, run
from PIL import Image

from fegan import paths
from fegan.cli import cli

MODELS = [paths.VNET, paths.GENERATOR, paths.IDENTITY_JUDGE, paths.EMOTION_JUDGE, paths.VNET_CALIBRATION,
          paths.JUDGES_CALIBRATION]


def _cached_outs(repo: Path) -> dict[str, dict]:
    """dvc.lock's entries of the outputs kept in DVC's cache (not those marked cache: false)."""
    spec = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    uncached = {p for s in spec.values() for kind in ("outs", "metrics", "plots") for o in s.get(kind, [])
                if isinstance(o, dict) for p, opts in o.items() if opts.get("cache") is False}
    return {o["path"]: o for s in lock.values() for o in s.get("outs", []) if o["path"] not in uncached}


def test_push_then_pull_into_a_fresh_clone_needs_no_recomputing(tiny_project, tmp_path, monkeypatch):
    from browser import demo_server, free_port
    from test_demo import _post

    trainer = copy_project(tiny_project[0], tmp_path / "trainer")
    remote = tmp_path / "remote"
    run(["dvc", "remote", "add", "-d", "team", remote], trainer)
    commit(trainer, "trained: dvc.lock, and the remote in .dvc/config")
    run(["dvc", "push"], trainer)
    # the remote holds exactly the cached outputs, as many bytes as dvc.lock gives them (the
    # reckoning docs/sharing.md makes for the default pipeline's pull)
    cached = _cached_outs(trainer)
    stored = [f for f in remote.rglob("*") if f.is_file() and not f.name.endswith(".dir")]
    assert sum(f.stat().st_size for f in stored) == sum(o["size"] for o in cached.values())
    assert set(MODELS) <= set(cached) and not any(p.startswith("models/checkpoints") for p in cached)
    assert (trainer / paths.GAN_CHECKPOINT).is_file()     # training wrote it; nobody else needs it

    clone = tmp_path / "colleague"
    run(["git", "clone", "-q", trainer, clone], tmp_path)
    assert not (clone / paths.GENERATOR).exists()
    run(["dvc", "pull"], clone)
    for m in MODELS:
        assert (clone / m).read_bytes() == (trainer / m).read_bytes(), m
    assert not (clone / paths.GAN_CHECKPOINT).exists()
    assert json.loads(run(["dvc", "status", "--json"], clone).stdout) == {}
    again = run(["dvc", "repro"], clone).stdout
    assert ran(again) == [] and all(f"Stage '{s}' didn't change, skipping" in again for s in STAGES), again

    # a held-out voice, drawn from on both sides: the same face, byte for byte
    clips = pd.read_parquet(clone / paths.CLIPS)
    voice = Path(yaml.safe_load((clone / "params.yaml").read_text())["data"]["raw_dir"]) / \
        clips[clips.split == "test"].path.iloc[0]
    run([BIN / "fegan", "generate", voice, "-o", "face.png", "--seed", "3"], clone)
    monkeypatch.chdir(trainer)
    r = CliRunner().invoke(cli, ["generate", str(voice), "-o", "face.png", "--seed", "3"])
    assert r.exit_code == 0, r.output
    face = (clone / "face.png").read_bytes()
    assert face == (trainer / "face.png").read_bytes()
    pixels = np.asarray(Image.open(io.BytesIO(face)).convert("RGB"))
    assert pixels.shape == (32, 32, 3)          # the tiny params' faces.image_size

    # the demo, run in the pulled clone, draws that face, says with the pulled calibration whether
    # the voice is close to a training speaker, and then shows that speaker's real face
    with demo_server(clone, free_port()) as server:
        status, answer = _post(server.url, clone / voice, n=1, seed=3)
    assert status == 200, answer
    drawn = Image.open(io.BytesIO(base64.b64decode(answer["image"].split(",", 1)[1]))).convert("RGB")
    assert np.array_equal(np.asarray(drawn), pixels)
    assert answer["speaker"] in set(clips.actor) and answer["voice_similarity"] is not None
    assert (answer["speaker_face"] is not None) == (answer["voice_is_new"] is False)
    assert len(answer["emotions"]) == 1      # the pulled emotion judge read it, with the pulled calibration
    assert "judges_calibration.json" not in (answer["emotion_note"] or "")
