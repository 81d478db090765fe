"""A tempo map: ticks to seconds on one monotonic origin, one segment per tempo.

Tick times are always computed from the origin and the tempo segments, never by adding up sleeps,
so nothing drifts. A tempo change starts a new segment at a tick boundary: the tick where it lands
keeps the time it already had, later ticks are spaced at the new tempo.
"""
from __future__ import annotations

from dataclasses import dataclass


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

    def set_bpm(self, bpm: float, at_tick: int, earliest: float | None = None) -> None:
        """Change tempo from `at_tick` on (ticks are applied in order, so segments only grow).

        With `earliest` (a live change landing at the next tick), a faster tempo also brings that
        tick forward to one new tick after the previous one, but not before `earliest`: a change
        made during a long tick lands at once instead of when the slow tick would have ended."""
        start = self.time_of(at_tick)
        if earliest is not None and at_tick > 0:
            sooner = self.time_of(at_tick - 1) + 60.0 / bpm / self.ticks_per_beat
            start = min(start, max(sooner, earliest))
        self.segments = [s for s in self.segments if s.tick < at_tick]
        self.segments.append(Segment(at_tick, start, bpm, 60.0 / bpm / self.ticks_per_beat))
        del self.segments[:-64]  # old history is never looked up again

    def move(self, at_tick: int, start: float, bpm: float) -> bool:
        """A following clock's correction: ticks from `at_tick` on (none of them produced yet) start
        at `start` and go at `bpm`; the ticks before stay where they were. A tick is never moved
        to less than a quarter of a tick after the one before it (never reordered). Returns
        whether anything moved (a prediction that still holds adds no segment)."""
        seconds_per_tick = 60.0 / bpm / self.ticks_per_beat
        if at_tick > 0:
            start = max(start, self.time_of(at_tick - 1) + seconds_per_tick / 4)
        if abs(self.time_of(at_tick) - start) < 1e-6 and abs(self.bpm_at(at_tick) - bpm) < 1e-6:
            return False
        self.segments = [s for s in self.segments if s.tick < at_tick]
        self.segments.append(Segment(at_tick, start, bpm, seconds_per_tick))
        del self.segments[:-64]
        return True

    def continue_from(self, other: "TempoMap", at_tick: int) -> None:
        """Take over another map's past: ticks before `at_tick` where it put them, and from there
        its tempo (so that a change of clock source never jumps)."""
        self.segments = [s for s in other.segments if s.tick < at_tick]
        self.segments.append(Segment(at_tick, other.time_of(at_tick), other.bpm_at(at_tick),
                                     other._segment_for_tick(at_tick).seconds_per_tick))
        self.origin = other.origin
