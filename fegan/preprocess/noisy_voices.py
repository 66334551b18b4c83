"""Stage `noisy_voices`: babble-noisy copies of the training voices (multi-condition training).

fegan's addition to the paper (on in the default recipe, fegan-v5; ``copies: 0`` is off). Trained on one clean
recording per clip, V-net and G learn the training voices' points and little around them: babble
at 25 dB SNR, barely audible, took identity from 0.79 to 0.42 (issue 25). Each copy here is a
training clip's voiced audio with babble of other *training* speakers mixed in at an SNR drawn
uniformly from ``snr_db``, through the features stage's own front end (same kind, hop,
normalisation), so V-net (``train_vnet``) and G (``train.noisy_voices``: crops of the copies, or
their whole-voice E_v) can draw a noisy version of a voice as often as a clean one. The babble is the same kind of noise the
robustness table tests (other speakers summed), but from other clips: a matched-noise result is
the optimistic case, and the README says so. Validation and test voices are never touched.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from safetensors.numpy import save_file

from .. import paths, progress
from ..errors import FeganError
from ..evaluation.babble import babble_for, mix_at_snr
from ..io import atomic_path
from ..parallel import torch_threads
from ..params import build_config
from .common import clip_audio
from .features import compute, features_kwargs
from .vad import voiced_audio


@dataclass
class NoisyVoicesConfig:
    """The ``noisy_voices`` section of params.yaml."""
    copies: int = 0                     # noisy copies of each training voice; 0 = off
    snr_db: list[float] = field(default_factory=lambda: [0.0, 30.0])   # each copy's SNR, uniform in [lo, hi]
    talkers: int = 4                    # other training speakers summed into each copy's babble
    seed: int = 0

    def validate(self) -> None:
        if self.copies < 0:
            raise FeganError(f"noisy_voices.copies must be >= 0, got {self.copies}")
        if len(self.snr_db) != 2 or self.snr_db[0] > self.snr_db[1]:
            raise FeganError(f"noisy_voices.snr_db must be [lowest, highest] in dB, got {self.snr_db!r}")
        if self.talkers < 1:
            raise FeganError(f"noisy_voices.talkers must be >= 1, got {self.talkers}")


def voiced_waves(clips: pd.DataFrame) -> tuple[list[np.ndarray], int]:
    """The voiced audio of each of ``clips`` (in their order), as the features stage cut it."""
    vad = pd.read_parquet(paths.VAD)[["clip_id", "seg_start", "seg_end"]]
    rows = clips.merge(vad, on="clip_id", how="left")
    rates = rows.audio_rate.unique()
    if len(rates) > 1:
        raise FeganError(f"clips at {len(rates)} sample rates; the demux stage resamples them all to one")
    waves = [voiced_audio(clip_audio(paths.AUDIO, r.audio_offset, r.audio_len), int(r.audio_rate),
                          r.seg_start, r.seg_end) for r in rows.itertuples()]
    return waves, int(rates[0]) if len(rates) else 0


def noisy_copies(waves: list[np.ndarray], speakers: np.ndarray, sample_rate: int, features: dict,
                 copies: int = 0, snr_db=(0.0, 30.0), talkers: int = 4, seed: int = 0,
                 ) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """``copies`` noisy versions of each wave -> features ``(N * copies, F, T)``, each copy's
    source index ``(N * copies,)`` (wave-major) and its SNR in dB."""
    rng = np.random.default_rng(seed)
    feats, source, snrs = [], [], []
    bar = progress.bar(len(waves) * copies, "noisy_voices", unit="copy")
    for i, w in enumerate(waves):
        for _ in range(copies):
            noise = babble_for(i, waves, speakers, talkers, rng)      # the robustness table's babble
            snr = float(rng.uniform(snr_db[0], snr_db[1]))
            feats.append(compute(mix_at_snr(w, noise, snr), sample_rate, **features))
            source.append(i)
            snrs.append(snr)
            bar.update()
    bar.close()
    return (torch.stack(feats) if feats else torch.zeros(0, 0, 0), np.asarray(source, dtype=np.int64),
            np.asarray(snrs, dtype=np.float32))


def stage(params: dict) -> str:
    from ..training.data import usable_clips

    cfg = build_config(NoisyVoicesConfig, params.get("noisy_voices"), "noisy_voices")
    # one thread, as the features stage's workers: the Fbank's products then sum in one order,
    # so the copies are the same bytes on any core count (2 threads moved them in the last bit)
    clips = usable_clips()
    train = clips[clips.split == "train"]
    waves, sr = voiced_waves(train) if cfg.copies else ([], 0)
    with torch_threads(1):
        feats, source, snrs = noisy_copies(waves, train.actor.to_numpy(), sr, features_kwargs(params.get("features")),
                                           cfg.copies, cfg.snr_db, cfg.talkers, cfg.seed)
    with atomic_path(paths.NOISY_FEATURES, suffix=".safetensors") as tmp:
        save_file({"features": feats.numpy().astype(np.float32),
                   "clip_row": train.row.to_numpy()[source].astype(np.int64) if len(source) else source,
                   "snr_db": snrs}, str(tmp))
    if not cfg.copies:
        return "noisy_voices: off (noisy_voices.copies is 0)"
    return (f"noisy_voices: {len(source)} noisy copies of {len(train)} training voices, babble at "
            f"{cfg.snr_db[0]:g}-{cfg.snr_db[1]:g} dB SNR")
