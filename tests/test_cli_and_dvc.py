"""The user's entry points: the `fegan` CLI, and `dvc repro` / `dvc exp run` of a tiny copy of the pipeline."""
from __future__ import annotations

import json

import numpy as np
import yaml
from dvcproject import BIN, STAGES, copy_project
from dvcproject import commit as _commit
from dvcproject import copy_repo as _copy_repo  # noqa: F401 - test_paper_tables takes it from here
from dvcproject import ran as _ran
from dvcproject import run as _run


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


def test_dvc_repro_runs_each_stage_once_and_only_what_a_param_affects(tiny_project, tmp_path):
    src, first = tiny_project
    copy_project(src, tmp_path)
    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    assert _ran(first) == STAGES
    lock = yaml.safe_load((tmp_path / "dvc.lock").read_text())["stages"]
    assert set(STAGES) <= set(lock)
    assert lock["synthesize"]["params"]["params.yaml"]["synth.actors"] == 2
    assert {o["path"] for o in lock["synthesize"]["outs"]} == {"data/raw/synthetic", "data/synthetic_truth.parquet"}
    assert {o["path"] for o in lock["features"]["outs"]} == {"data/processed/features.safetensors",
                                                               "data/processed/features.parquet"}
    assert len(list((tmp_path / "data/raw/synthetic").rglob("*.mp4"))) == 12

    second = _run(["dvc", "repro", *STAGES], tmp_path).stdout
    assert _ran(second) == [] and "didn't change, skipping" in second

    def change(section, key, value):
        params[section][key] = value
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        return _ran(_run(["dvc", "repro", *STAGES], tmp_path).stdout)

    # workers change no output, so they are not dependencies
    assert change("synth", "workers", 1) == []
    # the Fbank -> MFCC switch (paper Table 2) reruns features and what learns from them:
    # not demux, vad or faces
    assert change("features", "kind", "mfcc") == ["features", "noisy_voices", "train_vnet", "train_fegan", "evaluate"]
    # VAD padding changes what is voiced: vad, features and faces and what learns from them, not demux
    assert change("vad", "padding_ms", 120) == ["vad", "features", "faces", "noisy_voices", "train_judges",
                                                "train_vnet", "train_fegan", "evaluate"]
    # babble copies of the training voices feed V-net and G, never the judges
    assert change("noisy_voices", "copies", 1) == ["noisy_voices", "train_vnet", "train_fegan", "evaluate"]
    from safetensors.numpy import load_file
    noisy = load_file(str(tmp_path / "data/processed/noisy_features.safetensors"))
    emb = load_file(str(tmp_path / "data/processed/embeddings.safetensors"))
    from fegan.training.data import usable_clips
    clips = usable_clips(tmp_path / "data/interim/clips.parquet", tmp_path / "data/processed/features.parquet")
    train_rows = sorted(clips.row[clips.split == "train"])
    n_train = len(train_rows)
    assert sorted(noisy["clip_row"]) == train_rows == sorted(emb["noisy_clip_row"])
    assert emb["e_v_noisy"].shape == (n_train, 1, 128) and np.isfinite(emb["e_v_noisy"]).all()
    # a copy's E_v is near its clean voice's (V-net trained on both), not equal
    clean = emb["e_v"][[list(emb["clip_row"]).index(r) for r in emb["noisy_clip_row"]]]
    assert not np.allclose(clean, emb["e_v_noisy"][:, 0])
    # an evaluation setting reruns the evaluation only; a judge's, the judges and the evaluation
    assert change("evaluate", "talkers", 2) == ["evaluate"]
    params["evaluate"]["identity"]["steps"] = 25
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert _ran(_run(["dvc", "repro", *STAGES], tmp_path).stdout) == ["train_judges", "evaluate"]
    _commit(tmp_path, "y")
    # the user's own example: lambda1 is a top-level key read by train_fegan only
    exp = _run(["dvc", "exp", "run", "-S", "lambda1=0.5"], tmp_path).stdout
    assert _ran(exp) == ["train_fegan", "evaluate"]           # not the judges: they are the fixed rulers
    assert yaml.safe_load((tmp_path / "params.yaml").read_text())["lambda1"] == 0.5

    # the two runs side by side: FID, identity and emotion accuracy (generated and real ceiling)
    diff = json.loads(_run(["dvc", "metrics", "diff", "--all", "--json"], tmp_path).stdout)
    ev = diff["metrics/eval.json"]
    for k in ("fid", "kid", "id_acc", "emo_acc", "id_acc_real", "emo_acc_real", "id_acc_descriptor",
              "id_acc_swapped", "id_acc_swapped_own", "val_fid", "val_id_acc", "val_emo_acc", "val_diversity_pixel",
              "diversity_pixel", "diversity_pixel_real", "vnet_acc", "val_vnet_acc"):
        assert isinstance(ev[k]["old"], float) and isinstance(ev[k]["new"], float), (k, ev[k])
    # 4 test voices (2 a speaker), 2 faces each: at most 8 distinct images; V-net is the same in both runs
    assert 4 <= ev["n_distinct_generated"]["new"] <= 8 and ev["vnet_acc"]["new"] == ev["vnet_acc"]["old"]
    # the tiny split: 1 val clip of each speaker's 4-clip group (data.val_fraction 0.15), 3 faces a clip
    assert ev["n_val_voices"]["new"] == 2 and ev["n_val_faces_real"]["new"] == 6
    assert all(v["old"] == v["new"] for v in diff["metrics/judges.json"].values())     # the same judges
    # the identity judge on the 11-12 held-out real faces of 4 clips, 2 actors: chance 0.5, and
    # >= 0.75 (9 right) has binomial p 0.03-0.07: a check that the judge runs and reads, not evidence
    assert ev["id_acc_real"]["new"] >= 0.75
    assert ev["fid"]["new"] > 0 and 0 <= ev["id_acc"]["new"] <= 1
    rob = diff["metrics/robustness.json"]
    assert {"snr01db_fid", "snr25db_id_acc", "dur01s_emo_acc", "dur01s_seconds", "snr01db_vnet_acc"} <= set(rob)
    assert 0 <= rob["snr01db_vnet_acc"]["new"] <= 1
    judges = json.loads((tmp_path / "metrics/judges.json").read_text())
    assert judges["identity_test_acc"] == ev["id_acc_real"]["new"] and 0 < judges["emotion_val_acc"] <= 1
    shown = _run(["dvc", "metrics", "show"], tmp_path).stdout
    assert "id_acc_real" in shown and "snr01db_fid" in shown

    # plots render: training curves, the face grid, confusion matrices, robustness
    _run(["dvc", "plots", "show", "-o", "dvc_plots"], tmp_path)
    html = (tmp_path / "dvc_plots/index.html").read_text()
    for name in ("dvclive/fegan/plots/metrics", "reports/grid.png", "reports/confusion_identity.csv",
                 "robustness_snr_fid", "robustness_duration_accuracy"):
        assert name in html, name

    # evaluate.robustness_fid false (the paper experiments' setting): evaluate alone reruns, every
    # condition keeps its accuracies to the digit (same G, voices and noise) and loses FID/KID only
    before = json.loads((tmp_path / "metrics/robustness.json").read_text())
    params = yaml.safe_load((tmp_path / "params.yaml").read_text())        # lambda1 0.5 from the experiment
    assert change("evaluate", "robustness_fid", False) == ["evaluate"]
    after = json.loads((tmp_path / "metrics/robustness.json").read_text())
    assert after == {k: v for k, v in before.items() if not k.endswith(("_fid", "_kid"))}
    conditions = {k.split("_")[0] for k in before}          # snr01db, dur01s, ...
    assert set(before) - set(after) == {f"{c}_{m}" for c in conditions for m in ("fid", "kid")}
    import pandas as pd
    snr = pd.read_csv(tmp_path / "reports/robustness_snr.csv")
    assert list(snr.condition) == [f"snr{x:02d}db" for x in params["evaluate"]["snr_db"]]
    assert snr.fid.isna().all() and snr.kid.isna().all() and snr.id_acc.notna().all()
    eval_md = (tmp_path / "reports/eval.md").read_text().splitlines()
    row = next(line for line in eval_md if line.startswith("| snr01db |"))
    assert [c.strip() for c in row.strip("|").split("|")][4:6] == ["—", "—"]           # fid, kid
