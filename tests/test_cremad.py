"""CREMA-D (`data.format: cremad`): names, the demographics file, and a corpus in CREMA-D's layout
(``VideoFlash/AAAA_SSS_EEE_LL.flv``, 480x360 Flash video with MP3, ``VideoDemographics.csv``)
built from the tiny synthetic set and run through demux, vad and faces."""
from __future__ import annotations

import dataclasses
import shutil
from fractions import Fraction
from pathlib import Path

import av
import dlib
import numpy as np
import pytest
from factory import decode_all
from footage import Variant, build, cover, shrink
from safetensors.numpy import load_file

from fegan.datasets.actors import read_actors
from fegan.datasets.adapters import scan
from fegan.datasets.cremad import EMOTIONS, LEVELS, SENTENCES, InvalidName, parse_name, read_demographics
from fegan.datasets.ravdess import format_name
from fegan.errors import FeganError
from fegan.media import read_frames
from fegan.preprocess.demux import DataConfig, demux
from fegan.preprocess.faces import FacesConfig, run_faces
from fegan.preprocess.vad import VadConfig, run_vad
from fegan.profiles import profile_values

# CREMA-D name -> the tiny synthetic set's actor (1..4) whose clip of that emotion it is made from
CLIPS = {"1001_IEO_ANG_HI": 1, "1002_IEO_HAP_LO": 2, "1003_TIE_SAD_XX": 3, "1004_DFA_ANG_MD": 4}
RAVDESS_EMOTION = {"ANG": 5, "HAP": 3, "SAD": 4}
# 1004 is not listed (gender and age unknown); 1005 is listed but has no clip
DEMOGRAPHICS = """ActorID,Age,Sex,Race,Ethnicity
1001,51,Male,Caucasian,Not Hispanic
1002,21,Female,Caucasian,Not Hispanic
1003,36,Male,African American,Not Hispanic
1005,62,Female,Asian,Hispanic
"""
# CREMA-D's codecs: Sorenson Spark (FLV1; FFmpeg's "flv" encoder) at 30 fps, MP3 at 44.1 kHz
# mono. At FFmpeg's default 200 kb/s the P-frames smear a face this small past HOG's reach
# after the first keyframe; at 600k it stays a face.
FLV = Variant("cremad", ext="flv", vcodec="flv", acodec="libmp3lame", rate=44100, fps=Fraction(30),
              options={"b": "600k"})
# HOG's box (brows to chin, about the face's width) in the 480x360 frame: a head-and-shoulders
# shot as CREMA-D's, its face under the fast search's smallest, ~145 px (faces.downscale 2), and
# over the full-resolution search's, ~73
FACE_W = 95
_DETECTOR = dlib.get_frontal_face_detector()


def _cremad_frames(frames: list[np.ndarray]) -> list[np.ndarray]:
    """The 1280x720 clip as a 480x360 one, the face shrunk (as a lens would) to ``FACE_W``."""
    small = cover(frames, 480, 360)
    box = max(_DETECTOR(small[len(small) // 2], 0), key=lambda r: r.area())
    return shrink(small, box.width() / FACE_W) if box.width() > FACE_W else small


@pytest.fixture(scope="module")
def corpus(tiny_dataset, tmp_path_factory):
    """The CREMA-D-layout folder and, per clip, the source's audio (48 kHz) it was made from."""
    cfg, _ = tiny_dataset
    root = tmp_path_factory.mktemp("cremad") / "CREMA-D"
    sources = {}
    for name, actor in CLIPS.items():
        emotion = RAVDESS_EMOTION[name.split("_")[2]]
        src = Path(cfg.out_dir) / format_name(emotion=emotion, intensity=1, statement=1, repetition=1,
                                              actor=actor).relpath
        frames, audio = decode_all(src)
        build(dataclasses.replace(FLV, frames=_cremad_frames), root / "VideoFlash" / f"{name}.flv", frames, audio)
        sources[name] = audio
    (root / "VideoFlash" / "1001_XYZ_ANG_HI.flv").write_bytes(b"")      # no such sentence
    for rel in ("AudioWAV/1001_IEO_ANG_HI.wav", "AudioMP3/1001_IEO_ANG_HI.mp3"):   # not video: not clips
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"RIFF")
    (root / "VideoDemographics.csv").write_text(DEMOGRAPHICS)
    return root, sources


@pytest.fixture(scope="module")
def pipeline(corpus, tmp_path_factory):
    """The corpus through demux and vad: the clip table, the decoded audio, the vad table."""
    root, _ = corpus
    out = tmp_path_factory.mktemp("cremad_out")
    clips = demux(DataConfig(format="cremad", raw_dir=str(root), min_clips=1, workers=1), out / "clips.parquet",
                  out / "audio.safetensors", progress=False)
    vad = run_vad(VadConfig(workers=1), clips, out / "audio.safetensors", out / "vad.parquet", progress=False)
    return clips, load_file(str(out / "audio.safetensors"))["audio"], vad


# ---------------------------------------------------------------- names

@pytest.mark.parametrize("code, ravdess", [("ANG", 5), ("DIS", 7), ("FEA", 6), ("HAP", 3), ("NEU", 1), ("SAD", 4)])
@pytest.mark.parametrize("level, intensity", [("LO", 1), ("MD", 2), ("HI", 3), ("XX", 0)])
def test_every_emotion_and_level(code, ravdess, level, intensity):
    n = parse_name(f"1042_IEO_{code}_{level}")
    assert (n.actor, n.sentence, n.statement, n.emotion_code, n.emotion, n.intensity) == \
        (1042, "IEO", 1, code, ravdess, intensity)
    assert n.stem == f"1042_IEO_{code}_{level}"
    assert n.emotion_name == {"ANG": "angry", "DIS": "disgust", "FEA": "fearful", "HAP": "happy",
                              "NEU": "neutral", "SAD": "sad"}[code]


def test_sentences_are_numbered_in_crema_d_order_and_names_are_frozen():
    assert [parse_name(f"1091_{s}_NEU_XX").statement for s in SENTENCES] == list(range(1, 13))
    assert (parse_name("1001_DFA_ANG_XX").statement, parse_name("1091_WSI_SAD_XX").statement) == (9, 12)
    assert len(EMOTIONS) == 6 and set(LEVELS.values()) == {0, 1, 2, 3}
    assert parse_name("1001_dfa_ang_xx") == parse_name("1001_DFA_ANG_XX")
    with pytest.raises(dataclasses.FrozenInstanceError):
        parse_name("1001_DFA_ANG_XX").actor = 1002


@pytest.mark.parametrize("stem, why", [
    ("1001_DFA_ANG", "not a CREMA-D name"),
    ("101_DFA_ANG_XX", "not a CREMA-D name"),
    ("1001-DFA-ANG-XX", "not a CREMA-D name"),
    ("1000_DFA_ANG_XX", r"invalid CREMA-D name 1000_DFA_ANG_XX: actor 1000 \(1001..1091\)"),
    ("1092_DFA_ANG_XX", "actor 1092"),
    ("1001_XYZ_ANG_XX", "sentence XYZ"),
    ("1001_DFA_SUR_XX", "emotion SUR"),
    ("1001_DFA_ANG_ZZ", r"level ZZ \(one of LO MD HI XX\)"),
])
def test_bad_names_say_why(stem, why):
    with pytest.raises(InvalidName, match=why):
        parse_name(stem)


# ---------------------------------------------------------------- demographics

def test_demographics_are_read(corpus):
    root, _ = corpus
    t = read_demographics(root)
    assert list(t.columns) == ["actor", "sex", "age", "race", "ethnicity"]
    assert t.actor.tolist() == [1001, 1002, 1003, 1005]
    assert t.sex.tolist() == ["male", "female", "male", "female"]
    assert t.age.tolist() == [51.0, 21.0, 36.0, 62.0]
    assert t.race.tolist() == ["Caucasian", "Caucasian", "African American", "Asian"]
    assert t.ethnicity.iloc[3] == "Hispanic"


@pytest.mark.parametrize("text, why", [
    (None, "no VideoDemographics.csv in "),
    ("", "not a readable CSV"),
    ("ActorID,Age,Race\n1001,51,Caucasian\n", r"lacks column\(s\) Sex, Ethnicity \(want ActorID,Age,Sex,Race,Ethnicity\)"),
    ("ActorID,Age,Sex,Race,Ethnicity\n1001,51,M,Caucasian,Not Hispanic\n", "bad sex 'M' on line 2"),
    ("ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,C,N\n1002,old,Female,C,N\n", "bad age 'old' on line 3"),
    ("ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,C,N\n1001,52,Male,C,N\n", "actor 1001 listed twice"),
])
def test_a_bad_demographics_file_is_one_clear_error(tmp_path, text, why):
    if text is not None:
        (tmp_path / "VideoDemographics.csv").write_text(text)
    with pytest.raises(FeganError, match=why) as e:
        read_demographics(tmp_path)
    assert "\n" not in str(e.value)


# ---------------------------------------------------------------- the clip table

def test_scan_reads_labels_and_gender(corpus, tmp_path):
    root, _ = corpus
    t = scan(root, "cremad").set_index("clip_id")
    assert sorted(t.path) == sorted([f"VideoFlash/{n}.flv" for n in CLIPS] + ["VideoFlash/1001_XYZ_ANG_HI.flv"])
    ok = t[t.status == "ok"]
    got = {cid: (r.actor, r.gender, r.emotion, r.intensity, r.statement, r.repetition) for cid, r in ok.iterrows()}
    assert got == {"1001_IEO_ANG_HI": (1001, "male", 5, 3, 1, 1),
                   "1002_IEO_HAP_LO": (1002, "female", 3, 1, 1, 1),
                   "1003_TIE_SAD_XX": (1003, "male", 4, 0, 2, 1),
                   "1004_DFA_ANG_MD": (1004, "unknown", 5, 2, 9, 1)}       # not in the demographics file
    bad = t.loc["1001_XYZ_ANG_HI"]
    assert bad.status == "error" and "sentence XYZ" in bad.reason
    # without the demographics file the labels stand and gender is unknown; a broken one stops the scan
    bare = tmp_path / "bare"
    shutil.copytree(root / "VideoFlash", bare / "VideoFlash")
    t2 = scan(bare, "cremad")
    assert (t2.gender == "unknown").all() and (t2.status == "ok").sum() == 4
    (bare / "VideoDemographics.csv").write_text("ActorID,Age\n1001,51\n")
    with pytest.raises(FeganError, match="lacks column"):
        scan(bare, "cremad")


def test_the_corpus_is_crema_d_flash_video(corpus):
    root, _ = corpus
    path = root / "VideoFlash" / "1001_IEO_ANG_HI.flv"
    with av.open(str(path)) as c:
        assert c.format.name == "flv"
        v, a = c.streams.video[0], c.streams.audio[0]
        assert (v.codec_context.name, v.width, v.height) == ("flv", 480, 360)
        assert (a.codec_context.name in ("mp3", "mp3float"), a.sample_rate, a.channels) == (True, 44100, 1)
    # the MP3's priming puts the first video frame after 0 (25 ms), where FFmpeg refuses a backward
    # seek to the start: frames near the start are still read
    got = read_frames(path, [0.0, 0.1, 2.0])
    (t0, f0), (t1, _), (t2, _) = got
    assert 0 < t0 < 0.05 and abs(t1 - 0.1) < 0.05 and abs(t2 - 2.0) < 0.05, [t for t, _ in got]
    assert f0.shape == (360, 480, 3)


def test_demux_decodes_flash_video_with_mp3(corpus, pipeline):
    _, sources = corpus
    clips, audio, vad = pipeline
    ok = clips[clips.status == "ok"].set_index("clip_id")
    assert sorted(ok.index) == sorted(CLIPS)
    for cid, src in sources.items():
        r = ok.loc[cid]
        assert (r.sample_rate, r.width, r.height, r.fps) == (44100, 480, 360, 30.0)
        # the source's length (MP3 adds its encoder's priming, a few ms)
        assert abs(r.duration_s - len(src) / 48000) < 0.1, (cid, r.duration_s)
        wave = audio[r.audio_offset:r.audio_offset + r.audio_len]
        assert r.audio_len == pytest.approx(r.duration_s * 32000, abs=2)
        # not silent: the source's loudness, through MP3 and the resampling
        rms, src_rms = float(np.sqrt(np.mean(wave ** 2))), float(np.sqrt(np.mean(src ** 2)))
        assert src_rms > 0.01 and 0.8 < rms / src_rms < 1.25, (cid, rms, src_rms)
    v = vad.set_index("clip_id").loc[list(CLIPS)]
    assert (v.status == "ok").all() and (v.voiced_s > 0.5).all(), v.voiced_s


def _faces(corpus, pipeline, out: Path, **cfg):
    root, _ = corpus
    clips, _, vad = pipeline
    faces = run_faces(FacesConfig(workers=1, **cfg), clips, vad, root, out / "f.safetensors", out / "f.parquet",
                      progress=False)
    return faces[faces.frame >= 0], load_file(str(out / "f.safetensors"))["faces"]


def test_the_profile_finds_the_face_in_every_frame(corpus, pipeline, tmp_path):
    """CREMA-D's faces are under the fast search's smallest at the default ``faces.downscale``
    2 (~145 px wide): the profile searches the whole 480x360 frame, where HOG's smallest is ~73."""
    downscale = profile_values("cremad", str(corpus[0]))["faces.downscale"]
    assert downscale == 1
    faces, crops = _faces(corpus, pipeline, tmp_path, downscale=downscale)
    for cid in CLIPS:
        mine = faces[faces.clip_id == cid]
        assert len(mine) == 3 and (mine.status == "ok").all() and (mine.search == "fast").all(), (cid, mine)
        width = mine.right - mine.left
        assert width.between(0.8 * FACE_W, 1.25 * FACE_W).all(), (cid, list(width))
        assert crops[mine.row.to_numpy()].std() > 10           # a picture, not a flat patch


def test_the_default_settings_reach_them_by_the_fallback(corpus, pipeline, tmp_path):
    """At the defaults every clip still gives crops: a clip whose fast search finds nothing is
    searched at full resolution. (The fast search can catch a face at its limit in one frame
    of three, in a box of its smallest size, ~145 px; that clip then keeps one crop and goes no
    further down the ladder: why the profile sets ``faces.downscale: 1``.)"""
    faces, _ = _faces(corpus, pipeline, tmp_path)
    ok = faces[faces.status == "ok"]
    assert set(ok.clip_id) == set(CLIPS)
    assert set(ok.search) <= {"fast", "full"} and (ok.search == "full").any()
    full = ok[ok.search == "full"]
    assert (full.right - full.left).between(0.8 * FACE_W, 1.25 * FACE_W).all()
    assert full.groupby("clip_id").size().eq(3).all()       # the fallback found every frame of its clips


def test_attributes_come_from_the_demographics_file(corpus, pipeline):
    root, _ = corpus
    clips, _, _ = pipeline
    t = read_actors(root, "cremad", clips.actor[clips.status == "ok"])
    assert t.actor.tolist() == [1001, 1002, 1003, 1004]
    assert t.sex.tolist() == ["male", "female", "male", "unknown"]
    assert t.age_band.tolist() == [2, 0, 1, -1]           # 51: 45-59, 21: under 30, 36: 30-44, unlisted
    assert t.age.iloc[:3].tolist() == [51.0, 21.0, 36.0] and np.isnan(t.age.iloc[3])
    assert (t.size_band == -1).all()
