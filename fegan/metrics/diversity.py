"""Diversity: how much the noise draws of one voice differ, beside real faces of one group.

FID and KID are measured over ``samples_per_voice`` faces a voice; a generator that ignores
its noise gives the same face for every draw, so those sets rest on as many distinct images as
there are voices, and FID/KID then read a smaller set than their N says. Readings (SPEC 4):

- ``mean_pairwise``: the mean distance over the pairs of one group, averaged over the groups
  of two or more; for generated faces a group is one voice's draws, for real faces one
  (actor, emotion) group of the split (several clips and frames of one speaker and emotion:
  what a voice's draws may fairly vary like).
- distances: ``pixel``, the mean absolute difference of the uint8 images in [0, 1]; and the
  Euclidean distance of the Inception pool features FID already computes.
- ``n_distinct``: how many different uint8 images a set holds.
"""
from __future__ import annotations

import numpy as np


def pixel_distances(x: np.ndarray) -> np.ndarray:
    """(k, ...) uint8 images -> the (k*(k-1)/2,) mean absolute differences in [0, 1] of their pairs."""
    flat = x.reshape(len(x), -1).astype(np.int16)
    i, j = np.triu_indices(len(x), 1)
    return np.array([np.abs(flat[a] - flat[b]).mean() / 255.0 for a, b in zip(i, j)])


def feature_distances(f: np.ndarray) -> np.ndarray:
    """(k, D) features -> the (k*(k-1)/2,) Euclidean distances of their pairs."""
    f = f.astype(np.float64)
    i, j = np.triu_indices(len(f), 1)
    return np.linalg.norm(f[i] - f[j], axis=1)


def mean_pairwise(x: np.ndarray, groups: np.ndarray, distances) -> float | None:
    """The mean over groups of two or more rows of their pairs' mean ``distances``; None if no such group."""
    means = [distances(x[groups == g]).mean() for g in np.unique(groups) if (groups == g).sum() >= 2]
    return float(np.mean(means)) if means else None


def n_distinct(images: np.ndarray) -> int:
    """How many different images (byte for byte) ``images`` holds."""
    return int(len(np.unique(images.reshape(len(images), -1), axis=0)))


def diversity(fake_images: np.ndarray, fake_groups: np.ndarray, fake_feats: np.ndarray,
              real_images: np.ndarray, real_groups: np.ndarray, real_feats: np.ndarray) -> dict[str, float]:
    """The generated set's within-voice diversity beside the real set's within-group one, and their ratios.

    Keys: ``diversity_pixel``, ``diversity_inception`` (generated), the same with ``_real``,
    ``diversity_ratio`` (pixel, generated / real), ``diversity_inception_ratio``,
    ``n_distinct_generated``. A reading with no group of two is left out."""
    out: dict[str, float] = {"n_distinct_generated": n_distinct(fake_images)}
    for name, fx, rx, dist in (("pixel", fake_images, real_images, pixel_distances),
                               ("inception", fake_feats, real_feats, feature_distances)):
        fake, real = mean_pairwise(fx, fake_groups, dist), mean_pairwise(rx, real_groups, dist)
        if fake is not None:
            out[f"diversity_{name}"] = fake
        if real is not None:
            out[f"diversity_{name}_real"] = real
        if fake is not None and real:
            out["diversity_ratio" if name == "pixel" else f"diversity_{name}_ratio"] = fake / real
    return out
