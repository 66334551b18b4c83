"""Paths to dlib's weights shipped by the ``face-recognition-models`` package.

Its ``__init__`` imports ``pkg_resources`` (gone from current setuptools), so the
package is located with ``importlib`` and never imported.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from .errors import FeganError

MMOD_DETECTOR = "mmod_human_face_detector.dat"
LANDMARKS_5 = "shape_predictor_5_face_landmarks.dat"
LANDMARKS_68 = "shape_predictor_68_face_landmarks.dat"
FACE_DESCRIPTOR = "dlib_face_recognition_resnet_model_v1.dat"


def model_path(name: str) -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise FeganError("face-recognition-models is not installed (run `make setup`)")
    path = Path(spec.origin).parent / "models" / name
    if not path.is_file():
        raise FeganError(f"dlib model {name} missing from {path.parent}")
    return path
