"""Time, injectable: the limiter and token expiry read it, tests move it instead of sleeping."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""
        ...


class SystemClock:
    __slots__ = ()

    def now(self) -> float:
        return time.time()


class OffsetClock:
    """Real time plus an offset, read only forward: `advance()` is how tests skip a wait.
    `freeze()` stops it (every reading is the same until `advance` or `unfreeze`); `unfreeze()` lets
    it run on from where it stood, so a reading never goes back."""

    __slots__ = ("frozen", "offset")

    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset
        self.frozen: float | None = None  # the time it stands at, while frozen

    def now(self) -> float:
        frozen = self.frozen
        return time.time() + self.offset if frozen is None else frozen

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock only moves forward")
        self.offset += seconds
        if self.frozen is not None:
            self.frozen += seconds

    def freeze(self) -> float:
        """Stop the clock where it is now; returns that time."""
        if self.frozen is None:
            self.frozen = time.time() + self.offset
        return self.frozen

    def unfreeze(self) -> float:
        """Run again from the time it stood at (the offset shrinks by the real time it stood)."""
        if self.frozen is not None:
            self.offset = self.frozen - time.time()
            self.frozen = None
        return self.now()
