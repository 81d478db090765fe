"""The one interface the generator asks where ticks fall in wall time: a clock source.

The internal clock is one; a clock that follows other gear (Ableton Link, MIDI clock, an OSC beat)
is another, behind the same few methods, so the generator loop, the lookahead, `--at`, swaps, fades,
sketches and the performance log work the same whatever keeps time. Times are `timing.now()`
seconds; ticks are 16ths (or whatever ticks_per_beat says) counted from 0 at the start.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

# Tempi a musician would type, and the range MIDI clock and Link peers use; outside it a typo
# (1.2 for 120) would make one tick last seconds, or overflow a MIDI file's tempo field.
MIN_BPM, MAX_BPM = 20.0, 999.0


class ClockSource(ABC):
    name: str  # said in status: "internal", "link", ...
    ticks_per_beat: int

    @abstractmethod
    def time_of(self, tick: int) -> float:
        """When tick `tick` starts. Asked again before each tick is produced: a source following
        other gear may move ticks not produced yet, never one already produced."""

    @abstractmethod
    def tick_at(self, t: float) -> float:
        """The (fractional) tick sounding at time `t`."""

    @abstractmethod
    def bpm_at(self, tick: int) -> float:
        """The tempo from `tick` on, as far as it is known."""

    @abstractmethod
    def set_bpm(self, bpm: float, at_tick: int, earliest: float | None = None) -> None:
        """The performer's tempo from `at_tick` on (ticks are produced in order). `earliest`, for a
        live change landing at the next tick: a faster tempo may bring that tick forward, not
        before `earliest`."""

    def follow(self, next_tick: int) -> None:
        """Before the generator waits for `next_tick`, and again while it waits: a source following
        other gear moves the ticks from `next_tick` on to where the gear says they fall."""

    def take_over(self, previous: "ClockSource", at_tick: int) -> None:
        """This source replaces `previous` from `at_tick` (the ticks before stay where they were)."""

    def label(self) -> str:
        """The source at a glance, for the toolbar: `internal`, `link 3 peers`."""
        return self.name

    def info(self) -> dict:
        """What status says about the source (peers, phase error, pulses ...)."""
        return {}

    def close(self) -> None:
        """The clock stopped, or another source took over: let go of what it holds (a session, a port)."""
