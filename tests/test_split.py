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


# --- the speaker protocol (data.split: speaker): whole speakers held out -------------------------

from fegan.preprocess.split import assign_speaker_split      # noqa: E402
from fegan.training.data import Labels                        # noqa: E402


def _speakers(n_actors: int, clips: int = 6) -> pd.DataFrame:
    rows = [{"clip_id": f"{a:02d}-{i:03d}", "actor": a, "emotion": 1 + i % 3, "status": "ok",
             "gender": "male" if a % 2 else "female"} for a in range(1, n_actors + 1) for i in range(clips)]
    rows.append({"clip_id": "bad", "actor": 1, "emotion": 1, "status": "error", "gender": "male"})
    return pd.DataFrame(rows).sample(frac=1.0, random_state=5).reset_index(drop=True)


def test_speaker_split_holds_out_whole_speakers_balanced_by_sex():
    t = _speakers(20)
    s = assign_speaker_split(t, seed=0, test_speakers=6, val_speakers=4)
    ok = t.status == "ok"
    assert (s[~ok] == "").all()
    per_actor = t[ok].assign(split=s[ok]).groupby("actor").split.agg(set)
    assert (per_actor.map(len) == 1).all()                     # every actor's clips in one split
    roles = per_actor.map(lambda x: next(iter(x)))
    assert roles.value_counts().to_dict() == {"train": 10, "test": 6, "val": 4}
    for role, n in (("test", 6), ("val", 4)):                   # dealt female, male, female, ...
        males = sum(a % 2 for a in roles[roles == role].index)
        assert males == n // 2
    assert s.equals(assign_speaker_split(t, seed=0, test_speakers=6, val_speakers=4))
    assert not s.equals(assign_speaker_split(t, seed=1, test_speakers=6, val_speakers=4))


def test_speaker_split_needs_a_speaker_left_to_train_on():
    with pytest.raises(ValueError, match="needs more than 8 actors; there are 8"):
        assign_speaker_split(_speakers(8), test_speakers=5, val_speakers=3)


def test_identity_classes_are_the_training_speakers():
    t = _speakers(10)
    t["split"] = assign_speaker_split(t, seed=0, test_speakers=3, val_speakers=2)
    labels = Labels.from_clips(t)
    train_actors = sorted(t[t.split == "train"].actor.unique())
    assert labels.actors == train_actors and len(labels.actors) == 5
    unseen = sorted(set(t.actor) - set(train_actors))
    assert labels.actor_index(unseen, unseen=True).tolist() == [-1] * 5
    with pytest.raises(KeyError):
        labels.actor_index(unseen)
    # the utterance protocol: every actor trains, so the classes are every actor, as before
    t["split"] = assign_split(t, seed=0)
    assert Labels.from_clips(t).actors == list(range(1, 11))
