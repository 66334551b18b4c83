"""Inception Score from the TF Inception's 1008-class logits.

IS = exp(E_x KL(p(y|x) || p(y))), computed per split (consecutive chunks, no shuffling, as
OpenAI's ``inception_score.py``) and reported as mean and std over splits. The softmax runs
over all 1008 outputs of inception-2015-12-05, as the original and torch-fidelity do; the
logits are the unbiased ones (``features.inception_logits``). IS is bounded by the split size,
so with our small test sets (N / splits images per split) it is biased low; compare only at
equal N and splits.
"""
from __future__ import annotations

import numpy as np
from scipy.special import log_softmax, logsumexp


def inception_score(logits: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """(mean, std) of the Inception Score over ``splits`` consecutive chunks of ``logits``."""
    logits = np.asarray(logits, dtype=np.float64)
    n = logits.shape[0]
    if logits.ndim != 2 or n < splits or splits < 1:
        raise ValueError(f"IS needs (N, C) logits with N >= splits={splits}; got {logits.shape}")
    logp = log_softmax(logits, axis=1)
    scores = []
    for k in range(splits):
        part = logp[k * n // splits:(k + 1) * n // splits]
        log_py = logsumexp(part, axis=0) - np.log(part.shape[0])  # log of the mean p(y|x)
        kl = (np.exp(part) * (part - log_py)).sum(axis=1).mean()
        scores.append(np.exp(kl))
    return float(np.mean(scores)), float(np.std(scores))
