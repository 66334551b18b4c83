"""V-net's voice-borne attribute heads (``vnet.attribute_weight``) and emotion head
(``vnet.emotion_weight``), fegan's additions for issue 26: the labels each clip gets, a V-net
without them unchanged, and heads that read an attribute or the emotion from the voices of
speakers never trained on."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from fegan.datasets.attributes import ATTRIBUTES, complete
from fegan.errors import FeganError
from fegan.models.config import VNetConfig
from fegan.models.vnet import VNet, from_checkpoint
from fegan.params import build_config
from fegan.training.vnet import VNetTrainConfig, attribute_loss, train_vnet
from fegan.training.vnet_stage import attribute_accuracy, attribute_labels, emotion_accuracy

CPU = torch.device("cpu")
SMALL = dict(epochs=12, batch_size=24, lr=0.03, crop_ms=[100, 200], channels=[8, 8, 8, 8, 8])


def test_attribute_labels_give_each_clip_its_actors_classes():
    actors = complete(pd.DataFrame({"actor": [1, 2, 3], "sex": ["male", "female", "unknown"],
                                    "age": [25.0, 50.0, np.nan], "size": [0.9, np.nan, 0.1]}))
    got = attribute_labels(actors, [2, 1, 1, 3, 7])          # actor 7 is not in the table
    assert list(ATTRIBUTES) == ["sex", "age_band", "size_band"]
    assert got.tolist() == [[0, 2, -1], [1, 0, 2], [1, 0, 2], [-1, -1, 0], [-1, -1, -1]]
    assert got.dtype == np.int64


def _voices(n_speakers: int = 12, clips: int = 6, seed: int = 0):
    """(N, 8, 40) features: each speaker a random timbre, and sex a shift of channels 0-1 (what the
    heads should find); speaker s is male when s is odd."""
    g = torch.Generator().manual_seed(seed)
    timbre = torch.randn(n_speakers, 8, 1, generator=g)
    speaker = np.repeat(np.arange(n_speakers), clips)
    sex = speaker % 2
    x = timbre[speaker] + 0.5 * torch.randn(len(speaker), 8, 40, generator=g)
    x[:, :2] += torch.from_numpy(np.where(sex == 1, 2.5, -2.5)).float()[:, None, None]
    labels = np.stack([sex, np.full_like(sex, -1), np.full_like(sex, -1)], axis=1)     # only sex known
    return x, speaker, labels


def test_without_the_weight_vnet_is_the_papers_byte_for_byte():
    x, speaker, labels = _voices()
    train = speaker < 8
    cfg = VNetTrainConfig(**{**SMALL, "epochs": 3}, attribute_weight=0.0, emotion_weight=0.0)
    plain, pcfg = train_vnet(cfg, x, speaker, train, 10.0, CPU)
    given, gcfg = train_vnet(cfg, x, speaker, train, 10.0, CPU, attributes=labels, attribute_classes=(2, 4, 3),
                             emotions=speaker % 4, n_emotions=4)
    assert list(plain.state_dict()) == list(given.state_dict())
    assert not any("attribute" in k or "emotion" in k for k in plain.state_dict())
    assert not any("attribute" in k or "emotion" in k for k in plain.state_dict()._metadata)   # what torch.save writes
    assert all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(), given.state_dict().values()))
    assert "attribute_classes" not in pcfg.to_dict() and "emotion_classes" not in pcfg.to_dict()
    assert gcfg.to_dict() == pcfg.to_dict()
    with pytest.raises(ValueError, match="no emotion head"):
        plain.emotion(torch.zeros(1, 8))
    for key in ("attribute_weight", "emotion_weight"):
        with pytest.raises(FeganError, match=f"vnet.{key} must be a number >= 0, got -1"):
            build_config(VNetTrainConfig, {key: -1}, "vnet")


def test_attribute_heads_read_sex_from_voices_never_trained_on():
    x, speaker, labels = _voices()
    train = speaker < 8                                       # speakers 8-11 never heard
    labels[speaker == 3] = -1                                 # an actor of unknown sex: left out of the loss
    cfg = VNetTrainConfig(**SMALL, attribute_weight=1.0)
    with pytest.raises(ValueError, match="needs \\(N=72, 3\\) attribute labels"):
        train_vnet(cfg, x, speaker, train, 10.0, CPU, attributes=labels[:5], attribute_classes=(2, 4, 3))
    model, mcfg = train_vnet(cfg, x, speaker, train, 10.0, CPU, attributes=labels, attribute_classes=(2, 4, 3))
    assert mcfg.attribute_classes == [2, 4, 3] and len(model.attribute_heads) == 3
    e, _ = model(x)
    split = np.where(train, "train", "test")
    acc = attribute_accuracy(model, e.detach(), labels, split)
    assert set(acc) == {"vnet_train_sex_acc", "vnet_test_sex_acc"}          # no age or size known: no key
    assert acc["vnet_test_sex_acc"] >= 0.9, acc                              # 24 clips of 4 unseen speakers
    # the checkpoint rebuilds the heads; a plain one (no key) rebuilds none
    ck = {"config": mcfg.to_dict(), "state_dict": model.state_dict()}
    again = from_checkpoint(ck)
    assert torch.equal(again.attributes(e.detach())[0], model.attributes(e.detach())[0])
    assert len(from_checkpoint({"config": VNetConfig(8, [8] * 5, 12).to_dict(),
                                "state_dict": VNet(8, (8,) * 5, 12).state_dict()}).attribute_heads) == 0


def test_attribute_loss_leaves_unknown_labels_out():
    torch.manual_seed(0)
    model = VNet(8, (8, 8, 8, 8, 4), 3, attribute_classes=(2, 3))
    e = torch.randn(4, 4)
    labels = torch.tensor([[0, -1], [1, -1], [-1, -1], [1, -1]])
    want = torch.nn.functional.cross_entropy(model.attributes(e)[0][[0, 1, 3]], torch.tensor([0, 1, 1]))
    assert torch.allclose(attribute_loss(model, e, labels), want)            # the size head: no known label
    assert float(attribute_loss(model, e, torch.full((4, 2), -1))) == 0.0


def test_the_stage_reads_labels_from_demuxs_actors_table_and_refuses_none_known(tmp_path, monkeypatch):
    from fegan import paths
    from fegan.training import vnet_stage

    table = complete(pd.DataFrame({"actor": [1, 2], "sex": ["male", "unknown"], "age": [70.0, np.nan]}))
    monkeypatch.setattr(paths, "ACTORS", str(tmp_path / "actors.parquet"))
    table.to_parquet(paths.ACTORS)
    clips = pd.DataFrame({"actor": [2, 1, 1], "split": ["train", "train", "test"]})
    got = vnet_stage._attributes(clips, np.array([True, True, False]))
    assert got.tolist() == [[-1, -1, -1], [1, 3, -1], [1, 3, -1]]
    with pytest.raises(FeganError, match="no training actor has a known sex, age or size"):
        vnet_stage._attributes(clips, np.array([True, False, False]))


def _emotional_voices(n_speakers: int = 12, clips: int = 8, seed: int = 0):
    """(N, 8, 40) features: each speaker a random timbre, and
    each clip's emotion (of 4) a shift of channels 2-3 the same for every speaker."""
    g = torch.Generator().manual_seed(seed)
    timbre = torch.randn(n_speakers, 8, 1, generator=g)
    speaker = np.repeat(np.arange(n_speakers), clips)
    emotion = np.tile(np.arange(clips) % 4, n_speakers)
    x = timbre[speaker] + 0.5 * torch.randn(len(speaker), 8, 40, generator=g)
    shift = torch.tensor([[4.0, 0], [-4.0, 0], [0, 4.0], [0, -4.0]])[emotion]       # (N, 2)
    x[:, 2:4] += shift[:, :, None]
    return x, speaker, emotion


def test_the_emotion_head_reads_the_emotion_of_voices_never_trained_on():
    x, speaker, emotion = _emotional_voices()
    train = speaker < 8                                       # speakers 8-11 never heard
    cfg = VNetTrainConfig(**{**SMALL, "epochs": 40}, emotion_weight=1.0)
    with pytest.raises(ValueError, match="needs \\(N=96,\\) emotion labels"):
        train_vnet(cfg, x, speaker, train, 10.0, CPU, emotions=emotion[:5], n_emotions=4)
    model, mcfg = train_vnet(cfg, x, speaker, train, 10.0, CPU, emotions=emotion, n_emotions=4)
    assert mcfg.emotion_classes == 4 and mcfg.to_dict()["emotion_classes"] == 4
    assert mcfg.attribute_classes == [] and len(model.attribute_heads) == 0          # the attribute heads stay off
    e, _ = model(x)
    acc = emotion_accuracy(model, e.detach(), emotion, np.where(train, "train", "test"))
    assert set(acc) == {"vnet_train_emotion_acc", "vnet_test_emotion_acc"}
    assert acc["vnet_test_emotion_acc"] >= 0.8, acc                           # 32 clips of 4 unseen speakers
    again = from_checkpoint({"config": mcfg.to_dict(), "state_dict": model.state_dict()})
    assert torch.equal(again.emotion(e.detach()), model.emotion(e.detach()))


def test_the_emotion_code_reads_unseen_voices_and_leaves_the_trunk_as_without_it():
    """vnet.emotion_code: a reader beside the trunk, not on it. The trunk and speaker head train to
    the same bits as without it; the code names the emotion of voices never trained on; G reads
    E_v with the code after it (``condition``), and a checkpoint rebuilds it."""
    from fegan.training.vnet import embed_all
    from fegan.training.vnet_stage import code_accuracy

    x, speaker, emotion = _emotional_voices()
    train = speaker < 8                                       # speakers 8-11 never heard
    plain, _ = train_vnet(VNetTrainConfig(**{**SMALL, "epochs": 40}), x, speaker, train, 10.0, CPU,
                          emotions=emotion, n_emotions=4)
    cfg = VNetTrainConfig(**{**SMALL, "epochs": 40}, emotion_code=True)
    with pytest.raises(ValueError, match="needs \\(N=96,\\) emotion labels"):
        train_vnet(cfg, x, speaker, train, 10.0, CPU, emotions=None, n_emotions=4)
    model, mcfg = train_vnet(cfg, x, speaker, train, 10.0, CPU, emotions=emotion, n_emotions=4)
    assert mcfg.to_dict()["emotion_code"] == 4 and mcfg.emotion_classes == 0 and model.emotion_head is None
    mine = {k: v for k, v in model.state_dict().items() if not k.startswith("emotion_reader.")}
    assert list(mine) == list(plain.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(mine.values(), plain.state_dict().values()))
    assert model.condition_dim == 8 + 4 and plain.condition_dim == 8
    cond, logits = embed_all(model, x, condition=True)                         # (96, 12)
    assert cond.shape == (96, 12)
    assert torch.equal(cond[:, :8], embed_all(plain, x)[0])                    # the speaker part: the plain E_v
    assert torch.allclose(cond[:, 8:].sum(1), torch.ones(96))                  # probabilities
    assert torch.equal(embed_all(model, x)[0], cond[:, :8])                    # without condition: E_v alone
    acc = code_accuracy(cond[:, 8:], emotion, np.where(train, "train", "test"))
    assert set(acc) == {"vnet_train_emotion_code_acc", "vnet_test_emotion_code_acc"}
    assert acc["vnet_test_emotion_code_acc"] >= 0.8, acc                       # 32 clips of 4 unseen speakers (chance 0.25)
    again = from_checkpoint({"config": mcfg.to_dict(), "state_dict": model.state_dict()})
    assert torch.equal(again.condition(x), model.condition(x))
    with pytest.raises(ValueError, match="no emotion code"):
        plain.emotion_code(x)
    with pytest.raises(FeganError, match="vnet.emotion_code must be true or false, got 1"):
        build_config(VNetTrainConfig, {"emotion_code": 1}, "vnet")
