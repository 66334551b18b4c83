"""The train/val/test split (fegan.preprocess.split): val is carved from what test leaves."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fegan.preprocess.split import assign_split


def _table(sizes: dict[tuple[int, int], int], failed: int = 2) -> pd.DataFrame:
    rows = [{"clip_id": f"{a:02d}-{e:02d}-{i:03d}", "actor": a, "emotion": e, "status": "ok"}
            for (a, e), n in sizes.items() for i in range(n)]
    rows += [{"clip_id": f"bad-{i}", "actor": 1, "emotion": 1, "status": "error"} for i in range(failed)]
    return pd.DataFrame(rows).sample(frac=1.0, random_state=3).reset_index(drop=True)   # order must not matter


SIZES = {(1, 1): 1, (1, 3): 2, (2, 1): 3, (2, 3): 4, (3, 1): 8, (3, 3): 20, (4, 5): 41}


def test_val_leaves_the_test_split_as_it_was_and_every_group_a_training_clip():
    t = _table(SIZES)
    without = assign_split(t, seed=0, test_fraction=0.25, val_fraction=0.0)
    with_val = assign_split(t, seed=0, test_fraction=0.25, val_fraction=0.15)
    assert set(without) == {"train", "test", ""} and set(with_val) == {"train", "val", "test", ""}
    assert ((without == "test") == (with_val == "test")).all()          # the same test clips
    assert (with_val[without == "train"] != "test").all() and (with_val[t.status != "ok"] == "").all()
    counts = pd.crosstab([t.actor, t.emotion], with_val).reindex(columns=["test", "val", "train"], fill_value=0)
    # n -> test max(1, round(n/4)) (none for 1 clip); r left -> val max(1, round(0.15 r)) when r >= 2
    want = {(1, 1): [0, 0, 1], (1, 3): [1, 0, 1], (2, 1): [1, 1, 1], (2, 3): [1, 1, 2], (3, 1): [2, 1, 5],
            (3, 3): [5, 2, 13], (4, 5): [10, 5, 26]}
    assert {k: counts.loc[k].tolist() for k in want} == want
    assert (counts.train >= 1).all()


def test_val_is_seeded_per_group_and_zero_means_none():
    t = _table(SIZES)
    a = assign_split(t, seed=0, val_fraction=0.15)
    assert a.equals(assign_split(t, seed=0, val_fraction=0.15))                 # deterministic
    assert not a.equals(assign_split(t, seed=1, val_fraction=0.15))
    # a group's draw depends on its own clips only: dropping another group moves nothing
    keep = ~((t.actor == 3) & (t.emotion == 3))
    assert a[keep].equals(assign_split(t[keep], seed=0, val_fraction=0.15))
    assert (assign_split(t, seed=0, val_fraction=0.0) != "val").all()
    # a large fraction still leaves every group a training clip
    big = pd.crosstab([t.actor, t.emotion], assign_split(t, seed=0, val_fraction=0.9))
    big = big.reindex(columns=["test", "val", "train"], fill_value=0)
    assert (big.train >= 1).all()
    assert big.loc[(4, 5)].tolist() == [10, 28, 3] and big.loc[(2, 1)].tolist() == [1, 1, 1]


@pytest.mark.parametrize("bad", [-0.1, 1.0])
def test_val_fraction_out_of_range_is_one_clear_error(bad):
    from fegan.errors import FeganError
    from fegan.preprocess.demux import DataConfig

    with pytest.raises(FeganError, match=r"data.val_fraction must be in \[0, 1\)"):
        DataConfig(val_fraction=bad).validate()
