"""Multi-condition training: babble copies of the training voices (stage `noisy_voices`), and how
V-net and G's voice crops draw from them."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from fegan.errors import FeganError
from fegan.evaluation.babble import babble, mix_at_snr, snr_db
from fegan.preprocess.features import compute
from fegan.preprocess.noisy_voices import NoisyVoicesConfig, noisy_copies
from fegan.training.vnet import pick_versions

SR = 16000


def _voices(n: int = 4, seconds: float = 1.0) -> list[np.ndarray]:
    """Tones of distinct pitch with a slow vibrato: 'speakers' whose features differ."""
    t = np.arange(int(SR * seconds)) / SR
    return [(0.3 * np.sin(2 * np.pi * (150 + 60 * i) * t + 3 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)
            for i in range(n)]


FEATS = dict(kind="fbank", duration_s=1.0, n_mels=23, win_ms=25.0, hop_ms=10.0)


def test_copies_are_wave_major_seeded_and_as_noisy_as_their_snr():
    waves, spk = _voices(), np.array([1, 2, 3, 4])
    f, source, snrs = noisy_copies(waves, spk, SR, FEATS, copies=3, snr_db=(0.0, 30.0), talkers=2, seed=5)
    assert f.shape == (12, 23, 100) and source.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert ((snrs >= 0) & (snrs <= 30)).all() and len(set(snrs.round(3).tolist())) == 12
    again = noisy_copies(waves, spk, SR, FEATS, copies=3, snr_db=(0.0, 30.0), talkers=2, seed=5)
    assert torch.equal(f, again[0]) and np.array_equal(snrs, again[2])
    clean = torch.stack([compute(w, SR, **FEATS) for w in waves])
    # the features move away from the clean voice's as the babble gets louder
    gap = lambda lo: (noisy_copies(waves, spk, SR, FEATS, copies=1, snr_db=(lo, lo), seed=1)[0] - clean).abs().mean()
    assert gap(60.0) < 0.02 < gap(20.0) < gap(0.0)
    # no copies: nothing drawn, nothing computed
    none = noisy_copies(waves, spk, SR, FEATS, copies=0)
    assert none[0].numel() == 0 and len(none[1]) == 0


def test_the_babble_of_a_copy_is_other_speakers_at_the_snr_asked():
    # what noisy_copies mixes: the evaluation's own babble, so the SNR is exact
    waves = _voices()
    noise = babble([waves[1], waves[2]], len(waves[0]))
    assert abs(snr_db(waves[0], mix_at_snr(waves[0], noise, 7.5)) - 7.5) < 1e-3


def test_pick_versions_takes_the_clean_voice_or_the_copy_asked_for():
    clean = torch.arange(3 * 2 * 5, dtype=torch.float32).view(3, 2, 5)          # (N, F, T)
    noisy = -torch.arange(3 * 2 * 2 * 5, dtype=torch.float32).view(3, 2, 2, 5) - 1   # (N, copies, F, T)
    rows, version = torch.tensor([2, 0, 1, 2]), torch.tensor([0, 1, 2, 2])
    out = pick_versions(clean, noisy, rows, version)
    assert torch.equal(out[0], clean[2]) and torch.equal(out[1], noisy[0, 0])
    assert torch.equal(out[2], noisy[1, 1]) and torch.equal(out[3], noisy[2, 1])
    assert torch.equal(pick_versions(clean, None, rows, None), clean[rows])


def test_batch_draws_versions_only_with_copies_and_keeps_the_stream_without():
    from fegan.models.gnet import GNet
    from fegan.training import batch

    g = GNet(embed_dim=8, noise_dim=4, image_size=32, width=0.125, dropout=0.2)
    kw = dict(wav2pix=False, ev_noise=0.0, embed_dim=8, crop_frames=(3, 6), n_frames=20, augment_shift=0.1,
              image_size=32)
    a = batch.draw(torch.Generator().manual_seed(0), 16, 10, 10, g, **kw)
    b = batch.draw(torch.Generator().manual_seed(0), 16, 10, 10, g, copies=0, **kw)
    c = batch.draw(torch.Generator().manual_seed(0), 16, 10, 10, g, copies=3, **kw)
    assert a.crop_version is None and b.crop_version is None and torch.equal(a.offsets_g, b.offsets_g)
    assert c.crop_version.shape == (2, 16) and set(c.crop_version.unique().tolist()) <= {0, 1, 2, 3}
    assert len(set(c.crop_version.flatten().tolist())) > 1
    # a rank's shard takes its columns of the versions, as of the crop starts
    s = c.shard(slice(8, 16))
    assert torch.equal(s.crop_version, c.crop_version[:, 8:]) and torch.equal(s.crop_start, c.crop_start[:, 8:])


def test_vnet_crops_draw_from_the_copies_and_a_run_without_them_is_unchanged():
    from fegan.training.vnet import VNetTrainConfig, train_vnet

    torch.manual_seed(0)
    feats = torch.randn(12, 8, 40)
    speaker, train = np.arange(12) % 3, np.ones(12, dtype=bool)
    cfg = VNetTrainConfig(epochs=2, batch_size=6, crop_ms=[100, 200], channels=[8, 8, 8, 8, 4])
    m1, _ = train_vnet(cfg, feats, speaker, train, 10.0, torch.device("cpu"))
    m2, _ = train_vnet(cfg, feats, speaker, train, 10.0, torch.device("cpu"), noisy=None)
    assert all(torch.equal(x, y) for x, y in zip(m1.state_dict().values(), m2.state_dict().values()))
    m3, _ = train_vnet(cfg, feats, speaker, train, 10.0, torch.device("cpu"), noisy=feats[:, None] + 5.0)
    assert not all(torch.equal(x, y) for x, y in zip(m1.state_dict().values(), m3.state_dict().values()))
    with pytest.raises(ValueError, match="noisy copies for 3 clips"):
        train_vnet(cfg, feats, speaker, train, 10.0, torch.device("cpu"), noisy=feats[:3, None])


def test_load_noisy_returns_copies_by_row_none_without_and_refuses_uneven(tmp_path):
    from safetensors.numpy import save_file

    from fegan.training.data import load_noisy

    p = tmp_path / "n.safetensors"
    f = np.arange(5 * 2 * 3, dtype=np.float32).reshape(5, 2, 3)
    save_file({"features": f, "clip_row": np.array([7, 7, 3, 3, 9]), "snr_db": np.zeros(5, np.float32)}, str(p))
    out = load_noisy(np.array([3, 7]), p)
    assert out.shape == (2, 2, 2, 3) and torch.equal(out[0, 1], torch.from_numpy(f[3]))
    with pytest.raises(FeganError, match="unequal numbers of copies"):
        load_noisy(np.array([3, 9]), p)
    assert load_noisy(np.array([1]), tmp_path / "absent.safetensors") is None
    save_file({"features": np.zeros((0, 0, 0), np.float32), "clip_row": np.zeros(0, np.int64),
               "snr_db": np.zeros(0, np.float32)}, str(p))
    assert load_noisy(np.array([3]), p) is None


@pytest.mark.parametrize("bad, msg", [({"copies": -1}, "copies must be >= 0"),
                                      ({"snr_db": [20, 10]}, "snr_db must be"),
                                      ({"talkers": 0}, "talkers must be >= 1")])
def test_config_refuses_bad_values_in_one_line(bad, msg):
    with pytest.raises(FeganError, match=msg):
        NoisyVoicesConfig(**bad).validate()


def test_g_voice_crops_come_from_the_drawn_copy_of_each_voice():
    from test_models import _random_data

    from fegan.models.gnet import GNet
    from fegan.models.vnet import VNet
    from fegan.training import batch
    from fegan.training.gan import step_inputs

    torch.manual_seed(0)
    data = _random_data(features=True)
    data.voice_noisy = data.voice_feat[:, None] + torch.randn(len(data.voice_feat), 2, 64, 100)   # 2 copies
    vnet = VNet(64, (32, 32, 32, 32, 128), 4).eval()
    g = GNet(128, 128, 32, 0.125)
    b = batch.draw(torch.Generator().manual_seed(0), 8, len(data.faces), len(data.voice_ev), g, wav2pix=False,
                   ev_noise=0.0, embed_dim=128, crop_frames=(19, 50), n_frames=100, augment_shift=0.0,
                   image_size=32, copies=2)
    x = step_inputs(data, b, False, vnet)
    src = [data.voice_feat[v] if k == 0 else data.voice_noisy[v, k - 1] for v, k in zip(b.voice, b.crop_version[0])]
    crops = torch.stack([f[:, s:s + b.crop_len] for f, s in zip(src, b.crop_start[0])])
    assert torch.allclose(x.e_v, vnet.embed(crops), atol=1e-6)
    own = [data.voice_feat[data.face_voice[f]] if k == 0 else data.voice_noisy[data.face_voice[f], k - 1]
           for f, k in zip(b.face, b.crop_version[1])]
    assert torch.allclose(x.face_ev, vnet.embed(torch.stack([o[:, s:s + b.crop_len] for o, s in
                                                              zip(own, b.crop_start[1])])), atol=1e-6)
