"""The speaker protocol end to end (data.split: speaker): a tiny DVC project whose test and val
speakers are never seen by V-net, G or the judges, and evaluate's unseen-speaker readings."""
from __future__ import annotations

import json

import pandas as pd
import yaml

from dvcproject import copy_project, run


def test_speaker_protocol_holds_out_whole_speakers_and_scores_them(tiny_project, tmp_path):
    root = copy_project(tiny_project[0], tmp_path / "speaker")
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["synth"]["actors"] = 7
    params["data"].update(split="speaker", test_speakers=2, val_speakers=2)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["dvc", "repro"], root)

    clips = pd.read_parquet(root / "data/interim/clips.parquet")
    ok = clips[clips.status == "ok"]
    by_split = {s: set(ok.actor[ok.split == s]) for s in ("train", "val", "test")}
    assert [len(by_split[s]) for s in ("train", "val", "test")] == [3, 2, 2]
    assert not (by_split["train"] & by_split["test"]) and not (by_split["train"] & by_split["val"])
    actors = pd.read_parquet(root / "data/interim/actors.parquet")
    assert actors.actor.tolist() == list(range(1, 8))
    assert actors.sex.tolist() == ["male", "female"] * 3 + ["male"]            # RAVDESS: odd male
    assert dict(zip(actors.actor, actors.split)) == {a: s for s, xs in by_split.items() for a in xs}
    # dealt by sex: each held-out pair is one woman and one man
    assert all(sorted(actors.sex[actors.actor.isin(by_split[s])]) == ["female", "male"] for s in ("val", "test"))

    judges = json.loads((root / "metrics/judges.json").read_text())
    assert judges["chance_sex"] == 0.5 and 0 <= judges["sex_test_acc"] <= 1     # the sex judge's ceiling, unseen
    assert "identity_test_acc" not in judges and "identity_train_acc" in judges  # no class for an unseen speaker
    vnet = json.loads((root / "metrics/vnet.json").read_text())
    assert "vnet_test_acc" not in vnet and "vnet_train_acc" in vnet
    # the demo's calibrations: "new voice" set on the val speakers' clips (never trained on) against
    # the training clips, leave-one-out; the attribute judges' temperatures on the val speakers' faces
    voice = json.loads((root / "models/vnet_calibration.json").read_text())
    assert voice["protocol"] == "speaker" and voice["new"]["what"].startswith("clips of the val speakers")
    assert voice["new"]["n"] == int((ok.split == "val").sum()) and voice["known"]["n"] == int((ok.split == "train").sum())
    assert "without it" in voice["known"]["what"] and voice["actors"] == sorted(by_split["train"])
    cal = json.loads((root / "models/judges_calibration.json").read_text())
    assert set(cal["attributes"]) == {"sex"} and cal["attributes"]["sex"]["n_val_faces"] == judges["n_val_faces"]

    m = json.loads((root / "metrics/eval.json").read_text())
    assert all(k.startswith(("unseen_", "val_unseen_")) for k in m)              # labelled by protocol
    assert m["unseen_n_speakers"] == 2 and m["val_unseen_n_speakers"] == 2
    # two speakers in the gallery: R@1 by chance 1/2, R@5 capped at the gallery
    assert m["unseen_chance_r_at_1"] == 0.5 and m["unseen_chance_r_at_5"] == 1.0
    for tag in ("attr", "dlib"):
        for k in ("match_1to2", "r_at_1", "oracle_match_1to2", "oracle_r_at_1"):
            assert 0.0 <= m[f"unseen_{k}_{tag}"] <= 1.0, k
        assert m[f"unseen_r_at_5_{tag}"] == 1.0
    for k in ("sex_acc", "sex_acc_real", "emo_acc", "emo_acc_real"):
        assert 0.0 <= m[f"unseen_{k}"] <= 1.0
    assert m["unseen_n_generated"] == m["unseen_n_voices"] * params["evaluate"]["samples_per_voice"]
    assert m["unseen_fid"] > 0
    assert (root / "reports/grid.png").stat().st_size > 0
    assert "speakers never heard" in (root / "reports/eval.md").read_text()
