"""The GAN's data of one split (training's and evaluation's): faces and voices with labels and E_v."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from safetensors.numpy import load_file

from .. import paths
from .data import Labels, load_faces, load_features, load_noisy, usable_clips
from .gan import GANData


def split_rows(split: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The face rows (faces index joined with their clip; ``row`` the face's, ``row_feat`` its
    clip's features row) and the voices (usable clips) of one split, in ``gan_data``'s order."""
    clips = usable_clips()
    fi = pd.read_parquet(paths.FACES_INDEX)
    fi = fi[fi.row >= 0].merge(clips[["clip_id", "actor", "emotion", "split", "row"]], on="clip_id",
                               suffixes=("", "_feat"))
    return fi[fi.split == split], clips[clips.split == split]


def split_actors(split: str) -> tuple[np.ndarray, np.ndarray]:
    """The actor codes of ``gan_data(split)``'s voices and faces, in its order (under
    ``data.split: speaker`` its ``voice_id``/``face_id`` are -1 for the unseen speakers)."""
    fi, voices = split_rows(split)
    return voices.actor.to_numpy(np.int64), fi.actor.to_numpy(np.int64)


def gan_data(split: str, labels: Labels, features: bool = False, noisy: bool = False) -> GANData:
    """Faces and voices of one split, with labels and the E_v of every face's clip.

    ``features``: also every voice's features and each face's voice row (``train.voice_crops``).
    ``noisy``: the babble copies of the noisy_voices stage, if it made any: with ``features`` their
    features (``voice_noisy``, for the crops), without, their whole-voice E_v as more voices (rows
    of ``voice_*`` after the clean ones, with the clean voice's labels).
    """
    fi, voices = split_rows(split)
    emb = load_file(paths.EMBEDDINGS)
    ev_by_row = dict(zip(emb["clip_row"].tolist(), range(len(emb["clip_row"]))))
    e_v_all = torch.from_numpy(emb["e_v"])
    faces = load_faces()
    ev_face = torch.stack([e_v_all[ev_by_row[r]] for r in fi.row_feat]) if len(fi) else torch.zeros(0, e_v_all.shape[1])
    extra = {}
    if features:
        voice_of_row = {r: i for i, r in enumerate(voices.row)}
        extra = dict(voice_feat=load_features()[torch.as_tensor(voices.row.to_numpy().copy())],
                     face_voice=torch.as_tensor([voice_of_row[r] for r in fi.row_feat], dtype=torch.int64))
        if noisy:
            extra["voice_noisy"] = load_noisy(voices.row.to_numpy())
    voice_ev = torch.stack([e_v_all[ev_by_row[r]] for r in voices.row])                  # (Nv, 128)
    voice_id = torch.from_numpy(labels.actor_index(voices.actor, unseen=True))     # -1: an unseen speaker
    voice_emo = torch.from_numpy(labels.emotion_index(voices.emotion))
    if noisy and not features and "e_v_noisy" in emb:
        at = {r: i for i, r in enumerate(emb["noisy_clip_row"].tolist())}
        copies = torch.from_numpy(emb["e_v_noisy"])[torch.as_tensor([at[r] for r in voices.row])]  # (Nv, k, 128)
        k = copies.shape[1]
        voice_ev = torch.cat([voice_ev, copies.flatten(0, 1)])          # clean rows, then each voice's k copies
        voice_id, voice_emo = (torch.cat([t, t.repeat_interleave(k)]) for t in (voice_id, voice_emo))
    return GANData(
        faces=faces[torch.as_tensor(fi.row.to_numpy().copy())],
        face_id=torch.from_numpy(labels.actor_index(fi.actor, unseen=True)), face_emo=torch.from_numpy(labels.emotion_index(fi.emotion)),
        face_ev=ev_face, voice_ev=voice_ev, voice_id=voice_id, voice_emo=voice_emo, **extra)
