"""Calibration: what the demo's numbers mean, fitted on data the models were not trained on.

Two readings, each fitted in the stage that trains its model (issue 26, item 5):

- **Temperature scaling** (Guo et al., "On calibration of modern neural networks", ICML 2017)
  of a judge's softmax: one scalar ``T > 0`` divides the logits, chosen to minimise the negative
  log-likelihood of held-out labels (real *validation* faces). The predicted class does not
  change; only how sure the judge says it is. ``fit_temperature`` is a golden-section search on
  ``log T`` (the NLL is convex in ``1/T``, so it has one minimum on the bracket), deterministic.
  When the judge reads every validation face right the NLL has no minimum (it falls towards
  T = 0, a surer judge), so T stays 1 and the file says why.
- **Is a voice new?** V-net's speaker softmax names one of the training speakers for any voice
  with p near 1. The cosine similarity of the voice's E_v to the nearest training speaker's
  centroid is a similarity, and ``eer_threshold`` puts the line between "close to a training
  speaker" and "a new voice" where the two error rates meet on voices of known speakers held
  out from training and voices of speakers never trained on.

numpy only: the `train_judges` and `train_vnet` stages, `fegan generate` and the demo use it.
"""
from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np

T_BOUNDS = (0.05, 20.0)      # the search bracket of T: sharper than 20x, or flatter than 1/20, is no calibration
LOG_T_TOL = 1e-7             # golden-section stops when the bracket of log T is this narrow
ECE_BINS = 15                # Guo et al.'s equal-width confidence bins


def log_softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature`` (float64)."""
    return np.exp(log_softmax(np.asarray(logits, dtype=np.float64) / temperature))


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of ``labels`` under ``softmax(logits / temperature)``."""
    labels = np.asarray(labels, dtype=np.int64)
    lp = log_softmax(np.asarray(logits, dtype=np.float64) / temperature)
    return float(-lp[np.arange(len(labels)), labels].mean())


def ece(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error: over equal-width bins of the top probability, the gap between
    the bin's mean confidence and its accuracy, weighted by the bin's share of samples."""
    probs = np.asarray(probs, dtype=np.float64)
    conf, pred = probs.max(1), probs.argmax(1)
    right = (pred == np.asarray(labels)).astype(np.float64)
    # bin k holds confidences in (k/bins, (k+1)/bins]; a confidence of exactly 0 (impossible for a
    # softmax) would fall in bin 0
    which = np.clip(np.ceil(conf * bins).astype(np.int64) - 1, 0, bins - 1)
    total = 0.0
    for k in range(bins):
        m = which == k
        if m.any():
            total += m.sum() * abs(conf[m].mean() - right[m].mean())
    return float(total / max(len(conf), 1))


def fit_temperature(logits: np.ndarray, labels: np.ndarray, bounds: tuple[float, float] = T_BOUNDS,
                    tol: float = LOG_T_TOL) -> float:
    """The ``T`` in ``bounds`` that minimises ``nll(logits, labels, T)``: golden-section search on
    ``log T`` (deterministic: the same inputs give the same ``T``, bit for bit)."""
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) == 0:
        raise ValueError("no labelled logits to fit a temperature on")
    f = lambda u: nll(logits, labels, math.exp(u))      # noqa: E731
    a, b = math.log(bounds[0]), math.log(bounds[1])
    g = (math.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = f(c), f(d)
    while b - a > tol:
        if fc <= fd:          # the minimum is in [a, d]
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = f(c)
        else:                 # in [c, b]
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = f(d)
    return math.exp((a + b) / 2)


def temperature_report(logits: np.ndarray | None, labels: np.ndarray | None, what: str) -> dict:
    """The fitted temperature with the NLL and ECE before and after, on ``what`` (e.g. "real val
    faces"); ``T = 1`` with ``fitted: false`` and the reason when there is nothing to fit on."""
    n = 0 if labels is None else len(labels)
    if n == 0:
        return {"temperature": 1.0, "fitted": False, "n_val_faces": 0,
                "note": f"no {what} (data.val_fraction 0?): not fitted, the softmax is shown as it is (T = 1)"}
    z, y = np.asarray(logits, dtype=np.float64), np.asarray(labels, dtype=np.int64)
    margin = z[np.arange(n), y] - np.where(np.eye(z.shape[1], dtype=bool)[y], -np.inf, z).max(1)
    if (margin > 0).all():
        # every one right: the NLL falls all the way to T -> 0, no finite T minimises it, and the
        # bracket's floor would only make the judge surer; the softmax is left as it is
        return {"temperature": 1.0, "fitted": False, "n_val_faces": int(n), "fitted_on": what,
                "nll_before": nll(z, y), "ece_before": ece(softmax(z), y), "accuracy": 1.0,
                "note": f"the judge reads all {n} {what} right, so no finite temperature minimises their NLL "
                        "(it falls towards T = 0): not fitted, T = 1"}
    t = fit_temperature(logits, labels)
    return {"temperature": t, "fitted": True, "n_val_faces": int(n), "fitted_on": what,
            "nll_before": nll(logits, labels), "nll_after": nll(logits, labels, t),
            "ece_before": ece(softmax(logits), labels), "ece_after": ece(softmax(logits, t), labels),
            "accuracy": float((np.asarray(logits).argmax(1) == np.asarray(labels)).mean())}


def file_md5(path) -> str:
    """The md5 of a model file: a calibration records the one it was fitted for, and a reader
    ignores it for another (a stale calibration must not speak for a retrained model)."""
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


# ---------------------------------------------------------------- is a voice new?

def cosine_to_centroids(e_v: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Cosine similarities ``(N, K)`` of E_v rows ``(N, D)`` (or one ``(D,)``: ``(1, K)``) to
    centroid rows ``(K, D)``."""
    e = np.atleast_2d(np.asarray(e_v, dtype=np.float64))
    c = np.asarray(centroids, dtype=np.float64)
    e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
    c = c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)
    return e @ c.T


def eer_threshold(known, new) -> dict:
    """The similarity threshold at the equal-error point of two score lists.

    A voice reads "close" when its similarity is ``>= threshold``. FRR(t) is the share of
    ``known`` (voices of training speakers) below ``t`` (called new), FAR(t) the share of
    ``new`` (voices of speakers never trained on) at or above it (called close). Both are
    step functions, constant on each interval (s_i, s_i+1] between consecutive distinct scores.
    The threshold is the middle of the interval where max(FAR, FRR) is smallest and, of several
    such, where FAR and FRR are nearest each other (the equal-error point; the first where still
    tied), so it lies between two samples, never on one (the intervals below the lowest and above
    the highest score are clipped to it).
    """
    k = np.sort(np.asarray(known, dtype=np.float64))
    n = np.sort(np.asarray(new, dtype=np.float64))
    if not len(k) or not len(n):
        raise ValueError("the equal-error threshold needs scores of known and of new voices")
    s = np.unique(np.concatenate([k, n]))
    # interval j is (s[j-1], s[j]]; j = 0 is (-inf, s[0]], j = len(s) is (s[-1], inf)
    lo = np.concatenate([[s[0]], s])          # clipped to the scores' range
    hi = np.concatenate([s, [s[-1]]])
    frr = np.searchsorted(k, lo, side="right") / len(k)             # known <= s[j-1], i.e. < t
    frr[0] = 0.0
    far = (len(n) - np.searchsorted(n, hi, side="left")) / len(n)   # new >= s[j], i.e. >= t
    far[-1] = 0.0
    worst, gap = np.maximum(far, frr), np.abs(far - frr)
    best = np.flatnonzero(worst == worst.min())
    j = best[np.argmin(gap[best])]
    t = float((lo[j] + hi[j]) / 2)
    frr_t, far_t = float(np.mean(k < t)), float(np.mean(n >= t))
    return {"threshold": t, "eer": max(frr_t, far_t), "frr": frr_t, "far": far_t}


def summary(x) -> dict:
    """n, mean, std, min, 5th percentile, median, 95th percentile, max of a score list."""
    x = np.asarray(x, dtype=np.float64)
    if not len(x):
        return {"n": 0}
    q = np.percentile(x, [5, 50, 95])
    return {"n": int(len(x)), "mean": float(x.mean()), "std": float(x.std()), "min": float(x.min()),
            "p05": float(q[0]), "median": float(q[1]), "p95": float(q[2]), "max": float(x.max())}
