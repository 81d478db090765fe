"""The timeline without threads or a clock: where each `--at` lands, and the order controls come back in."""
import pytest

from livecrepre.timeline import Control, Timeline, landing_tick


@pytest.mark.parametrize("at, next_tick, lands", [
    ("now", 0, 0), ("now", 37, 37),
    ("beat", 0, 0), ("beat", 1, 4), ("beat", 4, 4), ("beat", 37, 40),
    ("bar", 0, 0), ("bar", 1, 16), ("bar", 16, 16), ("bar", 17, 32),
    ("2", 1, 32), ("4", 16, 64), ("4", 17, 80),
])
def test_landing_tick(at, next_tick, lands):
    assert landing_tick(at, next_tick, ticks_per_beat=4, beats_per_bar=4) == lands


def test_three_beats_a_bar():
    assert landing_tick("bar", 13, ticks_per_beat=4, beats_per_bar=3) == 24


def test_due_controls_come_back_in_tick_order_then_in_the_order_given():
    timeline, applied = Timeline(ticks_per_beat=4, beats_per_bar=4), []
    for at, what in [("bar", "a"), ("now", "b"), ("beat", "c"), ("now", "d")]:
        timeline.add(Control(at, applied.append, what))
    timeline.resolve(next_tick=5)
    ticks = {}
    for tick in range(5, 17):
        ticks.update({c.what: tick for c in timeline.take_due(tick)})
    assert list(ticks) == ["b", "d", "c", "a"] and ticks == {"b": 5, "d": 5, "c": 8, "a": 16}
    assert not timeline.due(1000)


def test_nothing_is_due_before_it_is_resolved_and_discard_releases_waiters():
    timeline = Timeline(4, 4)
    control = Control("bar", lambda tick: None, "x")
    timeline.add(control)
    assert not timeline.due(10**6) and control.tick is None
    timeline.resolve(3)
    assert control.tick == 16 and control.resolved.is_set() and not control.applied.is_set()
    assert not timeline.due(15) and timeline.due(16)
    timeline.discard()
    assert control.applied.is_set() and not timeline.due(10**6)
