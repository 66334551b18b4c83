"""The embedded synthetic dataset: layout, streams, faces, learnability, determinism."""
from __future__ import annotations

import hashlib
from pathlib import Path

import av
import dlib
import librosa
import numpy as np
import pytest
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fegan.datasets.ravdess import parse_name
from fegan.dlib_models import LANDMARKS_68, model_path
from fegan.synth.dataset import SynthConfig, synthesize

DETECTOR = dlib.get_frontal_face_detector()
LANDMARKS = dlib.shape_predictor(str(model_path(LANDMARKS_68)))


def _decode(path: Path):
    """Every video frame (RGB) and the mono audio of a clip, plus stream facts."""
    with av.open(str(path)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        info = dict(vcodec=v.codec_context.name, width=v.codec_context.width,
                    height=v.codec_context.height, fps=float(v.average_rate),
                    acodec=a.codec_context.name, sample_rate=a.codec_context.sample_rate,
                    channels=a.codec_context.channels)
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        c.seek(0)
        audio = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])
    return info, frames, audio


def _detect(rgb: np.ndarray):
    """dlib HOG on a half-size frame (as the faces stage will), boxes in full-size pixels."""
    small = np.ascontiguousarray(rgb[::2, ::2])
    return [(2 * r.left(), 2 * r.top(), 2 * r.right(), 2 * r.bottom()) for r in DETECTOR(small, 0)]


@pytest.fixture(scope="module")
def decoded(tiny_dataset):
    cfg, truth = tiny_dataset
    out = {}
    for row in truth.itertuples():
        info, frames, audio = _decode(Path(cfg.out_dir) / row.relpath)
        idx = [int(len(frames) * q) for q in (0.2, 0.5, 0.8)]
        boxes = [_detect(frames[i]) for i in idx]
        out[row.relpath] = dict(info=info, n_frames=len(frames), audio=audio, boxes=boxes,
                                sampled=[frames[i] for i in idx], frames=frames if row.Index < 4 else None)
    return out


def test_layout_and_labels_follow_ravdess(tiny_dataset):
    cfg, truth = tiny_dataset
    root = Path(cfg.out_dir)
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert files == sorted(n.relpath for n in cfg.names())
    assert len(files) == 4 * 3 * 2 * 2
    for f in files:
        folder, name = f.split("/")
        n = parse_name(name.removesuffix(".mp4"))
        assert folder == f"Actor_{n.actor:02d}"
        assert (n.modality, n.vocal_channel) == (1, 1)
    assert set(truth.actor) == {1, 2, 3, 4} and set(truth.emotion) == {3, 4, 5}


def test_neutral_has_no_strong_intensity():
    names = SynthConfig(actors=2, emotions=[1, 3]).names()
    assert not [n for n in names if n.emotion == 1 and n.intensity == 2]
    assert len(names) == 2 * (1 * 4 + 2 * 4)


def test_streams_have_promised_format(tiny_dataset, decoded):
    cfg, truth = tiny_dataset
    for row in truth.itertuples():
        d = decoded[row.relpath]
        assert d["info"] == dict(vcodec="h264", width=1280, height=720, fps=30.0, acodec="aac",
                                 sample_rate=48000, channels=1)
        assert d["n_frames"] == row.n_frames
        assert 3.0 <= row.duration_s <= 4.6
        # AAC adds a priming delay and pads the last frame: a few thousand samples at most
        assert abs(len(d["audio"]) / 48000 - row.duration_s) < 0.06


def test_silence_before_and_after_speech(tiny_dataset, decoded):
    cfg, truth = tiny_dataset
    for row in truth.itertuples():
        a = decoded[row.relpath]["audio"]
        sr = 48000
        assert row.speech_start_s >= 0.4 and row.duration_s - row.speech_end_s >= 0.4
        lead = a[int(0.05 * sr):int((row.speech_start_s - 0.05) * sr)]
        speech = a[int(row.speech_start_s * sr):int(row.speech_end_s * sr)]
        tail = a[int((row.speech_end_s + 0.1) * sr):]
        rms = lambda x: float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))  # noqa: E731
        assert rms(speech) > 100 * rms(lead) and rms(speech) > 100 * rms(tail)


def test_dlib_finds_one_face_in_every_clip(tiny_dataset, decoded):
    cfg, truth = tiny_dataset
    found = []
    for row in truth.itertuples():
        boxes = decoded[row.relpath]["boxes"]
        ok = [len(b) == 1 for b in boxes]
        assert sum(ok) >= 2, f"{row.relpath}: dlib found {[len(b) for b in boxes]} faces"
        found += ok
        for b in boxes:
            if len(b) == 1:  # the box is where the face was drawn
                l, t, r, bt = b[0]
                assert abs((l + r) / 2 - row.face_cx) < 0.5 * row.face_s
                assert abs((t + bt) / 2 - row.face_cy) < 0.6 * row.face_s
    assert np.mean(found) >= 0.95


def test_mouth_moves_while_voice_is_active(tiny_dataset, decoded):
    """Per frame, the visible inside of the mouth follows the loudness of the voice."""
    cfg, truth = tiny_dataset
    checked = 0
    for row in truth.itertuples():
        d = decoded[row.relpath]
        if d["frames"] is None:
            continue
        cx, my, s = int(row.face_cx), int(row.face_cy + 0.52 * row.face_s), row.face_s
        inside = []
        for f in d["frames"]:
            reg = f[my - int(0.15 * s):my + int(0.35 * s), cx - int(0.35 * s):cx + int(0.35 * s)].astype(np.int16)
            r, g = reg[..., 0], reg[..., 1]
            inside.append(((g < 40) & (r > g + 20)).mean())  # dark red: the open mouth
        inside = np.asarray(inside)
        a = d["audio"]
        rms = np.array([np.sqrt(np.mean(a[i * 1600:(i + 1) * 1600] ** 2)) for i in range(len(inside))])
        t = (np.arange(len(inside)) + 0.5) / 30.0
        speaking = (t > row.speech_start_s) & (t < row.speech_end_s)
        silent = (t < row.speech_start_s - 0.1) | (t > row.speech_end_s + 0.2)
        assert inside[speaking].mean() > 1.8 * inside[silent].mean(), row.relpath
        assert np.corrcoef(inside, rms)[0, 1] > 0.6, row.relpath
        checked += 1
    assert checked == 4


def _face_pixels(rgb, box):
    l, t, r, b = box
    crop = Image.fromarray(rgb).crop((l, t, r, b)).resize((24, 24), Image.BILINEAR)
    return np.asarray(crop, dtype=np.float32).reshape(-1) / 255.0


def _face_shape(rgb, box):
    """dlib's 68 landmarks, centred between the eyes, levelled and scaled by their distance."""
    pts = LANDMARKS(rgb, dlib.rectangle(*box)).parts()
    p = np.array([(q.x, q.y) for q in pts], dtype=np.float64)
    left, right = p[36:42].mean(0), p[42:48].mean(0)
    v = right - left
    c, s = v / np.linalg.norm(v)
    rot = np.array([[c, s], [-s, c]])
    return (((p - (left + right) / 2) @ rot.T) / np.linalg.norm(v)).reshape(-1)


def _audio_features(audio, sr=48000):
    mel = librosa.power_to_db(librosa.feature.melspectrogram(y=audio.astype(np.float32), sr=sr, n_mels=64,
                                                             n_fft=1536, hop_length=768), ref=1.0)
    energy = mel.max(axis=0)
    voiced = mel[:, energy > energy.max() - 30]  # frames within 30 dB of the loudest
    return np.concatenate([voiced.mean(axis=1), voiced.std(axis=1)])


def _held_out_accuracy(X, y, train):
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.5))
    clf.fit(X[train], y[train])
    return float((clf.predict(X[~train]) == y[~train]).mean())


def test_identity_and_emotion_are_learnable(tiny_dataset, decoded):
    """Trained on repetition 1, tested on repetition 2: far above chance (1/4 and 1/3).

    Face identity from the pixels of the detected box; face emotion from the shape of
    dlib's 68 landmarks (expression is geometry: mouth corners, brows, eye opening);
    voice identity and emotion from the mean and spread of the log-mel spectrum.
    """
    cfg, truth = tiny_dataset
    pixels, shapes, who, emo, train_f = [], [], [], [], []
    Xa = []
    for row in truth.itertuples():
        d = decoded[row.relpath]
        for rgb, boxes in zip(d["sampled"], d["boxes"]):
            if len(boxes) == 1:
                pixels.append(_face_pixels(rgb, boxes[0]))
                shapes.append(_face_shape(rgb, boxes[0]))
                who.append(row.actor)
                emo.append(row.emotion)
                train_f.append(row.repetition == 1)
        Xa.append(_audio_features(d["audio"]))
    pixels, shapes, who, emo, train_f = map(np.asarray, (pixels, shapes, who, emo, train_f))
    Xa, train_a = np.asarray(Xa), (truth.repetition == 1).to_numpy()
    scores = {
        "face identity": _held_out_accuracy(pixels, who, train_f),
        "face emotion": _held_out_accuracy(shapes, emo, train_f),
        "voice identity": _held_out_accuracy(Xa, truth.actor.to_numpy(), train_a),
        "voice emotion": _held_out_accuracy(Xa, truth.emotion.to_numpy(), train_a),
    }
    print(scores)
    assert scores["face identity"] >= 0.9, scores
    assert scores["voice identity"] >= 0.8, scores
    assert scores["face emotion"] >= 0.7, scores
    assert scores["voice emotion"] >= 0.7, scores


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_seed_same_bytes_other_seed_other_bytes(tiny_dataset, tmp_path):
    cfg, truth = tiny_dataset
    small = dict(actors=1, emotions=[3], intensities=[1], statements=[1], repetitions=[1, 2])
    again = SynthConfig(out_dir=str(tmp_path / "a"), truth=str(tmp_path / "a.parquet"), seed=0,
                        workers=1, **small)
    other = SynthConfig(out_dir=str(tmp_path / "b"), truth=str(tmp_path / "b.parquet"), seed=1,
                        workers=1, **small)
    synthesize(again, progress=False)
    synthesize(other, progress=False)
    for n in again.names():
        first = Path(cfg.out_dir) / n.relpath  # written by 2 workers in the fixture
        assert _digest(Path(again.out_dir) / n.relpath) == _digest(first)
        assert _digest(Path(other.out_dir) / n.relpath) != _digest(first)
