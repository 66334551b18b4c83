"""The training loop's config, its per-step work and the bench that times it (bench/train.py)."""
from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from fegan.errors import FeganError
from fegan.params import build_config, defaults, load_params
from fegan.training import gan
from fegan.training.augment import translate
from fegan.training.gan import GANTrainConfig
from fegan.training.vnet import VNetTrainConfig

REPO = Path(__file__).resolve().parents[1]


def test_params_yaml_is_the_one_source_of_the_training_config():
    train = load_params(REPO / "params.yaml")["train"]
    fields = dataclasses.fields(GANTrainConfig)
    # no second set of values in the code to drift from params.yaml's (1500 steps at 2e-4 once)
    assert [f.name for f in fields if f.default is not dataclasses.MISSING
            or f.default_factory is not dataclasses.MISSING] == []
    assert {f.name for f in fields} == set(train)
    assert dataclasses.asdict(build_config(GANTrainConfig, defaults("train"), "train")) == train
    with pytest.raises(FeganError, match=r"params section 'train' lacks key\(s\) augment_shift, lr \(an older"):
        build_config(GANTrainConfig, {k: v for k, v in train.items() if k not in ("lr", "augment_shift")}, "train")
    # V-net's config keeps defaults: they must be params.yaml's
    assert dataclasses.asdict(VNetTrainConfig()) == load_params(REPO / "params.yaml")["vnet"]


def _translate_by_indexing(x, shift, gen):
    """The first implementation: three (B, H, W) index tensors into the zero-padded NHWC image."""
    b, _, h, w = x.shape
    s = int(h * shift + 0.5)
    d = torch.randint(-s, s + 1, (b, 2), generator=gen)         # (dy, dx) per image, as augment.draw_offsets
    dy, dx = d[:, 0].view(b, 1, 1), d[:, 1].view(b, 1, 1)
    bi, yi, xi = torch.meshgrid(torch.arange(b), torch.arange(h), torch.arange(w), indexing="ij")
    padded = F.pad(x, [1, 1, 1, 1]).permute(0, 2, 3, 1)
    return padded[bi, (yi + dy + 1).clamp(0, h + 1), (xi + dx + 1).clamp(0, w + 1)].permute(0, 3, 1, 2)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_translate_is_exactly_the_indexing_it_replaced(dtype):
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(16, 3, 32, 32, generator=g).to(dtype).contiguous(memory_format=torch.channels_last)
    weights = torch.randn(16, 3, 32, 32, generator=g).to(dtype)
    got = {}
    for name, fn in (("row gather", translate), ("indexing", _translate_by_indexing)):
        x = x0.clone().requires_grad_(True)
        gen = torch.Generator().manual_seed(1)
        y = fn(x, 0.125, gen)
        (y * weights).sum().backward()
        got[name] = y.detach(), x.grad, gen.get_state()
    (y1, g1, s1), (y2, g2, s2) = got.values()
    bits = torch.int16 if dtype == torch.bfloat16 else torch.int32
    assert torch.equal(y1.contiguous().view(bits), y2.contiguous().view(bits))        # values, bit for bit
    assert torch.equal(g1.contiguous().view(bits), g2.contiguous().view(bits))        # gradients too
    assert torch.equal(s1, s2)                                                        # the same draws
    assert not torch.equal(y1, x0) and y1.is_contiguous(memory_format=torch.channels_last)
    # moved by whole pixels: image 0 is its own copy shifted, zeros in the gap
    assert torch.isin(y1[0].float().flatten(), torch.cat([x0[0].float().flatten(), torch.zeros(1)])).all()


def test_curves_do_not_reread_their_files(tmp_path, monkeypatch):
    """dvclive re-parsed every curve file at each logged step (for DVC Studio, which is not set up)."""
    from fegan.training.gan_stage import Curves
    from fegan.training.stages import open_live

    def reread(*a, **k):
        raise AssertionError("dvclive re-read the curves")

    monkeypatch.setattr("dvclive.live.parse_metrics", reread)
    live = open_live(str(tmp_path / "live"))
    log = Curves(live, log_every=2, iterations=5)
    for step in range(5):
        log(step, {"loss_G": float(step), "d1_real": 0.5})
    live.end()
    rows = (tmp_path / "live/plots/metrics/loss_G.tsv").read_text().splitlines()
    assert [r.split("\t")[-2:] for r in rows] == [["step", "loss_G"], ["1", "0.5"], ["3", "2.5"], ["4", "4.0"]]


def test_the_bench_times_the_pipelines_own_loop(monkeypatch):
    """bench/train.py runs train_gan (the loop train_fegan runs) with the stage's curves, and
    params.yaml's train section: every step the loop takes is a step the bench times."""
    spec = importlib.util.spec_from_file_location("bench_train", REPO / "bench/train.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    calls, loops, step = [], [], gan.train_step

    def counted(*args, **kwargs):
        calls.append(args[5].augment_shift)          # the GANTrainConfig the step ran with
        return step(*args, **kwargs)

    def loop(*args, **kwargs):
        loops.append(args[1])
        return train_gan(*args, **kwargs)

    train_gan = gan.train_gan
    monkeypatch.setattr(gan, "train_step", counted)
    monkeypatch.setattr(gan, "train_gan", loop)
    monkeypatch.chdir(REPO)
    out = bench.worker(dict(image_size=32, width=0.125), steps=12, warmup=3, batch=8, device_name="cpu",
                       threads=0, precision="auto")
    tcfg = loops[0]
    assert out["curves"] and out["steps"] == 20                     # rounded up to whole windows of log_every 10
    assert (tcfg.augment_shift, tcfg.ema_images, tcfg.lr) == (0.125, 10000, 0.0008)      # params.yaml's
    # 10 warm-up steps and 20 timed ones in the loop, then one more counted for the FLOPs
    assert calls == [0.125] * 31
    assert out["ms_step"] > 0 and out["images_s"] == pytest.approx(8000 / out["ms_step"])
