"""Musical time: a tempo map from ticks to seconds on one monotonic origin, and precise waiting.

Tick times are always computed from the origin and the tempo segments, never by adding up sleeps,
so nothing drifts. A tempo change starts a new segment at a tick boundary: the tick where it lands
keeps the time it already had, later ticks are spaced at the new tempo.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

now = time.perf_counter  # the monotonic clock everything here is measured on


def check_bpm(bpm) -> float:
    from .errors import LivecrepreError

    try:
        value = float(bpm)
    except (TypeError, ValueError):
        raise LivecrepreError(f"tempo must be a number of beats per minute, not {bpm!r}")
    if not math.isfinite(value) or value <= 0 or value > 1000:
        raise LivecrepreError(f"tempo must be between 0 and 1000 bpm, not {bpm!r}")
    return value


@dataclass(frozen=True)
class Segment:
    tick: int
    time: float
    bpm: float
    seconds_per_tick: float


class TempoMap:
    def __init__(self, bpm: float, ticks_per_beat: int, origin: float):
        self.ticks_per_beat = ticks_per_beat
        self.origin = origin
        self.segments = [Segment(0, origin, bpm, 60.0 / bpm / ticks_per_beat)]

    def _segment_for_tick(self, tick: int) -> Segment:
        for seg in reversed(self.segments):
            if seg.tick <= tick:
                return seg
        return self.segments[0]

    def time_of(self, tick: int) -> float:
        seg = self._segment_for_tick(tick)
        return seg.time + (tick - seg.tick) * seg.seconds_per_tick

    def tick_at(self, t: float) -> float:
        """The (fractional) tick at time t."""
        for seg in reversed(self.segments):
            if seg.time <= t:
                return seg.tick + (t - seg.time) / seg.seconds_per_tick
        seg = self.segments[0]
        return seg.tick + (t - seg.time) / seg.seconds_per_tick

    def bpm_at(self, tick: int) -> float:
        return self._segment_for_tick(tick).bpm

    def set_bpm(self, bpm: float, at_tick: int) -> None:
        """Change tempo from `at_tick` on (ticks are applied in order, so segments only grow)."""
        start = self.time_of(at_tick)
        self.segments = [s for s in self.segments if s.tick < at_tick]
        self.segments.append(Segment(at_tick, start, bpm, 60.0 / bpm / self.ticks_per_beat))
        del self.segments[:-64]  # old history is never looked up again


def sleep_until(target: float, spin: float = 0.001) -> None:
    """Sleep to about `spin` seconds before target, then spin: sub-millisecond without hogging a core."""
    while True:
        remaining = target - now()
        if remaining <= 0:
            return
        if remaining > spin:
            time.sleep(remaining - spin)
