"""The speaker protocol's matching metrics (fegan.metrics.retrieval) against hand-worked cases."""
from __future__ import annotations

import numpy as np
import pytest

from fegan.metrics import retrieval as R

# four gallery speakers on a line at 0, 1, 3, 6
GALLERY = np.array([[0.0], [1.0], [3.0], [6.0]])
SPEAKERS = np.array([10, 20, 30, 40])
# A: speaker 10 at 0.4 (nearest its own); B: speaker 20 at 2.2 (30 is nearer); C: speaker 40 at 2.0
# (everyone is nearer); D: speaker 30 at 2.0 (ties with 20 at distance 1)
QUERIES = np.array([[0.4], [2.2], [2.0], [2.0]])
QUERY_SPEAKERS = np.array([10, 20, 40, 30])


def test_hand_worked_case():
    d = R.distances(QUERIES, GALLERY)
    assert d[1].tolist() == pytest.approx([2.2, 1.2, 0.8, 3.8])
    # wins over the 3 others: A 3, B 2 (loses to 30), C 0, D 2 + a tie (1/2) -> 7.5 of 12
    assert R.matching_1to2(d, QUERY_SPEAKERS, SPEAKERS) == pytest.approx(7.5 / 12)
    # R@1: A 1, B 0, C 0, D 1/2 (tied first with 20) -> 0.375; R@2: A, B, D in, C out -> 0.75
    assert R.recall_at_k(d, QUERY_SPEAKERS, SPEAKERS, 1) == pytest.approx(0.375)
    assert R.recall_at_k(d, QUERY_SPEAKERS, SPEAKERS, 2) == pytest.approx(0.75)
    assert R.readings(d, QUERY_SPEAKERS, SPEAKERS, ks=(1, 5))["r_at_5"] == 1.0     # capped at 4 speakers


def test_a_perfect_generator_matches_every_time():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(12, 5)) + np.repeat(rng.normal(size=(6, 5)) * 4, 2, axis=0)   # 6 speakers, 2 faces each
    who = np.repeat(np.arange(6), 2)
    gallery, ids = R.gallery_means(real, who)
    r = R.readings(R.distances(gallery[who], gallery), who, ids)      # it draws each speaker's own mean face
    assert r == {"match_1to2": 1.0, "r_at_1": 1.0, "r_at_5": 1.0}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_generator_that_ignores_the_voice_sits_exactly_at_chance(seed):
    rng = np.random.default_rng(seed)
    gallery = rng.normal(size=(8, 5))
    who = np.repeat(np.arange(8), 3)                                   # 3 voices per speaker, balanced
    same_face = np.tile(rng.normal(size=(1, 5)), (len(who), 1))
    r = R.readings(R.distances(same_face, gallery), who, np.arange(8), ks=(1, 5))
    assert r == pytest.approx(R.chance(8))
    assert R.chance(8) == {"match_1to2": 0.5, "r_at_1": 0.125, "r_at_5": 0.625}


def test_the_oracle_knows_attributes_and_nothing_more():
    # embeddings that are the attributes themselves: (sex, age band) -> one-hot pairs
    def emb(attrs):
        return np.concatenate([np.eye(2)[attrs[:, 0]], np.eye(4)[attrs[:, 1]]], axis=1)
    train_attrs = np.array([[0, 0], [0, 0], [1, 0], [1, 1], [0, 2]])
    gallery_attrs = np.array([[0, 0], [0, 0], [1, 0], [1, 1]])          # speakers 1, 2 look alike
    q = R.oracle_queries(gallery_attrs, emb(train_attrs), train_attrs)
    d = R.distances(q, emb(gallery_attrs))
    # speakers 1 and 2: one tie (1/2) and two wins each; 3 and 4: three wins -> 11 of 12
    assert R.matching_1to2(d, np.arange(4), np.arange(4)) == pytest.approx(11 / 12)
    assert R.recall_at_k(d, np.arange(4), np.arange(4), 1) == pytest.approx((0.5 + 0.5 + 1 + 1) / 4)


def test_oracle_falls_back_to_the_closest_attributes_and_ignores_unknown_ones():
    train_attrs = np.array([[0, 1], [0, 2], [1, 1]])
    train_emb = np.array([[1.0], [3.0], [10.0]])
    # (0, 3): nobody of age band 3; both sex-0 actors share one attribute -> their mean 2.0
    # (1, -1): age unknown -> only sex counts -> 10.0
    q = R.oracle_queries(np.array([[0, 3], [1, -1]]), train_emb, train_attrs)
    assert q[:, 0].tolist() == [2.0, 10.0]


def test_bad_galleries_are_refused():
    d = R.distances(QUERIES, GALLERY)
    with pytest.raises(ValueError, match="no gallery entry"):
        R.matching_1to2(d, np.array([10, 20, 40, 99]), SPEAKERS)
    with pytest.raises(ValueError, match="each speaker once"):
        R.recall_at_k(d, QUERY_SPEAKERS, np.array([10, 20, 20, 40]), 1)
