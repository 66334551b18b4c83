"""The training set in memory: features, E_v, face crops and their labels.

Everything a training step reads is a tensor indexed on the training device (the
GPU when there is one), so no step touches the disk.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from safetensors.numpy import load_file

from .. import paths


@dataclass
class Labels:
    """Class indices of actors and emotions (saved in checkpoints as plain lists)."""
    actors: list[int]
    emotions: list[int]

    @classmethod
    def from_clips(cls, clips: pd.DataFrame) -> "Labels":
        ok = clips[clips.status == "ok"]
        return cls(sorted(int(a) for a in ok.actor.unique()), sorted(int(e) for e in ok.emotion.unique()))

    def actor_index(self, actors) -> np.ndarray:
        lut = {a: i for i, a in enumerate(self.actors)}
        return np.array([lut[int(a)] for a in actors], dtype=np.int64)

    def emotion_index(self, emotions) -> np.ndarray:
        lut = {e: i for i, e in enumerate(self.emotions)}
        return np.array([lut[int(e)] for e in emotions], dtype=np.int64)


def usable_clips(clips_path=paths.CLIPS, features_index=paths.FEATURES_INDEX) -> pd.DataFrame:
    """Clips with features: the table rows joined with their feature row."""
    clips = pd.read_parquet(clips_path)
    fi = pd.read_parquet(features_index)
    m = clips.merge(fi[["clip_id", "row"]], on="clip_id")
    return m[m.row >= 0].reset_index(drop=True)


def load_features(path=paths.FEATURES) -> torch.Tensor:
    return torch.from_numpy(load_file(str(path))["features"].copy())


def load_faces(path=paths.FACES) -> torch.Tensor:
    return torch.from_numpy(load_file(str(path))["faces"].copy())
