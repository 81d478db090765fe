"""livecrepre's own clock: a tempo map on one monotonic origin, changed only by the performer."""
from __future__ import annotations

from .source import ClockSource
from .tempo_map import TempoMap


class InternalClock(TempoMap, ClockSource):
    name = "internal"
