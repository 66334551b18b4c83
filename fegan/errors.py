"""User-facing errors: one clear line, never a traceback (SPEC section 7)."""
from __future__ import annotations

import functools
import sys


class FeganError(Exception):
    """A mistake the user can fix (missing folder, bad param, too few clips)."""


def one_line_errors(fn):
    """Run ``fn``; turn a ``FeganError`` into ``fegan: error: ...`` and exit status 2."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except FeganError as e:
            print(f"fegan: error: {e}", file=sys.stderr)
            sys.exit(2)
    return wrapper
