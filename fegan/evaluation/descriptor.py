"""A second identity reading: dlib's frozen ResNet face descriptor with a linear classifier.

This is *not* the paper's judge (that is ``judge.train_judge``, trained on the dataset's
real faces, reported as ``id_acc``). dlib's ``dlib_face_recognition_resnet_model_v1`` was
trained on millions of photos, never on ours and never on generated faces; a logistic
regression over its 128-d descriptors, fitted on real training faces only, names the actor.
It reads real crops almost perfectly but is largely blind to small generated faces (on
faces that the CNN judge names correctly 0.79 of the time it said 0.21), so it is reported
as ``id_acc_descriptor``: a frozen generic descriptor, a reading nobody should take for the
paper's number.

Our crops are aligned by the same 5 landmarks dlib's descriptor expects, with
``faces.padding`` of margin; the descriptor's own chips have 0.25. The central
part with that margin is cut out and resized to the 150x150 chip it takes.
"""
from __future__ import annotations

import dlib
import numpy as np
from PIL import Image

from ..dlib_models import FACE_DESCRIPTOR, model_path
from .cache import cached, key

CHIP_SIZE, CHIP_PADDING = 150, 0.25


def to_chip(face: np.ndarray, padding: float) -> np.ndarray:
    """(3, S, S) uint8 crop with ``padding`` margin -> (150, 150, 3) chip with dlib's 0.25."""
    img = face.transpose(1, 2, 0)
    size = img.shape[0]
    margin = int(round(size * (1 - (1 + 2 * CHIP_PADDING) / (1 + 2 * padding)) / 2))
    if margin > 0:
        img = img[margin:size - margin, margin:size - margin]
    return np.asarray(Image.fromarray(np.ascontiguousarray(img)).resize((CHIP_SIZE, CHIP_SIZE), Image.BICUBIC))


def descriptors(faces: np.ndarray, padding: float, batch: int = 64) -> np.ndarray:
    """(N, 3, S, S) uint8 -> (N, 128) float64 face descriptors."""
    net = dlib.face_recognition_model_v1(str(model_path(FACE_DESCRIPTOR)))
    out = np.zeros((len(faces), 128))
    for i in range(0, len(faces), batch):
        chips = [to_chip(f, padding) for f in faces[i:i + batch]]
        out[i:i + len(chips)] = np.asarray(net.compute_face_descriptor(chips))
    return out


def cached_descriptors(faces: np.ndarray, padding: float, cache_dir) -> np.ndarray:
    """``descriptors``, cached in ``cache_dir`` (None: not cached) under a key of the faces, the
    padding and what computes them: this module's code, dlib's weights and dlib's version."""
    if not cache_dir:
        return descriptors(faces, padding)
    k = key(faces, padding, code=[__name__], files=[model_path(FACE_DESCRIPTOR)], libraries=["dlib"])
    return cached(cache_dir, "descriptors", k, lambda: descriptors(faces, padding))


class DescriptorJudge:
    """Logistic regression over face descriptors, fitted on real training faces."""

    def __init__(self, seed: int = 0):
        from sklearn.linear_model import LogisticRegression
        self.clf = LogisticRegression(max_iter=2000, random_state=seed)

    def fit(self, desc: np.ndarray, labels: np.ndarray) -> "DescriptorJudge":
        self.clf.fit(desc, labels)
        return self

    def predict(self, desc: np.ndarray) -> np.ndarray:
        return self.clf.predict(desc) if len(desc) else np.zeros(0, dtype=np.int64)
