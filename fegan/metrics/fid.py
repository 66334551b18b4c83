"""FID (through pytorch-fid's ``calculate_frechet_distance``) and KID on Inception features.

Our test sets are small (about 50-500 faces): FID is biased upward at such sizes (the bias
shrinks like 1/N), so compare FIDs only at equal N; KID's estimator is unbiased at any N and
is the better number for small sets. With N < 2048 the covariances are singular;
pytorch-fid's ``calculate_frechet_distance`` handles that (it adds 1e-6 to the diagonals when
the product's square root is not finite). On a CPU its 2048 x 2048 ``sqrtm`` takes tens of
seconds per FID.
"""
from __future__ import annotations

import warnings

import numpy as np


def _stats(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance as pytorch-fid's ``calculate_activation_statistics``."""
    feats = np.asarray(feats, dtype=np.float64)
    if feats.ndim != 2 or feats.shape[0] < 2:
        raise ValueError(f"FID needs (N >= 2, D) features; got shape {feats.shape}")
    return feats.mean(axis=0), np.cov(feats, rowvar=False)


def fid(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """Frechet Inception Distance between two feature sets (N, D), via pytorch-fid."""
    from pytorch_fid.fid_score import calculate_frechet_distance

    mu1, s1 = _stats(feats_a)
    mu2, s2 = _stats(feats_b)
    with warnings.catch_warnings():
        # pytorch-fid 0.3.0 passes sqrtm(disp=False), deprecated in SciPy 1.16+ (still works).
        warnings.filterwarnings("ignore", message=".*`disp` argument is deprecated.*",
                                category=DeprecationWarning)
        return float(calculate_frechet_distance(mu1, s1, mu2, s2))


def kid_subsets(feats_a: np.ndarray, feats_b: np.ndarray, num_subsets: int = 100,
                max_subset_size: int = 1000, seed: int = 0) -> np.ndarray:
    """Per-subset unbiased MMD^2 estimates with the kernel k(x, y) = (x.y / d + 1)^3,
    as StyleGAN2-ADA's ``kernel_inception_distance.py`` (subsets of m = min(N_a, N_b,
    max_subset_size) drawn without replacement, fixed ``seed``)."""
    a = np.asarray(feats_a, dtype=np.float64)
    b = np.asarray(feats_b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"KID needs (N, D) features of one D; got {a.shape} and {b.shape}")
    d = a.shape[1]
    m = min(a.shape[0], b.shape[0], max_subset_size)
    if m < 2:
        raise ValueError("KID needs at least 2 samples per set")
    rng = np.random.default_rng(seed)
    out = np.empty(num_subsets)
    for s in range(num_subsets):
        x = a[rng.choice(a.shape[0], m, replace=False)]
        y = b[rng.choice(b.shape[0], m, replace=False)]
        kxx = (x @ x.T / d + 1) ** 3
        kyy = (y @ y.T / d + 1) ** 3
        kxy = (x @ y.T / d + 1) ** 3
        within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        out[s] = within - 2 * kxy.sum() / (m * m)
    return out


def kid(feats_a: np.ndarray, feats_b: np.ndarray, num_subsets: int = 100,
        max_subset_size: int = 1000, seed: int = 0) -> float:
    """Kernel Inception Distance: the mean of ``kid_subsets`` (unbiased; may be slightly < 0)."""
    return float(kid_subsets(feats_a, feats_b, num_subsets, max_subset_size, seed).mean())
