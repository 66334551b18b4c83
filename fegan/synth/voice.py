"""Speech-like voices from a source-filter model (numpy/scipy, no TTS).

A glottal pulse train at a time-varying F0 goes through a cascade of formant
resonators whose frequencies follow a vowel sequence for the statement, scaled by
the actor's vocal-tract length. Consonant onsets are shaped noise. Each syllable is
a voiced segment separated by short gaps, so VAD and Fbank see speech-like
structure; silence with a faint noise floor pads the clip before and after.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

from .identity import Actor, Prosody

# (F1, F2, F3, F4) of an adult male vocal tract in Hz, and how open the mouth is.
VOWELS = {
    "a": ((730, 1090, 2440, 3400), 1.0),
    "ae": ((660, 1720, 2410, 3500), 0.85),
    "o": ((570, 840, 2410, 3400), 0.7),
    "e": ((530, 1840, 2480, 3500), 0.6),
    "er": ((490, 1350, 1690, 3300), 0.45),
    "u": ((300, 870, 2240, 3300), 0.3),
    "i": ((270, 2290, 3010, 3700), 0.25),
}
BANDWIDTHS = (80.0, 100.0, 140.0, 200.0)

# "Kids are talking by the door" / "Dogs are sitting by the door" as (onset, vowel,
# word ends here). Onsets: "" none, stops k t d b, fricative s.
STATEMENT_SYLLABLES = {
    1: [("k", "i", True), ("", "a", True), ("t", "o", False), ("k", "i", True),
        ("b", "ae", True), ("d", "er", True), ("d", "o", True)],
    2: [("d", "o", True), ("", "a", True), ("s", "i", False), ("t", "i", True),
        ("b", "ae", True), ("d", "er", True), ("d", "o", True)],
}


@dataclass
class VoiceTrack:
    audio: np.ndarray         # (N,) float32 in [-1, 1]
    articulation: np.ndarray  # (N,) float32 mouth opening in [0, 1], audio rate
    speech_start: float       # s, first voiced sample
    speech_end: float         # s, last voiced sample
    voiced_s: float           # s, total duration of the voiced segments
    sample_rate: int


def _resonator_sos(freq: float, bw: float, sr: int) -> np.ndarray:
    r = np.exp(-np.pi * bw / sr)
    theta = 2 * np.pi * freq / sr
    a = [1.0, -2 * r * np.cos(theta), r * r]
    b = [a[0] + a[1] + a[2], 0.0, 0.0]  # unit gain at DC keeps the levels of the cascade sane
    return np.array(b + a)


def _formant_filter(x: np.ndarray, formants, sr: int) -> np.ndarray:
    sos = np.stack([_resonator_sos(f, bw, sr) for f, bw in zip(formants, BANDWIDTHS) if f < sr / 2 - 500])
    return signal.sosfilt(sos, x)


def _glottal_source(f0: np.ndarray, sr: int, open_quotient: float) -> np.ndarray:
    """Rosenberg pulses at the instantaneous F0, differentiated for lip radiation."""
    phase = np.cumsum(f0 / sr)
    frac = phase - np.floor(phase)
    tp, tn = 0.6 * open_quotient, 0.4 * open_quotient
    g = np.where(frac < tp, 0.5 * (1 - np.cos(np.pi * frac / tp)),
                 np.where(frac < tp + tn, np.cos(0.5 * np.pi * (frac - tp) / tn), 0.0))
    return np.diff(g, prepend=0.0) * sr / 1000.0


def _per_period(rng: np.random.Generator, f0: np.ndarray, sr: int) -> np.ndarray:
    """Unit Gaussian noise held for one glottal period: each cycle gets its own length."""
    period = np.floor(np.cumsum(f0 / sr)).astype(np.int64)
    return rng.normal(0, 1, period[-1] + 1)[period]


def _envelope(n: int, sr: int, attack: float = 0.02, release: float = 0.03) -> np.ndarray:
    env = np.ones(n)
    na, nr = min(n // 2, int(attack * sr)), min(n // 2, int(release * sr))
    env[:na] = 0.5 * (1 - np.cos(np.pi * np.arange(na) / max(na, 1)))
    env[n - nr:] = 0.5 * (1 + np.cos(np.pi * np.arange(nr) / max(nr, 1)))
    return env


def synthesize_voice(actor: Actor, prosody: Prosody, statement: int, rng: np.random.Generator,
                     sample_rate: int = 48000, duration: tuple[float, float] = (3.2, 3.9)) -> VoiceTrack:
    sr = sample_rate
    sylls = STATEMENT_SYLLABLES[statement]

    # 1. Timing: onset, vowel and gap lengths, slower or faster with the emotion's and the
    # actor's rate.
    rate = prosody.rate * actor.rate
    plan, t = [], 0.0
    for onset, vowel, word_end in sylls:
        on = {"": 0.0, "s": rng.uniform(0.07, 0.10)}.get(onset, rng.uniform(0.035, 0.05)) / rate
        vd = rng.uniform(0.12, 0.20) / rate
        gap = (rng.uniform(0.07, 0.13) if word_end else rng.uniform(0.015, 0.03)) / rate
        plan.append((t, onset, on, vowel, vd))
        t += on + vd + gap
    speech_len = t - gap
    total = float(rng.uniform(*duration))
    lead = float(rng.uniform(0.45, 0.75))
    total = max(total, lead + speech_len + 0.45)
    n = int(round(total * sr))

    # 2. F0 contour over the whole clip: declination, one accent per syllable, tremor,
    # and (an older voice) cycle-to-cycle jitter.
    tt = np.arange(n) / sr
    accents = rng.uniform(-0.5, 0.5, len(plan)) * (prosody.range_st * actor.f0_range)
    knots_t = [lead + p[0] + p[2] + p[4] / 2 for p in plan]
    semis = np.interp(tt, knots_t, accents)
    semis += -1.5 * np.clip((tt - lead) / max(speech_len, 1e-3), 0, 1)  # declination
    semis += prosody.tremor * 0.6 * np.sin(2 * np.pi * 6.0 * tt)
    semis += np.cumsum(rng.normal(0, 0.02, n)).clip(-0.5, 0.5)  # slow jitter
    f0 = actor.f0 * prosody.pitch * 2.0 ** (semis / 12.0)
    if actor.jitter:
        f0 = f0 * (1 + actor.jitter * _per_period(rng, f0, sr))
    source = _glottal_source(f0, sr, actor.tilt)
    source += actor.breath * rng.normal(0, 1, n) * np.abs(source).mean() * 4

    audio = np.zeros(n)
    artic = np.zeros(n)
    voiced = 0.0
    for (t0, onset, on, vowel, vd) in plan:
        s0 = int((lead + t0) * sr)
        if onset:
            k = int(on * sr)
            noise = rng.normal(0, 1, k)
            if onset == "s":
                burst = signal.sosfilt(signal.butter(4, [4000, 9000], "bandpass", fs=sr, output="sos"), noise)
                burst *= _envelope(k, sr, 0.02, 0.02) * 0.25
            else:  # stop: closure silence then a short burst
                burst = np.zeros(k)
                b = min(k, int(0.012 * sr))
                burst[k - b:] = signal.sosfilt(signal.butter(2, 1500, "highpass", fs=sr, output="sos"),
                                               noise[:b]) * 0.35
            audio[s0:s0 + k] += burst
            artic[s0:s0 + k] = 0.1
            s0 += k
        k = int(vd * sr)
        formants, openness = VOWELS[vowel]
        seg = _formant_filter(source[s0:s0 + k], [f * actor.tract for f in formants], sr)
        env = _envelope(len(seg), sr)
        audio[s0:s0 + len(seg)] += seg * env
        artic[s0:s0 + len(seg)] = np.maximum(artic[s0:s0 + len(seg)], openness * env)
        voiced += len(seg) / sr

    peak = np.abs(audio).max()
    audio = audio / (peak + 1e-9) * min(0.9, 0.3 * prosody.energy)
    audio += rng.normal(0, 1e-4, n)  # room noise floor: silence is quiet, not digital zero
    first = lead + plan[0][0]
    return VoiceTrack(audio=audio.astype(np.float32), articulation=artic.astype(np.float32),
                      speech_start=first, speech_end=lead + speech_len, voiced_s=voiced,
                      sample_rate=sr)
