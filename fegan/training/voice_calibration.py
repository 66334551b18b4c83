"""Is a voice new? The `train_vnet` stage's calibration of "close to a training speaker".

V-net's speaker head names one of the training speakers for any voice, with a softmax near 1
even for a voice it never heard. What the demo and ``fegan generate`` read instead is the
cosine similarity of the voice's E_v to the nearest training speaker's **centroid** (the mean
E_v of that speaker's training clips), against a threshold set at the equal-error point
(``fegan.calibration.eer_threshold``) between

- **known** voices: held-out clips of training speakers (the val split's; the test split's
  when there is no val split); under ``data.split: speaker`` no clip of a training speaker is
  held out, so their training clips, each against its speaker's centroid without it
  (leave-one-out; V-net has fitted these voices, so they read closer than a new take would);
- **new** voices: under ``data.split: speaker`` the val speakers' clips (whole speakers never
  trained on); under the paper's utterance protocol every speaker is a training speaker, so
  ``N_SYNTHETIC`` voices of new synthetic speakers (the project's synthesiser, actor numbers
  past the training ones), through the pipeline's own front end exactly as ``fegan generate``
  runs a user's recording at ``data.sample_rate``: the `vad` stage's segments, the `features`
  stage's features, V-net.

The file it writes (``models/vnet_calibration.json``) holds the centroids, the threshold, both
distributions' summaries and the error rates at the threshold, and the md5 of the
``models/vnet.pt`` it belongs to (a stale calibration is not read for another V-net).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..calibration import cosine_to_centroids, eer_threshold, file_md5, summary
from ..params import build_config

N_SYNTHETIC = 16         # new synthetic speakers under the utterance protocol (~0.25 s of CPU each)
SYNTH_SEED = 0           # make_actor's seed for them: their actor numbers are not training ones
DIGITS = 6               # centroids are rounded in the JSON: cosines move by < 1e-5


def centroids(e_v: np.ndarray, speaker: np.ndarray, train: np.ndarray, n_speakers: int) -> np.ndarray:
    """``(n_speakers, D)``: the mean E_v of each training speaker's training clips."""
    e_v = np.asarray(e_v, dtype=np.float64)
    return np.stack([e_v[train & (speaker == k)].mean(0) for k in range(n_speakers)])


def nearest(e_v: np.ndarray, cents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The nearest centroid's index and the cosine similarity to it, per E_v row."""
    sims = cosine_to_centroids(e_v, cents)
    return sims.argmax(1), sims.max(1)


def leave_one_out(e_v: np.ndarray, speaker: np.ndarray, train: np.ndarray, cents: np.ndarray) -> np.ndarray:
    """Nearest-centroid similarity of each training clip, its own speaker's centroid taken
    without it (a speaker with one training clip has no centroid left: only the others count)."""
    e_v = np.asarray(e_v, dtype=np.float64)
    out = []
    for i in np.flatnonzero(train):
        k = int(speaker[i])
        mine = train & (speaker == k)
        c = cents.copy()
        if mine.sum() > 1:
            c[k] = (cents[k] * mine.sum() - e_v[i]) / (mine.sum() - 1)
        else:
            c = np.delete(c, k, axis=0)
        out.append(cosine_to_centroids(e_v[i], c).max() if len(c) else -1.0)
    return np.asarray(out)


def synthetic_voices(actors: list[int], emotions: list[int], params: dict, n: int = N_SYNTHETIC,
                     seed: int = SYNTH_SEED) -> tuple[list[int], list[torch.Tensor]]:
    """Features of ``n`` voices of new synthetic speakers (actors ``max(actors) + 1`` on), one
    clip each, the emotions and statements taken in turn: the `vad` stage's segments and the
    `features` stage's features, as ``inference`` computes them for a recording at
    ``data.sample_rate``."""
    from ..preprocess.features import compute, features_kwargs
    from ..preprocess.vad import VadConfig, speech_segments, voiced_audio
    from ..synth.identity import EMOTION_STYLE, emotion_style, make_actor
    from ..synth.voice import synthesize_voice

    sr = int((params.get("data") or {}).get("sample_rate", 32000))
    vad = build_config(VadConfig, params.get("vad"), "vad")
    kw = features_kwargs(params.get("features"))
    styles = [e for e in emotions if e in EMOTION_STYLE] or [1]
    new = [max(actors) + 1 + i for i in range(n)]
    feats = []
    for i, actor in enumerate(new):
        rng = np.random.default_rng([seed, 26, actor])
        wave = synthesize_voice(make_actor(seed, actor), emotion_style(styles[i % len(styles)], 1)[1],
                                1 + i % 2, rng, sample_rate=sr).audio
        segs = speech_segments(wave, sr, aggressiveness=vad.aggressiveness, frame_ms=vad.frame_ms,
                               padding_ms=vad.padding_ms, min_speech_ms=vad.min_speech_ms)
        feats.append(compute(voiced_audio(wave, sr, [a for a, _ in segs], [b for _, b in segs]), sr, **kw))
    return new, feats


def calibrate(e_v: np.ndarray, speaker: np.ndarray, split: np.ndarray, actors: list[int], proto: str,
              new_e_v=None, new_what: str = "") -> dict:
    """The calibration of "close to a training speaker" (this module's docstring).

    ``e_v`` ``(N, D)``, ``speaker`` the class index of each clip (-1: a speaker with no class),
    ``split`` each clip's split; ``new_e_v``/``new_what``: E_v of the synthetic new speakers
    (utterance protocol) and what they are."""
    speaker, split = np.asarray(speaker), np.asarray(split)
    train = (split == "train") & (speaker >= 0)
    cents = centroids(e_v, speaker, train, len(actors))
    known_what = None
    for s in ("val", "test"):
        held = (split == s) & (speaker >= 0)
        if held.any():
            known = nearest(e_v[held], cents)[1]
            known_what = f"{s} clips of training speakers ({s} split)"
            break
    if known_what is None:
        known = leave_one_out(e_v, speaker, train, cents)
        known_what = ("training clips of training speakers, each against its speaker's centroid without it "
                      "(no clip of a training speaker is held out" +
                      (" under data.split speaker); V-net has fitted these voices, so the threshold is strict"
                       if proto == "speaker" else ")"))
    if proto == "speaker":
        unseen = (split == "val") & (speaker < 0)
        if unseen.any():
            new, new_what = nearest(e_v[unseen], cents)[1], "clips of the val speakers (never trained on)"
        else:
            new = None
    else:
        new = None
    if new is None:
        if new_e_v is None:
            raise ValueError("no voices of new speakers to calibrate on")
        new = nearest(new_e_v, cents)[1]
    cut = eer_threshold(known, new)
    return {
        "protocol": proto,
        "similarity": "cosine of the voice's E_v to the nearest training speaker's centroid "
                      "(the mean E_v of their training clips)",
        "rule": "close to a training speaker when similarity >= threshold, else a new voice",
        **cut,
        "frr_means": "share of the known voices read as new",
        "far_means": "share of the new voices read as close",
        "known": {"what": known_what, **summary(known)},
        "new": {"what": new_what, **summary(new)},
        "actors": [int(a) for a in actors],
        "centroids": np.round(cents, DIGITS).tolist(),
    }


def stage_calibration(model, e_v: np.ndarray, speaker: np.ndarray, split: np.ndarray, actors: list[int],
                      emotions: list[int], proto: str, params: dict, vnet_path: str | Path) -> dict:
    """``calibrate`` as `train_vnet` runs it: with the synthetic new speakers under the utterance
    protocol (or where the speaker protocol has no val speakers), the V-net file's md5 recorded."""
    from .vnet import embed_all

    new_e_v, new_what = None, ""
    unseen_val = (np.asarray(split) == "val") & (np.asarray(speaker) < 0)
    if proto != "speaker" or not unseen_val.any():
        new_actors, feats = synthetic_voices(actors, emotions, params)
        new_e_v = embed_all(model, torch.stack(feats))[0].numpy()
        new_what = (f"{len(new_actors)} synthetic speakers never trained on (make_actor seed {SYNTH_SEED}, actors "
                    f"{new_actors[0]}-{new_actors[-1]}; one clip each, through the vad and features front end)")
    out = calibrate(e_v, speaker, split, actors, proto, new_e_v, new_what)
    out["vnet_md5"] = file_md5(vnet_path)
    return out
