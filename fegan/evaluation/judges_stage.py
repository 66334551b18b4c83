"""The `train_judges` stage: the identity and emotion judges, on real training faces only.

The judges (``judge.train_judge``) are the rulers every GAN is measured with, so they are a
stage of their own: they depend on the real faces, their labels and ``evaluate.identity`` /
``evaluate.emotion`` only, and a GAN run (``dvc exp run -S lambda1=0.5``) reruns `evaluate`,
not them. Their accuracy on real val and test faces, the ceiling a generated face can reach,
goes to ``metrics/judges.json``. `evaluate` loads them with ``load_judges``.

The emotion judge is also what `fegan demo` reads in the faces it draws, and a softmax trained
to near-zero loss says "angry 1.00" of any face. So the stage fits one temperature per judge the
demo reads (the emotion judge; under the speaker protocol the attribute judges too) on the real
*validation* faces (``fegan.calibration.fit_temperature``: Guo et al. 2017) and writes it, with
the NLL and ECE before and after, to ``models/judges_calibration.json``; the judges' own files
are not touched (the same bytes as without it).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import paths
from ..datasets.ravdess import EMOTIONS
from ..calibration import file_md5, temperature_report
from ..datasets.attributes import ATTRIBUTES
from ..errors import FeganError
from ..params import build_config
from ..training.data import Labels, load_faces, protocol, usable_clips
from ..training.stages import write_json
from .attribute_judges import face_attributes, save_attribute_judges, train_attribute_judges
from .judge import FaceClassifier, JudgeConfig, load_judge_labelled, logits, predict, save_judge, train_judge

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
    calibration = {}
    for name, cfg in cfgs.items():
        names, codes, field = classes[name]
        net = train_judge(cfg, train.faces, getattr(train, field), len(codes))
        save_judge(out_path[name], net, cfg, names, codes)
        if name == "emotion":       # the demo's reading; the identity judge is read by evaluate only
            calibration[name] = {**_temperature(net, data.get("val"), data["val"].emotion if "val" in data else None),
                                 "judge_md5": file_md5(out_path[name])}
        for s, d in data.items():
            y = getattr(d, field)
            known = y >= 0       # the identity of an unseen speaker (data.split speaker) is no class
            if known.any():      # no val faces when data.val_fraction is 0
                metrics[f"{name}_{s}_acc"] = float((predict(net, d.faces[known]) == y[known]).mean())
    attrs = _attribute_judges(cfgs["identity"], data, metrics, protocol(usable_clips()), calibration)
    write_json(paths.JUDGES_METRICS, metrics)
    write_json(paths.JUDGES_CALIBRATION, calibration)
    emo = calibration["emotion"]
    return ("train_judges: on real faces, identity " + _readings(metrics, "identity")
            + ", emotion " + _readings(metrics, "emotion")
            + "".join(f", {a} " + _readings(metrics, a) for a in attrs)
            + (f"; emotion temperature {emo['temperature']:.3f} (val NLL {emo['nll_before']:.3f} -> "
               f"{emo['nll_after']:.3f}, ECE {emo['ece_before']:.3f} -> {emo['ece_after']:.3f})"
               if emo["fitted"] else "; emotion temperature 1 (not fitted: " + emo["note"].split(":")[0] + ")"))


def _temperature(net: FaceClassifier, faces: RealFaces | None, labels: np.ndarray | None) -> dict:
    """``calibration.temperature_report`` of ``net`` on real val faces with known ``labels`` (>= 0)."""
    if faces is None or labels is None or not (labels >= 0).any():
        return temperature_report(None, None, "real val faces")
    known = labels >= 0
    return temperature_report(logits(net, faces.faces[known]), labels[known], "real val faces")


def _attribute_judges(cfg: JudgeConfig, data: dict[str, RealFaces], metrics: dict, proto: str,
                      calibration: dict) -> list[str]:
    """Under the speaker protocol, the attribute judges (``attribute_judges``), trained on the
    training actors' real faces with the identity judge's recipe; their accuracy on real val and
    test faces (unseen speakers) is their ceiling, and each one's temperature, fitted on the real
    faces of the val speakers, goes to ``calibration["attributes"]``. Under the utterance protocol
    none (an empty file, no temperatures)."""
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
    if judges:
        calibration["attributes"] = {name: _temperature(net, data.get("val"), truth["val"][name] if "val" in truth
                                                        else None) for name, net in judges.items()}
        calibration["attribute_judges_md5"] = file_md5(paths.ATTRIBUTE_JUDGES)
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
