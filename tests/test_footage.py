"""Real footage: every frame size, pixel format, rotation, codec, container, audio layout and
rate, frame timing and framing of the face in ``footage.VARIANTS`` gives a usable clip with
face crops or a refusal with its reason; an exception nobody foresaw costs one clip."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from factory import decode_all
from footage import VARIANTS, build_corpus, squeeze
from safetensors.numpy import load_file
from test_preprocess import _pipeline

from fegan import paths
from fegan.preprocess import demux as demux_mod
from fegan.preprocess import faces as faces_mod
from fegan.preprocess import features as features_mod
from fegan.preprocess import vad as vad_mod
from fegan.preprocess.faces import FaceCropper, FacesConfig, run_faces
from fegan.preprocess.guard import REASON_CHARS, Guard, Unforeseen, reason_of

BY_NAME = {v.name: v for v in VARIANTS}


@pytest.fixture(scope="module")
def source(tiny_dataset):
    """The clip every variant is made from (1280x720, 30 fps, AAC 48 kHz) and its decoded frames and audio."""
    cfg, _ = tiny_dataset
    path = sorted(Path(cfg.out_dir).rglob("*.mp4"))[0]
    return path, *decode_all(path)


@pytest.fixture(scope="module")
def footage(source, tmp_path_factory):
    """The corpus through demux, vad, features and faces: variant name -> its rows of the four tables."""
    _, frames, audio = source
    root = tmp_path_factory.mktemp("footage")
    corpus = build_corpus(root / "raw", frames, audio)
    clips, vad, feats, faces = _pipeline(root / "raw", root / "out", workers=2)
    crops = load_file(str(root / "out" / paths.FACES))["faces"]
    return root, {v.name: cid for cid, v in corpus.items()}, clips, vad, feats, faces, crops


def _center(crop: np.ndarray) -> np.ndarray:
    """The middle half of a crop: the face itself, without the padding around it (which
    holds whatever the frame had there, or nothing where the frame ends)."""
    a = crop.shape[0] // 4
    return crop[a:-a, a:-a].astype(np.float32).ravel()


@pytest.fixture(scope="module")
def likeness(source):
    """How much a crop looks like the source's face: its best correlation with the source
    clip's own crops (every third frame), on the face region. The source's own frames give
    0.99-1.0; the same actor with another expression 0.91, another actor 0.68, the source's
    frame squeezed as an anamorphic file stores it 0.79."""
    _, frames, _ = source
    cropper = FaceCropper()
    own = [cropper.crop(f, found[0][0]) for f in frames[::3] if (found := cropper.detect(f))]

    def score(crop: np.ndarray) -> float:
        return max(float(np.corrcoef(_center(crop), _center(o))[0, 1]) for o in own)
    score.cropper = cropper
    return score


LIKE = 0.93


@pytest.mark.parametrize("name", [v.name for v in VARIANTS])
def test_every_kind_of_footage_gives_faces_or_its_reason(footage, likeness, name):
    root, ids, clips, vad, feats, faces, crops = footage
    v, cid = BY_NAME[name], ids[name]
    c = clips.set_index("clip_id").loc[cid]
    f = faces[faces.clip_id == cid]
    if v.expect != "ok":
        reasons = [c.reason] + list(f.reason)
        assert any(r.startswith(v.expect) for r in reasons), (name, reasons)
        assert (f.row < 0).all()
        return
    assert c.status == "ok", (name, c.reason)
    assert c.sample_rate == v.rate and abs(c.duration_s - (v.audio_s or v.loop_to_s or 3.4)) < 0.35, name
    assert vad.set_index("clip_id").loc[cid, "voiced_s"] > 1.5
    assert feats.set_index("clip_id").loc[cid, "row"] >= 0
    usable = f[f.row >= 0]
    # all three sampled frames have the face, except where the person turns away for half the clip
    assert len(usable) == (1 if name == "turns-away" else 3), (name, list(f.reason))
    # the crops are the source's face, upright and with square pixels (a squeezed face
    # scores 0.79, see `likeness`)
    scores = [likeness(crops[k].transpose(1, 2, 0)) for k in usable.row]     # (3, S, S) -> (S, S, 3)
    assert min(scores) > LIKE, (name, scores)


def test_likeness_tells_a_squeezed_face(source, likeness):
    """The check above can fail: the source's frame as an anamorphic file stores it, read
    without its pixel aspect, is not the source's face by `likeness`."""
    _, frames, _ = source
    squeezed = squeeze(frames[40:41], 720, 576)[0]
    found = likeness.cropper.detect(squeezed)
    assert found and likeness(likeness.cropper.crop(squeezed, found[0][0])) < LIKE
    # the frame itself is not among the source's crops (every third frame), and passes
    assert likeness(likeness.cropper.crop(frames[40], likeness.cropper.detect(frames[40])[0][0])) > LIKE


def test_displayed_shape_is_recorded(footage):
    """The clip table records the picture as shown: anamorphic pixels made square."""
    _, ids, clips, *_ = footage
    c = clips.set_index("clip_id")
    assert tuple(c.loc[ids["anamorphic-pal-16x9"], ["width", "height"]]) == (1024, 576)
    assert tuple(c.loc[ids["853x479-odd"], ["width", "height"]]) == (853, 479)
    assert tuple(c.loc[ids["4k"], ["width", "height"]]) == (3840, 2160)
    assert abs(c.loc[ids["23.976fps"], "fps"] - 23.976) < 1e-3


def test_small_faces_are_found_at_full_resolution(footage, tmp_path):
    """A face a tenth of the frame's height: found by the fallback's full-resolution search,
    where ``faces.downscale: 1`` finds it too; without the fallback, refused with a reason
    that names the settings."""
    root, ids, clips, vad, _, faces, _ = footage
    cid = ids["small-face"]
    mine = faces[faces.clip_id == cid]
    assert len(mine) == 3 and (mine.search == "full").all() and ((mine.right - mine.left) < 0.12 * 720).all()
    one = clips.clip_id == cid

    def alone(name, **cfg):
        return run_faces(FacesConfig(workers=1, **cfg), clips[one], vad[one], root / "raw", tmp_path / f"{name}.st",
                         tmp_path / f"{name}.parquet", min_clips=0, progress=False)
    off = alone("off", fallback=False)
    reason = off[off.frame == -1].reason.iloc[0]
    assert "faces under ~145 px" in reason and "faces.fallback" in reason and "faces.downscale" in reason
    default, full = alone("default"), alone("full", downscale=1, fallback=False)
    box = ["left", "top", "right", "bottom"]
    assert (default.search == "full").all() and (full.search == "fast").all() and (full.row >= 0).sum() == 3
    assert default[box].equals(full[box])


# ---------------------------------------------------------------- the per-clip guard

def test_reason_is_one_line_with_the_exception_named():
    assert reason_of(TypeError("bad arguments\n  array([[1, 2]])\n")) == "unexpected TypeError: bad arguments"
    assert reason_of(KeyError()) == "unexpected KeyError"
    long = reason_of(ValueError("x" * 1000))
    assert len(long) == REASON_CHARS and long.endswith("...") and "\n" not in long
    out = Guard(int)("not a number")
    assert isinstance(out, Unforeseen) and out.reason.startswith("unexpected ValueError: invalid literal")
    assert "Traceback" in out.traceback and Guard(int)("7") == 7


def _inject(monkeypatch, module, name, hit):
    """``module.name`` raising a two-line RuntimeError where ``hit(args)`` is true."""
    real = getattr(module, name)

    def boom(*args, **kwargs):
        if hit(args):
            raise RuntimeError(f"injected into {module.__name__.rsplit('.', 1)[-1]}\nsecond line")
        return real(*args, **kwargs)
    monkeypatch.setattr(module, name, boom)


@pytest.fixture(scope="module")
def four_clips(tiny_dataset, tmp_path_factory):
    cfg, _ = tiny_dataset
    root = tmp_path_factory.mktemp("four")
    for p in sorted(Path(cfg.out_dir).rglob("*.mp4"))[:8]:
        (root / p.parent.name).mkdir(exist_ok=True)
        (root / p.parent.name / p.name).write_bytes(p.read_bytes())
    return root


def test_an_unforeseen_exception_costs_one_clip_per_stage(four_clips, tmp_path, monkeypatch):
    """One clip raises in each of demux, vad, features and faces: each is recorded with its
    reason, the traceback is in the stage's log, the other clips go through, and the outputs
    do not depend on the worker count."""
    names = sorted(p.stem for p in four_clips.rglob("*.mp4"))
    victim = dict(demux=names[0], vad=names[1], features=names[2], faces=names[3])
    _inject(monkeypatch, demux_mod, "read_audio_probed", lambda a: victim["demux"] in str(a[0]))
    # vad and features read a clip's samples by offset; the offsets are known once demux ran
    clean = tmp_path / "clean"
    clips = _pipeline(four_clips, clean, workers=1)[0]
    offset = dict(zip(clips.clip_id, clips.audio_offset))
    _inject(monkeypatch, vad_mod, "clip_audio", lambda a: a[1] == offset[victim["vad"]])
    _inject(monkeypatch, features_mod, "clip_audio", lambda a: a[1] == offset[victim["features"]])
    _inject(monkeypatch, faces_mod, "read_frames", lambda a: victim["faces"] in str(a[0]))
    one = _pipeline(four_clips, tmp_path / "one", workers=1)
    out = tmp_path / "out"
    clips, vad, feats, faces = _pipeline(four_clips, out, workers=2)
    for a, b in zip(one, (clips, vad, feats, faces)):
        pd.testing.assert_frame_equal(a, b)
    for name in (paths.AUDIO, paths.FEATURES, paths.FACES):
        assert (out / name).read_bytes() == (tmp_path / "one" / name).read_bytes(), name
    reason = {
        "demux": dict(zip(clips.clip_id, clips.reason))[victim["demux"]],
        "vad": dict(zip(vad.clip_id, vad.reason))[victim["vad"]],
        "features": dict(zip(feats.clip_id, feats.reason))[victim["features"]],
        "faces": faces[(faces.clip_id == victim["faces"]) & (faces.frame == -1)].reason.iloc[0],
    }
    for stage, r in reason.items():
        assert r == f"unexpected RuntimeError: injected into {stage}", (stage, r)
        log = (out / {"demux": paths.CLIPS, "vad": paths.VAD, "features": paths.FEATURES_INDEX,
                      "faces": paths.FACES_INDEX}[stage]).with_name(f"{stage}.log")
        text = log.read_text()
        assert f"## {victim[stage]}: unexpected RuntimeError" in text and "Traceback" in text
        assert "second line" in text and text.count("\n## ") == 1, stage
    # every clip a stage let through and nobody broke has its faces and features (faces and
    # features both follow vad, not each other)
    assert set(faces.clip_id[faces.row >= 0]) == set(names) - {victim["demux"], victim["vad"], victim["faces"]}
    assert set(feats.clip_id[feats.row >= 0]) == set(names) - {victim["demux"], victim["vad"], victim["features"]}
    # the features of the clips that went through are the same as without the failures
    ref = load_file(str(clean / paths.FEATURES))["features"]
    got = load_file(str(out / paths.FEATURES))["features"]
    ref_rows = pd.read_parquet(clean / paths.FEATURES_INDEX).set_index("clip_id").row
    for k, cid in enumerate(feats.clip_id[feats.row >= 0]):
        assert np.array_equal(got[k], ref[ref_rows[cid]])
    # a run where nothing fails removes the stale logs
    monkeypatch.undo()
    _pipeline(four_clips, out, workers=2)
    assert not list(out.rglob("*.log"))
