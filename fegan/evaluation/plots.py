"""What people look at: the real-vs-generated grid, confusion pairs, the robustness table."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from ..io import atomic_path


def face_grid(cells: dict[tuple[int, int], tuple[np.ndarray | None, np.ndarray | None]], actors: list[int],
              emotions: list[int], emotion_names: dict[int, str]) -> Image.Image:
    """Rows = actors, columns = emotions; each cell is a real face | a generated face.

    ``cells[(actor, emotion)] = (real (3, S, S) uint8 or None, generated or None)``. Faces
    smaller than 64 pixels are enlarged (nearest neighbour, whole factors) so they can be seen.
    """
    src = next(x.shape[-1] for pair in cells.values() for x in pair if x is not None)
    scale = max(1, -(-64 // src))
    size = src * scale
    pad, top, left = 6, 30, 30
    cw = 2 * size + pad
    img = Image.new("RGB", (left + len(emotions) * cw, top + len(actors) * (size + pad)), "white")
    draw = ImageDraw.Draw(img)
    for c, e in enumerate(emotions):
        draw.text((left + c * cw + 2, 2), str(emotion_names.get(e, e)), fill="black")
        draw.text((left + c * cw + 2, 15), "real | generated", fill="black")
    for r, a in enumerate(actors):
        y = top + r * (size + pad)
        draw.text((2, y + size // 2 - 5), f"A{a:02d}", fill="black")
        for c, e in enumerate(emotions):
            for k, face in enumerate(cells.get((a, e), (None, None))):
                if face is not None:
                    tile = Image.fromarray(face.transpose(1, 2, 0)).resize((size, size), Image.NEAREST)
                    img.paste(tile, (left + c * cw + k * size, y))
    return img


def save_png(img: Image.Image, path: str | Path) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        img.save(tmp, format="PNG")


def save_csv(df: pd.DataFrame, path: str | Path) -> None:
    with atomic_path(path, suffix=".csv") as tmp:
        df.to_csv(tmp, index=False)


def confusion_pairs(actual, predicted, names: dict[int, str] | None = None) -> pd.DataFrame:
    """One row per judged face (DVC's confusion template counts them)."""
    name = (lambda v: names.get(int(v), str(v))) if names else str
    return pd.DataFrame({"actual": [name(a) for a in actual], "predicted": [name(p) for p in predicted]})


def markdown_table(rows: list[dict], columns: list[str]) -> str:
    def cell(v):
        return f"{v:.3f}" if isinstance(v, float) else ("—" if v is None else str(v))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"
