"""A contact sheet of the synthetic dataset: one row per actor, one column per emotion."""
from __future__ import annotations

from pathlib import Path

import av
import pandas as pd
from PIL import Image

from ..io import atomic_path


def middle_frame(path: Path) -> Image.Image:
    """The frame in the middle of a clip, found by seeking rather than decoding all frames."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        target = int(v.duration * 0.5) if v.duration else 0
        c.seek(target, stream=v)
        for f in c.decode(v):
            if f.pts is not None and f.pts >= target:
                return f.to_image()
    raise ValueError(f"no frame decoded from {path}")


def contact_sheet(raw_dir: str, truth: str, out_png: str, tile: int = 160, max_actors: int = 8) -> None:
    t = pd.read_parquet(truth)
    t = t[(t.statement == t.statement.min()) & (t.repetition == t.repetition.min())]
    # the strongest intensity available per (actor, emotion) shows the expression best
    t = t.sort_values("intensity").groupby(["actor", "emotion"]).tail(1)
    actors = sorted(t.actor.unique())[:max_actors]
    emotions = sorted(t.emotion.unique())
    sheet = Image.new("RGB", (tile * len(emotions), tile * len(actors)), "white")
    for row in t[t.actor.isin(actors)].itertuples():
        img = middle_frame(Path(raw_dir) / row.relpath)
        h = 1.5 * row.face_s
        crop = img.crop((int(row.face_cx - h), int(row.face_cy - h), int(row.face_cx + h), int(row.face_cy + h)))
        sheet.paste(crop.resize((tile, tile), Image.BICUBIC),
                    (emotions.index(row.emotion) * tile, actors.index(row.actor) * tile))
    with atomic_path(out_png, suffix=".png") as tmp:
        sheet.save(tmp, format="PNG")
