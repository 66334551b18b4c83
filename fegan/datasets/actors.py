"""The actors' table of a dataset folder: ``read_actors`` (the columns: ``fegan.datasets.attributes``)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from .attributes import ACTORS_FILE, complete, from_parity


def read_actors(raw_dir: str | Path, format: str, actors) -> pd.DataFrame:
    """The attribute table of ``actors`` (the clip table's actor numbers) for a dataset folder."""
    root = Path(raw_dir)
    actors = sorted({int(a) for a in actors})
    if format == "cremad":
        from .cremad import read_demographics     # the adapter owns its file's layout
        table = complete(read_demographics(root))
    elif format == "ravdess" and (root / ACTORS_FILE).is_file():
        table = complete(pd.read_csv(root / ACTORS_FILE))
    elif format == "ravdess":
        table = from_parity(actors)
    else:
        table = complete(pd.DataFrame({"actor": actors, "sex": "unknown"}))
    table = table[table.actor.isin(actors)]
    missing = sorted(set(actors) - set(table.actor))
    if missing:                                   # an actor the file does not list: unknown, not dropped
        extra = complete(pd.DataFrame({"actor": missing, "sex": "unknown"}))
        table = pd.concat([table, extra]).sort_values("actor").reset_index(drop=True)
    return table.reset_index(drop=True)
