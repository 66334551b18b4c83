"""Faces from a voice recording: what ``fegan generate`` (and evaluation) runs.

The same chain as the pipeline, one recording at a time: decode the audio track
(wav, mp3, a video's audio, anything PyAV reads) and resample it to
``data.sample_rate`` with the `demux` stage's resampler; keep the voiced part with
the `vad` stage's functions; compute the `features` stage's features of it (tiled
or cut to ``features.duration_s``); V-net's E_v; then G-net on E_v and seeded
noise. Checkpoints are loaded with ``torch.load(weights_only=True)``.

A recording needs at least ``MIN_SPEECH_S`` of voiced speech: V-net learned from
crops of 300 ms and more (``vnet.crop_ms``), and shorter speech tiled to 10 s is
mostly one syllable repeated. Every problem with the input or the models is a
``FeganError`` of one line; one with the recording itself (it does not decode, it holds
no speech or too little) is its subclass ``RecordingError``, the demo's "bad request".
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch

from .errors import FeganError
from .media import MediaError, read_audio
from .models.gnet import GNet
from .models.vnet import VNet, from_checkpoint as vnet_from_checkpoint
from .params import build_config
from .preprocess.demux import resample
from .preprocess.features import FeaturesConfig, compute, features_kwargs
from .preprocess.vad import VadConfig, speech_segments, voiced_audio
from .training import checkpoint

MIN_SPEECH_S = 0.3   # the lower end of vnet.crop_ms (300 ms)


class RecordingError(FeganError):
    """The recording cannot give a face (the models and params are not at fault)."""


# ---------------------------------------------------------------- audio

def load_voice(path: str | Path, sample_rate: int, max_s: float | None = None) -> np.ndarray:
    """The first audio track of ``path`` as mono float32 at ``sample_rate`` (with ``max_s``,
    its first ``max_s`` seconds only: decoding stops there)."""
    path = Path(path)
    if path.is_dir():
        raise FeganError(f"{path}: is a folder, not a recording")
    if not path.is_file():
        raise FeganError(f"{path}: no such file")
    try:
        wave, sr = read_audio(path, max_s)
    except MediaError as e:
        raise RecordingError(f"{path}: cannot read audio ({e})") from None
    return np.ascontiguousarray(resample(wave, sr, sample_rate), dtype=np.float32)


def voiced(wave: np.ndarray, sample_rate: int, min_speech_s: float = MIN_SPEECH_S, name: str = "voice",
           aggressiveness: int = 2, frame_ms: int = 30, padding_ms: int = 150,
           min_speech_ms: int = 90) -> np.ndarray:
    """The voiced samples of ``wave`` (the `vad` stage's segments, concatenated).

    ``name`` (the file) starts the error line when there is no speech or less than
    ``min_speech_s`` of it.
    """
    segs = speech_segments(wave, sample_rate, aggressiveness=aggressiveness, frame_ms=frame_ms,
                           padding_ms=padding_ms, min_speech_ms=min_speech_ms)
    if not segs:
        raise RecordingError(f"{name}: no speech found ({len(wave) / sample_rate:.2f} s of silence or noise)")
    out = voiced_audio(wave, sample_rate, [a for a, _ in segs], [b for _, b in segs])
    if len(out) < min_speech_s * sample_rate:
        raise RecordingError(f"{name}: only {len(out) / sample_rate:.2f} s of speech, "
                             f"need at least {min_speech_s:.2f} s")
    return out


# ---------------------------------------------------------------- models

def _load(path: str | Path, what: str) -> dict:
    path = Path(path)
    if path.is_dir():
        raise FeganError(f"{path}: is a folder, not a {what} checkpoint")
    if not path.is_file():
        raise FeganError(f"{path} not found: train the models first with `dvc repro` (or `make repro`)")
    try:
        return checkpoint.load(path)
    except Exception as e:  # torch raises several types for a truncated, foreign or unsafe file
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise FeganError(f"{path}: not a loadable {what} checkpoint ({reason[:120]})") from None


@dataclass
class VoiceCalibration:
    """``models/vnet_calibration.json`` (``train_vnet``'s): the training speakers' E_v centroids
    and the similarity threshold below which a voice is new (``fegan.training.voice_calibration``)."""
    actors: list
    centroids: np.ndarray      # (K, 128)
    threshold: float
    eer: float
    path: str

    def read(self, e_v: torch.Tensor) -> tuple[int, float, bool]:
        """The nearest training speaker (by cosine to their centroid), the similarity, and whether
        the voice is new (similarity below the threshold)."""
        from .calibration import cosine_to_centroids

        # E_v may carry V-net's emotion code after the speaker part (vnet.emotion_code): the
        # centroids are of the speaker part alone
        sims = cosine_to_centroids(e_v[..., :self.centroids.shape[1]].double().numpy(), self.centroids)[0]
        k = int(sims.argmax())
        return int(self.actors[k]), float(sims[k]), bool(sims[k] < self.threshold)


def voice_calibration_path(vnet_path: str | Path) -> Path:
    """Where ``train_vnet`` writes the calibration of ``vnet_path``: ``models/vnet.pt`` ->
    ``models/vnet_calibration.json``."""
    p = Path(vnet_path)
    return p.with_name(p.stem + "_calibration.json")


def load_voice_calibration(enc: "VoiceEncoder", path: str | Path | None = None) -> tuple[VoiceCalibration | None, str]:
    """The calibration of V-net ``enc`` (default: beside its checkpoint), or None and why not:
    missing, unreadable, or written for another V-net (its md5 or actors differ)."""
    import json

    from .calibration import file_md5

    path = Path(path) if path is not None else voice_calibration_path(enc.path)
    if not path.is_file():
        return None, f"{path} not found; rerun `dvc repro train_vnet`"
    try:
        d = json.loads(path.read_text())
        cal = VoiceCalibration(list(d["actors"]), np.asarray(d["centroids"], dtype=np.float64),
                               float(d["threshold"]), float(d["eer"]), str(path))
        md5 = d.get("vnet_md5")
    except (OSError, ValueError, KeyError, TypeError) as e:
        return None, f"{path} is not a voice calibration ({type(e).__name__}); rerun `dvc repro train_vnet`"
    if cal.actors != list(enc.actors) or cal.centroids.shape != (len(enc.actors), enc.model.head.in_features):
        return None, f"{path} is for other training speakers than {enc.path}'s; rerun `dvc repro train_vnet`"
    if md5 and Path(enc.path).is_file() and file_md5(enc.path) != md5:
        return None, f"{path} was written for another {Path(enc.path).name}; rerun `dvc repro train_vnet`"
    return cal, ""


@dataclass
class VoiceEncoder:
    """A trained V-net in eval mode and what its checkpoint records."""
    model: VNet
    actors: list
    feature_kind: str
    in_channels: int
    path: str

    @torch.no_grad()
    def nearest_speaker(self, e_v: torch.Tensor) -> tuple[int, float]:
        """The training actor V-net's speaker head picks for ``e_v``, and its probability."""
        p = torch.softmax(self.model.head(e_v[None, :self.model.embed_dim].float()), dim=1)[0]
        i = int(p.argmax())
        return self.actors[i], float(p[i])


def load_vnet(path: str | Path) -> VoiceEncoder:
    """``models/vnet.pt`` (as `train_vnet` writes it) as a ``VoiceEncoder``."""
    ck = _load(path, "V-net")
    try:
        cfg = ck["config"]
        enc = VoiceEncoder(vnet_from_checkpoint(ck), list(ck["actors"]), ck["feature_kind"], cfg["in_channels"],
                           str(path))
    except (KeyError, TypeError, RuntimeError) as e:
        raise FeganError(f"{path}: not a V-net checkpoint ({type(e).__name__}: {str(e).splitlines()[0][:120]})") \
            from None
    return enc


def load_generator(path: str | Path) -> GNet:
    """``models/generator.pt`` (as `train_fegan` writes it) as a G-net in eval mode."""
    ck = _load(path, "generator")
    try:
        cfg = ck["model_config"]
        g = GNet(**{k: cfg[k] for k in ("embed_dim", "noise_dim", "image_size", "width", "dropout")},
                 normalize_ev=bool(cfg.get("normalize_ev", False)))
        g.load_state_dict(ck["g"])
    except (KeyError, TypeError, RuntimeError, ValueError) as e:
        raise FeganError(f"{path}: not a generator checkpoint ({type(e).__name__}: "
                         f"{str(e).splitlines()[0][:120]})") from None
    return g.eval()


# ---------------------------------------------------------------- E_v and faces

@torch.no_grad()
def embed(voiced_wave: np.ndarray, sample_rate: int, vnet_checkpoint: str | Path | VoiceEncoder,
          features_params: dict | FeaturesConfig) -> torch.Tensor:
    """E_v ``(128,)`` of voiced audio: the `features` stage's features, then V-net; with V-net's
    emotion code (``vnet.emotion_code``) the code follows, ``(128 + emotions,)``: what G reads.

    ``features_params`` is params.yaml's ``features`` section (or its config);
    ``vnet_checkpoint`` a path or a loaded ``VoiceEncoder`` (load once to embed many).
    """
    enc = vnet_checkpoint if isinstance(vnet_checkpoint, VoiceEncoder) else load_vnet(vnet_checkpoint)
    kw = features_kwargs(features_params)
    if kw["kind"] != enc.feature_kind:
        raise FeganError(f"{enc.path} was trained on {enc.feature_kind} features but params say "
                         f"features.kind={kw['kind']} (rerun `dvc repro`, or use the params it was trained with)")
    feat = compute(voiced_wave, sample_rate, **kw)
    if feat.shape[0] != enc.in_channels:
        raise FeganError(f"{enc.path} takes {enc.in_channels} feature channels but params give {feat.shape[0]} "
                         f"(features.{'n_mfcc' if kw['kind'] == 'mfcc' else 'n_mels'} changed since training?)")
    return enc.model.condition(feat[None].float())[0]


@torch.no_grad()
def generate(g: GNet, e_v: torch.Tensor, n: int = 1, seed: int = 0) -> torch.Tensor:
    """``n`` faces for one E_v as uint8 ``(n, 3, S, S)``; the same seed gives the same faces.

    Noise vector i is the i-th draw of a generator seeded with ``seed``, so the first
    faces of a larger ``n`` are those of a smaller one. G-net runs in eval mode
    (dropout off, BatchNorm on its running statistics), so a face does not depend on
    the others in the batch.
    """
    if n < 1:
        raise FeganError(f"--n must be at least 1, got {n}")
    embed_dim = g.fc[0].in_features - g.noise_dim
    if e_v.shape[-1] != embed_dim:
        raise FeganError(f"the generator takes a {embed_dim}-d E_v but V-net gives {e_v.shape[-1]}-d "
                         "(models from different runs?)")
    g.eval()
    gen = torch.Generator().manual_seed(int(seed))
    noise = torch.stack([torch.randn(g.noise_dim, generator=gen) for _ in range(n)])
    imgs = g(e_v.float().reshape(1, -1).expand(n, -1), noise)
    return ((imgs + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)


def grid(images: torch.Tensor, ncol: int = 0, padding: int = 2) -> np.ndarray:
    """uint8 ``(n, 3, S, S)`` -> one ``(H, W, 3)`` sheet, ``ncol`` faces a row
    (0: the smallest square that holds them), ``padding`` black pixels between."""
    n, _, s, _ = images.shape
    ncol = min(n, ncol or math.ceil(math.sqrt(n)))
    nrow = math.ceil(n / ncol)
    if n == 1:
        return images[0].permute(1, 2, 0).numpy()
    sheet = np.zeros((nrow * (s + padding) + padding, ncol * (s + padding) + padding, 3), np.uint8)
    for i, img in enumerate(images.permute(0, 2, 3, 1).numpy()):
        r, c = divmod(i, ncol)
        y, x = padding + r * (s + padding), padding + c * (s + padding)
        sheet[y:y + s, x:x + s] = img
    return sheet


# ---------------------------------------------------------------- the whole chain

@dataclass
class VoiceFaces:
    images: torch.Tensor     # (n, 3, S, S) uint8
    e_v: torch.Tensor        # (128,), or (128 + emotions,) with V-net's emotion code
    voiced_s: float          # seconds of speech found (the features use up to features.duration_s of it)
    speaker: int             # the nearest training actor: by centroid similarity, or V-net's head without a calibration
    speaker_p: float         # V-net's speaker softmax for its own pick: near 1 for any voice, no similarity
    heard_s: float           # seconds of the recording decoded (all of it, or max_s)
    similarity: float | None = None   # cosine of E_v to `speaker`'s centroid (None: no voice calibration)
    threshold: float | None = None    # below it the voice is new
    is_new: bool | None = None
    calibration_note: str = ""        # why there is no similarity, when there is none

    def voice_line(self) -> str:
        """What the voice is, in words: close to a training speaker or new, with the numbers."""
        if self.similarity is None:
            return (f"V-net's nearest training speaker A{self.speaker:02d} (uncalibrated: no similarity; "
                    f"{self.calibration_note})")
        if self.is_new:
            return (f"a new voice (nearest training speaker A{self.speaker:02d} at similarity {self.similarity:.2f}; "
                    f"threshold {self.threshold:.2f})")
        return (f"close to training speaker A{self.speaker:02d} (similarity {self.similarity:.2f}, "
                f"threshold {self.threshold:.2f})")


def faces_from_voice(voice: str | Path, params: dict, vnet: str | Path | VoiceEncoder,
                     generator: str | Path | GNet, n: int = 1, seed: int = 0,
                     min_speech_s: float = MIN_SPEECH_S, max_s: float | None = None,
                     calibration: VoiceCalibration | str | Path | None = "beside") -> VoiceFaces:
    """Recording -> faces with params.yaml's ``data``, ``vad`` and ``features`` sections
    (with ``max_s``: from the recording's first ``max_s`` seconds).

    ``calibration``: the voice calibration that says close or new: ``"beside"`` (the default)
    reads the one beside the V-net checkpoint (``models/vnet_calibration.json``), another path
    that file, when it is there and fits the V-net; None: none (``speaker`` is then V-net's head's)."""
    from .preprocess.demux import DataConfig

    sr = build_config(DataConfig, params.get("data"), "data").sample_rate
    vad = build_config(VadConfig, params.get("vad"), "vad")
    feats = build_config(FeaturesConfig, params.get("features"), "features")
    # models first: a missing model is reported before the (slower) audio work
    enc = vnet if isinstance(vnet, VoiceEncoder) else load_vnet(vnet)
    g = generator if isinstance(generator, GNet) else load_generator(generator)
    heard = load_voice(voice, sr, max_s)
    wave = voiced(heard, sr, min_speech_s, name=str(voice),
                  **{f.name: getattr(vad, f.name) for f in fields(vad) if f.name != "workers"})
    e_v = embed(wave, sr, enc, feats)
    speaker, p = enc.nearest_speaker(e_v)
    note = "no voice calibration given"
    if isinstance(calibration, (str, Path)):
        calibration, note = load_voice_calibration(enc, None if calibration == "beside" else calibration)
    out = VoiceFaces(generate(g, e_v, n, seed), e_v, len(wave) / sr, speaker, p, len(heard) / sr,
                     calibration_note=note if calibration is None else "")
    if calibration is not None:
        out.speaker, out.similarity, out.is_new = calibration.read(e_v)
        out.threshold = calibration.threshold
    return out
