"""The `train_judges` stage: the identity and emotion judges, on real training faces only.

The judges (``judge.train_judge``) are the rulers every GAN is measured with, so they are a
stage of their own: they depend on the real faces, their labels and ``evaluate.identity`` /
``evaluate.emotion`` only, and a GAN run (``dvc exp run -S lambda1=0.5``) reruns `evaluate`,
not them. Their accuracy on real val and test faces, the ceiling a generated face can reach,
goes to ``metrics/judges.json``. `evaluate` loads them with ``load_judges``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import paths
from ..datasets.ravdess import EMOTIONS
from ..errors import FeganError
from ..params import build_config
from ..datasets.attributes import ATTRIBUTES
from ..training.data import Labels, load_faces, protocol, usable_clips
from .attribute_judges import face_attributes, save_attribute_judges, train_attribute_judges
from ..training.stages import write_json
from .judge import FaceClassifier, JudgeConfig, load_judge_labelled, predict, save_judge, train_judge

SPLITS = ("train", "val", "test")


@dataclass
class RealFaces:
    """The real face crops of one split with their class indices (``gan_data``'s faces, in its order)."""
    faces: np.ndarray          # (N, 3, S, S) uint8
    actor: np.ndarray          # (N,) identity class indices (-1: an unseen speaker, data.split speaker)
    emotion: np.ndarray        # (N,) emotion class indices
    code: np.ndarray           # (N,) actor codes


def real_faces(labels: Labels, splits=SPLITS) -> dict[str, RealFaces]:
    """Every split's real faces; no E_v, so the judges do not depend on V-net."""
    clips = usable_clips()
    fi = pd.read_parquet(paths.FACES_INDEX)
    fi = fi[fi.row >= 0].merge(clips[["clip_id", "actor", "emotion", "split"]], on="clip_id")
    faces = load_faces().numpy()
    out = {}
    for s in splits:
        part = fi[fi.split == s]
        out[s] = RealFaces(faces[part.row.to_numpy()], labels.actor_index(part.actor, unseen=True),
                           labels.emotion_index(part.emotion), part.actor.to_numpy(np.int64))
    return out


def judge_configs(params: dict) -> dict[str, JudgeConfig]:
    ev = params.get("evaluate") or {}
    return {k: build_config(JudgeConfig, ev.get(k), f"evaluate.{k}") for k in ("identity", "emotion")}


def stage(params: dict) -> str:
    cfgs = judge_configs(params)
    labels = Labels.from_clips(usable_clips())
    data = real_faces(labels)
    train = data["train"]
    if len(train.faces) < 2:
        raise FeganError(f"train_judges: {len(train.faces)} real training faces; need at least 2")
    classes = {"identity": ([f"A{a:02d}" for a in labels.actors], labels.actors, "actor"),
               "emotion": ([EMOTIONS.get(e, str(e)) for e in labels.emotions], labels.emotions, "emotion")}
    out_path = {"identity": paths.IDENTITY_JUDGE, "emotion": paths.EMOTION_JUDGE}
    metrics: dict[str, float] = {"chance_identity": 1 / len(labels.actors),
                                 "chance_emotion": 1 / len(labels.emotions)}
    metrics.update({f"n_{s}_faces": len(d.faces) for s, d in data.items()})
    for name, cfg in cfgs.items():
        names, codes, field = classes[name]
        net = train_judge(cfg, train.faces, getattr(train, field), len(codes))
        save_judge(out_path[name], net, cfg, names, codes)
        for s, d in data.items():
            y = getattr(d, field)
            known = y >= 0       # the identity of an unseen speaker (data.split speaker) is no class
            if known.any():      # no val faces when data.val_fraction is 0
                metrics[f"{name}_{s}_acc"] = float((predict(net, d.faces[known]) == y[known]).mean())
    attrs = _attribute_judges(cfgs["identity"], data, metrics, protocol(usable_clips()))
    write_json(paths.JUDGES_METRICS, metrics)
    return ("train_judges: on real faces, identity " + _readings(metrics, "identity")
            + ", emotion " + _readings(metrics, "emotion")
            + "".join(f", {a} " + _readings(metrics, a) for a in attrs))


def _attribute_judges(cfg: JudgeConfig, data: dict[str, RealFaces], metrics: dict, proto: str) -> list[str]:
    """Under the speaker protocol, the attribute judges (``attribute_judges``), trained on the
    training actors' real faces with the identity judge's recipe; their accuracy on real val and
    test faces (unseen speakers) is their ceiling. Under the utterance protocol none (an empty file)."""
    judges = {}
    if proto == "speaker":
        actors = pd.read_parquet(paths.ACTORS)
        truth = {s: face_attributes(actors, d.code) for s, d in data.items()}
        judges = train_attribute_judges(cfg, data["train"].faces, truth["train"])
        for name, net in judges.items():
            metrics[f"chance_{name}"] = 1 / len(ATTRIBUTES[name])
            for s, d in data.items():
                known = truth[s][name] >= 0
                if known.any():
                    metrics[f"{name}_{s}_acc"] = float((predict(net, d.faces[known]) == truth[s][name][known]).mean())
    save_attribute_judges(paths.ATTRIBUTE_JUDGES, judges, cfg)
    return list(judges)


def _readings(metrics: dict, name: str) -> str:
    return " ".join(f"{s} {metrics[f'{name}_{s}_acc']:.3f}" for s in SPLITS if f"{name}_{s}_acc" in metrics)


def load_judges(labels: Labels) -> tuple[FaceClassifier, FaceClassifier]:
    """The identity and emotion judges `train_judges` wrote, checked to have ``labels``'s classes
    (the generator's: a judge of other actors or emotions would score against the wrong names)."""
    nets = []
    for path, want in ((paths.IDENTITY_JUDGE, labels.actors), (paths.EMOTION_JUDGE, labels.emotions)):
        try:
            net, _, codes = load_judge_labelled(path)
        except FileNotFoundError:
            raise FeganError(f"{path} is missing: run `fegan train_judges` (or `dvc repro`) first") from None
        if codes != list(want):
            raise FeganError(f"{path} judges classes {codes}, the generator has {list(want)}: "
                             "rerun train_judges on the same data")
        nets.append(net)
    return nets[0], nets[1]
