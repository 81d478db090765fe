"""MIDI clock out: pulse-interval jitter at a receiver in another process, livecrepre's clock (from
the tick grid, played by the dispatcher, a melody voice playing beside it) against a minimal sender
that sleeps, then spins to each pulse (the floor of the path: python-rtmidi, JACK, the receiver).

Both send 24 pulses a beat at 120 bpm through JACK (a JACK server must run; `scripts/start_jackd.sh`)
to a python-rtmidi input polled in its own process; SECONDS each, ROUNDS rounds alternating.

    .venv/bin/python benchmarks/clock_out_jitter.py [SECONDS] [ROUNDS]
"""
import json
import os
import subprocess
import sys
import threading
import time

os.environ.setdefault("MIDO_BACKEND", "mido.backends.rtmidi/UNIX_JACK")

import numpy as np  # noqa: E402
import rtmidi  # noqa: E402

import livecrepre as lc  # noqa: E402

BPM = 120
INTERVAL = 60 / BPM / 24
RECEIVER = """
import json, sys, time, rtmidi
m = rtmidi.MidiIn(rtapi=rtmidi.API_UNIX_JACK, queue_size_limit=8192)
m.open_virtual_port(sys.argv[1]); m.ignore_types(timing=False)
print("ready", flush=True)
end, times = time.perf_counter() + float(sys.argv[2]), []
while time.perf_counter() < end:
    got = m.get_message()
    if got is None:
        time.sleep(0.0005)
    elif got[0] == [0xF8]:
        times.append(time.perf_counter())
print(json.dumps(times), flush=True)
"""


def receive(name: str, seconds: float) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", RECEIVER, name, str(seconds)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready"
    return process


def connect(source_suffix: str, target_name: str) -> None:
    ports = subprocess.run(["jack_lsp"], capture_output=True, text=True).stdout.splitlines()
    source = next(p for p in ports if p.endswith(source_suffix))
    target = next(p for p in ports if p.endswith(":" + target_name))
    subprocess.run(["jack_connect", source, target], check=True)


def livecrepre_run(seconds: float) -> list[float]:
    receiver = receive("bench-clock-lc", seconds + 2)
    engine = lc.Engine(bpm=BPM, seed=1, echo_errors=False, log=False)
    engine.voice("lead", "melody", to=[lambda event: None])
    engine.send_clock("midi:virtual")
    connect(":livecrepre", "bench-clock-lc")
    engine.start()
    time.sleep(seconds)
    engine.stop()
    return json.loads(receiver.communicate()[0])


def floor_run(seconds: float) -> list[float]:
    receiver = receive("bench-clock-floor", seconds + 2)
    out = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK)
    out.open_virtual_port("bench-floor")
    connect(":bench-floor", "bench-clock-floor")

    def send():
        due = time.perf_counter() + 0.2
        end = due + seconds
        while due < end:
            while time.perf_counter() < due - 0.0012:
                time.sleep(0.0005)
            while time.perf_counter() < due:
                pass
            out.send_message([0xF8])
            due += INTERVAL

    thread = threading.Thread(target=send)
    thread.start()
    thread.join()
    times = json.loads(receiver.communicate()[0])
    out.close_port()
    return times


def jitter(times: list[float]) -> dict:
    intervals = np.diff(np.array(times[24:]))  # after the first beat
    deviation = np.abs(intervals - INTERVAL) * 1e3
    return {"pulses": len(times), "mean": intervals.mean() * 1e3, "std": intervals.std() * 1e3,
            "p99": np.percentile(deviation, 99), "max": deviation.max()}


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 20.0
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    runs = {"livecrepre (%clock send midi:, melody voice playing)": [], "floor (sleep, then spin)": []}
    for _ in range(rounds):
        runs["livecrepre (%clock send midi:, melody voice playing)"].append(livecrepre_run(seconds))
        runs["floor (sleep, then spin)"].append(floor_run(seconds))
    rows = {name: {k: float(np.mean([jitter(t)[k] for t in times])) for k in ("pulses", "mean", "std", "p99", "max")}
            for name, times in runs.items()}
    floor = rows["floor (sleep, then spin)"]
    print(f"MIDI clock at {BPM} bpm ({INTERVAL * 1e3:.3f} ms a pulse) through JACK to a receiver in another "
          f"process, {seconds:g} s x {rounds} rounds each, alternating; means over the rounds\n")
    print("| sender | pulses | mean interval ms | std ms | p99 deviation ms | max ms | std vs floor |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, row in rows.items():
        print(f"| {name} | {row['pulses']:.0f} | {row['mean']:.3f} | {row['std']:.3f} | {row['p99']:.3f} | "
              f"{row['max']:.3f} | {row['std'] / floor['std']:.2f}x |")


if __name__ == "__main__":
    main()
