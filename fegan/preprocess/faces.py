"""Stage `faces`: dlib detection, 5-point alignment, crops of ``image_size``.

For each usable clip, ``frames_per_clip`` times are spread evenly over the voiced
part (the face that goes with the voice), the video is seeked to each, the face
is detected on a frame downscaled by ``downscale`` (HOG cost grows with pixels,
and with channels: HOG runs on the grey frame, not on three colour planes; boxes
are mapped back), landmarks are found on the full frame with dlib's 5-point
model, and ``dlib.get_face_chip`` rotates, scales and crops. With several faces
the largest is taken and the count recorded.

The whole frame is searched only where nothing is known yet: a face found alone
in a frame is looked for first near the same place in the next frame, also across
the next clip of the same folder (a dataset films each speaker from a fixed camera),
for runs of ``track_clips`` clips; and a folder of several runs is searched whole
once, on the first sampled frame of its first clip, whose face (if alone) is where
each run starts looking (``_reference_face``; the runs then go in parallel). Near a
face seen in the same clip the region is the box grown by a fifth of its width
(``FRAME_MARGIN``), then, if the face is not found whole inside it, by a third
(``CLIP_MARGIN``, the first region for a face seen in an earlier clip); and the
pyramid levels that could only find a much smaller face are not scanned
(``_levels_below``). On a 720p frame a whole-frame search took ~35 ms here, a search
near the face ~4 ms: without this the detector, not decoding, would set the stage's
speed. Runs are cut at fixed places and a folder's reference comes from its first
clip, so the output does not depend on the worker count. A second person far from
the speaker is counted on whole-frame searches only; ``track_clips: 1`` searches the
first frame of every clip whole.

A clip whose fast search (the ``downscale``/``upsample`` settings) finds no face in
any sampled frame is searched again, frames already decoded, at full resolution and
then also upsampled once (``faces.fallback``; ``searches``): each halves the smallest
face found (~145, ~73, ~36 px wide at the defaults), at 4x and 13x the cost of a
whole-frame search, so only such clips pay. These searches are for faces too small for
the search before them, and keep only those (``FaceCropper.largest``): a face of a size
the fast search covers and missed (a pose, an expression) is that detector's miss, and
finding it at another resolution would make a clip's crops depend on how much of the
ladder it climbed (the default synthetic set has one such clip, refused as before).
The ``search`` column says which search found the face.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path

import dlib
import numpy as np
import pandas as pd
from PIL import Image

from .. import paths
from ..dlib_models import LANDMARKS_5, MMOD_DETECTOR, model_path
from ..errors import FeganError
from ..io import atomic_path
from ..media import MediaError, read_frames
from ..parallel import WorkerPool
from ..params import build_config
from .common import require_clips
from .guard import Guard, Unforeseen, log_path, write_log

DETECTORS = ("hog", "mmod")
# The search region around a face seen before: its box grown by this fraction of its
# width on every side. Between sampled frames of one clip of the synthetic set the face
# moved at most 0.15 of its width, between clips of one folder 0.4 (90 % of them) to
# 0.65. The narrow region has 30 % fewer pixels to scan.
FRAME_MARGIN, CLIP_MARGIN = 1 / 5, 1 / 3
# box width (pixels of the image searched) of dlib's frontal HOG detector on its pyramid's
# full-size level: its boxes of 87, 105, 125 and 150 px come from levels 1 to 4
HOG_BOX_PX = 72.6
# the MMOD network's smallest box, likewise: its sliding window, about 80 px
MMOD_BOX_PX = 80.0
_PYRAMID = dlib.pyramid_down(6)


@dataclass
class FacesConfig:
    """The ``faces`` section of params.yaml."""
    image_size: int = 64
    frames_per_clip: int = 3
    detector: str = "hog"
    downscale: int = 2
    upsample: int = 0
    padding: float = 0.4
    track_clips: int = 4
    fallback: bool = True
    workers: int = 0

    def validate(self) -> None:
        if self.detector not in DETECTORS:
            raise FeganError(f"faces.detector must be one of {', '.join(DETECTORS)}, got {self.detector!r}")
        if self.image_size < 16 or self.frames_per_clip < 1 or self.downscale < 1 or self.track_clips < 1:
            raise FeganError("faces.image_size >= 16, faces.frames_per_clip >= 1, faces.downscale >= 1 "
                             "and faces.track_clips >= 1")
        if not isinstance(self.fallback, bool):
            raise FeganError(f"faces.fallback must be true or false, got {self.fallback!r}")


def searches(downscale: int, upsample: int, fallback: bool) -> list[tuple[str, int, int]]:
    """``(name, downscale, upsample)`` of each search a clip may get, in order: the
    settings' own ("fast"); with ``fallback``, the full-resolution frame ("full", if
    the settings downscale) and the full-resolution frame upsampled once by dlib
    ("upsampled", if the settings do not upsample already: twice would search a 720p
    frame as 5120x2880)."""
    out = [("fast", downscale, upsample)]
    if fallback and downscale > 1:
        out.append(("full", 1, upsample))
    if fallback and upsample == 0:
        out.append(("upsampled", 1, 1))
    return out


def smallest_face_px(detector: str, downscale: int, upsample: int) -> float:
    """About how wide (px of the frame) the smallest face found at these settings is."""
    return (HOG_BOX_PX if detector == "hog" else MMOD_BOX_PX) * downscale / 2 ** upsample


def smallest_face_hint(cfg: FacesConfig) -> str:
    """What a clip without a face is told: which searches it got and how small a face
    the last of them finds.

    HOG's smallest box is ``HOG_BOX_PX`` pixels of the image it searches: 145 px of a
    frame at the default ``downscale: 2`` (a fifth of a 720p frame's height), 73 px at
    ``downscale: 1`` (a tenth; a whole-frame search 4x slower), 36 px with ``upsample: 1``
    as well (13x). See docs/footage.md.
    """
    done = searches(cfg.downscale, cfg.upsample, cfg.fallback)
    names = " and ".join(", ".join(n for n, _, _ in done).rsplit(", ", 1))
    tried = f"{names} search{'es' if len(done) > 1 else ''}"
    see = "faces.downscale, faces.upsample" if cfg.fallback else "faces.fallback, faces.downscale, faces.upsample"
    if cfg.detector != "hog":
        return f"{tried}: {see} set the smallest face searched for"
    px = smallest_face_px(cfg.detector, *done[-1][1:])
    return f"{tried}: faces under ~{px:.0f} px wide are not searched for: see {see}"


def frame_times(seg_start, seg_end, n: int) -> list[float]:
    """``n`` times evenly spread over the voiced part (the concatenated segments)."""
    starts, ends = np.asarray(seg_start, float), np.asarray(seg_end, float)
    lengths = ends - starts
    cum = np.concatenate([[0.0], np.cumsum(lengths)])
    out = []
    for q in (np.arange(n) + 0.5) / n * cum[-1]:
        k = min(int(np.searchsorted(cum, q, side="right")) - 1, len(starts) - 1)
        out.append(float(starts[k] + q - cum[k]))
    return out


class FaceCropper:
    """Detector + landmark model, loaded once per worker process."""

    def __init__(self, detector: str = "hog", downscale: int = 2, upsample: int = 0, image_size: int = 64,
                 padding: float = 0.4):
        self.kind, self.downscale, self.upsample = detector, downscale, upsample
        self.image_size, self.padding = image_size, padding
        self.detector = (dlib.get_frontal_face_detector() if detector == "hog"
                         else dlib.cnn_face_detection_model_v1(str(model_path(MMOD_DETECTOR))))
        self.landmarks = dlib.shape_predictor(str(model_path(LANDMARKS_5)))
        self.largest: float | None = None    # faces at least this wide (px) are dropped
        self.dropped: list[int] = []          # widths dropped by the searches since the last reset

    def at(self, downscale: int, upsample: int, largest: float | None = None) -> FaceCropper:
        """The same models searching at another ``downscale`` and ``upsample``, keeping
        only faces narrower than ``largest`` pixels."""
        other = copy.copy(self)
        other.downscale, other.upsample, other.largest, other.dropped = downscale, upsample, largest, []
        return other

    def detect(self, rgb: np.ndarray, near: dlib.rectangle | None = None,
               margins: tuple[float, ...] = (CLIP_MARGIN,)) -> list[tuple[dlib.rectangle, float]]:
        """Faces as full-resolution rectangles with detector scores, largest first.

        With ``near`` (a face found alone in an earlier frame) the search starts in
        that box grown by each of ``margins`` (a fraction of its width on every
        side) in turn; only if nothing is found there is the whole frame searched.
        A face found touching the edge of a region that is not the last one may be
        cut off by it, so the next, wider region decides.
        """
        if near is not None:
            for k, margin in enumerate(margins):
                found = self._detect_near(rgb, near, margin, inside_only=k < len(margins) - 1)
                if found:
                    return found
        return self._detect(rgb, 0, 0)

    def _detect_near(self, rgb: np.ndarray, near: dlib.rectangle, margin: float,
                     inside_only: bool) -> list[tuple[dlib.rectangle, float]]:
        m = int(near.width() * margin)
        x0, y0 = max(0, near.left() - m), max(0, near.top() - m)
        x1, y1 = min(rgb.shape[1], near.right() + m), min(rgb.shape[0], near.bottom() + m)
        if x1 - x0 < near.width() // 2 or y1 - y0 < near.height() // 2:
            # the face was seen in a frame of another size (a folder mixing clips of
            # several formats): the region misses this frame, nothing to look at
            return []
        found = self._detect(np.ascontiguousarray(rgb[y0:y1, x0:x1]), x0, y0, self._levels_below(near))
        if inside_only:
            # "touching": closer than a HOG cell (8 px of the image searched) to a side
            # that the margin cut; the frame's own edges do not count
            gap = 8 * self.downscale / 2 ** self.upsample
            h, w = rgb.shape[:2]
            found = [(r, s) for r, s in found
                     if (x0 == 0 or r.left() >= x0 + gap) and (y0 == 0 or r.top() >= y0 + gap)
                     and (x1 == w or r.right() < x1 - gap) and (y1 == h or r.bottom() < y1 - gap)]
        return found

    def _levels_below(self, near: dlib.rectangle) -> int:
        """How many of HOG's pyramid levels below ``near``'s may be skipped: all but two.

        dlib's HOG detector scans a pyramid of the image, each level 5/6 the size of
        the one before, and a face found on level ``l`` gets a box of about
        ``HOG_BOX_PX * (6/5)**l`` pixels. Levels below the known face's find only
        smaller faces, yet cost the most (level 0 alone is ~30 % of the scan): so
        the region is handed to the detector already ``l - 2`` levels down, made
        with dlib's own ``pyramid_down(6)``, the same images the detector would
        build (its detections on levels ``>= l - 2`` are the same). Two levels stay
        because a face does shrink by 25 % (more than one level) between two
        frames of one clip of the synthetic set.
        """
        if self.kind != "hog" or self.upsample:
            return 0     # the CNN has another pyramid; upsampling shifts the levels
        level = round(math.log(max(near.width() / self.downscale, 1) / HOG_BOX_PX) / math.log(6 / 5))
        return max(0, level - 2)

    def _detect(self, rgb: np.ndarray, x0: int, y0: int, skip: int = 0) -> list[tuple[dlib.rectangle, float]]:
        img = Image.fromarray(rgb)
        if self.kind == "hog":   # HOG works on grey as well; the MMOD network wants RGB
            img = img.convert("L")
        small = np.asarray(img.reduce(self.downscale) if self.downscale > 1 else img)
        for _ in range(skip):
            small = _PYRAMID(small)
        if self.kind == "hog":
            rects, scores, _ = self.detector.run(small, self.upsample, 0.0)
        else:
            dets = self.detector(small, self.upsample)
            rects, scores = [d.rect for d in dets], [d.confidence for d in dets]
        if skip:
            rects = [_PYRAMID.rect_up(r, skip) for r in rects]
        k = self.downscale
        faces = [(dlib.rectangle(r.left() * k + x0, r.top() * k + y0, r.right() * k + x0, r.bottom() * k + y0),
                  float(s)) for r, s in zip(rects, scores)]
        if self.largest is not None:
            # kept for the refusal's reason: a user who sees a face wants to know why it was not used
            self.dropped += [f[0].width() for f in faces if f[0].width() >= self.largest]
            faces = [f for f in faces if f[0].width() < self.largest]
        return sorted(faces, key=lambda f: -f[0].area())

    def crop(self, rgb: np.ndarray, rect: dlib.rectangle) -> np.ndarray:
        """Aligned ``(S, S, 3)`` uint8 crop."""
        shape = self.landmarks(rgb, rect)
        return dlib.get_face_chip(rgb, shape, size=self.image_size, padding=self.padding)


_CROPPER: FaceCropper | None = None          # the fast search's
_SEARCHES: list[tuple[str, FaceCropper]] = []  # every search of a clip, the fast one first
_CROPPER_KW: dict | None = None


def _init_worker(kw: dict) -> None:
    """Load the models once per process. ``run_faces`` calls it before the pool
    starts, so forked workers inherit the loaded models (dlib's HOG detector takes
    ~0.5 s to build, a few clips' worth of work) and only spawned ones load their own."""
    global _CROPPER, _SEARCHES, _CROPPER_KW
    if _CROPPER_KW != kw:
        _CROPPER = FaceCropper(**{k: v for k, v in kw.items() if k != "fallback"})
        _SEARCHES, _CROPPER_KW = search_ladder(_CROPPER, kw.get("fallback", False)), dict(kw)


def search_ladder(fast: FaceCropper, fallback: bool) -> list[tuple[str, FaceCropper]]:
    """Each search of a clip with its cropper. A fallback search keeps the faces the one
    before it could not find: narrower than that one's smallest face and a pyramid level
    (6/5: HOG's boxes come in steps of it, so a face just too small for one search may
    get a box a step over that search's smallest from the next)."""
    out, before = [], None
    for name, d, u in searches(fast.downscale, fast.upsample, fallback):
        largest = None if before is None else smallest_face_px(fast.kind, *before) * 6 / 5
        out.append((name, fast.at(d, u, largest)))
        before = (d, u)
    return out


def _faces_one(job, near: dlib.rectangle | None = None):
    """One clip's rows and crops, and where its face was last seen alone (or ``near``).

    The frames are decoded once; each search after the fast one gets them only if
    the one before found no face in any of them."""
    path, times = job
    try:
        frames = read_frames(path, times)
    except MediaError as e:
        return [dict(frame=k, time_s=t, status="error", reason=str(e), search="")
                for k, t in enumerate(times)], [], near
    for name, cropper in _SEARCHES:
        rows, crops, found_near = _search_frames(cropper, name, frames, near)
        if crops:
            return rows, crops, found_near
    return rows, crops, near


def _search_frames(cropper: FaceCropper, search: str, frames, near: dlib.rectangle | None):
    """One search over a clip's decoded frames: rows, crops, where its face was last seen alone."""
    rows, crops = [], []
    seen_here = False     # a face of this clip's own frames is a closer guess than the last clip's
    for k, (t, rgb) in enumerate(frames):
        cropper.dropped = []
        faces = cropper.detect(rgb, near, (FRAME_MARGIN, CLIP_MARGIN) if seen_here else (CLIP_MARGIN,))
        row = dict(frame=k, time_s=float(t), n_faces=len(faces), left=-1, top=-1, right=-1, bottom=-1,
                   score=float("nan"), search=search, status="ok", reason="")
        if not faces and cropper.dropped:
            row.update(status="error", reason=f"no face: the {search} search saw one {max(cropper.dropped)} px "
                                              f"wide, a size the fast search covers and missed, so not used")
        elif not faces:
            row.update(status="error", reason="no face")
        else:
            rect, score = faces[0]
            # search near this face in later frames only when it was alone, so a clip
            # with several people keeps counting (and choosing among) all of them
            near, seen_here = (rect, True) if len(faces) == 1 else (None, False)
            row.update(left=rect.left(), top=rect.top(), right=rect.right(), bottom=rect.bottom(), score=score)
            if len(faces) > 1:
                row["reason"] = f"{len(faces)} faces, kept the largest"
            crops.append(cropper.crop(rgb, rect))
        rows.append(row)
    return rows, crops, near


def _faces_run(run: tuple[list, tuple[int, int, int, int] | None]) -> list:
    """Consecutive clips of one folder, each starting its search where the last one saw
    the face, the first where the folder's reference face is (a box, or None). A clip
    that raises what nobody foresaw gets its ``Unforeseen`` (``guard``), and the next
    one looks where the clip before it saw the face."""
    jobs, reference = run
    near, out = (dlib.rectangle(*reference) if reference else None), []
    for job in jobs:
        done = Guard(_faces_one)(job, near)
        if isinstance(done, Unforeseen):
            out.append(done)
            continue
        rows, crops, near = done
        out.append((rows, crops))
    return out


def _reference_face(job) -> tuple[int, int, int, int] | None:
    """The face alone in the first sampled frame of a folder's first clip, searched
    whole: where every run of the folder starts looking. None if there are several
    (so runs search whole and keep counting them), none, or the clip does not decode
    (what went wrong then is that clip's own run's to record)."""
    path, times = job
    try:
        (_, rgb), = read_frames(path, times[:1])
    except Exception:       # noqa: BLE001 - only a hint: the clip's own run records why
        return None
    faces = _CROPPER.detect(rgb)
    if len(faces) != 1:
        return None
    r = faces[0][0]
    return r.left(), r.top(), r.right(), r.bottom()


def tracking_runs(paths: list[str], n: int) -> list[list[int]]:
    """Positions of ``paths`` cut into runs of at most ``n`` consecutive clips of one folder."""
    runs: list[list[int]] = []
    for k, p in enumerate(paths):
        if runs and len(runs[-1]) < n and Path(paths[runs[-1][-1]]).parent == Path(p).parent:
            runs[-1].append(k)
        else:
            runs.append([k])
    return runs


def run_faces(cfg: FacesConfig, clips: pd.DataFrame, vad: pd.DataFrame, raw_dir: str | Path,
              out_tensor: str | Path, out_index: str | Path, min_clips: int = 1,
              progress: bool = True) -> pd.DataFrame:
    from safetensors.numpy import save_file

    todo = vad.index[vad.status == "ok"]
    jobs = [(str(Path(raw_dir) / path), frame_times(a, b, cfg.frames_per_clip))
            for path, a, b in zip(clips.path.loc[todo], vad.seg_start.loc[todo], vad.seg_end.loc[todo])]
    kw = dict(detector=cfg.detector, downscale=cfg.downscale, upsample=cfg.upsample,
              image_size=cfg.image_size, padding=cfg.padding, fallback=cfg.fallback)
    _init_worker(kw)
    runs = tracking_runs([path for path, _ in jobs], cfg.track_clips)
    # a folder cut into several runs is searched whole once, on its first clip (one
    # folder, one run: that run's own first frame is the whole search)
    folder = [Path(jobs[run[0]][0]).parent for run in runs]
    starts: dict[Path, list[int]] = {}
    for f, run in zip(folder, runs):
        starts.setdefault(f, []).append(run[0])
    several = [f for f, s in starts.items() if len(s) > 1] if cfg.track_clips > 1 else []
    with WorkerPool(cfg.workers, len(runs), _init_worker, (kw,)) as pool:
        found = pool.map(_reference_face, [jobs[starts[f][0]] for f in several], desc="faces (folders)",
                         progress=progress and bool(several), unit="folder")
        reference = dict(zip(several, found))
        done = pool.map(_faces_run, [([jobs[k] for k in run], reference.get(f)) for f, run in zip(folder, runs)],
                        desc="faces", progress=progress, unit="run")
    results = [clip for run in done for clip in run]     # runs are consecutive: this is `todo` order
    failures = [(cid, r) for cid, r in zip(clips.clip_id.loc[todo], results) if isinstance(r, Unforeseen)]
    results = [([dict(frame=k, time_s=t, search="", status="error", reason=r.reason)
                 for k, t in enumerate(times)], [])
               if isinstance(r, Unforeseen) else r for r, (_, times) in zip(results, jobs)]
    rows, images = [], []
    for clip_id, (frame_rows, crops) in zip(clips.clip_id.loc[todo], results):
        it = iter(range(len(images), len(images) + len(crops)))
        for r in frame_rows:
            r["row"] = next(it) if r["status"] == "ok" else -1
            rows.append(dict(clip_id=clip_id, **r))
        images += crops
    index = pd.DataFrame(rows, columns=["clip_id", "frame", "time_s", "n_faces", "left", "top", "right", "bottom",
                                        "score", "search", "status", "reason", "row"])
    # clips upstream stages rejected, and clips with no face in any sampled frame, get one row saying so
    per_clip = index[index.status == "ok"].groupby("clip_id").size()
    missing = vad[~vad.clip_id.isin(per_clip.index)]
    extra = []
    for r in missing.itertuples():
        reason = r.reason if r.status != "ok" else f"no face in any sampled frame ({smallest_face_hint(cfg)})"
        if r.status == "ok":
            errs = index.reason[(index.clip_id == r.clip_id) & (index.status == "error")]
            told = errs[errs != "no face"]
            if len(told):
                reason = told.iloc[0]
        extra.append(dict(clip_id=r.clip_id, frame=-1, search="", status="error", reason=reason, row=-1))
    if extra:
        index = pd.concat([index, pd.DataFrame(extra)], ignore_index=True)
    require_clips(len(per_clip), min_clips, "faces", index.drop_duplicates("clip_id"))
    stack = np.stack(images).transpose(0, 3, 1, 2) if images else np.zeros((0, 3, cfg.image_size, cfg.image_size))
    with atomic_path(out_tensor, suffix=".safetensors") as tmp:
        save_file({"faces": np.ascontiguousarray(stack, dtype=np.uint8)}, str(tmp),
                  metadata={"layout": "(N, 3, S, S) uint8 RGB"})
    with atomic_path(out_index, suffix=".parquet") as tmp:
        index.to_parquet(tmp, index=False)
    write_log(log_path(out_index, "faces"), "faces", failures)
    return index


def stage(params: dict) -> str:
    """The `faces` stage: ``faces`` section, ``data.raw_dir`` and ``data.min_clips``."""
    cfg = build_config(FacesConfig, params.get("faces"), "faces")
    index = run_faces(cfg, pd.read_parquet(paths.CLIPS), pd.read_parquet(paths.VAD), params["data"]["raw_dir"],
                      paths.FACES, paths.FACES_INDEX, params["data"]["min_clips"])
    ok = index[index.row >= 0]
    return f"faces: {len(ok)} crops from {ok.clip_id.nunique()} clips"
