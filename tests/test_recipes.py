"""The recipes (fegan/recipes.py) and each switch they set, one by one."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from test_models import _random_data

from fegan.errors import FeganError
from fegan.losses import dc_loss, g_loss
from fegan.models.gnet import GNet
from fegan.models.vnet import VNet
from fegan.params import defaults, load_params
from fegan.recipes import RECIPES, active, apply_recipe, dvc_command
from fegan.training import batch as batches
from fegan.training.gan import GANTrainConfig, step_inputs

REPO = Path(__file__).resolve().parents[1]


def test_every_recipe_sets_keys_params_yaml_has_and_round_trips(tmp_path):
    p = tmp_path / "params.yaml"
    shutil.copy(REPO / "params.yaml", p)
    shipped = p.read_text()
    assert active(load_params(p)) == ["fegan-v5"]                 # the shipped default
    changed = apply_recipe("authors", p)
    params = load_params(p)
    assert active(params) == ["authors"]
    assert params["train"]["voice_crops"] is True and params["model"]["noise_dim"] == 0
    assert params["lambda1"] == 1.0 and params["lambda2"] == 0.0 and params["train"]["ev_noise"] == 0.05
    # all ten of the paper-vs-code choices differ from fegan-v5, and its babble copies are off
    assert {k for k, *_ in changed} == set(RECIPES["authors"])
    apply_recipe("paper", p)
    assert active(load_params(p)) == ["paper"]
    apply_recipe("fegan-v3", p)
    assert load_params(p)["noisy_voices"]["copies"] == 4 and load_params(p)["train"]["voice_crops"] is True
    apply_recipe("fegan-v5", p)
    assert p.read_text() == shipped                 # comments and layout kept: back to the shipped file
    assert "-S train.voice_crops=true" in dvc_command("paper") and "-S model.noise_dim=0" in dvc_command("authors")
    with pytest.raises(FeganError, match="unknown recipe 'nope'"):
        apply_recipe("nope", p)


def test_classify_fakes_off_trains_the_classifiers_on_real_faces_only():
    g = torch.Generator().manual_seed(0)
    real = {"c1": torch.randn(6, 4, generator=g), "c2": torch.randn(6, 3, generator=g)}
    fake = {"c1": torch.randn(6, 4, generator=g), "c2": torch.randn(6, 3, generator=g)}
    fid, femo, vid, vemo = (torch.randint(0, n, (6,), generator=g) for n in (4, 3, 4, 3))
    _, both = dc_loss(real, fake, fid, femo, vid, vemo, 0.7, 0.3)
    _, only = dc_loss(real, fake, fid, femo, vid, vemo, 0.7, 0.3, classify_fakes=False)
    assert float(only["L_C1"]) == pytest.approx(float(F.cross_entropy(real["c1"], fid)))
    assert float(both["L_C1"]) == pytest.approx(float(F.cross_entropy(real["c1"], fid) + F.cross_entropy(fake["c1"], vid)))


def test_lambda_in_g_weighs_the_generators_adversarial_terms():
    g = torch.Generator().manual_seed(1)
    out = {"d1": torch.randn(8, generator=g), "d2": torch.randn(8, generator=g)}
    t1 = F.binary_cross_entropy_with_logits(out["d1"], torch.ones(8))
    t2 = F.binary_cross_entropy_with_logits(out["d2"], torch.ones(8))
    _, mean = g_loss(out, None, None)
    _, weighted = g_loss(out, None, None, weights=(1.0, 0.0))      # the authors' final script: D1 only
    assert float(mean["L_G"]) == pytest.approx(float(t1 + t2) / 2)
    assert float(weighted["L_G"]) == pytest.approx(float(t1))
    _, no_d1 = g_loss({"d2": out["d2"]}, None, None, weights=(0.7, 0.3))   # a variant without D1: lambda2 only
    assert float(no_d1["L_G"]) == pytest.approx(0.3 * float(t2))


def test_normalize_ev_and_no_noise_make_g_a_function_of_the_direction_alone():
    torch.manual_seed(0)
    g = GNet(128, 0, 32, 0.125, 0.2, normalize_ev=True).eval()
    e = torch.randn(3, 128)
    empty = torch.zeros(3, 0)
    assert torch.allclose(g(e, empty), g(5 * e, empty), atol=1e-6)     # the scale of E_v does not matter
    assert not torch.allclose(g(e, empty), g(e.flip(0), empty))


def _step(cfg_over: dict, wav2pix=False):
    torch.manual_seed(0)
    data = _random_data(features=True)
    vnet = VNet(64, (32, 32, 32, 32, 128), 4).eval()
    cfg = GANTrainConfig(**{**defaults("train"), "batch_size": 8, **cfg_over})
    g = GNet(128, 128, 32, 0.125)
    b = batches.draw(torch.Generator().manual_seed(0), 8, len(data.faces), len(data.voice_ev), g, wav2pix=wav2pix,
                     ev_noise=cfg.ev_noise, embed_dim=128, crop_frames=cfg.crop_frames(16.0),
                     n_frames=data.voice_feat.shape[2], augment_shift=cfg.augment_shift, image_size=32)
    return data, vnet, b, step_inputs(data, b, wav2pix, vnet)


def test_voice_crops_embed_a_fresh_crop_of_each_drawn_voice():
    data, vnet, b, x = _step({"voice_crops": True})
    assert b.crop_len in range(19, 51)                     # 300-800 ms at a 16 ms hop
    crops = torch.stack([data.voice_feat[v, :, s:s + b.crop_len] for v, s in zip(b.voice, b.crop_start[0])])
    assert torch.allclose(x.e_v, vnet.embed(crops), atol=1e-6)
    assert not torch.allclose(x.e_v, data.voice_ev[b.voice])                # not the stored whole-voice E_v
    # the conditional heads' E_v of each real face: a crop of the face's own voice
    own = torch.stack([data.voice_feat[data.face_voice[f], :, s:s + b.crop_len]
                       for f, s in zip(b.face, b.crop_start[1])])
    assert torch.allclose(x.face_ev, vnet.embed(own), atol=1e-6)
    _, _, _, whole = _step({"voice_crops": False})
    assert torch.equal(whole.e_v, data.voice_ev[_step({})[2].voice])        # off: the stored E_v


def test_unconditional_heads_skip_embedding_the_faces_own_voice_crops():
    from fegan.training.gan import step_inputs

    data, vnet, b, x = _step({"voice_crops": True})
    plain = step_inputs(data, b, False, vnet, conditional=False)
    assert torch.equal(plain.e_v, x.e_v)                                  # G's voices: the same crops
    assert torch.equal(plain.face_ev, data.face_ev[b.face])               # the heads ignore it: not embedded
    assert not torch.allclose(x.face_ev, plain.face_ev)


def test_ev_noise_perturbs_the_unit_e_v():
    data, _, b, x = _step({"ev_noise": 0.05})
    unit = F.normalize(data.voice_ev[b.voice], dim=1)
    gap = x.e_v - unit
    assert torch.allclose(gap, b.ev_noise) and 0.03 < float(gap.std()) < 0.07


def test_the_batch_shards_into_the_rows_one_process_draws():
    data, _, b, _ = _step({"voice_crops": True, "augment_shift": 0.125})
    halves = [b.shard(slice(0, 4)), b.shard(slice(4, 8))]
    assert torch.equal(torch.cat([h.face for h in halves]), b.face)
    assert torch.equal(torch.cat([h.crop_start for h in halves], 1), b.crop_start)
    assert torch.equal(torch.cat([h.offsets_d for h in halves], 1), b.offsets_d)
    assert torch.equal(torch.cat([h.drop[0] for h in halves]), b.drop[0])
    assert halves[0].crop_len == halves[1].crop_len == b.crop_len
    # dropout masks keep 1 - p of the units, scaled to keep the mean
    assert set(b.drop[0].unique().tolist()) <= {0.0, 1 / 0.8} and 0.7 < float((b.drop[0] > 0).float().mean()) < 0.9


def test_voice_crops_give_g_the_emotion_code_after_e_v():
    """With V-net's emotion code (vnet.emotion_code) each crop's E_v carries the code after it:
    the crop's, not the whole voice's."""
    data, _, b, _ = _step({"voice_crops": True})
    torch.manual_seed(1)
    vnet = VNet(64, (32, 32, 32, 32, 128), 4, emotion_code=4).eval()
    x = step_inputs(data, b, False, vnet)
    crops = torch.stack([data.voice_feat[v, :, s:s + b.crop_len] for v, s in zip(b.voice, b.crop_start[0])])
    assert x.e_v.shape == (8, 132)
    assert torch.allclose(x.e_v[:, :128], vnet.embed(crops), atol=1e-6)
    assert torch.allclose(x.e_v[:, 128:], vnet.emotion_code(crops), atol=1e-6)
    assert torch.allclose(x.e_v[:, 128:].sum(1), torch.ones(8), atol=1e-6)
