"""The synthetic population (synth.population): sex, age and size drive voice and face, colours do not.

Every measurement is on what the generator renders: F0 by autocorrelation and the formants'
envelope on the audio, face width and hair colour on 32 px crops aligned as the faces stage
aligns them. The default set (population off) must stay what it was, bit for bit: its
fingerprints below were taken before the population mode was written.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import dlib
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy.stats import spearmanr

from fegan.datasets.actors import read_actors
from fegan.datasets.attributes import age_band, size_band
from fegan.datasets.ravdess import format_name, parse_name
from fegan.errors import FeganError
from fegan.preprocess.faces import FaceCropper
from fegan.profiles import profile_values
from fegan.synth import clip as clip_module
from fegan.synth.dataset import SynthConfig, synthesize
from fegan.synth.face import FrameState, draw_face, make_look, render_frame
from fegan.synth.identity import Expression, draw_actor, emotion_style, make_actor
from fegan.synth.population import GREY, actor_table, face_of, make_person, voice_of

SR = 16000
INDEPENDENT = ["skin_tone", "hair_colour", "hair_style", "iris_colour", "lip_colour"]
# Actor's fields before the population mode; their values for seed 0, actors 1..24, hashed
DEFAULT_FIELDS = ["actor", "male", "face_w", "face_h", "jaw", "skin", "hair", "hair_style", "eye_sep", "eye_size",
                  "iris", "nose_len", "nose_w", "mouth_w", "lips", "brow_w", "f0", "tract", "breath", "tilt"]


def _md5(b: bytes) -> str:
    return hashlib.md5(b).hexdigest()


def _fingerprint(monkeypatch, tmp_path, name, fmt) -> tuple[str, str, str, int]:
    """md5s of a default clip's voice samples, of every frame it rendered and of its truth row."""
    frames, audio = [], []
    render, voice = clip_module.render_frame, clip_module.synthesize_voice

    def keep_frame(*args):
        img = render(*args)
        frames.append(np.asarray(img))
        return img

    def keep_voice(*args, **kw):
        v = voice(*args, **kw)
        audio.append(v.audio)
        return v

    monkeypatch.setattr(clip_module, "render_frame", keep_frame)
    monkeypatch.setattr(clip_module, "synthesize_voice", keep_voice)
    row = clip_module.render_clip(name, 0, tmp_path / "x.mp4", fmt)
    return (_md5(audio[0].tobytes()), _md5(b"".join(f.tobytes() for f in frames)),
            _md5(json.dumps(row, sort_keys=True).encode()), len(frames))


def test_the_default_set_is_unchanged_bit_for_bit(monkeypatch, tmp_path):
    actors = repr([tuple(getattr(make_actor(0, a), f) for f in DEFAULT_FIELDS) for a in range(1, 25)])
    assert _md5(actors.encode()) == "27a144614907c5731489dce43425e403"
    assert all(make_actor(0, a).attributes is None and make_actor(0, a).lines == 0 for a in range(1, 25))
    happy = format_name(emotion=3, intensity=2, statement=1, repetition=1, actor=1)
    assert _fingerprint(monkeypatch, tmp_path, happy, clip_module.VideoFormat(320, 240)) == (
        "c144fd1952b45b5a62ea952b5427fa99", "da24e7f4c359214b64fbf963cc877cef",
        "5cdf24b3d9394ef5ae3278bcb7657599", 110)
    angry = format_name(emotion=5, intensity=1, statement=2, repetition=2, actor=6)
    assert _fingerprint(monkeypatch, tmp_path, angry, clip_module.VideoFormat(640, 360)) == (
        "ba0ce36a23570774ee664317df883538", "04d40ce4ebe24c7836b53184697fc53a",
        "8c949c4b115b78eb22d96aac085d7f75", 108)


def test_attributes_are_drawn_in_range_and_colours_are_the_default_draws():
    table = pd.DataFrame(actor_table(0, 99))
    assert list(table.columns) == ["actor", "sex", "age", "size", *INDEPENDENT]
    assert (table.sex == np.where(table.actor % 2, "male", "female")).all()       # RAVDESS's parity
    assert table.age.between(20, 75).all() and (table.age == table.age.round()).all()
    assert table["size"].between(0, 1).all()
    assert table.age.min() < 25 and table.age.max() > 70 and table["size"].min() < 0.05 and table["size"].max() > 0.95
    assert set(age_band(table.age)) == {0, 1, 2, 3}
    for a in (1, 2, 57, 99):
        person, (base, picks) = make_person(0, a), draw_actor(0, a)
        # skin, iris and lips are the default actor's own draws: nothing about sex, age or size
        assert (person.skin, person.iris, person.lips, person.nose_len, person.tilt) == \
               (base.skin, base.iris, base.lips, base.nose_len, base.tilt)
        assert {k: person.attributes[k] for k in ("skin_tone", "iris_colour", "lip_colour")} == \
               {k: picks[k] for k in ("skin_tone", "iris_colour", "lip_colour")}
    assert make_person(0, 5) == make_person(0, 5) and make_person(1, 5) != make_person(0, 5)


def test_colours_are_independent_of_sex_age_and_size():
    t = pd.DataFrame(actor_table(0, 80))
    t["age_band"] = age_band(t.age)
    t["size_band"] = size_band(t["size"])
    for group in ("sex", "age_band", "size_band"):
        for _, g in t.groupby(group):
            for col in ("skin_tone", "hair_colour", "iris_colour"):
                assert g[col].nunique() >= 2, (group, col)
    # and no attribute predicts a colour much better than chance: the share of the most common
    # skin tone within a sex or age band stays near its share overall
    overall = t.skin_tone.value_counts(normalize=True).max()
    for group in ("sex", "age_band"):
        assert t.groupby(group).skin_tone.agg(lambda s: s.value_counts(normalize=True).max()).max() < overall + 0.25


def _f0_hz(x: np.ndarray, lo: float = 60, hi: float = 400, win: float = 0.04) -> float:
    """Median F0 of the loud 40 ms frames, from each frame's autocorrelation peak."""
    n, out = int(win * SR), []
    for s0 in range(0, len(x) - n, n // 2):
        w = x[s0:s0 + n] - x[s0:s0 + n].mean()
        if np.sqrt((w ** 2).mean()) < 0.02:
            continue
        ac = np.correlate(w, w, "full")[n - 1:]
        k = int(SR / hi) + int(np.argmax(ac[int(SR / hi):int(SR / lo)]))
        if ac[k] > 0.3 * ac[0]:
            out.append(SR / k)
    return float(np.median(out))


def _envelope_centroid(x: np.ndarray, n: int = 1024) -> float:
    """Centroid (Hz, 200-4000) of the long-term spectrum's envelope: the cepstrum cut below the
    harmonics' quefrency, so it follows the formants and not F0."""
    frames = np.lib.stride_tricks.sliding_window_view(x, n)[::n // 2]
    frames = frames[np.sqrt((frames ** 2).mean(1)) > 0.02] * np.hanning(n)
    cep = np.fft.irfft(np.log(np.mean(np.abs(np.fft.rfft(frames, axis=1)) ** 2, 0) + 1e-12))
    cep[30:-30] = 0
    env, f = np.exp(np.fft.rfft(cep).real), np.fft.rfftfreq(n, 1 / SR)
    band = (f > 200) & (f < 4000)
    return float((f[band] * env[band]).sum() / env[band].sum())


def _speak(male: bool, age: float, size: float):
    """Actor 1's voice with these attributes and the same chance draws: only the attributes differ."""
    from fegan.synth.voice import synthesize_voice

    person = dataclasses.replace(make_person(0, 1), **voice_of(male, age, size, np.random.default_rng(0)))
    return synthesize_voice(person, emotion_style(1, 1)[1], 1, np.random.default_rng(1), SR)


@pytest.mark.parametrize("male", [True, False])
def test_a_bigger_body_lowers_f0_and_formants_in_the_audio(male):
    small, big = _speak(male, 30, 0.0), _speak(male, 30, 1.0)
    f0_small, f0_big = _f0_hz(small.audio), _f0_hz(big.audio)
    assert f0_big < 0.93 * f0_small                                   # ~2 semitones
    assert _envelope_centroid(big.audio) < 0.92 * _envelope_centroid(small.audio)
    assert (80 < f0_big < f0_small < 160) if male else (150 < f0_big < f0_small < 260)


def test_age_moves_f0_by_sex_and_slows_and_roughens_the_voice():
    # women's F0 falls with age; men's rises a little past 45 (measured on the audio)
    assert _f0_hz(_speak(False, 75, 0.5).audio) < 0.9 * _f0_hz(_speak(False, 25, 0.5).audio)
    assert _f0_hz(_speak(True, 75, 0.5).audio) > 1.05 * _f0_hz(_speak(True, 45, 0.5).audio)
    young, old = _speak(True, 22, 0.5), _speak(True, 72, 0.5)
    assert old.speech_end - old.speech_start > 1.15 * (young.speech_end - young.speech_start)
    v_young, v_old = (voice_of(True, age, 0.5, np.random.default_rng(0)) for age in (22, 72))
    assert v_old["breath"] > v_young["breath"] + 0.07 and v_old["jitter"] > 3 * v_young["jitter"]
    # and across the population, within each sex, F0 and the formant scale fall with size
    people = [make_person(0, a) for a in range(1, 81)]
    for male in (True, False):
        group = [p for p in people if p.male == male]
        size = [p.attributes["size"] for p in group]
        assert spearmanr([p.f0 for p in group], size)[0] < -0.3
        assert spearmanr([p.tract for p in group], size)[0] < -0.8
    assert max(p.f0 for p in people if p.male) < min(p.f0 for p in people if not p.male)


def _aligned_crops(actors, size=32):
    """One neutral frame per actor at 480x360, aligned and cropped as the faces stage does, with
    the same crop of the clip's background alone (what of the crop is the person)."""
    fc = FaceCropper("hog", 1, 0, size, 0.4)
    out = []
    for a in actors:
        person = make_person(0, a)
        look = make_look(np.random.default_rng([0, 2, a, 1, 1, 1, 1]), 480, 360)
        img = np.asarray(render_frame(person, Expression(), FrameState(), look))
        found = fc.detect(img)
        if found:
            shape = fc.landmarks(img, found[0][0])
            crop = [dlib.get_face_chip(np.asarray(x), shape, size=size, padding=0.4).astype(np.float32)
                    for x in (img, look.background)]
            out.append((person, *crop))
    return out


def test_size_and_age_show_in_32px_face_crops():
    crops = _aligned_crops(range(1, 41))
    assert len(crops) >= 36                                             # dlib finds them at full size
    # width: how much of the crop's middle rows (eyes to cheeks) is the person, not the wall
    width = [float((np.abs(face - wall).max(2) > 12)[10:22].mean()) for _, face, wall in crops]
    assert spearmanr(width, [p.attributes["size"] for p, _, _ in crops])[0] > 0.5
    # grey hair: the top rows' saturation falls with age (receding men show skin there)
    haired = [(p, face) for p, face, _ in crops if p.hair_style != 3]
    sat = [np.asarray(Image.fromarray(face.astype(np.uint8)).convert("HSV"))[1:4, 12:20, 1].mean() for _, face in haired]
    assert spearmanr(sat, [p.attributes["age"] for p, _ in haired])[0] < -0.6


def test_a_bigger_body_draws_a_wider_face_and_age_greys_the_hair():
    base = make_person(0, 2)

    def face(age, size):
        params, _ = face_of(base, False, age, size, np.random.default_rng(0))
        patch = np.asarray(draw_face(dataclasses.replace(base, **{**params, "hair_style": 0}), Expression(), FrameState(), 60))
        return params, patch

    (small, p_small), (big, p_big) = face(30, 0.0), face(30, 1.0)
    cheeks = int(p_small.shape[0] / 2 + 0.3 * 60)                      # below the ears, above the neck
    assert (p_big[cheeks, :, 3] > 0).sum() > 1.3 * (p_small[cheeks, :, 3] > 0).sum()
    young, old = face(22, 0.5)[0], face(72, 0.5)[0]
    assert old["hair"] == GREY != young["hair"]
    assert young["lines"] == 0 < old["lines"]
    assert face_of(base, True, 75, 0.5, np.random.default_rng(0))[0]["hair_style"] == 3   # receding
    assert all(face_of(base, False, 75, 0.5, np.random.default_rng(s))[0]["hair_style"] != 3 for s in range(20))


def test_synthesize_records_the_attributes_in_the_truth_and_actors_csv(tmp_path):
    cfg = SynthConfig(out_dir=str(tmp_path / "raw"), truth=str(tmp_path / "truth.parquet"), actors=3,
                      emotions=[1], intensities=[1], statements=[1], repetitions=[1], width=320, height=240,
                      population=True, workers=1)
    cfg.validate()
    truth = synthesize(cfg, progress=False)
    csv = pd.read_csv(tmp_path / "raw" / "actors.csv")
    assert list(csv.columns) == ["actor", "sex", "age", "size", *INDEPENDENT]
    assert csv.to_dict("records") == actor_table(0, 3)
    for row in truth.itertuples():
        person = make_person(0, row.actor).attributes
        assert {k: getattr(row, k) for k in person} == person
        assert row.f0_hz == pytest.approx(make_person(0, row.actor).f0)     # neutral: the actor's own F0
    read = read_actors(cfg.out_dir, "ravdess", [1, 2, 3])
    assert read[["actor", "sex", "age", "size"]].to_dict("records") == csv[["actor", "sex", "age", "size"]].to_dict("records")
    assert (read.size_band >= 0).all() and (read.age_band >= 0).all()
    # the default mode writes neither the file nor the columns
    plain = SynthConfig(out_dir=str(tmp_path / "plain"), truth=str(tmp_path / "plain.parquet"), actors=1,
                        emotions=[1], intensities=[1], statements=[1], repetitions=[1], width=320, height=240, workers=1)
    t = synthesize(plain, progress=False)
    assert not (tmp_path / "plain" / "actors.csv").exists() and not set(INDEPENDENT + ["sex", "age"]) & set(t.columns)


def test_up_to_99_actors_in_population_mode_only():
    cfg = SynthConfig(actors=99, population=True, emotions=[1], intensities=[1], statements=[1], repetitions=[1])
    cfg.validate()
    assert parse_name(Path(cfg.names()[-1].relpath).stem).actor == 99
    assert cfg.names()[-1].relpath == "Actor_99/01-01-01-01-01-01-99.mp4"
    with pytest.raises(FeganError, match=r"synth.actors must be 1..99 in population mode, got 100"):
        SynthConfig(actors=100, population=True).validate()
    with pytest.raises(FeganError, match=r"^synth.actors must be 1..24, got 25$"):
        SynthConfig(actors=25).validate()
    with pytest.raises(FeganError, match="synth.population must be true or false"):
        SynthConfig(population="yes").validate()


def test_the_population_profile_is_valid_and_speaker_disjoint():
    values = profile_values("synthetic-population")
    synth = {k.split(".", 1)[1]: v for k, v in values.items() if k.startswith("synth.")}
    cfg = SynthConfig(**synth)
    cfg.validate()
    assert cfg.population and cfg.actors >= 64 and cfg.out_dir == values["data.raw_dir"]
    assert len(cfg.names()) == 8 * cfg.actors                          # 4 emotions x 2 statements
    assert values["data.split"] == "speaker" and values["data.test_speakers"] >= 16
    assert cfg.actors - values["data.test_speakers"] - values["data.val_speakers"] >= 48
    assert values["faces.downscale"] == 1 and values["faces.image_size"] in (32, 48, 64)
