"""The train/test split: seeded and stratified by (actor, emotion).

The paper measures identity accuracy on held-out clips of the *same* speakers, so
every actor and every emotion must appear in both splits. Within each
(actor, emotion) group the clips are ordered by ``clip_id``, shuffled by a
generator seeded with ``(seed, actor, emotion)``, and the first
``max(1, round(test_fraction * n))`` go to test; a group of one clip stays in
train. The rule depends only on the group's own clips, so adding or losing one
clip never moves clips of other groups.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def assign_split(table: pd.DataFrame, seed: int = 0, test_fraction: float = 0.25) -> pd.Series:
    """``'train'``/``'test'`` for rows with ``status == 'ok'``, ``''`` for the rest."""
    split = pd.Series("", index=table.index, dtype=object)
    ok = table[table.status == "ok"]
    for (actor, emotion), group in ok.groupby(["actor", "emotion"], sort=True):
        ids = group.sort_values("clip_id").index.to_numpy()
        rng = np.random.default_rng([seed, int(actor) + 1, int(emotion) + 1])
        ids = ids[rng.permutation(len(ids))]
        n_test = 0 if len(ids) < 2 else min(len(ids) - 1, max(1, int(round(test_fraction * len(ids)))))
        split[ids[:n_test]] = "test"
        split[ids[n_test:]] = "train"
    return split
