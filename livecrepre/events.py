"""What a voice produces and routes consume: notes, words of text, or gestures."""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

from .encodings import pitch_name


@dataclass(frozen=True)
class Played:
    """An event as a voice decides it, in ticks (fractional when it falls off the 16th grid).

    Exactly one of `pitch` (a note, ending at `end`), `text` or `values` (a gesture) is set."""

    start: float
    end: float | None = None
    pitch: int | None = None
    text: str | None = None
    values: tuple[float, ...] | None = None
    dt: float | None = None  # gestures: the seconds since the voice's previous gesture
    velocity: int | None = None  # notes: None plays at the voice's velocity


@dataclass(frozen=True)
class Event:
    """One event of one voice, with its place on the clock.

    `time` and `end_time` are `time.perf_counter()` seconds (when the dispatcher plays them);
    `timetag` is the same moment as Unix time, for OSC bundles. `tick` is the tick it starts in,
    `offset` how far into that tick (0 on the grid).
    """

    voice: str
    pitch: int | None
    velocity: int
    tick: int
    duration_ticks: float
    time: float
    end_time: float
    timetag: float
    position: str = ""  # "bar.beat.tick", counted from 1, for people
    offset: float = 0.0
    text: str | None = None
    values: tuple[float, ...] | None = None
    dt: float | None = None

    @property
    def kind(self) -> str:
        """note, text or gesture."""
        return "note" if self.pitch is not None else ("text" if self.text is not None else "gesture")

    def shifted(self, seconds: float) -> "Event":
        """The same event played `seconds` later (earlier when negative): a route's nudge."""
        return replace(self, time=self.time + seconds, end_time=self.end_time + seconds,
                       timetag=self.timetag + seconds)

    @property
    def duration(self) -> float:
        """Seconds, at the tempo(s) the note spans."""
        return self.end_time - self.time

    @property
    def start_tick(self) -> float:
        return self.tick + self.offset

    @property
    def end_tick(self) -> float:
        return self.start_tick + self.duration_ticks

    def describe(self) -> str:
        head = f"{self.voice:<8} {self.position:>9}  "
        if self.kind == "note":
            return (head + f"{pitch_name(self.pitch):<4}({self.pitch:3d})"
                    f"  vel {self.velocity:3d}  {self.duration:5.3f} s")
        if self.kind == "text":
            return head + self.text
        return head + " ".join(f"{v:6.3f}" for v in self.values) + f"  (dt {self.dt:.3f} s)"


def whole_ticks(start: float) -> tuple[int, float]:
    """(tick, offset) of a fractional tick."""
    tick = math.floor(start + 1e-9)
    return tick, max(0.0, start - tick)
