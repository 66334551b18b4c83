"""The per-clip guard: an exception nobody foresaw costs one clip, not the stage.

Every per-clip stage (demux, vad, features, faces) maps a function over clips in
worker processes. Foreseen trouble (an unreadable container, no face) is already a
clip's recorded reason. Anything else, a bug or a file of a kind nobody tried, used
to end the whole stage with a traceback; wrapped in ``Guard``, it becomes that
clip's ``error`` with a one-line reason naming the exception, its traceback goes
to the stage's log file (``<stage>.log`` beside its outputs), and the stage goes
on. Only ``data.min_clips`` can still fail it.
"""
from __future__ import annotations

import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..io import atomic_path

REASON_CHARS = 200


@dataclass(frozen=True)
class Unforeseen:
    """What a guarded call returns instead of raising."""
    reason: str          # "unexpected TypeError: ...", one line: the clip table's reason
    traceback: str       # for the log


def reason_of(e: BaseException) -> str:
    """``unexpected <Type>: <first line of the message>``, at most ``REASON_CHARS`` long.

    The first line only: some messages go on for pages (pybind11 prints the whole
    array it was handed), and a reason must be one line of a table.
    """
    first = next((ln.strip() for ln in str(e).splitlines() if ln.strip()), "")
    text = f"unexpected {type(e).__name__}" + (f": {first}" if first else "")
    return text if len(text) <= REASON_CHARS else text[:REASON_CHARS - 3] + "..."


class Guard:
    """``fn`` wrapped so that an exception comes back as ``Unforeseen``; picklable
    when ``fn`` is (a module-level function), so it runs in pool workers."""

    def __init__(self, fn: Callable[[Any], Any]):
        self.fn = fn

    def __call__(self, job: Any, *args: Any) -> Any:
        try:
            return self.fn(job, *args)
        except Exception as e:          # noqa: BLE001 - the point: whatever it is, one clip's
            return Unforeseen(reason_of(e), traceback.format_exc())


def log_path(out: str | Path, stage: str) -> Path:
    """The stage's log of unforeseen errors: ``<stage>.log`` beside its output ``out``."""
    return Path(out).with_name(f"{stage}.log")


def write_log(path: str | Path, stage: str, failures: list[tuple[str, Unforeseen]]) -> None:
    """The tracebacks of ``failures`` (clip id, what came back), in clip order, to ``path``,
    and one line on stderr saying so; a log left by an earlier run is removed when there
    are none."""
    path = Path(path)
    if not failures:
        path.unlink(missing_ok=True)
        return
    with atomic_path(path, suffix=".log") as tmp:
        with open(tmp, "w") as f:
            f.write(f"# {stage}: {len(failures)} clip(s) failed with an error nobody foresaw; each was "
                    f"recorded with its reason and skipped\n")
            for clip_id, u in failures:
                f.write(f"\n## {clip_id}: {u.reason}\n{u.traceback}")
    print(f"{stage}: {len(failures)} clip(s) skipped for an unforeseen error (first: {failures[0][1].reason}); "
          f"tracebacks in {path}", file=sys.stderr)
