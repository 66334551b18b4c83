"""The train/val/test split: seeded and stratified by (actor, emotion).

The paper measures identity accuracy on held-out clips of the *same* speakers, so
every actor and every emotion must appear in both train and test. Within each
(actor, emotion) group the clips are ordered by ``clip_id``, shuffled by a
generator seeded with ``(seed, actor, emotion)``, and the first
``max(1, round(test_fraction * n))`` go to test; a group of one clip stays in
train. Of the ``r`` clips left, the next ``max(1, round(val_fraction * r))`` in the
same shuffled order go to val when ``r >= 2`` (so every group keeps a training
clip); ``val_fraction = 0`` makes no val split. Val is what hyper-parameters are
chosen on, test is read once at the end (SPEC 4). Val is drawn after test from the
same order, so adding it never moves a test clip. The rule depends only on the
group's own clips, so adding or losing one clip never moves clips of other groups.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def assign_split(table: pd.DataFrame, seed: int = 0, test_fraction: float = 0.25,
                 val_fraction: float = 0.15) -> pd.Series:
    """``'train'``/``'val'``/``'test'`` for rows with ``status == 'ok'``, ``''`` for the rest."""
    split = pd.Series("", index=table.index, dtype=object)
    ok = table[table.status == "ok"]
    for (actor, emotion), group in ok.groupby(["actor", "emotion"], sort=True):
        ids = group.sort_values("clip_id").index.to_numpy()
        rng = np.random.default_rng([seed, int(actor) + 1, int(emotion) + 1])
        ids = ids[rng.permutation(len(ids))]
        n_test = 0 if len(ids) < 2 else min(len(ids) - 1, max(1, int(round(test_fraction * len(ids)))))
        rest = len(ids) - n_test
        n_val = 0 if rest < 2 or val_fraction <= 0 else min(rest - 1, max(1, int(round(val_fraction * rest))))
        split[ids[:n_test]] = "test"
        split[ids[n_test:n_test + n_val]] = "val"
        split[ids[n_test + n_val:]] = "train"
    return split
