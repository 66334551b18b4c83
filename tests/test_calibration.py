"""fegan/calibration.py and the voice calibration of `train_vnet`: each reading against a case
worked by hand or built with a known answer (issue 26, item 5)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from fegan import inference
from fegan.calibration import (cosine_to_centroids, ece, eer_threshold, fit_temperature, nll, softmax,
                               temperature_report)
from fegan.training.voice_calibration import calibrate, leave_one_out, synthetic_voices


def _draw(rng: np.random.Generator, p: np.ndarray) -> np.ndarray:
    """One class per row of probabilities ``p``."""
    return (rng.random((len(p), 1)) > p.cumsum(1)).sum(1).clip(0, p.shape[1] - 1)


def test_the_fitted_temperature_is_the_one_the_labels_were_drawn_with():
    """Labels drawn from softmax(z / 2.5): the NLL's minimum is at T = 2.5, and the search finds it
    within 5 %; the same inputs give the same T, bit for bit."""
    rng = np.random.default_rng(0)
    z = rng.normal(0, 4, (100000, 4))       # the fit's own sampling error is then ~1 %
    y = _draw(rng, softmax(z, 2.5))
    t = fit_temperature(z, y)
    assert abs(t - 2.5) / 2.5 < 0.05, t
    assert fit_temperature(z, y) == t
    # and it is the minimum: a step either way costs NLL
    assert nll(z, y, t) < min(nll(z, y, t * 1.05), nll(z, y, t / 1.05), nll(z, y, 1.0))


def test_temperature_scaling_lowers_the_nll_of_an_overconfident_classifier():
    """A classifier whose logits are 4x the truth's: right as often, far too sure. T comes out
    near 4, the NLL and the ECE fall, the predictions stay."""
    rng = np.random.default_rng(1)
    truth = rng.normal(0, 1.5, (5000, 3))
    y = _draw(rng, softmax(truth))
    sure = 4 * truth
    r = temperature_report(sure, y, "test logits")
    assert r["fitted"] and 3.6 < r["temperature"] < 4.4, r
    assert r["nll_after"] < 0.8 * r["nll_before"] and r["ece_after"] < 0.5 * r["ece_before"], r
    assert r["ece_after"] < 0.03 and r["n_val_faces"] == 5000
    assert (softmax(sure, r["temperature"]).argmax(1) == sure.argmax(1)).all()


def test_no_val_faces_means_no_temperature():
    r = temperature_report(None, None, "real val faces")
    assert r["temperature"] == 1.0 and r["fitted"] is False and "data.val_fraction 0" in r["note"]


def test_ece_by_hand():
    # two faces at 0.9 (one right), two at 0.6 (both right): |0.9 - 0.5| * 2/4 + |0.6 - 1| * 2/4 = 0.4
    p = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.4, 0.6]])
    assert ece(p, np.array([0, 1, 0, 1])) == pytest.approx(0.4)


@pytest.mark.parametrize("known, new, threshold, eer, frr, far", [
    # overlapping: on (0.6, 0.7] one known voice (0.5) reads new and one new voice (0.8) close
    ([0.5, 0.7, 0.9, 0.95], [0.2, 0.4, 0.6, 0.8], 0.65, 0.25, 0.25, 0.25),
    # apart: any t in (0.3, 0.8] makes no error; the middle
    ([0.9, 0.8], [0.1, 0.3], 0.55, 0.0, 0.0, 0.0),
    # unequal sizes: max(FAR, FRR) is 1/3 on (0.6, 0.7] (FRR 1/3: 0.3; FAR 1/4: 0.7) and on
    # (0.7, 0.8] (FRR 1/3, FAR 0); the first has FAR and FRR nearer each other
    ([0.3, 0.8, 0.9], [0.1, 0.5, 0.6, 0.7], 0.65, 1 / 3, 1 / 3, 1 / 4),
    # max(FAR, FRR) is 1/2 on (0.5, 0.6], (0.6, 0.7] and (0.7, 0.9]; only the middle one has them equal
    ([0.6, 0.9], [0.5, 0.7], 0.65, 0.5, 0.5, 0.5),
])
def test_the_equal_error_threshold_by_hand(known, new, threshold, eer, frr, far):
    r = eer_threshold(known, new)
    assert r["threshold"] == pytest.approx(threshold) and r["eer"] == pytest.approx(eer)
    assert (r["frr"], r["far"]) == (pytest.approx(frr), pytest.approx(far))


def test_cosine_to_centroids():
    s = cosine_to_centroids(np.array([[1.0, 0.0], [1.0, 1.0]]), np.array([[2.0, 0.0], [0.0, 3.0]]))
    assert s == pytest.approx(np.array([[1.0, 0.0], [2 ** -0.5, 2 ** -0.5]]))


def _clusters(rng, centres, n, spread):
    return np.concatenate([c + spread * rng.normal(size=(n, len(c))) for c in centres])


def test_calibrate_separates_held_out_voices_from_new_speakers():
    """Two training speakers along two axes, their val clips near them; new voices along a third
    axis: the threshold falls between, with no error, and a centroid is the mean of training clips."""
    rng = np.random.default_rng(0)
    eye = np.eye(3) * 10
    train = _clusters(rng, eye[:2], 6, 1.0)
    val = _clusters(rng, eye[:2], 3, 1.0)
    e_v = np.concatenate([train, val])
    speaker = np.array([0] * 6 + [1] * 6 + [0] * 3 + [1] * 3)
    split = np.array(["train"] * 12 + ["val"] * 6)
    new = _clusters(rng, eye[2:] + eye[0], 4, 1.0)          # between speaker 0 and a new direction
    cal = calibrate(e_v, speaker, split, [1, 2], "utterance", new, "new ones")
    assert cal["eer"] == 0 and cal["known"]["min"] > cal["threshold"] > cal["new"]["max"], cal
    assert cal["known"]["n"] == 6 and cal["new"]["n"] == 4 and cal["known"]["what"].startswith("val clips")
    assert np.allclose(cal["centroids"][1], train[6:].mean(0), atol=1e-6)
    # under the speaker protocol the val speakers' clips are the new voices (speaker -1), and the
    # known ones are the training clips against leave-one-out centroids
    speaker2 = np.array([0] * 6 + [1] * 6 + [-1] * 4)
    e2 = np.concatenate([train, new])
    cal2 = calibrate(e2, speaker2, np.array(["train"] * 12 + ["val"] * 4), [1, 2], "speaker")
    assert cal2["new"]["n"] == 4 and cal2["known"]["n"] == 12 and "without it" in cal2["known"]["what"]
    loo = leave_one_out(e2, speaker2, speaker2 >= 0, np.array(cal2["centroids"]))
    i = 0          # by hand: clip 0 against the mean of clips 1..5 and speaker 1's centroid
    own = train[1:6].mean(0)
    assert loo[i] == pytest.approx(max(cosine_to_centroids(train[0], np.stack([own, train[6:].mean(0)]))[0]))


def test_the_synthetic_new_voices_go_through_generates_front_end(tmp_path):
    """The calibration's new voices are computed as `fegan generate` computes a recording at
    data.sample_rate: the same features, hence the same E_v, from the voice written to a file."""
    from test_generate import _save_models

    from fegan.preprocess.features import compute, features_kwargs
    from fegan.synth.identity import emotion_style, make_actor
    from fegan.synth.voice import synthesize_voice

    params = {"data": {"sample_rate": 32000}, "vad": {}, "features": {}}
    actors, feats = synthetic_voices([1, 2, 3, 4], [3, 4, 5], params, n=2)
    assert actors == [5, 6] and len(feats) == 2
    wave = synthesize_voice(make_actor(0, 6), emotion_style(4, 1)[1], 2, np.random.default_rng([0, 26, 6]),
                            sample_rate=32000).audio
    sf.write(tmp_path / "new.wav", wave, 32000, subtype="FLOAT")
    heard = inference.load_voice(tmp_path / "new.wav", 32000)
    assert np.array_equal(heard, wave)
    mine = compute(inference.voiced(heard, 32000), 32000, **features_kwargs({}))
    assert torch.equal(mine, feats[1])
    vnet, _ = _save_models(tmp_path)
    enc = inference.load_vnet(vnet)
    assert torch.allclose(inference.embed(inference.voiced(heard, 32000), 32000, enc, {}),
                          enc.model.embed(feats[1][None])[0])


def test_with_the_emotion_code_the_speaker_readings_use_the_speaker_part_of_e_v():
    """vnet.emotion_code appends the code to E_v for G; the nearest speaker (V-net's head) and the
    similarity to the training speakers' centroids read the speaker part alone."""
    from fegan.models.vnet import VNet

    torch.manual_seed(0)
    model = VNet(8, (8, 8, 8, 8, 6), 2, emotion_code=4).eval()
    x = torch.randn(1, 8, 40)
    with torch.no_grad():
        cond = model.condition(x)[0]                                               # (10,)
    assert cond.shape == (10,) and torch.equal(cond[:6], model.embed(x)[0])
    enc = inference.VoiceEncoder(model, [7, 8], "fbank", 8, "vnet.pt")
    assert enc.nearest_speaker(cond) == enc.nearest_speaker(cond[:6])
    cents = np.stack([cond[:6].double().numpy(), -cond[:6].double().numpy()])
    cal = inference.VoiceCalibration([7, 8], cents, 0.5, 0.1, "cal.json")
    assert cal.read(cond) == (7, pytest.approx(1.0), False)


def test_a_judge_right_on_every_val_face_keeps_t_1():
    """All right: the NLL falls towards T = 0 (no minimum), and the bracket's floor would make
    the judge surer still; T stays 1 and the report says why."""
    z = np.array([[3.0, 0.0, 0.0], [0.0, 2.0, 1.0], [0.0, 0.0, 0.5]])
    r = temperature_report(z, np.array([0, 1, 2]), "real val faces")
    assert r["temperature"] == 1.0 and not r["fitted"] and "no finite temperature" in r["note"]
    # one wrong and the minimum is finite
    r = temperature_report(z, np.array([0, 1, 1]), "real val faces")
    assert r["fitted"] and 0.05 < r["temperature"] < 20 and r["nll_after"] <= r["nll_before"]


# ---------------------------------------------------------------- on the tiny set, V-net trained

@pytest.fixture(scope="module")
def vnet_trained(tiny_processed, tmp_path_factory):
    """train_vnet (60 epochs, as test_models trains it) in a copy of the tiny set's processed data:
    4 training speakers, 12 val clips of theirs, and the stage's voice calibration."""
    import os
    import shutil

    from fegan import paths
    from fegan.training.vnet_stage import stage

    cfg, _, out, _ = tiny_processed
    root = tmp_path_factory.mktemp("vnet_calibrated")
    for rel in (paths.CLIPS, paths.FEATURES, paths.FEATURES_INDEX):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(out / rel, root / rel)
    cwd = os.getcwd()
    os.chdir(root)
    try:
        msg = stage({"device": "cpu", "features": {"hop_ms": 16.0, "kind": "fbank"}, "vnet": {"epochs": 60, "seed": 0}})
    finally:
        os.chdir(cwd)
    return cfg, root, msg


def test_train_vnet_calibrates_close_and_new_and_generate_says_which(vnet_trained, tmp_path):
    """The stage's threshold sits at the equal-error point of its two lists; then, through
    `fegan generate`'s own chain from the files, the val clips of training speakers (mp4) mostly
    read close, mostly named as their own speaker, and voices of 8 other speakers never trained on
    (not those the threshold was set on) mostly read new; the command's line says so."""
    import json

    import pandas as pd
    from click.testing import CliRunner
    from test_generate import PARAMS_YAML, _save_models

    from fegan import paths
    from fegan.cli import cli
    from fegan.synth.identity import emotion_style, make_actor
    from fegan.synth.voice import synthesize_voice

    cfg, root, msg = vnet_trained
    cal = json.loads((root / paths.VNET_CALIBRATION).read_text())
    assert cal["protocol"] == "utterance" and cal["actors"] == [1, 2, 3, 4]
    assert cal["known"]["n"] == 12 and cal["new"]["n"] == 16 and "synthetic speakers" in cal["new"]["what"]
    assert cal["eer"] <= 0.35 and max(cal["far"], cal["frr"]) == cal["eer"], cal        # chance: 0.5
    assert f"a new voice below similarity {cal['threshold']:.3f}" in msg
    _, gen = _save_models(tmp_path)                  # any generator: only the voice's reading is checked
    params_file = tmp_path / "params.yaml"
    params_file.write_text(PARAMS_YAML)
    enc = inference.load_vnet(root / paths.VNET)
    vc, why = inference.load_voice_calibration(enc)
    assert vc is not None and why == "" and vc.threshold == cal["threshold"]
    params = {"data": {}, "vad": {}, "features": {}}
    g = inference.load_generator(gen)

    def read(path):
        return inference.faces_from_voice(path, params, enc, g, calibration=vc)

    clips = pd.read_parquet(root / paths.CLIPS)
    val = clips[(clips.split == "val") & (clips.status == "ok")]
    known = [(int(c.actor), read(Path(cfg.out_dir) / c.path)) for c in val.itertuples()]
    close = [(a, r) for a, r in known if not r.is_new]
    assert len(close) >= 8, [(a, r.speaker, r.similarity) for a, r in known]          # of 12
    # and mostly named as themselves (V-net names 10 of these 12 clips' speakers right)
    assert sum(a == r.speaker for a, r in close) >= 2 * len(close) / 3
    unseen = []
    for actor in range(41, 49):
        wave = synthesize_voice(make_actor(0, actor), emotion_style(3 + actor % 3, 1)[1], 1 + actor % 2,
                                np.random.default_rng(actor), sample_rate=48000).audio
        sf.write(tmp_path / f"unseen{actor}.wav", wave, 48000, subtype="PCM_16")
        unseen.append(read(tmp_path / f"unseen{actor}.wav"))
    assert sum(r.is_new for r in unseen) >= 6, [(r.speaker, r.similarity) for r in unseen]    # of 8

    def line(voice):
        r = CliRunner().invoke(cli, ["generate", str(voice), "-o", str(tmp_path / "f.png"), "--vnet",
                                     str(root / paths.VNET), "--generator", str(gen), "--params", str(params_file)])
        assert r.exit_code == 0, r.output
        return r.stdout.strip().split("; ", 1)[1]

    i = next(i for i, (a, r) in enumerate(known) if not r.is_new and a == r.speaker)
    a, r = known[i]
    assert line(Path(cfg.out_dir) / val.path.iloc[i]) == \
        f"close to training speaker A{a:02d} (similarity {r.similarity:.2f}, threshold {cal['threshold']:.2f})"
    j = next(j for j, r in enumerate(unseen) if r.is_new)
    r = unseen[j]
    assert line(tmp_path / f"unseen{41 + j}.wav") == (f"a new voice (nearest training speaker A{r.speaker:02d} at "
                                                      f"similarity {r.similarity:.2f}; threshold {cal['threshold']:.2f})")
