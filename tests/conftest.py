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

from .helpers import constant_model


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


@pytest.fixture
def playing(shell, osc_receiver):
    """A running engine with a `keep` voice (the shipped melody) and a `grid` voice (a note on every
    tick), each watched by a collector: `assert_kept_playing` checks the grid's every tick."""
    keeper, grid = Collector(), Collector()
    shell.user_ns.update(keeper=keeper, grid_notes=grid, grid_model=constant_model(72, "grid"))
    shell.run_line_magic("crepre", "start --bpm 240 --seed 2")
    shell.run_line_magic("voice", f"keep melody --to keeper osc://127.0.0.1:{osc_receiver.port}/keep")
    shell.run_line_magic("voice", "grid grid_model --to grid_notes")
    keeper.wait_for(3)
    grid.wait_for(3)
    keeper.grid = grid
    return keeper


def assert_kept_playing(keeper: Collector, since: float, window: float = 1.5):
    """The clock went on through the command and for `window` seconds after it: every tick of the
    grid voice scheduled from `since` to the end of the window arrived, close to its time, and
    the melody voice played on (a stalled, stopped or late clock fails this)."""
    grid = keeper.grid
    time.sleep(max(0.0, since + window + 0.1 - time.perf_counter()))
    end = since + window
    after = [(called, e) for called, e in grid.events if since <= e.time <= end]
    tick = 60 / 240 / 4
    expected = round(window / tick)
    ticks = sorted(e.tick for _, e in after)
    assert len(ticks) >= expected - 2, (f"the clock stalled: {len(ticks)} of {expected} grid ticks "
                                        f"scheduled after the command arrived")
    assert ticks == list(range(ticks[0], ticks[0] + len(ticks))), "grid ticks went missing"
    lateness = sorted(called - e.time for called, e in after)
    assert lateness[len(lateness) * 9 // 10] < 0.03, f"notes came late: {lateness[-5:]}"
    assert max(lateness) < 0.25, "a note came very late: the clock stalled"
    assert any(e.time > since for _, e in keeper.events), "the melody voice stopped"


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
