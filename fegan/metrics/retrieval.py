"""Does a face generated from an unseen speaker's voice match that speaker's real face?

The field's protocol on speakers never seen in training (Wen et al., NeurIPS 2019: 1:2
matching; SF2F, Bai et al. 2022: retrieval R@k), under a frozen face embedding:

- the **gallery** holds one entry per unseen speaker: the mean embedding of their real faces;
- a **query** is the embedding of a face generated from one of their voices;
- **1:2 matching**: for a query of speaker s and every other gallery speaker t, is the query
  closer to s's entry than to t's? The mean over every (query, t) pair (Wen et al. draw random
  pairs; all pairs give the same expectation without the draw's noise). Chance 0.5;
- **R@k**: is s's entry among the query's k nearest? Chance k / G.

Ties are counted as a coin toss would count them on average (a tie in 1:2 is half right; in R@k
a query whose true entry ties with others is ranked uniformly among them), so a generator that
draws every speaker the same face sits exactly at chance, and an oracle that knows only a
speaker's attributes is credited with what random tie-breaking among lookalikes would give it.

``oracle_queries`` is the limit the README compares with: a model that knows only the
voice-borne attributes of the true speaker (sex, age, size: what a voice carries) and draws
the typical face of people with those attributes, the mean embedding of real *training* faces
whose actors share them. Nothing is fitted on test speakers.
"""
from __future__ import annotations

import numpy as np


def distances(query: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """(Q, D), (G, D) -> (Q, G) Euclidean distances (dlib's descriptor is read this way)."""
    q = np.asarray(query, dtype=np.float64)
    g = np.asarray(gallery, dtype=np.float64)
    d2 = (q * q).sum(1)[:, None] + (g * g).sum(1)[None, :] - 2.0 * q @ g.T
    return np.sqrt(np.maximum(d2, 0.0))


def _true_column(query_speaker: np.ndarray, gallery_speaker: np.ndarray) -> np.ndarray:
    where = {int(s): i for i, s in enumerate(np.asarray(gallery_speaker).tolist())}
    if len(where) != len(gallery_speaker):
        raise ValueError("the gallery must hold each speaker once")
    missing = sorted({int(s) for s in query_speaker} - set(where))
    if missing:
        raise ValueError(f"queries of speakers {missing} have no gallery entry")
    return np.array([where[int(s)] for s in query_speaker], dtype=np.int64)


def matching_1to2(dist: np.ndarray, query_speaker, gallery_speaker) -> float:
    """Mean over queries and every wrong gallery speaker of [closer to the true one] (ties 1/2)."""
    dist = np.asarray(dist, dtype=np.float64)
    if dist.shape[1] < 2:
        raise ValueError("1:2 matching needs at least 2 gallery speakers")
    col = _true_column(np.asarray(query_speaker), np.asarray(gallery_speaker))
    own = dist[np.arange(len(dist)), col][:, None]                  # (Q, 1)
    wins = (own < dist).astype(np.float64) + 0.5 * (own == dist)    # (Q, G); the true column adds 1/2
    wins[np.arange(len(dist)), col] = 0.0
    return float(wins.sum() / (len(dist) * (dist.shape[1] - 1)))


def recall_at_k(dist: np.ndarray, query_speaker, gallery_speaker, k: int) -> float:
    """Fraction of queries whose true gallery entry is among their k nearest, ties broken
    uniformly at random (in expectation)."""
    dist = np.asarray(dist, dtype=np.float64)
    col = _true_column(np.asarray(query_speaker), np.asarray(gallery_speaker))
    own = dist[np.arange(len(dist)), col][:, None]
    closer = (dist < own).sum(1)                                     # strictly nearer entries
    tied = (dist == own).sum(1) - 1                                  # other entries as near
    return float(np.clip((k - closer) / (tied + 1.0), 0.0, 1.0).mean())


def gallery_means(emb: np.ndarray, speaker: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) embeddings of real faces and their speakers -> ((G, D) means, (G,) sorted speakers)."""
    speaker = np.asarray(speaker)
    ids = np.unique(speaker)
    return np.stack([np.asarray(emb, dtype=np.float64)[speaker == s].mean(0) for s in ids]), ids


def oracle_queries(query_attrs: np.ndarray, train_emb: np.ndarray, train_attrs: np.ndarray) -> np.ndarray:
    """For each query's true attributes (Q, A), the mean training-face embedding of the people who
    share them; where nobody does, of those who share the most of them (then all training faces).

    ``train_attrs`` (N, A) are the attributes of each training face's actor; -1 (unknown) never
    matches, so an attribute a dataset does not record adds nothing.
    """
    qa = np.asarray(query_attrs)
    ta = np.asarray(train_attrs)
    emb = np.asarray(train_emb, dtype=np.float64)
    out = np.empty((len(qa), emb.shape[1]))
    cache: dict[tuple, np.ndarray] = {}
    for i, a in enumerate(qa):
        key = tuple(int(v) for v in a)
        if key not in cache:
            agree = ((ta == a) & (a >= 0)).sum(1)
            cache[key] = emb[agree == agree.max()].mean(0)
        out[i] = cache[key]
    return out


def readings(dist: np.ndarray, query_speaker, gallery_speaker, ks=(1, 5)) -> dict[str, float]:
    """``match_1to2`` and ``r_at_K`` for each K of ``ks`` (K capped at the gallery size)."""
    out = {"match_1to2": matching_1to2(dist, query_speaker, gallery_speaker)}
    for k in ks:
        out[f"r_at_{k}"] = recall_at_k(dist, query_speaker, gallery_speaker, min(k, dist.shape[1]))
    return out


def chance(n_gallery: int, ks=(1, 5)) -> dict[str, float]:
    """What a face unrelated to the voice scores, in expectation."""
    return {"match_1to2": 0.5, **{f"r_at_{k}": min(k, n_gallery) / n_gallery for k in ks}}
