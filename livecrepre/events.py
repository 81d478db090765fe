"""What a voice produces and routes consume."""
from __future__ import annotations

from dataclasses import dataclass

from .encodings import pitch_name


@dataclass(frozen=True)
class Event:
    """One note of one voice, with its place on the clock.

    `time` and `end_time` are `time.perf_counter()` seconds (when the dispatcher plays them);
    `timetag` is the same moment as Unix time, for OSC bundles.
    """

    voice: str
    pitch: int
    velocity: int
    tick: int
    duration_ticks: int
    time: float
    end_time: float
    timetag: float
    position: str = ""  # "bar.beat.tick", counted from 1, for people

    @property
    def duration(self) -> float:
        """Seconds, at the tempo(s) the note spans."""
        return self.end_time - self.time

    @property
    def end_tick(self) -> int:
        return self.tick + self.duration_ticks

    def describe(self) -> str:
        return (f"{self.voice:<8} {self.position:>9}  {pitch_name(self.pitch):<4}({self.pitch:3d})"
                f"  vel {self.velocity:3d}  {self.duration:5.3f} s")
