"""How many requests the demo takes in at once, and how long one waits to draw.

Drawing (decode, VAD, features, the models) takes the machine's cores and a few hundred MB
while it runs, so ``slots`` requests draw at a time (1 by default); up to ``admitted``
requests are in hand at all (uploading, waiting, drawing: each holds at most its recording,
on disk); one waits at most ``wait_s`` for its turn. Past either bound the answer is 503
"busy" with a Retry-After, at once or after the wait: never an unbounded queue in memory.
"""
from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

from .upload import Refused


class Gate:
    def __init__(self, slots: int = 1, admitted: int = 16, wait_s: float = 30.0):
        self.slots, self.admitted, self.wait_s = slots, admitted, wait_s
        self._turns = asyncio.Semaphore(slots)
        self.in_hand = 0

    def _busy(self, why: str) -> Refused:
        return Refused(503, f"busy: {why}; try again in a few seconds", {"Retry-After": "5"})

    @asynccontextmanager
    async def admit(self):
        """A place among the ``admitted`` requests in hand, or 503 at once."""
        if self.in_hand >= self.admitted:
            raise self._busy(f"{self.in_hand} requests are already in hand")
        self.in_hand += 1
        try:
            yield
        finally:
            self.in_hand -= 1

    @asynccontextmanager
    async def turn(self):
        """One of the ``slots`` drawing places, within ``wait_s``, or 503."""
        try:
            async with asyncio.timeout(self.wait_s):
                await self._turns.acquire()
        except TimeoutError:
            raise self._busy(f"no turn to draw came within {self.wait_s:g} s") from None
        try:
            yield
        finally:
            self._turns.release()
