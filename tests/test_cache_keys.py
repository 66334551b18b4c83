"""Cache keys hold what computes the value: an edit of the code or another model file is a miss.

The code is ``fegan.imports.ROOT`` pointed at an edited copy of the package (what a checkout
with the edit would hash); the model a temporary file. The computations are stand-ins that
count their calls: a call is a miss.
"""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from fegan import imports
from fegan.evaluation.cache import key

PACKAGE = imports.ROOT / "fegan"   # the checkout's, before any test points ROOT elsewhere

def _package_copy(dest, edit: str | None = None):
    """A copy of the fegan package under ``dest``, with a comment appended to the file ``edit``."""
    shutil.copytree(PACKAGE, dest / "fegan", ignore=shutil.ignore_patterns("__pycache__"))
    if edit:
        with open(dest / edit, "a") as f:
            f.write("\n# an edit\n")
    return dest


def test_a_key_needs_the_code():
    with pytest.raises(ValueError, match="modules that compute"):
        key(np.zeros(3), code=[])
    a = np.arange(12, dtype=np.uint8)
    assert key(a, code=["fegan.io"]) != key(a.reshape(3, 4), code=["fegan.io"])   # same bytes, other shape
    assert key(a, code=["fegan.io"]) != key(a, code=["fegan.errors"])


def test_descriptor_cache_misses_when_its_code_or_dlib_model_changes(tmp_path, monkeypatch):
    descriptor = pytest.importorskip("fegan.evaluation.descriptor", reason="dlib is not installed")
    calls = []

    def count(faces, padding):
        calls.append(padding)
        return np.full((len(faces), 128), float(len(calls)))
    monkeypatch.setattr(descriptor, "descriptors", count)
    model = tmp_path / "dlib_face_recognition_resnet_model_v1.dat"
    model.write_bytes(b"weights one")
    monkeypatch.setattr(descriptor, "model_path", lambda name: model)
    faces = np.random.default_rng(0).integers(0, 256, (3, 3, 8, 8), dtype=np.uint8)
    cache = tmp_path / "cache"

    def run():
        return descriptor.cached_descriptors(faces, 0.25, cache)[0, 0]

    assert run() == 1 and run() == 1 and len(calls) == 1                 # computed once, then a hit
    assert descriptor.cached_descriptors(faces, 0.3, cache)[0, 0] == 2   # a setting: a miss
    model.write_bytes(b"weights two, another model")
    assert run() == 3                                                    # another model file: a miss
    model.write_bytes(b"weights one")
    assert run() == 1 and len(calls) == 3                                # the first model again: a hit

    monkeypatch.setattr(imports, "ROOT", _package_copy(tmp_path / "same"))
    assert run() == 1 and len(calls) == 3                                # the same code elsewhere: a hit
    monkeypatch.setattr(imports, "ROOT", _package_copy(tmp_path / "edit", "fegan/evaluation/descriptor.py"))
    assert run() == 4                                                    # descriptor.py edited: a miss
    monkeypatch.setattr(imports, "ROOT", _package_copy(tmp_path / "deep", "fegan/dlib_models.py"))
    assert run() == 5                                                    # and what it imports
    assert len(list(cache.glob("descriptors-*.npy"))) == 5


class _Features(torch.nn.Module):
    """Stands in for the Inception: 2 numbers an image; counts its calls."""
    calls = 0

    def forward(self, x):
        _Features.calls += 1
        return [x.mean(dim=(2, 3), keepdim=True)[:, :2]]


def test_inception_feature_cache_misses_when_the_metrics_code_changes(tmp_path, monkeypatch):
    from fegan.metrics import cached_features

    images = np.random.default_rng(1).integers(0, 256, (4, 3, 16, 16), dtype=np.uint8)
    first = cached_features(_Features(), "weights", images, tmp_path / "cache")
    np.testing.assert_array_equal(cached_features(_Features(), "weights", images, tmp_path / "cache"), first)
    assert _Features.calls == 1
    monkeypatch.setattr(imports, "ROOT", _package_copy(tmp_path / "edit", "fegan/metrics/inception.py"))
    np.testing.assert_array_equal(cached_features(_Features(), "weights", images, tmp_path / "cache"), first)
    assert _Features.calls == 2 and len(list((tmp_path / "cache").glob("inception_feats_*.npy"))) == 2


def test_converted_inception_weights_are_converted_again_when_the_conversion_changes(tmp_path, monkeypatch):
    from fegan.metrics import inception

    converted = []
    monkeypatch.setattr(inception, "convert_torchscript",
                        lambda path: converted.append(path) or {"w": torch.ones(2)})
    src = tmp_path / "default_1.pt"
    src.write_bytes(b"torchscript")
    first = inception.converted_weights(tmp_path / "cache", source=src)
    assert inception.converted_weights(tmp_path / "cache", source=src) == first and len(converted) == 1
    monkeypatch.setattr(imports, "ROOT", _package_copy(tmp_path / "edit", "fegan/metrics/inception.py"))
    again = inception.converted_weights(tmp_path / "cache", source=src)
    assert again != first and len(converted) == 2
    assert torch.equal(torch.load(again, weights_only=True)["w"], torch.ones(2))
