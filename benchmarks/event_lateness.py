"""Event lateness of the real engine: play time minus scheduled time, 16ths at 180 bpm, 20 s.

Two voices play through callable routes, each called on the route's own thread at each note's wall
time; each call records `perf_counter() - event.time`. They also play through `print` routes into a
StringIO, which the dispatcher thread plays as it plays MIDI (a short call that holds the interpreter
lock, as a MIDI send does; a write to /dev/null lets go of it and measured print itself): the
dispatcher's own record of each action's lateness is the MIDI figure. "lead" is the shipped melody model (it does
not play on every tick); "grid" is a tiny constant model that plays a note on every tick, so every
16th has an event. Both voices also send OSC to a UDP socket bound here; after the run its bundles
are parsed and each timetag's deviation from the tick grid (first timetag + k * 60/180/4 s) is
reported (read with OscBundle: OscPacket(...).messages replaces timetags already in the past
with the time of parsing). Two conditions, one engine each:

- idle: the main thread just sleeps;
- loaded: the main thread runs a jitted JAX function (256x256 matmuls) in a loop while another
  thread does pure-Python busy work;
- performer at work: the main thread does what a performer's commands do between notes, over and
  over: loads checkpoints and parses an ABC tune with music21 (much allocation, so the cyclic
  garbage collector runs); once as the engine runs it (the heap frozen at start with gc.freeze),
  once with the heap unfrozen after start, as before that fix.

    .venv/bin/python benchmarks/event_lateness.py
"""
import gc
import io
import os
import socket
import threading
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from pythonosc.osc_bundle import OscBundle

import livecrepre as lc
from livecrepre.models import MelodyRNN, Model, load_model

BPM, SECONDS = 180, 20.0
TICK = 60 / BPM / 4


def grid_model() -> Model:
    """A model that plays middle C (token 60) on every tick."""
    net = MelodyRNN(embed=16, units=32, layers=1, rngs=nnx.Rngs(0))
    net.out.kernel.set_value(jnp.zeros_like(net.out.kernel.get_value()))
    net.out.bias.set_value(jnp.full((130,), -1e4).at[60].set(0.0))
    return Model.from_network(net, "grid")


@jax.jit
def jax_work(x):
    for _ in range(8):
        x = jnp.tanh(x @ x / 256.0)
    return x


def python_work(stop: threading.Event) -> None:
    while not stop.is_set():
        sum(i * i for i in range(2000))


TUNE = """X:1
T:Benchmark reel
M:4/4
L:1/8
K:D
|:dAFA dAFA|dAFA GBAF|dAFA dAFA|Beed cAAG:|
|:FAdA FAdA|GBdB GBdB|FAdA FAdA|Beed cAAG:|
"""


def performer_work() -> None:
    import music21

    load_model("chorale")
    load_model("abc")
    music21.converter.parse(TUNE, format="abc")


def run(condition: str, grid: Model, realtime: bool = True) -> dict:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)  # read after the run
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]

    lateness = []
    record = lambda ev: lateness.append(time.perf_counter() - ev.time)  # noqa: E731
    engine = lc.Engine(bpm=BPM, seed=1, echo_errors=False, realtime=realtime)
    engine.print_stream = io.StringIO()  # a write that holds the interpreter lock, as a MIDI send does
    engine.voice("lead", "melody", to=[record, "print", f"osc://127.0.0.1:{port}/lead"])
    engine.voice("grid", grid, to=[record, "print", f"osc://127.0.0.1:{port}/grid"])

    stop = threading.Event()
    helper = None
    loaded = condition.startswith("loaded")
    if loaded:
        x = jnp.ones((256, 256), jnp.float32) / 256
        jax_work(x).block_until_ready()  # compile before the clock starts
        helper = threading.Thread(target=python_work, args=(stop,), daemon=True)
        helper.start()
    performer = condition.startswith("performer")
    if performer:
        performer_work()  # imports music21 before the clock starts
    engine.start()
    if condition.endswith("unfrozen"):
        gc.unfreeze()
    gc_pauses = []
    timing = {}

    def time_collections(phase, info):
        if info["generation"] == 2:
            timing[phase] = time.perf_counter()
            if phase == "stop":
                gc_pauses.append(timing["stop"] - timing["start"])

    gc.callbacks.append(time_collections)
    end, loops = time.perf_counter() + SECONDS, 0
    while time.perf_counter() < end:
        if loaded:
            x = jax_work(x).block_until_ready()
            loops += 1
        elif performer:
            performer_work()
            loops += 1
        else:
            time.sleep(0.05)
    late_ticks = engine.late_ticks
    gc.callbacks.remove(time_collections)
    engine.stop()
    dispatched = np.array(engine.dispatcher.lateness) * 1e3
    stop.set()
    if helper:
        helper.join()

    sock.setblocking(False)
    timetags = []
    while True:
        try:
            timetags.append(OscBundle(sock.recv(65536)).timestamp)
        except BlockingIOError:
            break
    sock.close()
    tt = np.array(sorted(timetags))
    k = np.round((tt - tt[0]) / TICK)
    deviation = np.abs(tt - (tt[0] + k * TICK)).max() * 1e6
    ms = np.array(lateness) * 1e3
    return {"condition": condition, "events": len(ms), "p50": np.percentile(ms, 50),
            "p99": np.percentile(ms, 99), "max": ms.max(), "midi_p50": np.percentile(dispatched, 50),
            "midi_p99": np.percentile(dispatched, 99), "midi_max": dispatched.max(), "osc": len(tt), "deviation": deviation,
            "late_ticks": late_ticks, "loops": loops, "gc": gc_pauses}


def main():
    load_before = os.getloadavg()[0]
    grid = grid_model()
    results = [run("idle", grid), run("loaded", grid),
               run("loaded, dispatcher at normal priority", grid, realtime=False),
               run("performer at work", grid), run("performer at work, heap unfrozen", grid)]
    print(f"{BPM} bpm, 16ths ({TICK * 1e3:.1f} ms apart), {SECONDS:g} s per condition; voices: shipped "
          f"melody + a note-every-tick grid model; lateness = play time - scheduled time, of callable routes "
          f"(each on its own thread) and of the dispatcher's actions (MIDI, print); "
          f"{os.cpu_count()} CPUs, 1-min load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after.\n")
    print("| condition | events | callable p50 / p99 / max ms | MIDI, print p50 / p99 / max ms "
          "| OSC timetag max deviation µs | full GCs, longest ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['condition']} | {r['events']} | {r['p50']:.3f} / {r['p99']:.3f} / {r['max']:.3f} "
              f"| {r['midi_p50']:.3f} / {r['midi_p99']:.3f} / {r['midi_max']:.3f} "
              f"| {r['deviation']:.2f} ({r['osc']} bundles) "
              f"| {len(r['gc'])}, {max(r['gc'], default=0) * 1e3:.1f} |")
    loaded = results[1]
    print("\nThe dispatcher thread asks for SCHED_FIFO priority (Engine(realtime=True), the default); "
          "the third row turns that off.")
    print(f"Loaded: {loaded['loops']} jitted JAX calls on the main thread (8 x 256x256 matmul each) "
          f"plus a pure-Python busy thread. Performer at work: {results[3]['loops']} and {results[4]['loops']} "
          f"rounds of two checkpoint loads and an ABC parse. Ticks generated after their own start time: "
          + ", ".join(f"{r['condition']} {r['late_ticks']}" for r in results) + ".")


if __name__ == "__main__":
    main()
