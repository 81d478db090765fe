"""Cold start: seconds from launching `livecrepre demo` to its first note, in a fresh process.

Runs `livecrepre demo --bars 1 --bpm 240 --seed 1` RUNS times as a subprocess (PYTHONUNBUFFERED=1)
and reads its stdout line by line; the first note is the first line naming the voice `demo` with a
position like `1.1.1`. Time is measured from just before Popen to that line's arrival. The demo's
own figure ("first note X.XX s after the process started", counted from the process's start time
in /proc, to the moment the dispatcher plays the note) is reported beside it. Compiled steps are
kept in JAX's persistent cache (~/.cache/livecrepre/jax), so only the very first run on a machine
compiles (about 0.5 s more). For reference, `python -c "import jax"` and
`python -c "import livecrepre"` in a subprocess (median of RUNS): launch to the import being done
(a line printed after it), and launch to the process's exit (which adds interpreter teardown).

    .venv/bin/python benchmarks/cold_start.py
"""
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

RUNS = 3
DEMO_ARGS = ["demo", "--bars", "1", "--bpm", "240", "--seed", "1"]
NOTE_LINE = re.compile(r"^demo\s+\d+\.\d+\.\d+\s")
DEMO_FIGURE = re.compile(r"first note ([\d.]+) s after the (?:command|process) started")
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def demo_command() -> list[str]:
    script = Path(sys.executable).parent / "livecrepre"
    return [str(script)] + DEMO_ARGS if script.exists() else [sys.executable, "-m", "livecrepre.cli"] + DEMO_ARGS


def run_demo() -> tuple[float, float]:
    """(seconds to the first note line on stdout, the demo's own figure)."""
    start = time.perf_counter()
    proc = subprocess.Popen(demo_command(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, bufsize=1, env=ENV)
    first, own = None, None
    for line in proc.stdout:
        if first is None and NOTE_LINE.match(line):
            first = time.perf_counter() - start
        if match := DEMO_FIGURE.search(line):
            own = float(match.group(1))
    if proc.wait() != 0 or first is None or own is None:
        raise SystemExit(f"demo failed (exit {proc.returncode}): {' '.join(demo_command())}")
    return first, own


def time_import(module: str) -> tuple[float, float]:
    """(seconds to the import being done, i.e. a line on stdout; seconds to the process's exit)."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", f"import {module}; print('done')"],
                            stdout=subprocess.PIPE, text=True, env=ENV)
    proc.stdout.readline()
    imported = time.perf_counter() - start
    proc.wait()
    return imported, time.perf_counter() - start


def main():
    load_before = os.getloadavg()[0]
    demos = [run_demo() for _ in range(RUNS)]
    imports = {module: [time_import(module) for _ in range(RUNS)] for module in ("jax", "livecrepre")}
    first, own = zip(*demos)
    fmt = lambda xs: ", ".join(f"{x:.2f}" for x in xs)  # noqa: E731
    print(f"`{' '.join(['livecrepre'] + DEMO_ARGS)}`, {RUNS} runs each, fresh processes; "
          f"{os.cpu_count()} CPUs, 1-min load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after.\n")
    print("| measurement | median s | runs s |")
    print("|---|---:|---|")
    print(f"| launch to first note line on stdout | {statistics.median(first):.2f} | {fmt(first)} |")
    print(f"| demo's own figure (from process start) | {statistics.median(own):.2f} | {fmt(own)} |")
    for module, times in imports.items():
        for label, xs in zip(("imported", "process exited"), zip(*times)):
            print(f"| reference: `python -c \"import {module}\"`, launch to {label} "
                  f"| {statistics.median(xs):.2f} | {fmt(xs)} |")


if __name__ == "__main__":
    main()
