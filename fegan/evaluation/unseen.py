"""`evaluate` under the speaker protocol (``data.split: speaker``): voices never heard in training.

The utterance protocol asks whether G draws the right one of the speakers it was trained on;
here no test speaker was ever seen, so there is no identity class to name. What the field
asks instead (Wen et al. 2019; SF2F, Bai et al. 2022), and what is written here, every key
``unseen_``-prefixed (``val_unseen_`` for the val speakers the choices are made on):

- ``match_1to2_{attr,dlib}``, ``r_at_{1,5}_{attr,dlib}``: does the face generated from a voice
  match its speaker's real face, against the other unseen speakers (``fegan.metrics.retrieval``),
  under two frozen embeddings: the attribute judges' readings (sex, age, size;
  ``attribute_judges``) and dlib's face descriptor (the field's face-recognition network);
- ``oracle_*``: the same matching by an oracle that knows only the true speaker's voice-borne
  attributes (the mean training face of people like them): how close to the best possible;
  ``chance_*``: a face unrelated to the voice;
- ``{sex,age_band,size_band}_acc``: the attribute judges on the generated faces against the
  speaker's truth; ``_real``: the same judges on the real faces of these speakers (the ceiling);
- ``emo_acc``: the emotion judge on the generated faces (``_real``: its ceiling); FID, KID and
  the diversity readings against the real faces of the unseen speakers.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import paths
from ..metrics import retrieval
from ..training.gan_data import gan_data, split_actors
from .attribute_judges import attribute_probabilities, embedding, face_attributes, load_attribute_judges
from .judge import predict

KS = (1, 5)


def unseen_readings(judges, attr_judges: dict, g, split: str, labels, actors: pd.DataFrame,
                    train_ref: dict, n: int, generate, phase) -> tuple[dict[str, float], dict]:
    """Every reading of one held-out split of unseen speakers, unprefixed, and what the grid needs.

    ``judges``: evaluate's ``Judges`` (emotion judge, descriptor, Inception); ``train_ref``: the
    oracle's references, ``train_references``; ``generate(g, e_v, n)``: n faces per voice,
    voice-major, the same noise as every other set.
    """
    data = gan_data(split, labels)
    voice_actor, face_actor = split_actors(split)
    real = data.faces.numpy()
    phase(f"{len(data.voice_ev) * n} faces from the voices of {len(np.unique(voice_actor))} unseen speakers "
          f"({split}): judges, descriptors, Inception, FID/KID, matching")
    fake = generate(g, data.voice_ev, n)
    q_actor = voice_actor.repeat(n)
    out: dict[str, float] = {"n_speakers": len(np.unique(voice_actor)), "n_voices": len(voice_actor),
                             "n_generated": len(fake), "n_faces_real": len(real)}

    emo_true = data.voice_emo.numpy().repeat(n)
    emo_pred = predict(judges.emotion, fake)
    out["emo_acc"] = float((emo_pred == emo_true).mean())
    out["emo_acc_real"] = float((predict(judges.emotion, real) == data.face_emo.numpy()).mean())
    groups = {"fake_groups": np.arange(len(voice_actor)).repeat(n), "real_images": real,
              "real_groups": face_actor * 100 + data.face_emo.numpy()}       # (actor, emotion) of each real face
    values, skipped = judges.image_metrics(fake, judges.features(real, real=True), groups)
    out.update(values)

    # the attribute judges: accuracy against the speakers' truth, and the attribute embedding
    probs_fake, probs_real = attribute_probabilities(attr_judges, fake), attribute_probabilities(attr_judges, real)
    truth_fake, truth_real = face_attributes(actors, q_actor), face_attributes(actors, face_actor)
    for name in attr_judges:
        for tag, probs, truth in (("", probs_fake, truth_fake), ("_real", probs_real, truth_real)):
            known = truth[name] >= 0
            if known.any():
                out[f"{name}_acc{tag}"] = float((probs[name].argmax(1)[known] == truth[name][known]).mean())
    gallery_ids = np.unique(face_actor)
    q_attrs = np.stack([truth_fake[k] for k in sorted(train_ref["attrs"])], 1)
    embeddings = {"attr": (embedding(probs_fake), embedding(probs_real), q_actor, q_attrs)} if attr_judges else {}
    # dlib's descriptor costs ~75 ms a face: the first noise draw of each voice
    first = slice(None, None, n)
    embeddings["dlib"] = (judges.descriptors(fake[first]), judges.descriptors(real, real=True), voice_actor,
                          q_attrs[first])
    if len(gallery_ids) < 2:           # nothing to match against (a val split of one speaker)
        embeddings = {}
    for tag, (q, r, who, attrs) in embeddings.items():
        gallery, ids = retrieval.gallery_means(r, face_actor)
        assert (ids == gallery_ids).all()
        for k, v in retrieval.readings(retrieval.distances(q, gallery), who, ids, KS).items():
            out[f"{k}_{tag}"] = v
        oracle = retrieval.oracle_queries(attrs, train_ref[tag], train_ref["attr_matrix"])
        for k, v in retrieval.readings(retrieval.distances(oracle, gallery), who, ids, KS).items():
            out[f"oracle_{k}_{tag}"] = v
    out.update({f"chance_{k}": v for k, v in retrieval.chance(len(gallery_ids), KS).items()})
    return out, {"fake": fake, "data": data, "voice_actor": voice_actor, "face_actor": face_actor,
                 "emo_true": emo_true, "emo_pred": emo_pred, "skipped": skipped}


def train_references(judges, attr_judges: dict, actors: pd.DataFrame, labels) -> dict:
    """The oracle's material: every real training face's embeddings and its actor's attributes."""
    train = gan_data("train", labels)
    _, face_actor = split_actors("train")
    faces = train.faces.numpy()
    truth = face_attributes(actors, face_actor)
    ref = {"attrs": sorted(truth), "attr_matrix": np.stack([truth[k] for k in sorted(truth)], 1),
           "dlib": judges.descriptors(faces, real=True)}
    if attr_judges:
        ref["attr"] = embedding(attribute_probabilities(attr_judges, faces))
    return ref


def load() -> tuple[dict, pd.DataFrame]:
    """The attribute judges `train_judges` wrote and the actors' table."""
    return load_attribute_judges(paths.ATTRIBUTE_JUDGES), pd.read_parquet(paths.ACTORS)
