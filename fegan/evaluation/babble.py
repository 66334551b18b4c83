"""Babble noise for the robustness table (paper Table 3).

Babble is a sum of several other speakers' voices. It is scaled so that the
speech-to-noise power ratio of the mix is exactly the SNR asked for:
SNR = 10 log10(P(speech) / P(mixed - speech)).
"""
from __future__ import annotations

import numpy as np


def power(x: np.ndarray) -> float:
    return float(np.mean(np.square(x, dtype=np.float64)))


def snr_db(clean: np.ndarray, mixed: np.ndarray) -> float:
    """The SNR of ``mixed`` measured against the clean speech it contains."""
    return 10 * np.log10(power(clean) / max(power(mixed - clean), 1e-20))


def babble(others: list[np.ndarray], length: int) -> np.ndarray:
    """Several talkers, each looped to ``length`` samples and normalised to equal power, summed."""
    out = np.zeros(length, dtype=np.float64)
    for o in others:
        o = np.resize(np.asarray(o, dtype=np.float64), length)   # np.resize repeats the clip
        out += o / np.sqrt(max(power(o), 1e-20))
    return out


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr: float) -> np.ndarray:
    """``speech`` plus ``noise`` scaled so the result has ``snr`` dB."""
    scale = np.sqrt(power(speech) / (max(power(noise), 1e-20) * 10 ** (snr / 10)))
    return (speech + scale * noise[:len(speech)]).astype(np.float32)


def pick_talkers(speakers: np.ndarray, target: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``n`` clips of speakers other than ``speakers[target]`` (distinct speakers when possible)."""
    others = np.flatnonzero(speakers != speakers[target])
    if len(others) == 0:
        return others
    # one clip per other speaker first, so babble is several voices, not one voice repeated
    by_speaker = {}
    for i in rng.permutation(others):
        by_speaker.setdefault(speakers[i], i)
    first = np.array(list(by_speaker.values()))
    rest = np.setdiff1d(others, first)
    order = np.concatenate([rng.permutation(first), rng.permutation(rest)])
    return order[:n].astype(np.int64)


def babble_for(i: int, waves: list[np.ndarray], speakers: np.ndarray, talkers: int,
               rng: np.random.Generator) -> np.ndarray:
    """Babble for ``waves[i]``: ``talkers`` clips of other speakers summed to its length (white
    noise when there is no other speaker)."""
    others = [waves[j] for j in pick_talkers(speakers, i, talkers, rng)]
    return babble(others, len(waves[i])) if others else rng.standard_normal(len(waves[i]))
