"""The training set in memory: features, E_v, face crops and their labels.

Everything a training step reads is a tensor indexed on the training device (the
GPU when there is one), so no step touches the disk.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors.numpy import load_file

from .. import paths
from ..errors import FeganError


@dataclass
class Labels:
    """Class indices of actors and emotions (saved in checkpoints as plain lists)."""
    actors: list[int]
    emotions: list[int]

    @classmethod
    def from_clips(cls, clips: pd.DataFrame) -> "Labels":
        """The identity classes are the actors with training clips (under ``data.split: speaker``
        the test and val speakers have none: no head may name them); the emotions are all."""
        ok = clips[clips.status == "ok"]
        train = ok[ok.split == "train"] if "split" in ok and (ok.split == "train").any() else ok
        return cls(sorted(int(a) for a in train.actor.unique()), sorted(int(e) for e in ok.emotion.unique()))

    def actor_index(self, actors, unseen: bool = False) -> np.ndarray:
        """Class indices of actor codes; with ``unseen``, -1 for an actor with no class (an unseen
        speaker), else such an actor is an error."""
        lut = {a: i for i, a in enumerate(self.actors)}
        if unseen:
            return np.array([lut.get(int(a), -1) for a in actors], dtype=np.int64)
        return np.array([lut[int(a)] for a in actors], dtype=np.int64)

    def emotion_index(self, emotions) -> np.ndarray:
        lut = {e: i for i, e in enumerate(self.emotions)}
        return np.array([lut[int(e)] for e in emotions], dtype=np.int64)


def protocol(clips: pd.DataFrame) -> str:
    """``speaker`` when no held-out (val or test) clip's speaker has a training clip (``data.split:
    speaker``: the field's unseen-speaker protocol), else ``utterance`` (the paper's)."""
    ok = clips[clips.status == "ok"] if "status" in clips else clips
    held = set(ok.actor[ok.split.isin(["val", "test"])])
    return "speaker" if held and not held & set(ok.actor[ok.split == "train"]) else "utterance"


def usable_clips(clips_path=paths.CLIPS, features_index=paths.FEATURES_INDEX) -> pd.DataFrame:
    """Clips with features: the table rows joined with their feature row."""
    clips = pd.read_parquet(clips_path)
    fi = pd.read_parquet(features_index)
    m = clips.merge(fi[["clip_id", "row"]], on="clip_id")
    return m[m.row >= 0].reset_index(drop=True)


def load_features(path=paths.FEATURES) -> torch.Tensor:
    return torch.from_numpy(load_file(str(path))["features"].copy())


def load_noisy(rows: np.ndarray, path=paths.NOISY_FEATURES) -> torch.Tensor | None:
    """``(len(rows), copies, F, T)``: the noisy copies of the clips at features rows ``rows``;
    None when the stage made none (or a tree from before it: no file). Every row must have the
    same number of copies."""
    if not Path(path).is_file():
        return None
    d = load_file(str(path))
    if len(d["clip_row"]) == 0:
        return None
    by_row: dict[int, list[int]] = {}
    for i, r in enumerate(d["clip_row"].tolist()):
        by_row.setdefault(r, []).append(i)
    counts = {len(by_row.get(int(r), [])) for r in rows}
    if len(counts) != 1 or 0 in counts:
        raise FeganError(f"{path} holds no copies, or unequal numbers of copies, for some training clips: "
                         f"rerun `dvc repro noisy_voices`")
    feats = torch.from_numpy(d["features"])
    return torch.stack([feats[by_row[int(r)]] for r in rows])          # (N, copies, F, T)


def load_faces(path=paths.FACES) -> torch.Tensor:
    return torch.from_numpy(load_file(str(path))["faces"].copy())
