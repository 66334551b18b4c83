"""The `train_judges` stage: the judges of evaluate, trained on real faces, the same on any core count."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from fegan import paths
from fegan.errors import FeganError
from fegan.evaluation.judge import JudgeConfig, load_judge, load_judge_labelled, predict, train_judge
from fegan.evaluation.judges_stage import load_judges, real_faces, stage
from fegan.parallel import torch_threads
from fegan.training.data import Labels


def test_a_judge_is_bit_for_bit_the_same_under_one_and_two_threads():
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, (40, 3, 16, 16), dtype=np.uint8)
    labels = rng.integers(0, 3, 40)
    cfg = JudgeConfig(steps=30, batch_size=16, width=8, shift=1)
    states = []
    for threads in (1, 2):
        with torch_threads(threads):
            states.append(train_judge(cfg, faces, labels, 3).state_dict())
            assert torch.get_num_threads() == threads          # the caller's count is restored
    assert states[0].keys() == states[1].keys()
    for k in states[0]:
        a, b = states[0][k], states[1][k]
        assert a.dtype == b.dtype and a.numpy().tobytes() == b.numpy().tobytes(), k
    assert any(not torch.equal(states[0][k], train_judge(JudgeConfig(steps=0, width=8), faces, labels, 3)
                               .state_dict()[k]) for k in states[0])      # and it did learn something


@pytest.fixture(scope="module")
def judged(tiny_processed, tmp_path_factory):
    """train_judges run in a copy of the tiny set's processed data."""
    _, _, out, _ = tiny_processed
    root = tmp_path_factory.mktemp("judges")
    for rel in (paths.CLIPS, paths.FEATURES_INDEX, paths.FACES, paths.FACES_INDEX):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(out / rel, root / rel)
    mp = pytest.MonkeyPatch()
    mp.chdir(root)
    judge = dict(steps=300, batch_size=32, lr=0.002, width=16, shift=0, noise=0.1, seed=0)
    msg = stage({"evaluate": {"identity": judge, "emotion": judge}})
    yield root, msg
    mp.undo()


def test_train_judges_writes_both_judges_and_their_ceilings(judged):
    root, msg = judged
    metrics = json.loads((root / paths.JUDGES_METRICS).read_text())
    labels = Labels([1, 2, 3, 4], [3, 4, 5])       # the tiny set: 4 actors, happy, sad, angry
    data = real_faces(labels)
    assert {s: len(d.faces) for s, d in data.items()} == {"train": 72, "val": 36, "test": 36}   # 12 groups, 3 frames a clip
    identity, emotion = load_judges(labels)
    # the written numbers are the loaded judges' readings of the real faces of each split
    for name, net, field in (("identity", identity, "actor"), ("emotion", emotion, "emotion")):
        for s in ("train", "val", "test"):
            acc = float((predict(net, data[s].faces) == getattr(data[s], field)).mean())
            assert metrics[f"{name}_{s}_acc"] == acc, (name, s)
    # held-out real faces of 12 clips each: chance 0.25 and 0.33
    assert metrics["identity_test_acc"] >= 0.9 and metrics["identity_val_acc"] >= 0.9, metrics
    assert metrics["emotion_test_acc"] >= 0.6, metrics
    assert metrics["chance_identity"] == 0.25 and metrics["n_val_faces"] == 36
    assert msg.startswith("train_judges: on real faces, identity train ")
    # the demo's reading: the emotion judge's class names
    assert load_judge(root / paths.EMOTION_JUDGE)[1] == ["happy", "sad", "angry"]
    assert load_judge_labelled(root / paths.IDENTITY_JUDGE)[2] == [1, 2, 3, 4]


def test_train_judges_fits_the_emotion_judges_temperature_on_real_val_faces(judged):
    """models/judges_calibration.json: the T that minimises the NLL of the 36 real val faces'
    emotions under the written judge, lower NLL after than before, and the md5 of the judge file
    it was fitted for; under the utterance protocol no attribute temperatures."""
    import hashlib

    from fegan.calibration import ece, fit_temperature, nll, softmax
    from fegan.evaluation.judge import logits

    root, msg = judged
    cal = json.loads((root / paths.JUDGES_CALIBRATION).read_text())
    assert set(cal) == {"emotion"}
    emo = cal["emotion"]
    val = real_faces(Labels([1, 2, 3, 4], [3, 4, 5]))["val"]
    net, _ = load_judge(root / paths.EMOTION_JUDGE)
    z, y = logits(net, val.faces), val.emotion
    assert emo["fitted"] and emo["n_val_faces"] == 36 and emo["fitted_on"] == "real val faces"
    assert emo["temperature"] == pytest.approx(fit_temperature(z, y), rel=1e-6)
    t = emo["temperature"]
    assert emo["nll_before"] == pytest.approx(nll(z, y)) and emo["nll_after"] == pytest.approx(nll(z, y, t))
    assert emo["nll_after"] < emo["nll_before"] and emo["ece_after"] == pytest.approx(ece(softmax(z, t), y))
    assert emo["judge_md5"] == hashlib.md5((root / paths.EMOTION_JUDGE).read_bytes()).hexdigest()
    assert f"; emotion temperature {t:.3f} (val NLL {emo['nll_before']:.3f} -> {emo['nll_after']:.3f}" in msg


def test_judges_of_other_classes_than_the_generator_are_refused(judged):
    with pytest.raises(FeganError, match=r"identity_judge.pt judges classes \[1, 2, 3, 4\], the generator has "
                                          r"\[1, 2, 3, 5\]"):
        load_judges(Labels([1, 2, 3, 5], [3, 4, 5]))
