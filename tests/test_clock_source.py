"""The clock seam: the generator places every tick where the clock source says, through the
ClockSource interface alone (a source written here, swinging its 16ths, plays as the internal one)."""

import pytest

import livecrepre as lc
from livecrepre.clock import ClockSource

from .conftest import Collector
from .helpers import constant_model


class SwingClock(ClockSource):
    """Each pair of 16ths split 2:1 (the off-beat 16th late), at one tempo the performer may change."""

    name = "swing"

    def __init__(self, bpm, ticks_per_beat, origin):
        self.ticks_per_beat, self.origin, self.bpm, self.changes = ticks_per_beat, origin, bpm, []

    def _pair(self) -> float:
        return 2 * 60.0 / self.bpm / self.ticks_per_beat

    def time_of(self, tick):
        return self.origin + (tick // 2) * self._pair() + (tick % 2) * self._pair() * 2 / 3

    def tick_at(self, t):
        return (t - self.origin) / self._pair() * 2

    def bpm_at(self, tick):
        return self.bpm

    def set_bpm(self, bpm, at_tick, earliest=None):
        self.changes.append((bpm, at_tick))


def test_the_generator_plays_on_any_clock_source():
    engine, notes = lc.Engine(bpm=240, seed=1, echo_errors=False, log=False), Collector()
    engine.make_clock = SwingClock
    engine.voice("lead", constant_model(60), to=[notes])
    engine.start()
    notes.wait_for(24)
    engine.set_bpm(200)
    clock = engine.clock
    engine.stop()
    assert isinstance(clock, SwingClock) and clock.changes and clock.changes[0][0] == 200
    events = [e for _, e in notes.events]
    for event in events:
        assert event.time == pytest.approx(clock.time_of(event.tick), abs=1e-9)
    on, off = [e for e in events if e.tick % 2 == 0], [e for e in events if e.tick % 2 == 1]
    assert on and off
    pair = 2 * 60 / 240 / 4
    gaps = [b.time - a.time for a, b in zip(events, events[1:]) if b.tick == a.tick + 1]
    assert len(gaps) >= 10 and {round(g / pair, 2) for g in gaps} == {0.67, 0.33}  # swung, not straight
    assert engine.late_ticks == 0
