"""Ordered parallel map over clips with a progress bar (``fegan.progress``).

Results come back in input order whatever the worker count, so every stage's
output is identical with 1 or N workers.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any

from .progress import bar as progress_bar


def resolve_workers(workers: int) -> int:
    """``workers <= 0`` means one per core."""
    return workers if workers > 0 else (os.cpu_count() or 1)


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """torch at ``n`` intra-op threads inside, the caller's count restored after: a stage run
    in-process (the tests, ``fegan`` commands) must not leave the next one at one thread."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def pmap(fn: Callable[[Any], Any], items: Sequence, workers: int = 0, desc: str = "",
         progress: bool = True, initializer: Callable | None = None, initargs: Iterable = (),
         unit: str = "clip") -> list:
    """``[fn(x) for x in items]`` on a process pool; ``fn`` must be picklable."""
    with WorkerPool(workers, len(items), initializer, initargs) as pool:
        return pool.map(fn, items, desc, progress, unit)


class WorkerPool:
    """Processes kept for several ordered maps, e.g. a stage's two passes.

    Starting a pool costs ~50 ms where the parent has torch loaded (each fork copies
    its page tables), so a stage that maps twice starts one. ``most`` (the longest map
    to come) caps the processes; one process means no pool: ``fn`` runs here, after
    ``initializer``, and torch's thread count, which workers set to one, is restored on exit.
    """

    def __init__(self, workers: int, most: int, initializer: Callable | None = None, initargs: Iterable = ()):
        self.n = min(resolve_workers(workers), max(most, 1))
        self._init, self._initargs, self._pool = initializer, tuple(initargs), None
        self._threads: int | None = None

    def __enter__(self) -> WorkerPool:
        if self.n == 1:
            import torch
            self._threads = torch.get_num_threads()
            if self._init:
                self._init(*self._initargs)
        else:
            self._pool = ProcessPoolExecutor(self.n, initializer=self._init, initargs=self._initargs)
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
        if self._threads is not None:
            import torch
            torch.set_num_threads(self._threads)

    def map(self, fn: Callable[[Any], Any], items: Sequence, desc: str = "", progress: bool = True,
            unit: str = "clip") -> list:
        bar = progress_bar(len(items), desc, unit=unit, enabled=progress)
        out = []
        # one item per task: an item costs milliseconds, a round trip microseconds, and
        # larger chunks leave a worker idle at the end while another finishes its chunk
        for r in (map(fn, items) if self._pool is None else self._pool.map(fn, items, chunksize=1)):
            out.append(r)
            bar.update()
        bar.close()
        return out
