"""Ordered parallel map over clips with a progress bar.

Results come back in input order whatever the worker count, so every stage's
output is identical with 1 or N workers.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from tqdm import tqdm


def resolve_workers(workers: int) -> int:
    """``workers <= 0`` means one per core."""
    return workers if workers > 0 else (os.cpu_count() or 1)


def pmap(fn: Callable[[Any], Any], items: Sequence, workers: int = 0, desc: str = "",
         progress: bool = True, initializer: Callable | None = None, initargs: Iterable = (),
         unit: str = "clip") -> list:
    """``[fn(x) for x in items]`` on a process pool; ``fn`` must be picklable."""
    n = min(resolve_workers(workers), max(len(items), 1))
    bar = tqdm(total=len(items), desc=desc, unit=unit, disable=not progress)
    out = []
    if n == 1:
        if initializer:
            initializer(*initargs)
        for x in items:
            out.append(fn(x))
            bar.update()
    else:
        with ProcessPoolExecutor(n, initializer=initializer, initargs=tuple(initargs)) as pool:
            # one clip per task: a clip costs milliseconds, a round trip microseconds,
            # and larger chunks leave a worker idle at the end while another finishes its chunk
            for r in pool.map(fn, items, chunksize=1):
                out.append(r)
                bar.update()
    bar.close()
    return out
