"""Small faces: a clip whose fast search finds no face is searched again at full resolution,
then upsampled, before it is refused; the ``search`` column says which search found it."""
from __future__ import annotations

import re
from pathlib import Path

import dlib
import numpy as np
import pandas as pd
import pytest
from factory import write_clip
from PIL import Image
from safetensors.numpy import load_file

from fegan.errors import FeganError
from fegan.params import build_config
from fegan.preprocess.faces import (FaceCropper, FacesConfig, _search_frames, run_faces, search_ladder, searches,
                                    smallest_face_hint)
from fegan.synth.face import ClipLook, FrameState, render_frame
from fegan.synth.identity import emotion_style, make_actor

ACTOR = make_actor(0, 1)
BG = (190, 185, 180)
# "folder/clip" -> (frame width, height, face height in px, the search that must find it)
CLIPS = {
    "normal/720p": (1280, 720, 300, "fast"),       # the synthetic set's and RAVDESS's framing
    "wide/720p": (1280, 720, 86, "full"),          # a wide shot: the face 12 % of the frame's height
    "wide/720p-next": (1280, 720, 80, "full"),     # the next clip of that camera looks where that face was
    "cremad/480x360": (480, 360, 120, "full"),     # CREMA-D's frame, its face just under the fast search's limit
    "tiny/480x360": (480, 360, 45, "upsampled"),   # near the smallest face any search finds (~36 px wide)
    "blank/720p": (1280, 720, 0, None),            # no face at all
}
SMALL = [c for c, v in CLIPS.items() if v[3] not in ("fast", None)]
FRAMES, FPS = 8, 8     # a 1 s clip; 3 frames sampled
_DETECTOR = dlib.get_frontal_face_detector()


def _head(face_h: float) -> Image.Image:
    """The actor's face drawn at the synthetic set's size and shrunk to ``face_h`` pixels
    high, as a camera's lens shrinks it: drawn that small, a face loses the features
    (eyes, brows a few pixels wide) a real small face keeps."""
    s = 150.0
    side = int(4 * s)
    look = ClipLook(Image.new("RGB", (side, side), BG), side / 2, side / 2, s, roll=0.0, gain=1.0, side_light=0.0)
    expr, _ = emotion_style(3, 1)
    img = render_frame(ACTOR, expr, FrameState(), look)
    k = face_h / (2 * s * ACTOR.face_h)
    return img.resize((round(side * k), round(side * k)), Image.BILINEAR)


def _frames(w: int, h: int, face_h: float, x: int) -> list[np.ndarray]:
    """A clip's frames, the face's centre starting at ``(x, 0.45 h)`` and drifting a pixel a frame right."""
    head = _head(face_h) if face_h else None
    out = []
    for i in range(FRAMES):
        canvas = Image.new("RGB", (w, h), BG)
        if head is not None:
            canvas.paste(head, (x - head.width // 2 + i, int(0.45 * h) - head.height // 2))
        out.append(np.asarray(canvas))
    return out


@pytest.fixture(scope="module")
def small_faces(tmp_path_factory):
    """The clips of ``CLIPS``, one folder each, and the tables ``run_faces`` reads."""
    root = tmp_path_factory.mktemp("small_faces")
    centres = {}
    for k, (cid, (w, h, face_h, _)) in enumerate(CLIPS.items()):
        centres[cid] = (w // 2 + 20 * k, int(0.45 * h))       # the face a little elsewhere in each clip
        write_clip(root / f"{cid}.mp4", _frames(w, h, face_h, centres[cid][0]), None, fps=FPS)
    ids = list(CLIPS)
    clips = pd.DataFrame(dict(clip_id=ids, path=[f"{c}.mp4" for c in ids]))
    vad = pd.DataFrame(dict(clip_id=ids, status="ok", reason="", seg_start=[[0.0]] * len(ids),
                            seg_end=[[FRAMES / FPS]] * len(ids)))
    return root, clips, vad, centres


@pytest.fixture(scope="module")
def found(small_faces, tmp_path_factory):
    """The clips through the faces stage at the default settings: its table and crops."""
    return _faces(small_faces, tmp_path_factory.mktemp("found"))


def _faces(small_faces, out: Path, **cfg):
    root, clips, vad, _ = small_faces
    index = run_faces(FacesConfig(workers=1, **cfg), clips, vad, root, out / "f.safetensors", out / "f.parquet",
                      progress=False)
    return index, load_file(str(out / "f.safetensors"))["faces"]


def _face_in(crop: np.ndarray) -> list[tuple[float, float, float]]:
    """Faces in a ``(3, S, S)`` crop, enlarged 3x for the detector: centre and width as
    fractions of the crop's side."""
    side = 3 * crop.shape[-1]
    big = np.asarray(Image.fromarray(crop.transpose(1, 2, 0)).resize((side, side), Image.BICUBIC))
    return [(r.center().x / side, r.center().y / side, r.width() / side) for r in _DETECTOR(big, 0)]


def test_searches_halve_the_smallest_face_and_skip_what_the_settings_reach():
    assert searches(2, 0, True) == [("fast", 2, 0), ("full", 1, 0), ("upsampled", 1, 1)]
    assert searches(1, 0, True) == [("fast", 1, 0), ("upsampled", 1, 1)]
    assert searches(2, 1, True) == [("fast", 2, 1), ("full", 1, 1)]
    assert searches(2, 0, False) == [("fast", 2, 0)]
    assert smallest_face_hint(FacesConfig()) == ("fast, full and upsampled searches: faces under ~36 px wide are "
                                                 "not searched for: see faces.downscale, faces.upsample")
    assert smallest_face_hint(FacesConfig(fallback=False)) == (
        "fast search: faces under ~145 px wide are not searched for: see faces.fallback, faces.downscale, "
        "faces.upsample")
    with pytest.raises(FeganError, match="faces.fallback must be true or false, got 'no'"):
        build_config(FacesConfig, {"fallback": "no"}, "faces")


def test_a_fallback_search_keeps_only_faces_too_small_for_the_search_before_it():
    """A face of a size the fast search covers, which it missed (a pose, an expression:
    one clip of the default synthetic set), is not taken from a finer search: the clip's
    crops would depend on how far down the ladder it went."""
    ladder = search_ladder(FaceCropper(), True)
    assert [(n, c.downscale, c.upsample) for n, c in ladder] == searches(2, 0, True)
    # below the search before's smallest face (145, 73 px) and one of HOG's 6/5 steps
    assert [c.largest for _, c in ladder] == [None, pytest.approx(145.2 * 1.2), pytest.approx(72.6 * 1.2)]
    frame = _frames(1280, 720, 300, 640)[0]
    (box, _), = ladder[0][1].detect(frame)
    assert box.width() > 200
    assert ladder[1][1].detect(frame) == [] and ladder[2][1].detect(frame) == []
    # ... and the refusal says so: a user who sees the face is told why it was not used
    rows, crops, _ = _search_frames(ladder[2][1], "upsampled", [(0.0, frame)], None)
    assert crops == [] and rows[0]["status"] == "error"
    assert re.fullmatch(r"no face: the upsampled search saw one (\d+) px wide, a size the fast search covers "
                        r"and missed, so not used", rows[0]["reason"])
    assert int(re.search(r"(\d+) px", rows[0]["reason"]).group(1)) > 200
    (full, _), = ladder[0][1].at(1, 0).detect(frame)       # found at full resolution without the rule
    assert full.intersect(box).area() > 0.6 * box.area()


def test_small_faces_are_found_by_the_search_that_reaches_them(small_faces, found):
    _, _, _, centres = small_faces
    index, crops = found
    ok = index[index.status == "ok"]
    for cid, (w, h, face_h, search) in CLIPS.items():
        if search is None:
            continue
        mine = ok[ok.clip_id == cid]
        # every sampled frame, found by the first search that can
        assert len(mine) == 3 and (mine.search == search).all(), (cid, list(mine.search))
        # the box is on the face: its centre within a tenth of the face's height of the drawn
        # face's (HOG's box sits 0.12 of it low: brows to chin; the face drifts a pixel a
        # frame), its width the face's
        cx, cy = centres[cid]
        bx, by = (mine.left + mine.right) / 2, (mine.top + mine.bottom) / 2
        assert ((bx - cx).abs() < face_h / 10 + FRAMES).all(), (cid, list(bx), cx)
        assert ((by - cy - 0.12 * face_h).abs() < face_h / 10).all(), (cid, list(by), cy)
        width = face_h * ACTOR.face_w / ACTOR.face_h
        assert ((mine.right - mine.left) / width).between(0.7, 1.4).all(), (cid, list(mine.right - mine.left))
        # the aligned crop is centred on the face, at the scale of a normal face's crop
        for r in mine.row:
            (x, y, size), = _face_in(crops[r])
            assert abs(x - 0.5) < 0.1 and abs(y - 0.5) < 0.1 and 0.45 < size < 0.9, (cid, x, y, size)
    # ... which the check tells: the same crop a sixth of its size off centre is not
    off = np.roll(crops[ok.row[ok.clip_id == "wide/720p"].iloc[0]], crops.shape[-1] // 6, axis=2)
    assert abs(_face_in(off)[0][0] - 0.5) > 0.1
    # a clip no search finds a face in: refused, saying which searches it got
    blank = index[index.clip_id == "blank/720p"]
    assert (blank.row < 0).all() and (blank.search[blank.frame >= 0] == "upsampled").all()
    assert blank.reason[blank.frame == -1].iloc[0] == ("no face in any sampled frame (fast, full and upsampled "
                                                       "searches: faces under ~36 px wide are not searched for: see "
                                                       "faces.downscale, faces.upsample)")


def test_without_fallback_small_faces_are_refused_and_normal_ones_unchanged(small_faces, found, tmp_path):
    on, crops_on = found
    off, crops_off = _faces(small_faces, tmp_path, fallback=False)
    refused = off[off.frame == -1].set_index("clip_id").reason
    assert set(refused.index) == set(SMALL) | {"blank/720p"}
    assert (refused == "no face in any sampled frame (fast search: faces under ~145 px wide are not searched for: "
                       "see faces.fallback, faces.downscale, faces.upsample)").all()
    # the clip the fast search finds: the same rows and crops either way
    a, b = on[on.clip_id == "normal/720p"], off[off.clip_id == "normal/720p"]
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))
    assert np.array_equal(crops_on[a.row.to_numpy()], crops_off[b.row.to_numpy()])
