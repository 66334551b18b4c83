"""What keeps a killed run's checkpoint from being resumed by another run.

models/checkpoints is no DVC output (a clone pulled from a remote has none and is not out of
date: tests/test_remote.py), so DVC never deletes a stale one: the checkpoint's fingerprint
alone must tell it from the current run's.
"""
from __future__ import annotations

import dataclasses

import torch

from test_models import _random_data

from fegan.models.config import GANConfig
from fegan.training import checkpoint
from fegan.params import defaults
from fegan.training.gan import GANTrainConfig, fingerprint, resumable_step, train_gan

MC = GANConfig(image_size=32, width=0.125, n_identities=4, n_emotions=3)
# ema_images 0: G itself is exported, without the weight average's BatchNorm recalibration to wait for
TC = GANTrainConfig(**{**defaults("train"), "iterations": 6, "batch_size": 8, "checkpoint_every": 2,
                       "sample_every": 0, "ema_images": 0})
CPU = torch.device("cpu")


def _changed(data, field: str, row: int):
    """``data`` with one value of ``field`` in ``row`` changed (a label moved to the next class)."""
    t = getattr(data, field).clone()
    if t.dtype.is_floating_point:
        t[row].view(-1)[0] += 1.0
    else:
        t[row].view(-1)[0] = (t[row].view(-1)[0] + 1) % (4 if field.endswith("id") else 3)
    return dataclasses.replace(data, **{field: t})


def test_any_change_to_the_data_or_labels_is_another_run():
    def full():    # with the voices' features, faces' voices (voice crops) and 2 babble copies of each voice
        d = _random_data(features=True)
        d.voice_noisy = d.voice_feat[:, None].repeat(1, 2, 1, 1) + 0.5
        return d

    data = full()
    assert all(v is not None for v in vars(data).values())          # every field is checked below
    fp = fingerprint(MC, TC, (0.7, 0.3), data)
    assert fingerprint(MC, TC, (0.7, 0.3), full()) == fp                # the same data: the same run
    # one value of the faces, of either E_v or of any label gives another fingerprint (a sum
    # over some rows of the faces and voices' E_v, as it was before, missed the labels)
    others = {f: fingerprint(MC, TC, (0.7, 0.3), _changed(data, f, 1)) for f in vars(data)}
    assert len(set(others.values()) | {fp}) == len(others) + 1, others
    assert fingerprint(MC, dataclasses.replace(TC, lr=1e-3), (0.7, 0.3), data) != fp
    assert fingerprint(dataclasses.replace(MC, width=0.25), TC, (0.7, 0.3), data) != fp
    assert fingerprint(MC, TC, (0.7, 0.3), data, crop_frames=(19, 50)) != fp      # another features hop


def test_a_killed_run_resumes_only_on_its_own_data(tmp_path):
    data = _random_data()
    ckpt = tmp_path / "fegan.pt"
    train_gan(MC, TC, 0.7, 0.3, data, CPU, ckpt, stop_after=3)          # killed after step 3
    assert checkpoint.load(ckpt)["step"] == 2
    assert resumable_step(ckpt, fingerprint(MC, TC, (0.7, 0.3), data), TC.iterations) == 2
    # the same params, but one face relabelled (say, a fixed name parser): trained from step 0
    steps = []
    train_gan(MC, TC, 0.7, 0.3, _changed(data, "face_id", 1), CPU, ckpt, log=lambda s, d: steps.append(s),
              stop_after=1)
    assert steps == [0]
