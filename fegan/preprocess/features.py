"""Stage `features`: 10 s of voiced audio -> 64 x 625 log-mel Fbank (paper 3.2).

The voiced audio is tiled ("repeated 3-4 times and the redundancy eliminated") to
``duration_s``; then a Kaldi Fbank is computed and normalised per utterance.
Fbank is Kaldi's feature (povey window, pre-emphasis, DC removal, log of mel
energies) and ``torchaudio.compliance.kaldi`` is its reference outside Kaldi, so
we follow it rather than librosa: deterministic with ``dither=0``, on tensors, and
with ``snip_edges=False`` a 10 s clip at a 16 ms hop gives exactly 625 frames.
``fbank`` below does kaldi.fbank's arithmetic with its mel banks, ~3x faster
(tested equal to it); ``kind`` switches to kaldi's own MFCC or linear spectrogram
for the paper's Table 2.
"""
from __future__ import annotations

import dataclasses
import functools
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torchaudio.compliance import kaldi

from .. import paths
from ..errors import FeganError
from ..io import Spooled, atomic_path, save_concatenated, spool
from ..parallel import pmap
from ..params import build_config
from .common import clip_audio, require_clips
from .guard import Guard, Unforeseen, log_path, write_log
from .vad import voiced_audio

KINDS = ("fbank", "mfcc", "spectrogram")
NORMALIZE = ("utterance", "cmvn", "none")


@dataclass
class FeaturesConfig:
    """The ``features`` section of params.yaml."""
    kind: str = "fbank"
    duration_s: float = 10.0
    n_mels: int = 64
    n_mfcc: int = 13
    win_ms: float = 33.0
    hop_ms: float = 16.0
    normalize: str = "utterance"
    workers: int = 0

    def validate(self) -> None:
        if self.kind not in KINDS:
            raise FeganError(f"features.kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.normalize not in NORMALIZE:
            raise FeganError(f"features.normalize must be one of {', '.join(NORMALIZE)}, got {self.normalize!r}")


def tile(wave: np.ndarray, n: int) -> np.ndarray:
    """Repeat ``wave`` end to end and cut to exactly ``n`` samples."""
    reps = -(-n // len(wave))
    return np.tile(wave, reps)[:n]


def _kaldi_opts(sample_rate: int, win_ms: float, hop_ms: float) -> dict:
    return dict(sample_frequency=float(sample_rate), frame_length=win_ms, frame_shift=hop_ms,
                dither=0.0, snip_edges=False)


# Kaldi's defaults that fbank() keeps (torchaudio.compliance.kaldi.fbank's arguments)
PREEMPHASIS = 0.97
LOW_FREQ, HIGH_FREQ = 20.0, 0.0       # Hz; 0 = Nyquist
EPSILON = torch.finfo(torch.float32).eps


@functools.lru_cache(maxsize=8)
def _fbank_constants(sample_rate: int, n_mels: int, size: int, n_fft: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Povey window ``(size,)`` and mel banks ``(2 * (n_fft/2 + 1), n_mels)``, built once per process.

    Each bank row appears twice, for a bin's real and imaginary parts: the matmul
    with the squared FFT output then sums re^2 + im^2 on the way.
    """
    window = torch.hann_window(size, periodic=False).pow(0.85)
    banks, _ = kaldi.get_mel_banks(n_mels, n_fft, float(sample_rate), LOW_FREQ, HIGH_FREQ, 100.0, -500.0, 1.0)
    banks = torch.nn.functional.pad(banks, (0, 1)).T                 # (n_fft/2 + 1, n_mels); Nyquist bin unweighted
    return window, banks.repeat_interleave(2, dim=0).contiguous()


_WORKSPACE = threading.local()


def _buffers(n: int, size: int, n_fft: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-thread buffers reused from clip to clip: the frames less their mean, one
    column shifted ``(n, size + 1)``, and the FFT input ``(n, n_fft)``, zero past the window.

    A fresh 5 MB tensor costs ~1 ms of page faults here, a sixth of the whole
    Fbank, and every clip of a stage has the same shape.
    """
    if getattr(_WORKSPACE, "key", None) != (n, size, n_fft):
        _WORKSPACE.key, _WORKSPACE.bufs = (n, size, n_fft), (torch.empty(n, size + 1), torch.zeros(n, n_fft))
    return _WORKSPACE.bufs


def frames(wave: torch.Tensor, size: int, shift: int) -> torch.Tensor:
    """Kaldi's ``snip_edges=False`` framing: ``(len + shift/2) // shift`` frames of ``size``
    samples centred on multiples of ``shift``, the ends mirrored (edge sample repeated)."""
    n = (len(wave) + shift // 2) // shift
    pad = size // 2 - shift // 2
    right = wave.flip(0)[:max(0, (n - 1) * shift + size - pad - len(wave))]
    padded = torch.cat([wave[:pad].flip(0), wave, right]) if pad > 0 else torch.cat([wave[-pad:], right])
    return padded.as_strided((n, size), (shift, 1))    # (T, size), a view


def fbank(wave: torch.Tensor, sample_rate: int = 32000, n_mels: int = 64, win_ms: float = 33.0,
          hop_ms: float = 16.0) -> torch.Tensor:
    """Log-mel filterbank energies ``(n_mels, T)``, as ``kaldi.fbank(wave[None],
    num_mel_bins=n_mels, frame_length=win_ms, frame_shift=hop_ms, dither=0, snip_edges=False).T``.

    Why not call kaldi.fbank: it rebuilds the window and mel banks on every call,
    copies the frames four times (DC removal, pre-emphasis, window, zero padding),
    takes the complex magnitude (a hypot per bin) only to square it, and computes
    an energy it then drops; with a 2048-point FFT per 33 ms frame that cost ~19 ms
    a clip here, as much as decoding the clip's frames. Here the frames are written
    once into a reused FFT buffer, and the squared FFT output goes straight into
    the mel matmul: ~6 ms, equal to kaldi.fbank within float rounding (tested).
    """
    size = int(sample_rate * win_ms * 0.001)      # Kaldi's rounding: 1056 samples
    shift = int(sample_rate * hop_ms * 0.001)     # 512
    if not 2 <= size <= len(wave) or shift < 1:
        raise FeganError(f"features: a {win_ms} ms window and {hop_ms} ms hop need at least {size} samples, "
                         f"got {len(wave)}")
    n_fft = 1 << (size - 1).bit_length()          # the next power of two, as Kaldi
    window, banks = _fbank_constants(sample_rate, n_mels, size, n_fft)
    x = frames(wave.float(), size, shift)         # (T, size) view
    centred, buf = _buffers(len(x), size, n_fft)
    # Kaldi's order (DC removal, then pre-emphasis z_j = y_j - a y_{j-1} with y_{-1} = y_0),
    # which matters for the low bins that pre-emphasis leaves small
    torch.sub(x, x.mean(dim=1, keepdim=True), out=centred[:, 1:])
    centred[:, 0] = centred[:, 1]
    y = buf[:, :size]
    # y_j - (a y_{j-1}) as two roundings, as Kaldi: a fused multiply-add moves the low
    # bins by ~1e-4 (in log units), the sensitivity of pre-emphasis to the last bit
    torch.mul(centred[:, :-1], PREEMPHASIS, out=y)
    torch.sub(centred[:, 1:], y, out=y).mul_(window)
    spec = torch.fft.rfft(buf)            # (T, n_fft/2 + 1) complex; out= was slower here
    power = torch.view_as_real(spec).view(len(x), -1).square_()         # (T, 2 * bins): re^2, im^2
    return torch.mm(power, banks).clamp_min_(EPSILON).log_().T          # (n_mels, T)


def mfcc(wave: torch.Tensor, sample_rate: int = 32000, n_mels: int = 64, n_mfcc: int = 13,
         win_ms: float = 33.0, hop_ms: float = 16.0) -> torch.Tensor:
    """MFCCs, ``(n_mfcc, T)``."""
    return kaldi.mfcc(wave[None], num_mel_bins=n_mels, num_ceps=n_mfcc,
                      **_kaldi_opts(sample_rate, win_ms, hop_ms)).T


def spectrogram(wave: torch.Tensor, sample_rate: int = 32000, win_ms: float = 33.0,
                hop_ms: float = 16.0) -> torch.Tensor:
    """Log power spectrogram, ``(n_fft/2 + 1, T)`` (1025 bins at 32 kHz, 33 ms)."""
    return kaldi.spectrogram(wave[None], **_kaldi_opts(sample_rate, win_ms, hop_ms)).T


def normalize_utterance(feat: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """One mean and variance per utterance: removes loudness, keeps the spectral envelope."""
    return (feat - feat.mean()) / (feat.std() + eps)


def cmvn(feat: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Mean/variance normalisation of each coefficient over time (Kaldi's CMVN).

    It also removes each speaker's average spectrum (timbre), which is why it is not
    the default: V-net's held-out speaker accuracy on the synthetic set fell from
    0.75 to 0.38 with it (60 epochs, same everything else).
    """
    return (feat - feat.mean(dim=1, keepdim=True)) / (feat.std(dim=1, keepdim=True) + eps)


def compute(wave: np.ndarray, sample_rate: int, kind: str = "fbank", duration_s: float = 10.0,
            n_mels: int = 64, n_mfcc: int = 13, win_ms: float = 33.0, hop_ms: float = 16.0,
            normalize: str = "utterance") -> torch.Tensor:
    """Voiced audio -> ``(F, T)`` features of ``kind``, tiled to ``duration_s``."""
    # kaldi's front end works on 16-bit sample values; scaled before tiling, the shorter copy
    wave = np.asarray(wave, dtype=np.float32) * np.float32(32768.0)
    x = torch.from_numpy(tile(wave, int(round(duration_s * sample_rate))))
    if kind == "fbank":
        f = fbank(x, sample_rate, n_mels, win_ms, hop_ms)
    elif kind == "mfcc":
        f = mfcc(x, sample_rate, n_mels, n_mfcc, win_ms, hop_ms)
    else:
        f = spectrogram(x, sample_rate, win_ms, hop_ms)
    return {"utterance": normalize_utterance, "cmvn": cmvn, "none": lambda x: x}[normalize](f)


def features_kwargs(features_params) -> dict:
    """The keyword arguments of :func:`compute` from a ``features`` section (or its config)."""
    cfg = features_params if isinstance(features_params, FeaturesConfig) else \
        build_config(FeaturesConfig, features_params, "features")
    return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg) if f.name != "workers"}


def _features_one(job) -> tuple[Spooled, tuple[int, ...]]:
    audio_path, offset, length, sr, starts, ends, kw, spool_dir = job
    torch.set_num_threads(1)  # parallelism is across clips
    f = compute(voiced_audio(clip_audio(audio_path, offset, length), sr, starts, ends), sr, **kw)
    return spool(spool_dir, f.numpy()), tuple(f.shape)    # (F, T) in C order: spool copies it so


def run_features(cfg: FeaturesConfig, clips: pd.DataFrame, vad: pd.DataFrame, audio_path: str | Path,
                 out_tensor: str | Path, out_index: str | Path, min_clips: int = 1,
                 progress: bool = True) -> pd.DataFrame:
    index = vad[["clip_id", "status", "reason"]].copy()
    index["row"] = -1
    todo = vad.index[vad.status == "ok"]
    kw = dict(kind=cfg.kind, duration_s=cfg.duration_s, n_mels=cfg.n_mels, n_mfcc=cfg.n_mfcc,
              win_ms=cfg.win_ms, hop_ms=cfg.hop_ms, normalize=cfg.normalize)
    c, v = clips.loc[todo], vad.loc[todo]
    Path(out_tensor).parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".features-spool-", dir=Path(out_tensor).parent) as spool_dir:
        jobs = [(str(audio_path), offset, length, int(rate), a, b, kw, spool_dir)
                for offset, length, rate, a, b in zip(c.audio_offset, c.audio_len, c.audio_rate, v.seg_start, v.seg_end)]
        found = pmap(Guard(_features_one), jobs, cfg.workers, desc=f"features ({cfg.kind})", progress=progress)
        bad = np.array([isinstance(f, Unforeseen) for f in found], dtype=bool)
        failures = [(cid, f) for cid, f, b in zip(index.clip_id.loc[todo], found, bad) if b]
        feats = [f for f, b in zip(found, bad) if not b]
        index.loc[todo[~bad], "row"] = np.arange(len(feats))
        if failures:
            index.loc[todo[bad], ["status", "reason"]] = [["error", u.reason] for _, u in failures]
        require_clips(len(feats), min_clips, "features", index)
        shape = (len(feats), *feats[0][1]) if feats else (0,)   # (N, F, T): every clip is tiled to duration_s
        with atomic_path(out_tensor, suffix=".safetensors") as tmp:
            # one metadata key only: safetensors writes several in random order, and
            # the file must be byte-identical across runs for DVC
            save_concatenated(tmp, "features", [f for f, _ in feats], shape=shape, metadata={"kind": cfg.kind})
    with atomic_path(out_index, suffix=".parquet") as tmp:
        index.to_parquet(tmp, index=False)
    write_log(log_path(out_index, "features"), "features", failures)
    return index


def stage(params: dict) -> str:
    """The `features` stage: ``features`` section and ``data.min_clips``."""
    cfg = build_config(FeaturesConfig, params.get("features"), "features")
    index = run_features(cfg, pd.read_parquet(paths.CLIPS), pd.read_parquet(paths.VAD), paths.AUDIO,
                         paths.FEATURES, paths.FEATURES_INDEX, params["data"]["min_clips"])
    return f"features: {(index.row >= 0).sum()} clips of {cfg.kind}"
