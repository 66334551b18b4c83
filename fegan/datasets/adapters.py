"""Walk a dataset folder and read each clip's labels from its name.

``scan(raw_dir, format)`` returns one row per video file found, usable or not:
``status`` is ``ok``, ``filtered`` (a clip the task does not use: song,
video-only, audio-only) or ``error`` (the name cannot be read), with the reason.
Only video suffixes are clips: CREMA-D's AudioWAV/ and AudioMP3/ beside its
VideoFlash/ are not read. CREMA-D's ``gender`` comes from its demographics file
(``unknown`` without it, or for an actor it does not list).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import FeganError
from . import cremad, enterface, ravdess

VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts",
                  ".wmv", ".flv", ".3gp"}
FORMATS = ("ravdess", "enterface", "cremad")
COLUMNS = ["clip_id", "path", "actor", "gender", "emotion", "intensity", "statement", "repetition",
           "status", "reason"]


def _row(path: str, **kw) -> dict:
    base = dict(clip_id=Path(path).stem, path=path, actor=-1, gender="unknown", emotion=-1, intensity=-1,
                statement=-1, repetition=-1, status="ok", reason="")
    base.update(kw)
    return base


def _ravdess(rel: str) -> dict:
    try:
        n = ravdess.parse_name(Path(rel).stem)
    except ravdess.InvalidName as e:
        return _row(rel, status="error", reason=str(e))
    row = _row(rel, clip_id=n.stem, actor=n.actor, gender=n.gender, emotion=n.emotion,
               intensity=n.intensity, statement=n.statement, repetition=n.repetition)
    if n.modality != 1:
        row.update(status="filtered", reason=f"{ravdess.MODALITIES[n.modality]} clip (modality {n.modality:02d})")
    elif n.vocal_channel != 1:
        row.update(status="filtered", reason="song, not speech (vocal channel 02)")
    return row


def _enterface(rel: str) -> dict:
    try:
        n = enterface.parse_path(rel)
    except enterface.InvalidPath as e:
        return _row(rel, status="error", reason=str(e))
    return _row(rel, clip_id=n.clip_id, actor=n.subject, emotion=n.emotion, intensity=1,
                statement=n.sentence, repetition=1)


def _cremad(rel: str) -> dict:
    try:
        n = cremad.parse_name(Path(rel).stem)
    except cremad.InvalidName as e:
        return _row(rel, status="error", reason=str(e))
    return _row(rel, clip_id=n.stem, actor=n.actor, emotion=n.emotion, intensity=n.intensity,
                statement=n.statement, repetition=1)


def _cremad_gender(root: Path, table: pd.DataFrame) -> pd.DataFrame:
    """The ``gender`` column from VideoDemographics.csv, when the folder has one."""
    if not (root / cremad.DEMOGRAPHICS).is_file():
        return table
    sex = cremad.read_demographics(root).set_index("actor").sex
    table["gender"] = table.actor.map(sex).fillna("unknown")
    return table


_PARSERS = {"ravdess": _ravdess, "enterface": _enterface, "cremad": _cremad}


def scan(raw_dir: str | Path, format: str) -> pd.DataFrame:
    root = Path(raw_dir)
    if format not in FORMATS:
        raise FeganError(f"data.format must be one of {', '.join(FORMATS)}, got {format!r}")
    if not root.is_dir():
        raise FeganError(f"data.raw_dir {root} is not a folder")
    parse = _PARSERS[format]
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                   if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES and not p.name.startswith("."))
    rows = [parse(f) for f in files]
    table = pd.DataFrame(rows, columns=COLUMNS)
    if format == "cremad":
        table = _cremad_gender(root, table)
    dup = table.duplicated("clip_id", keep="first") & (table.status == "ok")
    for i in table.index[dup]:
        first = table.path[table.clip_id == table.clip_id[i]].iloc[0]
        table.loc[i, ["status", "reason"]] = ["error", f"duplicate clip id of {first}"]
    return table
