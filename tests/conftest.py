"""Shared fixtures: one small synthetic dataset per test session."""
from __future__ import annotations

import os

import pytest

# Small but learnable: 4 actors x 3 emotions x 2 statements x 2 repetitions = 48 clips.
# Repetition 1 trains, repetition 2 is held out.
TINY = dict(seed=0, actors=4, emotions=[3, 4, 5], intensities=[1], statements=[1, 2],
            repetitions=[1, 2], workers=0)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    # imported here, not at the top: the model tests must also run where PyAV and dlib are
    # missing (the GPU machine they are checked on)
    from fegan.synth.dataset import SynthConfig, synthesize

    root = tmp_path_factory.mktemp("synth")
    cfg = SynthConfig(out_dir=str(root / "raw"), truth=str(root / "truth.parquet"), **TINY)
    cfg.validate()
    truth = synthesize(cfg, progress=False)
    return cfg, truth


@pytest.fixture(scope="session")
def ncores():
    return os.cpu_count() or 1


@pytest.fixture(scope="session")
def tiny_processed(tiny_dataset, tmp_path_factory):
    """The tiny dataset through demux, vad, features and faces, laid out as in the repo."""
    from test_preprocess import _pipeline

    cfg, truth = tiny_dataset
    out = tmp_path_factory.mktemp("processed")
    return cfg, truth, out, _pipeline(cfg.out_dir, out, workers=2)


@pytest.fixture(scope="session")
def tiny_project(tmp_path_factory):
    """A tiny copy of this repository after one `dvc repro` of every stage, and that run's
    output (tests/dvcproject.py). Shared: a test that changes it works on `copy_project`."""
    import dvcproject

    root = tmp_path_factory.mktemp("project")
    return root, dvcproject.build(root)
