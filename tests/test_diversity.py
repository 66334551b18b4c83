"""Diversity readings (fegan.metrics.diversity): a generator that ignores its noise must show it."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from fegan.evaluation.stage import generate, vnet_accuracy
from fegan.metrics import MetricInputs, compute_metrics
from fegan.metrics.diversity import feature_distances, mean_pairwise, n_distinct, pixel_distances


class ToyG(nn.Module):
    """A 8x8 'generator': the voice sets the face, ``use_noise`` whether the noise moves it."""
    noise_dim = 4

    def __init__(self, use_noise: bool):
        super().__init__()
        self.use_noise = use_noise
        self.voice = nn.Linear(3, 3 * 8 * 8)
        self.noise = nn.Linear(4, 3 * 8 * 8)

    def forward(self, e_v, z):
        x = self.voice(e_v) + (self.noise(z) if self.use_noise else 0)
        return torch.tanh(x).view(-1, 3, 8, 8)


def test_pairwise_distances_by_hand():
    a = np.zeros((3, 2, 2), np.uint8)
    a[1] = 255                                   # all pixels differ by 1
    a[2, 0] = 255                                # half of them
    assert pixel_distances(a).tolist() == [1.0, 0.5, 0.5]
    assert feature_distances(np.array([[0.0, 0], [3, 4], [0, 8]])).tolist() == [5.0, 8.0, 5.0]
    groups = np.array([0, 0, 1])                  # group 1 has one member: left out
    assert mean_pairwise(a, groups, pixel_distances) == 1.0
    assert mean_pairwise(a, np.array([0, 1, 2]), pixel_distances) is None
    assert n_distinct(np.concatenate([a, a[:1]])) == 3


@pytest.mark.parametrize("use_noise", [False, True])
def test_a_generator_that_ignores_its_noise_reads_no_diversity(use_noise):
    torch.manual_seed(0)
    g = ToyG(use_noise).eval()
    voices, n = 5, 6
    fake = generate(g, torch.randn(voices, 3), n, seed=0, device="cpu")
    assert fake.shape == (voices * n, 3, 8, 8) and fake.dtype == np.uint8
    real = np.random.default_rng(0).integers(0, 256, (8, 3, 8, 8), dtype=np.uint8)
    real_groups = np.repeat([0, 1], 4)
    flat = lambda x: x.reshape(len(x), -1).astype(np.float64)            # noqa: E731 - stand-in features
    values, skipped = compute_metrics(MetricInputs(
        real=flat(real), fake=flat(fake), fake_images=fake, real_images=real,
        fake_groups=np.arange(voices).repeat(n), real_groups=real_groups), names=("diversity",))
    assert skipped == {}
    # uniform random uint8 pairs differ by 85/255 on average
    assert values["diversity_pixel_real"] == pytest.approx(1 / 3, abs=0.03)
    if not use_noise:
        assert values["diversity_pixel"] == 0.0 and values["diversity_inception"] == 0.0
        assert values["diversity_ratio"] == 0.0
        assert values["n_distinct_generated"] == voices          # FID/KID rest on one image a voice
    else:
        assert 0.05 < values["diversity_pixel"] < 0.5 and values["diversity_inception"] > 1
        assert values["diversity_ratio"] == pytest.approx(values["diversity_pixel"] / values["diversity_pixel_real"])
        assert values["n_distinct_generated"] == voices * n


def test_diversity_needs_its_inputs_and_is_not_a_default_metric():
    x = np.zeros((4, 8))
    values, skipped = compute_metrics(MetricInputs(real=x, fake=x), names=("diversity",))
    assert values == {} and "needs the images" in skipped["diversity"]


def test_vnet_accuracy_compares_actor_codes_not_class_indices():
    # V-net's classes are actors [2, 5, 9]; the true codes are compared with what its head names
    logits = torch.tensor([[5.0, 0, 0], [0, 5, 0], [0, 0, 5], [0, 5, 0]])
    assert vnet_accuracy(logits, [2, 5, 9], np.array([2, 5, 9, 9])) == 0.75
    assert vnet_accuracy(logits, [2, 5, 9], np.array([0, 1, 2, 1])) == 0.0        # indices are not codes
