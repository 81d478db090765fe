"""A swap storm: a swap on every beat for SECONDS, alternating the shipped melody (2 x LSTM(256),
1.1 M parameters) and a small melody network (1 x LSTM(64)), against a calm run with no swaps.

"lead" is the voice being swapped; "grid" is a tiny constant model that plays a note on every
tick, so a dropped or delayed tick shows as a missing or late grid note. Both play through
callable routes that record `perf_counter() - event.time` when called (on each route's own thread),
and through `print` routes (into a StringIO) played by the dispatcher, as MIDI is: its own record of
each action's lateness is the MIDI figure. Every
swap lands on a beat, primes the incoming model with the voice's last 64 tokens (one jitted call on
the generator thread), and every fourth one crossfades over a bar instead.

    .venv/bin/python benchmarks/swap_storm.py [SECONDS]
"""
import io
import sys
import time

import numpy as np

import livecrepre as lc
from livecrepre.models import Model, build_network, load_model

BPM = 180
SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 120.0
TICK = 60 / BPM / 4


def grid_model() -> Model:
    import jax.numpy as jnp

    net = build_network("melody", {"vocab": 130, "embed": 16, "units": 32, "layers": 1})
    net.out.kernel.set_value(jnp.zeros_like(net.out.kernel.get_value()))
    net.out.bias.set_value(jnp.full((130,), -1e4).at[60].set(0.0))
    return Model.from_network(net, "grid")


def small_model() -> Model:
    return Model.from_network(build_network("melody", {"vocab": 130, "embed": 32, "units": 64, "layers": 1,
                                                       "positions": 16}, seed=1), "small")


def run(storm: bool, models: list[Model]) -> dict:
    engine = lc.Engine(bpm=BPM, seed=1, echo_errors=False)
    late = {"lead": [], "grid": []}
    grid_ticks: list[int] = []

    def recorder(name):
        def record(event):
            late[name].append(time.perf_counter() - event.time)
            if name == "grid":
                grid_ticks.append(event.tick)
        record.__qualname__ = f"record_{name}"
        return record

    engine.print_stream = io.StringIO()  # a write that holds the interpreter lock, as a MIDI send does
    engine.voice("lead", models[0], to=[recorder("lead"), "print"])
    engine.voice("grid", grid_model(), to=[recorder("grid"), "print"])
    engine.start()
    swaps, started = 0, time.perf_counter()
    while time.perf_counter() - started < SECONDS:
        if storm:
            model = models[(swaps + 1) % len(models)]
            engine.swap("lead", model, at="beat", fade=1 if swaps % 4 == 3 else None)
            swaps += 1
        time.sleep(60 / BPM)  # about one swap per beat
    engine.stop()
    dispatched = np.array(engine.dispatcher.lateness) * 1000
    expected = set(range(grid_ticks[0], grid_ticks[-1] + 1)) if grid_ticks else set()
    every = np.array(late["lead"] + late["grid"]) * 1000
    return {"swaps": swaps, "events": len(every), "missing grid ticks": len(expected - set(grid_ticks)),
            "late ticks": engine.late_ticks, "p50": np.percentile(every, 50), "p99": np.percentile(every, 99),
            "max": every.max(), "errors": len(engine.errors),
            "midi p99": np.percentile(dispatched, 99), "midi max": dispatched.max()}


if __name__ == "__main__":
    models = [load_model("melody"), small_model()]
    rows = {"calm (no swaps)": run(False, models), "swap storm": run(True, models)}
    print(f"{BPM} bpm, 16ths, {SECONDS:.0f} s per run; voices: lead (swapped) + grid (a note every tick); "
          f"lateness = call time - scheduled time, all events (callables on their own threads; MIDI and print "
          f"on the dispatcher)\n")
    print("| run | swaps | events | missing grid ticks | ticks generated late | callable p50 / p99 / max ms "
          "| MIDI, print p99 / max ms | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in rows.items():
        print(f"| {name} | {r['swaps']} | {r['events']} | {r['missing grid ticks']} | {r['late ticks']} "
              f"| {r['p50']:.3f} / {r['p99']:.3f} / {r['max']:.3f} | {r['midi p99']:.3f} / {r['midi max']:.3f} "
              f"| {r['errors']} |")
