"""Many voices: the cost of one tick with 1, 4, 16 and 64 voices of the shipped melody model,
batched (the engine's default: voices of one model step in one call) vs each voice stepped
separately (Engine(batch_voices=False)); then a live run of 16 voices at 16ths and 180 bpm.

Cost of one tick: the real engine stepped off the clock (Engine.play_offline + step, as a replay
does) over TICKS ticks, every voice playing into a callable route; wall time / TICKS. Both ways run
in this one process, alternating, ROUNDS times; the median is reported.

Live: 16 melody voices plus a grid voice playing a note on every tick, callable routes, SECONDS
seconds at 180 bpm; lateness = call time - scheduled time.

    .venv/bin/python benchmarks/many_voices.py
"""
import os
import time

import jax.numpy as jnp
import numpy as np
from flax import nnx

import livecrepre as lc
from livecrepre.models import MelodyRNN, Model

COUNTS = (1, 4, 16, 64)
TICKS, ROUNDS = 128, 3
BPM, SECONDS, LIVE_VOICES = 180, 20.0, 16


def tick_cost(voices: int, batched: bool) -> tuple[float, dict]:
    engine = lc.Engine(bpm=120, seed=3, log=False, batch_voices=batched, echo_errors=False)
    for i in range(voices):
        engine.voice(f"v{i}", "melody", to=[lambda event: None])
    engine.play_offline()
    engine.step(0)  # the first blocks of every voice
    started = time.perf_counter()
    for tick in range(1, TICKS + 1):
        engine.step(tick)
    cost = (time.perf_counter() - started) / TICKS
    notes = {name: [p.pitch for p in v.history] for name, v in engine.voices.items()}
    engine.stop()
    return cost, notes


def grid_model() -> Model:
    net = MelodyRNN(embed=16, units=32, layers=1, rngs=nnx.Rngs(0))
    net.out.kernel.set_value(jnp.zeros_like(net.out.kernel.get_value()))
    net.out.bias.set_value(jnp.full((130,), -1e4).at[60].set(0.0))
    return Model.from_network(net, "grid")


def live() -> dict:
    lateness = []
    record = lambda event: lateness.append(time.perf_counter() - event.time)  # noqa: E731
    engine = lc.Engine(bpm=BPM, seed=5, log=False, echo_errors=False)
    for i in range(LIVE_VOICES):
        engine.voice(f"v{i}", "melody", to=[record])
    engine.voice("grid", grid_model(), to=[record])
    engine.start()
    time.sleep(SECONDS)
    late_ticks, ticks = engine.late_ticks, engine.tick
    engine.stop()
    ms = np.array(lateness) * 1e3
    return {"events": len(ms), "p50": np.percentile(ms, 50), "p99": np.percentile(ms, 99),
            "max": ms.max(), "late_ticks": late_ticks, "ticks": ticks}


def main():
    load_before = os.getloadavg()[0]
    rows, same = [], {}
    for count in COUNTS:
        batched, separate = [], []
        for _ in range(ROUNDS):
            cost, notes_b = tick_cost(count, True)
            batched.append(cost)
            cost, notes_s = tick_cost(count, False)
            separate.append(cost)
        same[count] = sum(notes_b[name] == notes_s[name] for name in notes_b)
        rows.append((count, np.median(batched), np.median(separate)))
    result = live()
    print(f"Shipped melody model (2 x LSTM(256)); {TICKS} ticks per measurement, median of {ROUNDS} "
          f"alternating rounds; {os.cpu_count()} CPUs, 1-min load average {load_before:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after.\n")
    print("| voices | batched ms/tick | separate ms/tick | batched / separate | same notes both ways |")
    print("|---:|---:|---:|---:|---:|")
    for count, b, s in rows:
        print(f"| {count} | {b * 1e3:.3f} | {s * 1e3:.3f} | {b / s:.3f} | {same[count]} of {count} voices |")
    print(f"\nLive, {LIVE_VOICES} melody voices + a note-every-tick grid voice at {BPM} bpm 16ths for "
          f"{SECONDS:g} s: {result['events']} events, lateness p50 {result['p50']:.3f} ms, "
          f"p99 {result['p99']:.3f} ms, max {result['max']:.3f} ms; ticks generated after their start "
          f"time: {result['late_ticks']} of {result['ticks']}.")


if __name__ == "__main__":
    main()
