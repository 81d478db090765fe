"""Shared fixtures: real OSC receivers, a real IPython shell, the shipped model, collectors."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import mido

import pytest
from pythonosc import osc_packet, osc_server
from pythonosc.dispatcher import Dispatcher

import livecrepre as lc


@dataclass
class Received:
    timetag: float  # Unix seconds from the bundle
    address: str
    args: tuple
    arrived: float  # time.time() on arrival


class RecordingDispatcher(Dispatcher):
    """python-osc's dispatcher, keeping every message with its bundle timetag (and not sleeping)."""

    def __init__(self):
        super().__init__(strict_timing=False)
        self.received: list[Received] = []
        self.lock = threading.Lock()

    def call_handlers_for_packet(self, data, client_address):
        arrived = time.time()
        for timed in osc_packet.OscPacket(data).messages:
            with self.lock:
                self.received.append(Received(timed.time, timed.message.address,
                                              tuple(timed.message.params), arrived))
        return []


@pytest.fixture
def osc_receiver():
    """A real python-osc UDP server on 127.0.0.1 (a free port), recording what arrives."""
    dispatcher = RecordingDispatcher()
    server = osc_server.ThreadingOSCUDPServer(("127.0.0.1", 0), dispatcher)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    dispatcher.port = server.server_address[1]
    dispatcher.server = server
    yield dispatcher
    server.shutdown()
    server.server_close()


class Collector:
    """A callable route that keeps the events it was called with, and when."""

    def __init__(self):
        self.events: list[tuple[float, lc.Event]] = []

    def __call__(self, event):
        self.events.append((time.perf_counter(), event))

    @property
    def ticks(self) -> list[int]:
        return [e.tick for _, e in self.events]

    def wait_for(self, n: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.events) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.events) >= n, f"only {len(self.events)} of {n} events arrived"


@pytest.fixture
def collector():
    return Collector()


@pytest.fixture
def engine():
    e = lc.Engine(bpm=240, seed=3, echo_errors=False)
    yield e
    e.stop()


@pytest.fixture
def shell():
    """A real IPython InteractiveShell with the extension loaded."""
    from IPython.core.interactiveshell import InteractiveShell

    from livecrepre.magics import engine_of

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "livecrepre")
    engine = engine_of(ip)
    engine.echo_errors = False
    yield ip
    ip.run_line_magic("unload_ext", "livecrepre")


def max_gap(times: list[float]) -> float:
    return max(b - a for a, b in zip(times, times[1:])) if len(times) > 1 else float("inf")


JACK_BACKEND = "mido.backends.rtmidi/UNIX_JACK"
START_JACKD = Path(__file__).parent.parent / "scripts" / "start_jackd.sh"


@pytest.fixture(scope="module")
def jack():
    """A JACK server with the dummy driver (started here unless one runs), and mido on JACK."""
    assert shutil.which("jackd"), "jackd is missing: apt-get install -y jackd2 (see README)"
    pid = subprocess.run([str(START_JACKD)], capture_output=True, text=True).stdout.strip()
    assert subprocess.run(["jack_lsp"], capture_output=True).returncode == 0, "JACK did not start"
    previous = mido.backend
    mido.set_backend(JACK_BACKEND, load=True)
    yield
    mido.backend = previous
    if pid.isdigit():  # started here, so stopped here
        os.kill(int(pid), signal.SIGTERM)
