"""What a long stage is doing: a bar on a terminal, a plain line every so often elsewhere.

Every stage that runs longer than a few seconds shows one: the preprocessing maps (clips),
`train_vnet` (epochs), `train_fegan` (steps, with the losses and the last sample's step) and
`evaluate` (its phases). On a terminal it is tqdm's bar. Where stderr is not a terminal (CI,
a pipe, the log files of `dvc exp run --queue`) a bar would be one endless line of carriage
returns, so each bar prints whole lines instead: when it starts, at most every
``FEGAN_PROGRESS_EVERY`` seconds (30 by default) while it runs, and when it ends::

    train_fegan: step 1200/10000 (12%), 14.05step/s, 01:25 elapsed, ETA 10:26, loss_DC 2.11, loss_G 1.42, sample 1000

``FEGAN_PROGRESS`` = ``auto`` (the default: a bar on a terminal, lines elsewhere), ``bar``,
``lines`` or ``off``. Progress goes to stderr only and draws no random numbers, so no output
of the pipeline depends on it.
"""
from __future__ import annotations

import os
import re
import sys
from typing import TextIO

from tqdm import tqdm

from .errors import FeganError

MODE_ENV, EVERY_ENV = "FEGAN_PROGRESS", "FEGAN_PROGRESS_EVERY"
LINE_FORMAT = "{desc}: {unit} {n_fmt}/{total_fmt} ({percentage:.0f}%), {rate_fmt}, {elapsed} elapsed, ETA {remaining}{postfix}"
_CONTROL = re.compile(r"\r|\x1b\[[0-9;]*[A-Za-z]")
_TIMES = re.compile(r", [^,]*/s, [^,]* elapsed, ETA [^,]*")     # what changes between two redraws of one state


def _settings() -> tuple[str, float]:
    mode = os.environ.get(MODE_ENV, "auto").strip().lower() or "auto"
    if mode not in ("auto", "bar", "lines", "off"):
        raise FeganError(f"{MODE_ENV} must be auto, bar, lines or off, got {mode!r}")
    try:
        every = float(os.environ.get(EVERY_ENV, "30"))
    except ValueError:
        every = -1.0
    if every < 0:
        raise FeganError(f"{EVERY_ENV} must be a number of seconds >= 0, got {os.environ[EVERY_ENV]!r}")
    return mode, every


class _Lines:
    """A stream for tqdm that turns each redraw (``\\r`` + the status) into one whole line."""

    def __init__(self, stream: TextIO):
        self.stream, self.last = stream, None      # the last line without its times
        self.encoding = getattr(stream, "encoding", None) or "utf-8"

    def write(self, s: str) -> int:
        text = " ".join(_CONTROL.sub("", s).split())      # tqdm pads some numbers with spaces
        state = _TIMES.sub("", text)
        if text and state != self.last:       # tqdm redraws the last state when it closes
            self.stream.write(text + "\n")
            self.stream.flush()
            self.last = state
        return len(s)

    def flush(self) -> None:
        self.stream.flush()


def bar(total: int | None, desc: str, unit: str = "it", initial: int = 0, enabled: bool = True,
        every: float | None = None, file: TextIO | None = None, postfix: str | None = None) -> tqdm:
    """A tqdm bar of ``total`` ``unit``s (see the module's docstring for where it goes).

    ``every``: the seconds between lines off a terminal (default ``FEGAN_PROGRESS_EVERY``);
    0 prints a line on every update, for bars that move seldom (``Phases``). ``postfix``: what
    the first display shows after the counts (``set_postfix_str`` changes it).
    """
    mode, default_every = _settings()
    file = file if file is not None else sys.stderr
    if not enabled or mode == "off":
        return tqdm(total=total, disable=True)
    if mode == "bar" or (mode == "auto" and getattr(file, "isatty", lambda: False)()):
        return tqdm(total=total, desc=desc, unit=unit, initial=initial, file=file, dynamic_ncols=True,
                    postfix=postfix)
    # miniters=1: the time is checked on every update (microseconds), so a line is never late;
    # smoothing=0: the rate and ETA of the whole run so far, not of the last interval
    return tqdm(total=total, desc=desc, unit=unit, initial=initial, file=_Lines(file), bar_format=LINE_FORMAT,
                mininterval=default_every if every is None else every, miniters=1, smoothing=0, postfix=postfix)


class Phases:
    """Progress through a stage's phases of unequal length; the bar names the one under way.

    ``start(name)`` ends the phase before (if any) and begins ``name``; ``close()`` ends the
    last. Off a terminal every phase prints its line as it begins.
    """

    def __init__(self, desc: str, total: int, enabled: bool = True, file: TextIO | None = None):
        self.args = dict(total=total, desc=desc, unit="phase", enabled=enabled, every=0, file=file)
        self.bar = None      # made by the first phase, so that its first line names it

    def start(self, name: str) -> None:
        if self.bar is None:
            self.bar = bar(**self.args, postfix=name)
        else:
            self.bar.set_postfix_str(name, refresh=False)
            self.bar.update()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str("done", refresh=False)
            self.bar.update()
            self.bar.close()

    def __enter__(self) -> Phases:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
