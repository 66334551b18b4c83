"""The judges of generated faces, babble noise, and the evaluate stage's outputs."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load_file

from fegan import paths
from fegan.evaluation.babble import babble, mix_at_snr, pick_talkers, snr_db
from fegan.evaluation.conditions import Condition, apply, conditions
from fegan.evaluation.descriptor import DescriptorJudge, descriptors, to_chip
from fegan.evaluation.judge import JudgeConfig, predict, train_judge
from fegan.evaluation.stage import swap_speakers
from fegan.preprocess.common import clip_audio
from fegan.preprocess.features import compute
from fegan.preprocess.vad import voiced_audio


@pytest.fixture(scope="module")
def voices(tiny_processed):
    """Voiced audio of every usable clip of the tiny set, with the speaker of each."""
    _, _, out, (clips, vad, _, _) = tiny_processed
    ok = clips.merge(vad[["clip_id", "status", "seg_start", "seg_end"]], on="clip_id", suffixes=("", "_vad"))
    ok = ok[ok.status_vad == "ok"]
    waves = [voiced_audio(clip_audio(out / paths.AUDIO, r.audio_offset, r.audio_len), int(r.audio_rate),
                          r.seg_start, r.seg_end) for r in ok.itertuples()]
    return waves, ok.actor.to_numpy(), int(ok.audio_rate.iloc[0])


def test_babble_is_other_speakers_at_the_asked_snr(voices):
    waves, speakers, sr = voices
    rng = np.random.default_rng(0)
    talkers = pick_talkers(speakers, 0, 3, rng)
    assert len(talkers) == 3 and speakers[0] not in speakers[talkers]
    assert len(set(speakers[talkers])) == 3                      # three different voices
    clean = waves[0]
    noise = babble([waves[j] for j in talkers], len(clean))
    for snr in (1, 5, 10, 25):
        mixed = mix_at_snr(clean, noise, snr)
        assert mixed.shape == clean.shape
        assert snr_db(clean, mixed) == pytest.approx(snr, abs=1e-3)   # measured on the mixed signal

    # 1 dB babble measurably changes the features, and less noise changes them less
    f_clean = compute(clean, sr)
    d = [float((compute(mix_at_snr(clean, noise, snr), sr) - f_clean).norm() / f_clean.norm())
         for snr in (1, 5, 10, 25)]
    assert d[0] > 0.5 and d == sorted(d, reverse=True) and d[3] < 0.75 * d[0], d


def test_conditions_cut_and_mix_test_voices(voices):
    waves, speakers, sr = voices
    names = [c.name for c in conditions([1, 25], [1, 3])]
    assert names == ["snr01db", "snr25db", "dur01s", "dur03s"]
    short = apply(Condition("dur01s", duration_s=1.0), waves, speakers, sr, 4, 0)
    assert all(len(s) == min(len(w), sr) for s, w in zip(short, waves, strict=True))
    noisy = apply(Condition("snr05db", snr_db=5.0), waves, speakers, sr, 4, 0)
    assert [round(snr_db(w, n), 3) for w, n in zip(waves, noisy, strict=True)] == [5.0] * len(waves)
    again = apply(Condition("snr05db", snr_db=5.0), waves, speakers, sr, 4, 0)
    assert all(np.array_equal(a, b) for a, b in zip(noisy, again, strict=True))   # seeded


@pytest.fixture(scope="module")
def real_faces(tiny_processed):
    _, _, out, (clips, _, _, faces) = tiny_processed
    table = faces[faces.row >= 0].merge(clips[["clip_id", "actor", "emotion", "split"]], on="clip_id")
    x = load_file(str(out / paths.FACES))["faces"][table.row.to_numpy()]
    return x, table


def test_chip_keeps_the_face_centre():
    face = np.zeros((3, 64, 64), np.uint8)
    face[:, 20:44, 20:44] = 255
    chip = to_chip(face, padding=0.4)
    assert chip.shape == (150, 150, 3)
    assert chip[75, 75].tolist() == [255, 255, 255] and chip[2, 2].tolist() == [0, 0, 0]
    # 0.4 -> 0.25 padding cuts (1 - 1.5/1.8) / 2 of each side: the white square grows accordingly
    white = np.flatnonzero(chip[75, :, 0] > 127)
    assert abs(len(white) - 24 * 1.8 / 1.5 * 150 / 64) < 4


def test_descriptor_reading_separates_held_out_real_faces(real_faces):
    x, t = real_faces
    train = (t.split != "test").to_numpy()          # train and val clips fit, test clips are read
    desc = descriptors(x, padding=0.4)
    assert desc.shape == (len(x), 128) and np.isfinite(desc).all()
    judge = DescriptorJudge().fit(desc[train], t.actor.to_numpy()[train])
    acc = (judge.predict(desc[~train]) == t.actor.to_numpy()[~train]).mean()
    assert acc >= 0.9, acc                                           # chance 0.25


@pytest.mark.parametrize("label, n_classes, floor, shift", [("actor", 4, 0.95, 0), ("emotion", 3, 0.8, 0),
                                                            ("actor", 4, 0.95, 2)])
def test_judges_read_held_out_real_faces(real_faces, label, n_classes, floor, shift):
    # the identity judge (chance 0.25) and the emotion judge (chance 0.33): the same recipe
    # (shift: the optional translation augmentation, off by default). On the 36 held-out faces
    # (3 of each of 12 clips) chance reaches the floors with binomial p < 1e-3 even counted by clip
    x, t = real_faces
    train = (t.split != "test").to_numpy()          # the recipe on 3 clips a group (train and val) as before
    y = pd.factorize(t[label], sort=True)[0]
    net = train_judge(JudgeConfig(steps=300, shift=shift), x[train], y[train], n_classes)
    acc = (predict(net, x[~train]) == y[~train]).mean()
    assert acc >= floor, acc


def test_swapped_voices_come_from_the_next_speaker_with_the_same_emotion():
    ids = np.array([0, 0, 1, 1, 2, 2, 2])
    emo = np.array([0, 1, 0, 1, 0, 1, 1])
    donor = swap_speakers(ids, emo)
    assert (ids[donor] == (ids + 1) % 3).all()                       # every voice another speaker's
    assert (emo[donor] == emo).all()                                 # with the same emotion
    assert donor.tolist() == [2, 3, 4, 5, 0, 1, 1]


def test_grid_puts_real_and_generated_side_by_side_and_enlarges_small_faces():
    from fegan.evaluation.plots import face_grid
    red, blue = np.zeros((3, 32, 32), np.uint8), np.zeros((3, 32, 32), np.uint8)
    red[0], blue[2] = 255, 255
    img = np.asarray(face_grid({(1, 3): (red, blue), (2, 3): (None, blue)}, [1, 2], [3], {3: "happy"}))
    # 32-pixel faces drawn at 64: 30 px of labels on the left and top, 6 between rows
    assert img.shape == (30 + 2 * (64 + 6), 30 + 2 * 64 + 6, 3)
    assert img[30 + 32, 30 + 32].tolist() == [255, 0, 0] and img[30 + 32, 30 + 64 + 32].tolist() == [0, 0, 255]
    assert img[100 + 32, 30 + 32].tolist() == [255, 255, 255]        # no real face for actor 2: left blank
