"""Memory over a swap storm: three melody voices at 480 bpm, CONTROLS controls 50 ms apart (a swap
between the shipped `melody` and `chorale`, or a voice removed and added again, each followed by a
temperature change), reporting RSS and the objects the garbage collector holds frozen, before and
after, and the threads and open files. A set lasts an hour: these must stay flat.

    .venv/bin/python benchmarks/swap_memory.py [CONTROLS]
"""
import gc
import os
import random
import sys
import threading
import time

import livecrepre as lc
from livecrepre import model_cache

FREEZE = model_cache.freeze_what_lives



def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


def storm(engine: lc.Engine, controls: int, seed: int = 1) -> None:
    """The controls a performer's busiest minutes might send, in a seeded order."""
    rng = random.Random(seed)
    models = ["melody", "chorale"]
    for i in range(controls):
        name = f"v{rng.randrange(3)}"
        if rng.random() < 0.7:
            engine.swap(name, models[i % 2])
        else:
            engine.voice_off(name)
            engine.voice(name, models[i % 2], to=[lambda event: None])
        engine.temp(name, round(rng.uniform(0.5, 1.5), 2))
        time.sleep(0.05)


class _Forgetful(dict):
    """An engine's checkpoint cache that keeps nothing: each swap reads its model from disk."""

    def __setitem__(self, key, value):
        pass


def measure(controls: int, as_before: bool = False) -> dict:
    """`as_before`: the engine as it was before the fix, each model read from disk again and the
    heap frozen after each load without collecting first (the garbage frozen with it)."""
    engine = lc.Engine(bpm=480, seed=1, echo_errors=False)
    model_cache.freeze_what_lives = gc.freeze if as_before else FREEZE
    if as_before:
        engine.model_cache._checkpoints = _Forgetful()
    for i in range(3):
        engine.voice(f"v{i}", "melody", to=[lambda event: None])
    engine.start()
    storm(engine, 20, seed=0)  # warm: every model and batch size loaded and compiled once
    gc.collect()
    before = {"rss": rss_mb(), "frozen": gc.get_freeze_count(), "threads": threading.active_count(),
              "files": open_files()}
    pauses, began = [], {}

    def time_full_collections(phase, info):
        if info["generation"] == 2:
            if phase == "start":
                began["at"] = time.perf_counter()
            else:
                pauses.append(time.perf_counter() - began["at"])

    gc.callbacks.append(time_full_collections)
    started = time.perf_counter()
    storm(engine, controls)
    seconds = time.perf_counter() - started
    gc.callbacks.remove(time_full_collections)
    gc.collect()
    after = {"rss": rss_mb(), "frozen": gc.get_freeze_count(), "threads": threading.active_count(),
             "files": open_files()}
    late, errors = engine.late_ticks, len(engine.errors)
    engine.stop()
    model_cache.freeze_what_lives = FREEZE
    return {"before": before, "after": after, "seconds": seconds, "late": late, "errors": errors,
            "gc": pauses}


def main() -> None:
    controls = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    rows = {"now": measure(controls), "as before (reloaded, frozen with garbage)": measure(controls, True)}
    print(f"{controls} controls (a swap or a voice re-added, then a temperature) every 50 ms, three "
          f"melody voices at 480 bpm; growth from after a warm-up to the end, after gc.collect()\n")
    print("| engine | seconds | RSS MB before | RSS growth MB | objects frozen growth | threads | open files "
          "| full GCs, longest ms | ticks late | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, r in rows.items():
        b, a = r["before"], r["after"]
        print(f"| {label} | {r['seconds']:.0f} | {b['rss']:.0f} | {a['rss'] - b['rss']:+.1f} "
              f"| {a['frozen'] - b['frozen']:+,} | {b['threads']} -> {a['threads']} | {b['files']} -> {a['files']} "
              f"| {len(r['gc'])}, {max(r['gc'], default=0) * 1000:.1f} | {r['late']} | {r['errors']} |")
    now, before = rows.values()
    growth = lambda r: r["after"]["rss"] - r["before"]["rss"]  # noqa: E731
    print(f"\nRSS growth, as before / now: {growth(before) / max(growth(now), 0.1):.0f}x")


if __name__ == "__main__":
    main()
