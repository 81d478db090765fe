"""Many voices: voices of one model step in one batched call, play what they would play alone, and
adding or removing voices while playing never compiles on the clock's thread."""
import threading
import time

import jax

import livecrepre as lc

from .conftest import Collector


def notes_played(batch_voices: bool, voices: int = 5, ticks: int = 96) -> tuple[dict, int]:
    engine = lc.Engine(bpm=120, seed=11, log=False, echo_errors=False, batch_voices=batch_voices)
    for i in range(voices):
        engine.voice(f"v{i}", "melody", temperature=0.8 + 0.1 * i, to=[Collector()])
    engine.voice("choir", "chorale", to=[Collector()])  # another model: its own group
    engine.play_offline()
    for tick in range(ticks):
        engine.step(tick)
    played = {name: [(p.start, p.pitch) for p in v.history] for name, v in engine.voices.items()}
    calls = engine.batched_calls
    engine.stop()
    return played, calls


def test_voices_of_one_model_step_together_and_play_what_they_would_alone():
    batched, calls = notes_played(True)
    alone, no_calls = notes_played(False)
    assert no_calls == 0 and calls >= 96 // 16  # a block of 16 ticks for all five at once
    assert all(len(notes) > 10 for notes in batched.values())
    assert batched == alone
    assert len({tuple(notes) for notes in batched.values()}) == len(batched)  # each its own line


def test_adding_and_removing_voices_while_playing_never_compiles_on_the_clock():
    compiled_on: list[str] = []

    def on_compile(event, seconds, **_):  # tracing, lowering and compiling all report here
        if event.startswith("/jax/core/compile"):
            compiled_on.append(threading.current_thread().name)

    jax.monitoring.register_event_duration_secs_listener(on_compile)
    engine = lc.Engine(bpm=480, seed=4, log=False, echo_errors=False)
    grid = Collector()
    engine.voice("v0", "melody", to=[grid])
    engine.start()
    for i in range(1, 10):  # batch sizes 2, 4, 8 and 16 come into use as voices arrive
        engine.voice(f"v{i}", "melody", to=[Collector()])
        time.sleep(0.1)
    for i in range(1, 8):
        engine.voice_off(f"v{i}")
        time.sleep(0.05)
    time.sleep(0.5)
    late, calls = engine.late_ticks, engine.batched_calls
    engine.stop()
    jax.monitoring.unregister_event_duration_listener(on_compile)
    assert "livecrepre-generator" not in compiled_on
    assert late == 0 and calls > 0
    ticks = [e.tick for _, e in grid.events]
    assert ticks and max(b - a for a, b in zip(ticks, ticks[1:])) <= 2 * 32  # v0 kept playing
