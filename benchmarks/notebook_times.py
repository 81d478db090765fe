"""Wall time of each tutorial notebook, top to bottom in a real Jupyter kernel (nbclient), on the
quick settings the tests use (LIVECREPRE_QUICK=1) and on the workshop settings a presenter runs
(all the chorales, more epochs, bigger networks, longer playing). Each run is in a fresh temporary
directory and a fresh kernel; the kernel's start is counted. One run per notebook and setting.

    .venv/bin/python benchmarks/notebook_times.py [NOTEBOOK ...]
"""
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

EXAMPLES = Path(__file__).parent.parent / "examples"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run(name: str, quick: bool) -> float:
    os.environ["LIVECREPRE_PORT"] = str(free_udp_port())
    if quick:
        os.environ["LIVECREPRE_QUICK"] = "1"
    else:
        os.environ.pop("LIVECREPRE_QUICK", None)
    notebook = nbformat.read(EXAMPLES / name, as_version=4)
    with tempfile.TemporaryDirectory() as workdir:
        started = time.perf_counter()
        NotebookClient(notebook, timeout=3600, kernel_name="python3",
                       resources={"metadata": {"path": workdir}}).execute()
        return time.perf_counter() - started


def main() -> None:
    names = sys.argv[1:] or sorted(p.name for p in EXAMPLES.glob("*.ipynb"))
    rows = []
    for name in names:
        quick, full = run(name, True), run(name, False)
        rows.append((name, quick, full))
        print(f"{name}: quick {quick:.0f} s, workshop {full:.0f} s", file=sys.stderr, flush=True)
    print(f"{os.cpu_count()} CPUs, one run each, kernel start included\n")
    print("| notebook | quick (tests) s | workshop s | workshop / quick |")
    print("|---|---:|---:|---:|")
    for name, quick, full in rows:
        print(f"| {name} | {quick:.0f} | {full:.0f} | {full / quick:.1f}x |")


if __name__ == "__main__":
    main()
