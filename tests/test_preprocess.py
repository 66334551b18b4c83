"""Preprocessing: labels, VAD, features, faces, bad input, worker-count independence."""
from __future__ import annotations

import shutil
from pathlib import Path

import av
import dlib
import numpy as np
import pandas as pd
import pytest
import torch
from factory import decode_all, write_clip
from PIL import Image
from safetensors.numpy import load_file
from torchaudio.compliance import kaldi

from fegan import paths
from fegan.datasets.adapters import scan
from fegan.errors import FeganError
from fegan.io import save_concatenated, spool
from fegan.media import read_frames
from fegan.parallel import pmap, torch_threads
from fegan.preprocess.demux import DataConfig, demux
from fegan.preprocess.faces import (CLIP_MARGIN, FRAME_MARGIN, FaceCropper, FacesConfig, frame_times, run_faces,
                                   tracking_runs)
from fegan.preprocess.features import FeaturesConfig, compute, fbank, run_features, tile
from fegan.preprocess.vad import VadConfig, run_vad, speech_segments, voiced_audio


def _pipeline(raw_dir, out: Path, workers: int, min_clips: int = 1, kind: str = "fbank"):
    """demux -> vad -> features -> faces into ``out`` (laid out as dvc.yaml's outs); the four tables."""
    p = {k: out / getattr(paths, k) for k in ("CLIPS", "AUDIO", "VAD", "FEATURES", "FEATURES_INDEX", "FACES",
                                              "FACES_INDEX")}
    data = DataConfig(raw_dir=str(raw_dir), min_clips=min_clips, workers=workers)
    clips = demux(data, p["CLIPS"], p["AUDIO"], progress=False)
    vad = run_vad(VadConfig(workers=workers), clips, p["AUDIO"], p["VAD"], min_clips, progress=False)
    feats = run_features(FeaturesConfig(kind=kind, workers=workers), clips, vad, p["AUDIO"], p["FEATURES"],
                         p["FEATURES_INDEX"], min_clips, progress=False)
    faces = run_faces(FacesConfig(workers=workers), clips, vad, raw_dir, p["FACES"], p["FACES_INDEX"], min_clips,
                      progress=False)
    return clips, vad, feats, faces


@pytest.fixture(scope="module")
def processed(tiny_processed):
    return tiny_processed


# ---------------------------------------------------------------- labels

def _touch(root: Path, rel: str) -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_bytes(b"")


def test_ravdess_labels_and_filters(tmp_path):
    for rel in ["Actor_01/01-01-03-02-01-02-01.mp4", "Actor_02/01-01-01-01-02-01-02.mp4",
                "Actor_01/01-02-03-01-01-01-01.mp4",   # song
                "Actor_01/02-01-03-01-01-01-01.mp4",   # video-only
                "Actor_01/notes.mp4", "Actor_01/README.txt"]:
        _touch(tmp_path, rel)
    t = scan(tmp_path, "ravdess").set_index("path")
    assert len(t) == 5  # the .txt is not a clip
    r = t.loc["Actor_01/01-01-03-02-01-02-01.mp4"]
    assert (r.actor, r.gender, r.emotion, r.intensity, r.statement, r.repetition, r.status) == \
        (1, "male", 3, 2, 1, 2, "ok")
    assert t.loc["Actor_02/01-01-01-01-02-01-02.mp4", "gender"] == "female"
    assert t.loc["Actor_01/01-02-03-01-01-01-01.mp4", "status"] == "filtered"
    assert "song" in t.loc["Actor_01/01-02-03-01-01-01-01.mp4", "reason"]
    assert "video-only" in t.loc["Actor_01/02-01-03-01-01-01-01.mp4", "reason"]
    assert t.loc["Actor_01/notes.mp4", "status"] == "error"
    assert "not a RAVDESS name" in t.loc["Actor_01/notes.mp4", "reason"]


def test_enterface_labels_with_spaces_and_uneven_depth(tmp_path):
    for rel in ["subject 1/anger/sentence 1/s1_an_1.avi",
                "subject 6/bloc 2/happiness/sentence 3/s6_ha_3.avi",       # an extra level
                "subject 12/fear/sentence 5/s12_fe_5.AVI",
                "subject 7/sadness/sentence 2/recording.avi",              # labels from folders only
                "subject 3/disgust/s3_di_4.avi",                           # one level less
                "misc/clip.avi"]:
        _touch(tmp_path, rel)
    t = scan(tmp_path, "enterface").set_index("path")
    got = {p: (r.clip_id, r.actor, r.emotion, r.statement, r.status) for p, r in t.iterrows()}
    assert got["subject 1/anger/sentence 1/s1_an_1.avi"] == ("s1_an_1", 1, 5, 1, "ok")
    assert got["subject 6/bloc 2/happiness/sentence 3/s6_ha_3.avi"] == ("s6_ha_3", 6, 3, 3, "ok")
    assert got["subject 12/fear/sentence 5/s12_fe_5.AVI"] == ("s12_fe_5", 12, 6, 5, "ok")
    assert got["subject 7/sadness/sentence 2/recording.avi"] == ("s7_sa_2", 7, 4, 2, "ok")
    assert got["subject 3/disgust/s3_di_4.avi"] == ("s3_di_4", 3, 7, 4, "ok")
    assert got["misc/clip.avi"][-1] == "error"
    assert "not an eNTERFACE'05 path" in t.loc["misc/clip.avi", "reason"]


def test_user_mistakes_are_one_clear_error(tmp_path):
    with pytest.raises(FeganError, match="is not a folder"):
        scan(tmp_path / "missing", "ravdess")
    with pytest.raises(FeganError, match="data.format must be one of ravdess, enterface"):
        scan(tmp_path, "voxceleb")


# ---------------------------------------------------------------- split

def test_split_is_stratified_seeded_and_complete(processed, tmp_path):
    cfg, truth, out, (clips, *_rest) = processed
    ok = clips[clips.status == "ok"]
    kinds = ok.groupby(["actor", "emotion"]).split.agg(lambda s: "".join(sorted(set(s))))
    # 4 clips per (actor, emotion): 1 test, then 1 of the 3 left to val (data.val_fraction 0.15), 2 train
    assert (kinds == "testtrainval").all()
    assert (ok.groupby(["actor", "emotion"]).split.value_counts().unstack()[["test", "val", "train"]].to_numpy()
            == [1, 1, 2]).all()
    again = demux(DataConfig(raw_dir=cfg.out_dir, split_seed=0, workers=1), tmp_path / "c2.parquet",
                  tmp_path / "a2.safetensors", progress=False)
    other = demux(DataConfig(raw_dir=cfg.out_dir, split_seed=5, workers=1), tmp_path / "c3.parquet",
                  tmp_path / "a3.safetensors", progress=False)
    assert again.split.tolist() == clips.split.tolist()
    assert other.split.tolist() != clips.split.tolist()


# ---------------------------------------------------------------- features

def test_concatenated_files_are_what_safetensors_writes(tmp_path):
    """demux and features write their tensors part by part, from arrays or from the
    workers' spool files; the bytes must be the library's own."""
    from concurrent.futures import ProcessPoolExecutor

    from safetensors.numpy import save_file

    rng = np.random.default_rng(0)
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    for parts in ([rng.standard_normal(n).astype(np.float32) for n in (5, 0, 1000, 3)], [np.zeros(7, np.float32)], []):
        # a spooled copy of each part, from two processes (one spool file each) and this one
        with ProcessPoolExecutor(2) as pool:
            spooled = list(pool.map(spool, [spool_dir] * len(parts), parts))
        spooled[1::2] = [spool(spool_dir, p) for p in parts[1::2]]
        theirs = tmp_path / "theirs.safetensors"
        save_file({"audio": np.concatenate(parts) if parts else np.zeros(0, np.float32)}, str(theirs))
        for mine in (parts, spooled, [x for pair in zip(parts[::2], spooled[1::2]) for x in pair] + parts[len(parts) // 2 * 2:]):
            save_concatenated(tmp_path / "ours.safetensors", "audio", mine)
            assert (tmp_path / "ours.safetensors").read_bytes() == theirs.read_bytes()
    # one file per process that spooled, each part appended once
    assert sum(f.stat().st_size for f in spool_dir.iterdir()) == 4 * ((5 + 0 + 1000 + 3) + (0 + 3) + 7)
    back = load_file(str(tmp_path / "ours.safetensors"))["audio"]
    assert back.dtype == np.float32 and back.tolist() == []
    # an (N, F, T) tensor with metadata, from (F, T) rows, some of them transposed views
    rows = [rng.standard_normal((4, 6)).astype(np.float32), rng.standard_normal((6, 4)).astype(np.float32).T]
    save_concatenated(tmp_path / "f.safetensors", "features", [spool(spool_dir, rows[0]), rows[1]], shape=(2, 4, 6),
                      metadata={"kind": "fbank"})
    save_file({"features": np.stack(rows)}, str(theirs), metadata={"kind": "fbank"})
    assert (tmp_path / "f.safetensors").read_bytes() == theirs.read_bytes()
    with pytest.raises(ValueError, match="do not fill the shape"):
        save_concatenated(tmp_path / "f.safetensors", "features", rows, shape=(3, 4, 6))


def test_fbank_shape_and_values_match_torchaudio():
    rng = np.random.default_rng(0)
    t = np.arange(int(1.3 * 32000)) / 32000
    wave = (0.3 * np.sin(2 * np.pi * 220 * t) + 0.001 * rng.normal(size=t.size)).astype(np.float32)
    f = compute(wave, 32000, kind="fbank", normalize="none")
    assert tuple(f.shape) == (64, 625)
    direct = kaldi.fbank(torch.from_numpy(tile(wave, 320000))[None] * 32768.0, num_mel_bins=64,
                         frame_length=33.0, frame_shift=16.0, sample_frequency=32000.0, dither=0.0,
                         snip_edges=False).T
    torch.testing.assert_close(f, direct)
    # a 220 Hz tone: the loudest mel bin is the one around 220 Hz (mel 308, bin ~4 of 64)
    assert 2 <= int(f.mean(dim=1).argmax()) <= 6
    g = compute(wave, 32000, kind="fbank", normalize="cmvn")
    torch.testing.assert_close(g.mean(dim=1), torch.zeros(64), atol=1e-4, rtol=0)
    torch.testing.assert_close(g.std(dim=1), torch.ones(64), atol=1e-3, rtol=0)
    u = compute(wave, 32000, kind="fbank")  # default: one mean/variance for the utterance
    assert abs(float(u.mean())) < 1e-4 and abs(float(u.std()) - 1) < 1e-3
    torch.testing.assert_close(u, (f - f.mean()) / (f.std() + 1e-5))
    assert tuple(compute(wave, 32000, kind="mfcc").shape) == (13, 625)
    assert tuple(compute(wave, 32000, kind="spectrogram").shape) == (1025, 625)


def test_fbank_equals_kaldi_fbank_for_other_options():
    """Our Fbank (one reused FFT buffer) against torchaudio's kaldi.fbank: windows longer,
    equal to and shorter than the hop (Kaldi mirrors or trims the ends differently),
    other rates and bin counts, a DC offset, and shapes changing from call to call."""
    rng = np.random.default_rng(1)
    for n, sr, win, hop, mels in [(320000, 32000, 33.0, 16.0, 64), (16000, 16000, 25.0, 10.0, 40),
                                  (48000, 32000, 16.0, 16.0, 80), (48000, 32000, 10.0, 16.0, 64),
                                  (8001, 8000, 33.0, 7.0, 23), (320000, 32000, 33.0, 16.0, 64)]:
        wave = torch.from_numpy((rng.normal(size=n) * 3000 + 500).astype(np.float32))
        ours = fbank(wave, sr, mels, win, hop)
        theirs = kaldi.fbank(wave[None], num_mel_bins=mels, sample_frequency=float(sr), frame_length=win,
                             frame_shift=hop, dither=0.0, snip_edges=False).T
        assert ours.shape == theirs.shape == (mels, (n + int(sr * hop / 1000) // 2) // int(sr * hop / 1000))
        torch.testing.assert_close(ours, theirs)
    with pytest.raises(FeganError, match="need at least 1056 samples"):
        fbank(torch.zeros(1000))


def test_tile_repeats_then_cuts():
    x = np.arange(4)
    assert tile(x, 10).tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]
    assert tile(x, 3).tolist() == [0, 1, 2]


def test_features_artifact(processed):
    cfg, truth, out, (clips, vad, feats, faces) = processed
    x = load_file(str(out / paths.FEATURES))["features"]
    assert x.shape == (48, 64, 625) and x.dtype == np.float32
    assert (feats.row >= 0).sum() == 48 and sorted(feats.row[feats.row >= 0]) == list(range(48))
    # each stored row is that clip's features, element for element, computed as the stage's
    # workers compute them: at one thread (two sum the Fbank's products in another order)
    full = load_file(str(out / paths.AUDIO))["audio"]
    for i in (0, 17, 47):
        c, v = clips.loc[i], vad.loc[i]
        wave = voiced_audio(full[c.audio_offset:c.audio_offset + c.audio_len], 32000, v.seg_start, v.seg_end)
        with torch_threads(1):
            np.testing.assert_array_equal(x[feats.row[i]], compute(wave, 32000).numpy())


# ---------------------------------------------------------------- vad

def test_vad_removes_added_silence(processed):
    cfg, truth, out, (clips, vad, *_rest) = processed
    t = truth.assign(clip_id=truth.relpath.str.split("/").str[1].str.removesuffix(".mp4"))
    m = vad.merge(t, on="clip_id", suffixes=("", "_true"))
    span = m.speech_end_s - m.speech_start_s
    # padding (150 ms a side) is kept around speech; the silence before and after is gone
    assert ((m.voiced_s - span).abs() < 0.5).all()
    assert (m.duration_s - m.voiced_s > 0.4).all()
    first = np.array([s[0] for s in m.seg_start])
    last = np.array([e[-1] for e in m.seg_end])
    assert (first > m.speech_start_s - 0.25).all() and (first < m.speech_start_s + 0.05).all()
    assert (last < m.speech_end_s + 0.35).all() and (last > m.speech_end_s - 0.05).all()


def test_vad_on_silence_and_on_speech_with_a_long_pause():
    sr = 32000
    rng = np.random.default_rng(1)
    assert speech_segments(rng.normal(0, 1e-4, 3 * sr).astype(np.float32), sr) == []
    tone = lambda s: 0.3 * np.sin(2 * np.pi * 180 * np.arange(int(s * sr)) / sr) * (  # noqa: E731
        1 + 0.5 * np.sin(2 * np.pi * 4 * np.arange(int(s * sr)) / sr))
    sil = lambda s: rng.normal(0, 1e-4, int(s * sr))  # noqa: E731
    wave = np.concatenate([sil(0.5), tone(0.6), sil(1.0), tone(0.6), sil(0.5)]).astype(np.float32)
    segs = speech_segments(wave, sr, padding_ms=150)
    assert len(segs) == 2  # a 1 s pause is longer than twice the padding: removed
    # webrtcvad has some hangover of its own after speech ends
    assert abs(segs[0][0] - 0.35) < 0.1 and 2.8 < segs[1][1] < 3.05


# ---------------------------------------------------------------- faces

def test_frame_times_spread_over_voiced_part():
    ts = frame_times([0.5, 2.0], [1.0, 3.0], 3)  # 0.5 s + 1 s voiced
    assert ts == pytest.approx([0.75, 2.25, 2.75])


def _every_frame(path):
    """The reference for ``read_frames``: every frame decoded in order, with its time and type."""
    with av.open(str(path)) as c:
        return [(float(f.pts * f.time_base), f.to_ndarray(format="rgb24"), f.pict_type) for f in c.decode(video=0)]


def _mpeg4_with_b_frames(path: Path, gop: int) -> Path:
    """100 frames of MPEG-4 part 2 (eNTERFACE'05's kind of codec) with B-frames and open GOPs."""
    with av.open(str(path), "w") as out:
        s = out.add_stream("mpeg4", rate=25)
        s.width, s.height, s.pix_fmt = 320, 240, "yuv420p"
        s.codec_context.max_b_frames, s.codec_context.gop_size = 2, gop
        for i in range(100):
            img = np.zeros((240, 320, 3), np.uint8)
            img[..., 0], img[50:100, i:i + 60] = 2 * i, 255
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            out.mux(s.encode(frame))
        out.mux(s.encode())
    return path


def test_read_frames_equals_decoding_every_frame(tiny_dataset, tmp_path):
    """Seeking and skipping non-reference frames on the way to a time must not change the
    frame found: one keyframe per clip (the synthetic H.264 and an avi), a keyframe every
    12 frames in containers with an index (avi, mkv) and without one (MPEG-TS, whose
    seeks land late or between keyframes)."""
    cfg, _ = tiny_dataset
    clips = sorted(Path(cfg.out_dir).rglob("*.mp4"))[::12] + [
        _mpeg4_with_b_frames(tmp_path / "one_gop.avi", 250), _mpeg4_with_b_frames(tmp_path / "gop12.avi", 12),
        _mpeg4_with_b_frames(tmp_path / "gop12.mkv", 12), _mpeg4_with_b_frames(tmp_path / "gop12.ts", 12)]
    for path in clips:
        every = _every_frame(path)
        # the skipping matters only where there are B-frames: both kinds of clip have many
        assert sum(f[2] == av.video.frame.PictureType.B for f in every) > len(every) // 2, path.name
        for times in ([0.0, 1.0, 2.0], [3.5, 0.2, 0.2], [0.5, 0.52, 0.6, 1.9, 3.85], [9.0], [3.8, 10.0, 10.0],
                      [3.8, 3.85, 3.9, 5.0], [1.9], [0.1, 3.0]):
            want = [next((f for f in every if f[0] >= t - 1e-6), every[-1]) for t in sorted(times)]
            got = read_frames(path, times)
            assert [t for t, _ in got] == pytest.approx([t for t, _, _ in want], abs=1e-9), (path.name, times)
            assert all(np.array_equal(a, b) for (_, a), (_, b, _) in zip(got, want)), (path.name, times)


def test_aligned_crops_contain_the_face(processed):
    cfg, truth, out, (clips, vad, feats, faces) = processed
    crops = load_file(str(out / paths.FACES))["faces"]
    assert crops.shape[1:] == (3, 64, 64) and crops.dtype == np.uint8
    ok = faces[faces.status == "ok"]
    assert len(ok) == len(crops) and ok.clip_id.nunique() == 48
    assert (ok.search == "fast").all()      # the synthetic faces need no fallback search
    assert len(crops) >= 0.95 * 48 * 3
    det = dlib.get_frontal_face_detector()
    found = 0
    for img in crops:
        big = np.asarray(Image.fromarray(img.transpose(1, 2, 0)).resize((192, 192), Image.BICUBIC))
        found += len(det(big, 0)) == 1
    assert found >= 0.9 * len(crops), f"{found}/{len(crops)}"
    # frames come from the voiced part
    m = ok.merge(vad, on="clip_id")
    assert all(s[0] - 0.04 <= t <= e[-1] + 0.04 for t, s, e in zip(m.time_s, m.seg_start, m.seg_end))


def test_tracking_runs_are_cut_at_folders_and_at_their_length():
    clips = ["A/1.mp4", "A/2.mp4", "A/3.mp4", "B/1.mp4", "A/4.mp4", "A/5.mp4", "A/x/6.mp4"]
    assert tracking_runs(clips, 2) == [[0, 1], [2], [3], [4, 5], [6]]
    assert tracking_runs(clips, 1) == [[k] for k in range(7)]
    assert tracking_runs([], 4) == []


def test_tracking_across_clips_finds_the_faces_a_whole_frame_search_finds(processed, tmp_path):
    cfg, truth, out, (clips, vad, feats, tracked) = processed
    assert FacesConfig().track_clips > 1     # the shared fixture ran the default: tracking
    whole = run_faces(FacesConfig(track_clips=1, workers=2), clips, vad, cfg.out_dir, tmp_path / "f.safetensors",
                      tmp_path / "f.parquet", progress=False)
    a, b = tracked.set_index(["clip_id", "frame"]), whole.set_index(["clip_id", "frame"])
    assert a.index.equals(b.index)
    # every face the whole-frame search finds is found (the search near a known face may
    # find one more: the region's HOG grid falls elsewhere), and counted alike
    assert (a.status[b.status == "ok"] == "ok").all() and (a.status == "ok").sum() <= (b.status == "ok").sum() + 2
    ok = (a.status == "ok") & (b.status == "ok")
    assert (a.n_faces[ok] == b.n_faces[ok]).all()
    ix0, iy0 = np.maximum(a.left, b.left)[ok], np.maximum(a.top, b.top)[ok]
    ix1, iy1 = np.minimum(a.right, b.right)[ok], np.minimum(a.bottom, b.bottom)[ok]
    inter = (ix1 - ix0).clip(0) * (iy1 - iy0).clip(0)
    area = lambda t: ((t.right - t.left) * (t.bottom - t.top))[ok]  # noqa: E731
    iou = inter / (area(a) + area(b) - inter)
    # boxes differ by a pyramid level at most (HOG's scales are 6/5 apart) ...
    assert iou.min() > 0.6 and iou.median() > 0.8, iou.describe()
    # ... and the landmark-aligned crops are the same face: closer than two frames of one clip
    crops_a = load_file(str(out / paths.FACES))["faces"][a.row[ok].to_numpy()].astype(float)
    crops_b = load_file(str(tmp_path / "f.safetensors"))["faces"][b.row[ok].to_numpy()].astype(float)
    mad = np.abs(crops_a - crops_b).mean(axis=(1, 2, 3))
    between_frames = np.abs(crops_b[1:] - crops_b[:-1]).mean(axis=(1, 2, 3))
    assert np.median(mad) < 0.5 * np.median(between_frames), (np.median(mad), np.median(between_frames))


def test_a_folder_is_searched_whole_once_and_its_runs_start_at_its_face(processed, tmp_path, monkeypatch):
    cfg, truth, out, (clips, vad, feats, tracked) = processed
    blind = []       # searches with no face known: the whole frame, by design
    detect = FaceCropper.detect

    def counted(self, rgb, near=None, *args):
        blind.append(near is None)
        return detect(self, rgb, near, *args)

    monkeypatch.setattr(FaceCropper, "detect", counted)
    faces = run_faces(FacesConfig(workers=1), clips, vad, cfg.out_dir, tmp_path / "f.safetensors",
                      tmp_path / "f.parquet", progress=False)
    ok = clips.path[vad.status == "ok"]
    folders = ok.map(lambda p: str(Path(p).parent)).nunique()
    runs = len(tracking_runs(list(ok), FacesConfig().track_clips))
    assert runs >= 2 * folders
    # one a folder (its reference), none at the start of its runs
    assert sum(blind) == folders, (sum(blind), folders, runs)
    # the same as the shared fixture's, made with two workers
    pd.testing.assert_frame_equal(faces, tracked)
    blind.clear()
    run_faces(FacesConfig(workers=1, track_clips=1), clips, vad, cfg.out_dir, tmp_path / "g.safetensors",
              tmp_path / "g.parquet", progress=False)
    # every clip's first frame (and any frame after one with several faces)
    assert sum(blind) >= len(ok) and sum(blind[::3]) == len(ok)


def _frame_with_a_face(processed):
    """A sampled frame of the shared fixture and the face box the stage found in it."""
    cfg, truth, out, (clips, vad, feats, faces) = processed
    r = faces[(faces.status == "ok") & (faces.n_faces == 1)].iloc[0]
    (_, rgb), = read_frames(Path(cfg.out_dir) / clips.set_index("clip_id").path[r.clip_id], [r.time_s])
    return rgb, dlib.rectangle(int(r.left), int(r.top), int(r.right), int(r.bottom))


def test_near_search_skips_the_pyramid_levels_below_the_face_exactly(processed):
    rgb, box = _frame_with_a_face(processed)
    # the face enlarged 2x, as in a close-up or a 1080p clip: its box lies ~6 levels up HOG's pyramid
    w = box.width()
    region = Image.fromarray(rgb[max(0, box.top() - w):box.bottom() + w, max(0, box.left() - w):box.right() + w])
    big = np.asarray(region.resize((region.width * 2, region.height * 2), Image.BICUBIC))
    cropper = FaceCropper()
    (plain, score), = cropper._detect(big, 0, 0)
    skip = cropper._levels_below(plain)
    assert skip >= 3
    (skipped, score_skipped), = cropper._detect(big, 0, 0, skip)
    # the same pyramid images from level `skip` on: the same detection, the same score
    assert abs(score - score_skipped) < 1e-9, (score, score_skipped)
    assert max(abs(a - b) for a, b in zip((plain.left(), plain.top(), plain.right(), plain.bottom()),
                                          (skipped.left(), skipped.top(), skipped.right(), skipped.bottom()))) <= 4
    assert cropper._levels_below(dlib.rectangle(0, 0, 200, 200)) == 0    # a level-2 face: nothing to skip
    assert FaceCropper(upsample=1)._levels_below(plain) == 0


def test_a_face_cut_by_the_narrow_region_is_left_to_the_wide_one(processed):
    rgb, box = _frame_with_a_face(processed)
    cropper = FaceCropper()
    w = box.width()
    assert cropper.detect(rgb, box, (FRAME_MARGIN, CLIP_MARGIN))           # found where it was
    moved = dlib.translate_rect(box, dlib.point(int(0.35 * w), 0))       # the face "moved" 0.35 w left
    assert cropper._detect_near(rgb, moved, FRAME_MARGIN, inside_only=True) == []
    (found, _), = cropper.detect(rgb, moved, (FRAME_MARGIN, CLIP_MARGIN))
    (wide, _), = cropper.detect(rgb, moved, (CLIP_MARGIN,))
    assert found == wide and found.intersect(box).area() > 0.6 * box.area()


# ---------------------------------------------------------------- workers

def test_same_outputs_with_one_and_two_workers(processed, tmp_path):
    cfg, truth, out, tables = processed
    with torch_threads(2):
        one = _pipeline(cfg.out_dir, tmp_path, workers=1)
        # one worker runs in this process, where demux and features put torch at one thread
        assert torch.get_num_threads() == 2
    for a, b in zip(tables, one):
        pd.testing.assert_frame_equal(a, b)
    for name in (paths.AUDIO, paths.FEATURES, paths.FACES):
        a = load_file(str(out / name))
        b = load_file(str(tmp_path / name))
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
        # byte for byte, as DVC sees them
        assert (out / name).read_bytes() == (tmp_path / name).read_bytes(), name


def _threads_now(_) -> int:
    torch.set_num_threads(1)                    # as a stage's worker does
    return torch.get_num_threads()


def test_torch_threads_and_an_in_process_map_restore_the_callers_count():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert pmap(_threads_now, [0, 1], workers=1, progress=False) == [1, 1]
        assert torch.get_num_threads() == 2
        with pytest.raises(ZeroDivisionError), torch_threads(1):
            assert torch.get_num_threads() == 1
            1 / 0
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)


# ---------------------------------------------------------------- bad input

@pytest.fixture(scope="module")
def bad_dataset(tiny_dataset, tmp_path_factory):
    """Four good clips plus one of every kind of bad input, in RAVDESS layout."""
    cfg, truth = tiny_dataset
    root = tmp_path_factory.mktemp("bad")
    src = Path(cfg.out_dir)
    good = sorted(src.rglob("*.mp4"))[:4]
    for p in good:
        shutil.copy(p, root / p.name)
    frames, audio = decode_all(good[0])
    frames2, _ = decode_all(good[-1])
    data = good[0].read_bytes()
    (root / "01-01-03-01-01-01-21.mp4").write_bytes(data[: len(data) // 3])         # truncated
    (root / "01-01-03-01-01-02-21.mp4").write_bytes(b"this is not a video" * 100)   # garbage
    write_clip(root / "01-01-03-01-02-01-21.mp4", frames, None)                     # no audio stream
    write_clip(root / "01-01-03-01-02-02-21.mp4", None, audio)                      # no video stream
    # FFmpeg opens an ffmetadata text file as a container with no stream at all
    (root / "01-01-03-02-02-02-21.mp4").write_text(";FFMETADATA1\ntitle=no streams\n")  # neither stream
    write_clip(root / "01-01-04-01-01-01-21.mp4", frames,
               np.random.default_rng(0).normal(0, 1e-4, audio.size))                # silent
    blank = [np.full_like(f, 128) for f in frames]
    write_clip(root / "01-01-04-01-01-02-21.mp4", blank, audio)                     # no face
    # two faces: the left half of one clip beside a shrunken copy of another
    two = []
    for a, b in zip(frames, frames2):
        canvas = np.full_like(a, 200)
        canvas[:, :640] = a[:, 320:960]
        small = np.asarray(Image.fromarray(b[:, 320:960]).resize((512, 576)))
        canvas[72:648, 704:1216] = small
        two.append(canvas)
    write_clip(root / "01-01-04-01-02-01-21.mp4", two, audio)
    shutil.copy(good[1], root / "01-02-03-01-01-01-21.mp4")                          # song
    shutil.copy(good[1], root / "02-01-03-01-01-01-21.mp4")                          # video-only
    shutil.copy(good[1], root / "my clip.mp4")                                      # unparseable
    return root


def test_every_bad_input_is_recorded_not_fatal(bad_dataset, tmp_path):
    clips, vad, feats, faces = _pipeline(bad_dataset, tmp_path, workers=2)
    reason = dict(zip(clips.clip_id, clips.reason))
    status = dict(zip(clips.clip_id, clips.status))
    assert len(clips) == 15
    assert reason["01-01-03-01-01-01-21"].startswith("unreadable container")
    assert reason["01-01-03-01-01-02-21"].startswith("unreadable container")
    assert reason["01-01-03-01-02-01-21"] == "no audio stream"
    assert reason["01-01-03-01-02-02-21"] == "no video stream"
    assert reason["01-01-03-02-02-02-21"] == "no audio or video stream"
    assert status["01-02-03-01-01-01-21"] == "filtered" and "song" in reason["01-02-03-01-01-01-21"]
    assert status["02-01-03-01-01-01-21"] == "filtered" and "video-only" in reason["02-01-03-01-01-01-21"]
    assert status["my clip"] == "error" and "not a RAVDESS name" in reason["my clip"]
    v = vad.set_index("clip_id")
    assert v.loc["01-01-04-01-01-01-21", "reason"] == "no speech detected (silent or noise only)"
    f = faces.set_index(["clip_id", "frame"])
    assert f.loc[("01-01-04-01-01-02-21", -1), "reason"] == (
        "no face in any sampled frame (fast, full and upsampled searches: faces under ~36 px wide are not searched "
        "for: see faces.downscale, faces.upsample)")
    two = faces[faces.clip_id == "01-01-04-01-02-01-21"]
    assert (two.n_faces == 2).all() and (two.reason == "2 faces, kept the largest").all()
    assert ((two.right - two.left) < 640).all() and (two.left < 640).all()  # the larger, left face
    # the good clips went through every stage
    usable = set(faces.clip_id[faces.status == "ok"])
    assert {p.stem for p in bad_dataset.glob("01-01-0[3-5]-0?-0?-0?-0[1-4].mp4")} <= usable
    assert len(usable) == 5 and (feats.row >= 0).sum() == 6


def test_too_few_usable_clips_is_one_clear_error(bad_dataset, tmp_path):
    with pytest.raises(FeganError, match=r"demux: only 7 usable clips, need data.min_clips=20 \("):
        demux(DataConfig(raw_dir=str(bad_dataset), min_clips=20, workers=1), tmp_path / "c.parquet",
              tmp_path / "a.safetensors", progress=False)
    assert not (tmp_path / "c.parquet").exists()
