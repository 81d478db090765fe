"""A callable route is the performer's code: however slow it is, it delays no other route, no other
voice, no panic and no stop."""
import time

from .conftest import Collector
from .helpers import constant_model


def test_a_slow_callable_delays_nothing_else_and_is_reported_once(engine):
    grid = Collector()
    calls = []

    def slow(event):
        calls.append(event)
        time.sleep(0.2)

    engine.start()
    engine.voice("lead", constant_model(60), to=[slow])
    engine.voice("grid", constant_model(72), to=[grid])
    time.sleep(3.0)
    ticks = grid.ticks
    lateness = sorted(called - e.time for called, e in grid.events)
    assert ticks == list(range(ticks[0], ticks[0] + len(ticks))) and len(ticks) >= 40
    assert lateness[-1] < 0.05, f"the grid voice came late beside a slow callable: {lateness[-3:]}"
    stuck = [m for _, m in engine.errors if "slow" in m]
    assert len(stuck) == 1 and "is stuck" in stuck[0] and "skipped" in stuck[0]
    assert 8 <= len(calls) <= 20  # ~one call each 0.2 s, the events meanwhile skipped, none queued up


def test_panic_and_stop_return_within_a_tick_whatever_a_callable_does(engine, osc_receiver, tmp_path):
    grid = Collector()
    take = tmp_path / "take.mid"
    engine.start()
    engine.voice("lead", constant_model(60), to=[lambda event: time.sleep(6)])
    engine.voice("grid", constant_model(72), to=[grid, f"osc://127.0.0.1:{osc_receiver.port}/grid", f"file:{take}"])
    grid.wait_for(8)
    time.sleep(0.3)  # the callable is now inside its 6 s call
    started = time.perf_counter()
    engine.panic()
    took_panic = time.perf_counter() - started
    engine.start()  # unmute: the grid plays on at once, while the callable still sleeps
    count = len(grid.events)
    time.sleep(0.6)
    assert len(grid.events) >= count + 6
    sent = len(osc_receiver.received)
    time.sleep(0.3)
    assert len(osc_receiver.received) > sent, "OSC stalled behind the callable"
    started = time.perf_counter()
    said = engine.stop()
    took_stop = time.perf_counter() - started
    assert took_panic < 0.0625 and took_stop < 0.5, (took_panic, took_stop)
    assert f"wrote {take}" in said
