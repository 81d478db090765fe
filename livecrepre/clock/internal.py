"""livecrepre's own clock: a tempo map on one monotonic origin, changed only by the performer."""
from __future__ import annotations

from .source import ClockSource
from .tempo_map import TempoMap


class InternalClock(TempoMap, ClockSource):
    name = "internal"

    def take_over(self, previous: ClockSource, at_tick: int) -> None:
        """Back to its own clock at the tempo and phase the previous source had: no jump."""
        if isinstance(previous, TempoMap):
            self.continue_from(previous, at_tick)
