"""`fegan profile`: params.yaml switched between the synthetic set, RAVDESS, eNTERFACE'05 and CREMA-D."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from fegan.cli import cli
from fegan.errors import FeganError
from fegan.overrides import apply_overrides
from fegan.profiles import PROFILES, active, apply_profile, dvc_command, profile_values

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _flat(d, prefix=""):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


@pytest.fixture
def params(tmp_path):
    p = tmp_path / "params.yaml"
    p.write_text((REPO / "params.yaml").read_text())
    return p


def test_every_profile_sets_the_same_keys_and_synthetic_is_the_shipped_params(params):
    keys = {frozenset(p.values) for p in PROFILES.values()}
    assert len(keys) == 1
    flat = _flat(yaml.safe_load(params.read_text()))
    assert set(PROFILES["synthetic"].values) <= set(flat)
    # the shipped params.yaml is the synthetic profile: applying it changes nothing
    assert apply_profile("synthetic", params_file=params) == []
    assert params.read_text() == (REPO / "params.yaml").read_text()
    assert active(params) == ["synthetic"]


@pytest.mark.parametrize("name", ["ravdess-paper", "enterface", "cremad"])
def test_a_profile_changes_exactly_its_keys_keeps_comments_and_synthetic_restores(params, tmp_path, name):
    original = params.read_text()
    raw = tmp_path / "My Data"
    raw.mkdir()
    changed = apply_profile(name, str(raw), params)
    before, after = _flat(yaml.safe_load(original)), _flat(yaml.safe_load(params.read_text()))
    diff = {k for k in before if before[k] != after.get(k)} | (set(after) - set(before))
    assert diff == {k for k, _, _ in changed}
    expected = {k: v for k, v in profile_values(name, str(raw)).items() if before.get(k) != v}
    assert diff == set(expected)
    assert {k: after[k] for k in diff} == expected
    assert after["data.raw_dir"] == str(raw) and after["faces.image_size"] == 128 and after["model.width"] == 1.0
    assert after["data.format"] == {"ravdess-paper": "ravdess", "enterface": "enterface", "cremad": "cremad"}[name]
    assert after["data.split"] == ("speaker" if name == "cremad" else "utterance")
    if name == "cremad":      # 480x360 frames searched whole; 18 and 9 of its 91 actors held out
        assert (after["faces.downscale"], after["data.test_speakers"], after["data.val_speakers"]) == (1, 18, 9)
    # comments, order and untouched lines as they were
    new = params.read_text()
    old_lines, new_lines = original.splitlines(), new.splitlines()
    assert len(old_lines) == len(new_lines)
    assert sum(a != b for a, b in zip(old_lines, new_lines)) == len(changed)
    for a, b in zip(old_lines, new_lines):
        if "#" in a:
            assert a[a.index("#"):] == b[b.index("#"):]                    # every comment kept
    assert "inception_weights: null" in new
    assert active(params) == [name]
    # and back: byte for byte
    restored = apply_profile("synthetic", params_file=params)
    assert {k for k, _, _ in restored} == diff
    assert params.read_text() == original


def test_the_population_profile_changes_its_keys_in_place_and_synthetic_restores(params):
    original = params.read_text()
    changed = apply_profile("synthetic-population", params_file=params)
    after = _flat(yaml.safe_load(params.read_text()))
    assert {k: after[k] for k, _, _ in changed} == {k: v for k, v in profile_values("synthetic-population").items()
                                                   if _flat(yaml.safe_load(original)).get(k) != v}
    assert after["synth.population"] is True and after["synth.out_dir"] == after["data.raw_dir"] == "data/raw/population"
    assert after["data.split"] == "speaker" and after["synth.actors"] >= 64
    # a list stays a flow list on its own line, its comment kept: one changed line a key
    new = params.read_text()
    assert "  intensities: [1]                      # normal, strong (neutral has normal only)\n" in new
    old_lines, new_lines = original.splitlines(), new.splitlines()
    assert len(old_lines) == len(new_lines) and sum(a != b for a, b in zip(old_lines, new_lines)) == len(changed)
    assert active(params) == ["synthetic-population"]
    assert {k for k, _, _ in apply_profile("synthetic", params_file=params)} == {k for k, _, _ in changed}
    assert params.read_text() == original


def test_print_dvc_is_the_same_switch(params, tmp_path):
    line = dvc_command("ravdess-paper", "/data/RAVDESS 2")
    assert line.startswith("dvc exp run -S data.format=ravdess -S ")
    import shlex

    args = shlex.split(line)[3:]
    overrides = [a for a in args if a != "-S"]
    via_dvc = apply_overrides(yaml.safe_load(params.read_text()), overrides)       # read as `dvc exp run -S` reads it
    (tmp_path / "RAVDESS 2").mkdir()
    apply_profile("ravdess-paper", str(tmp_path / "RAVDESS 2"), params, check_raw_dir=False)
    via_profile = yaml.safe_load(params.read_text())
    via_profile["data"]["raw_dir"] = "/data/RAVDESS 2"
    assert via_dvc == via_profile
    assert "'data.raw_dir='\"'\"'/data/RAVDESS 2'\"'\"''" in line          # hydra-quoted, then shell-quoted


def test_errors_are_one_line(params, tmp_path):
    with pytest.raises(FeganError, match="unknown profile 'paper'"):
        profile_values("paper")
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    pp = ["--params", str(params)]
    for args, msg in ((["nope", *pp],
                       "fegan: error: unknown profile 'nope' (known: synthetic, ravdess-paper, enterface, cremad, "
                       "synthetic-population)"),
                      (["ravdess-paper", *pp],
                       "fegan: error: profile ravdess-paper needs --raw-dir (the dataset's folder)"),
                      (["enterface", "--raw-dir", str(tmp_path / "none"), *pp],
                       f"fegan: error: --raw-dir {tmp_path / 'none'} is not a folder"),
                      (["synthetic", "--params", str(tmp_path / "no.yaml")],
                       f"fegan: error: no params file at {tmp_path / 'no.yaml'} (run from the repository root)")):
        p = subprocess.run([BIN / "fegan", "profile", *args], env=env, capture_output=True, text=True)
        assert p.returncode == 2 and p.stderr.strip() == msg and p.stdout == "", (args, p.stderr)
    assert params.read_text() == (REPO / "params.yaml").read_text()


def test_cli_prints_changes_and_lists_profiles(params, tmp_path):
    runner = CliRunner()
    res = runner.invoke(cli, ["profile", "ravdess-paper", "--raw-dir", str(tmp_path), "--params", str(params)])
    assert res.exit_code == 0, res.output
    assert "faces.image_size: 32 -> 128" in res.output and "model.width: 0.25 -> 1.0" in res.output
    assert f"data.raw_dir: data/raw/synthetic -> {tmp_path}" in res.output
    res = runner.invoke(cli, ["profile", "ravdess-paper", "--raw-dir", str(tmp_path), "--params", str(params)])
    assert "already has profile ravdess-paper" in res.output
    res = runner.invoke(cli, ["profile", "--params", str(params)])
    assert "ravdess-paper" in res.output and "(active)" in res.output.splitlines()[1]
    res = runner.invoke(cli, ["profile", "enterface", "--raw-dir", "/x", "--print-dvc"])
    assert res.output.startswith("dvc exp run -S data.format=enterface -S data.raw_dir=/x ")
