"""The attribute judges: sex, age band and size band read from a face (the speaker protocol).

A voice carries its speaker's sex, age and body size (``fegan.datasets.attributes``), so these
are what a face generated for an unseen speaker can be checked against, speaker by speaker. One
judge per attribute, each the identity judge's recipe (``evaluate.identity``: ``judge.train_judge``)
trained on the real faces of *training* actors only, so its accuracy on real faces of unseen
speakers is its ceiling. Their softmax outputs, concatenated, are the **attribute embedding**
the matching metrics read (``fegan.metrics.retrieval``): two faces are close when the judges
read the same sex, age and size in them.

An attribute is judged only where the training actors show at least two of its classes (no
size in CREMA-D; only sex where RAVDESS's numbering is all there is).
"""
from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pandas as pd

from ..datasets.attributes import ATTRIBUTES
from ..training import checkpoint
from .judge import FaceClassifier, JudgeConfig, probabilities, train_judge

SEXES_INDEX = {s: i for i, s in enumerate(ATTRIBUTES["sex"])}


def face_attributes(actors: pd.DataFrame, codes) -> dict[str, np.ndarray]:
    """The attribute classes (-1: unknown) of faces or voices of actor ``codes``, from the actors'
    table (``data/interim/actors.parquet``)."""
    by_actor = actors.set_index("actor")
    codes = np.asarray(codes, dtype=np.int64)
    out = {}
    for name, classes in ATTRIBUTES.items():
        if name == "sex":
            lut = {a: SEXES_INDEX.get(s, -1) for a, s in by_actor.sex.items()}
        else:
            lut = {a: int(v) for a, v in by_actor[name].items()}
        out[name] = np.array([lut.get(int(a), -1) for a in codes], dtype=np.int64)
    return out


def train_attribute_judges(cfg: JudgeConfig, faces: np.ndarray, attrs: dict[str, np.ndarray]
                           ) -> dict[str, FaceClassifier]:
    """One judge per attribute whose known training labels hold two classes or more."""
    judges = {}
    for name, y in attrs.items():
        known = y >= 0
        if len(np.unique(y[known])) < 2:
            continue
        judges[name] = train_judge(cfg, faces[known], y[known], len(ATTRIBUTES[name]))
    return judges


def save_attribute_judges(path, judges: dict[str, FaceClassifier], cfg: JudgeConfig) -> None:
    """Every attribute judge in one file (an empty one under the utterance protocol)."""
    checkpoint.save(path, config=asdict(cfg),
                    judges={k: {"state_dict": net.state_dict(), "classes": list(ATTRIBUTES[k])}
                            for k, net in judges.items()})


def load_attribute_judges(path) -> dict[str, FaceClassifier]:
    ck = checkpoint.load(path)
    out = {}
    for name, j in ck["judges"].items():
        net = FaceClassifier(len(j["classes"]), int(ck["config"]["width"]))
        net.load_state_dict(j["state_dict"])
        out[name] = net.eval()
    return out


def attribute_probabilities(judges: dict[str, FaceClassifier], faces: np.ndarray) -> dict[str, np.ndarray]:
    """Each judge's (N, classes) softmax on ``faces``."""
    return {name: probabilities(net, faces) for name, net in judges.items()}


def embedding(probs: dict[str, np.ndarray]) -> np.ndarray:
    """The attribute embedding: the judges' probabilities side by side, (N, sum of classes)."""
    return np.concatenate([probs[k] for k in sorted(probs)], axis=1)
