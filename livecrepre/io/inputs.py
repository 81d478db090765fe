"""What a performer plays, coming in: an OSC server, a MIDI input port, or a MIDI file played in
real time. Each source parses on its own thread and hands on what it heard; it knows nothing of
voices (listening.py decides what a voice does with it).

    osc://HOST:PORT/ADDRESS   a UDP server on HOST (127.0.0.1 unless another interface is named;
                              port 0 picks a free one). Messages to ADDRESS (default /interface,
                              as IMPSY) carry numbers; /impsy/... messages are controls (CONTROLS).
    midi:PORT[:CHANNEL]       a MIDI input port (a name, a unique substring, an index, or `virtual`)
    file:PATH.mid             a MIDI file played in real time from when the voice starts listening

A source calls `offer(items)` with a list of Heard and Control (what arrived together: one message,
or the datagrams that were waiting when the OSC server got to them), on its own thread, and
`problem(kind, message)` with what it could not use (a malformed packet, a value that is not a
finite number, a port that vanished).
"""
from __future__ import annotations

import contextlib
import math
import select
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

import mido
from pythonosc import osc_packet

from ..clock import now, sleep_until
from ..errors import LivecrepreError
from .midi import backend_label, choose_port, quiet_c_stderr, split_midi_spec

SOURCE_HELP = "osc://127.0.0.1:PORT/ADDRESS, midi:PORT[:CHANNEL] or file:PATH.mid"
DEFAULT_ADDRESS = "/interface"  # IMPSY's input address
HUGE = 1e6  # a value this large is a mistake, not a gesture
# IMPSY's control messages (and a tempo): address -> (control name, argument type or None)
CONTROLS = {"/impsy/pitemp": ("pitemp", float), "/impsy/sigmatemp": ("sigmatemp", float),
            "/impsy/timescale": ("timescale", float), "/impsy/mode": ("mode", str),
            "/impsy/reset": ("reset", None), "/impsy/pause": ("pause", int), "/impsy/bpm": ("bpm", float)}


@dataclass(frozen=True)
class Heard:
    """One thing the performer played. `time` is `clock.now()` seconds (when it arrived, or when
    a file says it is due); `kind` is gesture (values x1..xn), note (pitch, velocity; velocity 0
    ends it) or cc (controller number, value 0-1)."""

    time: float
    kind: str
    values: tuple[float, ...]


@dataclass(frozen=True)
class Control:
    """A control message (IMPSY's /impsy/... addresses): name and value (None for reset)."""

    name: str
    value: object = None


Offer = Callable[[list], None]
MOST_DRAINED = 4096  # datagrams read in one go when many are waiting (a flood)
Problem = Callable[[str, str], None]


def open_input(spec: str, offer: Offer, problem: Problem):
    """The source `spec` names, open and running; any problem is one LivecrepreError line."""
    if not isinstance(spec, str) or not spec.strip():
        raise LivecrepreError(f"bad input {spec!r}: expected {SOURCE_HELP}")
    spec = spec.strip()
    if spec.startswith("osc://"):
        return OscInput(spec, offer, problem)
    if spec.startswith("midi:"):
        return MidiInput(spec, offer, problem)
    if spec.startswith("file:"):
        return MidiFileInput(spec, offer, problem)
    raise LivecrepreError(f"bad input {spec!r}: expected {SOURCE_HELP}")


def _number(value) -> float | None:
    """A finite, sane number, or None (bools, strings, blobs, NaN and huge values are refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) and abs(value) <= HUGE else None


class OscInput:
    """A UDP socket read on its own thread; packets are parsed with python-osc."""

    def __init__(self, spec: str, offer: Offer, problem: Problem):
        parts = urlsplit(spec)
        try:
            port = parts.port
        except ValueError:
            port = None
        if port is None or not 0 <= port < 65536:
            raise LivecrepreError(f"bad input {spec!r}: expected osc://127.0.0.1:PORT/ADDRESS, "
                                  f"e.g. osc://127.0.0.1:5000{DEFAULT_ADDRESS}")
        host = parts.hostname or "127.0.0.1"  # loopback unless the performer names another interface
        self.address = parts.path if parts.path not in ("", "/") else DEFAULT_ADDRESS
        self.offer, self.problem = offer, problem
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self._sock.bind((host, port))
        except OSError as exc:
            self._sock.close()
            raise LivecrepreError(f"input {spec}: cannot listen on {host}:{port} ({exc.strerror or exc})")
        self._sock.setblocking(False)
        self.port = self._sock.getsockname()[1]
        self.spec = f"osc://{host}:{self.port}{self.address}"
        self._closed = False
        self.busy = False  # handling what it read
        self._thread = threading.Thread(target=self._run, name=f"livecrepre-in {self.spec}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._closed:
            try:
                ready, _, _ = select.select([self._sock], [], [], 0.2)
            except (OSError, ValueError):
                return  # closed
            if not ready:
                continue
            self.busy = True
            batch = []
            try:  # everything waiting is handled together, so that the newest input wins a flood
                while len(batch) < MOST_DRAINED:
                    batch.append(self._sock.recv(65536))
            except BlockingIOError:
                pass
            except OSError:
                return  # closed
            arrived = now()
            items = []
            for data in batch:
                items += self.parse(data, arrived)
            if items:
                self.offer(items)
            self.busy = False

    def settled(self) -> bool:
        """Nothing waiting to be read and nothing being handled (for tests and scripts)."""
        if self.busy:
            return False
        try:
            self._sock.recv(1, socket.MSG_PEEK)
            return False
        except OSError:  # nothing waiting (or closed)
            return not self.busy

    def parse(self, data: bytes, arrived: float) -> list:
        """The inputs and controls one datagram holds (messages of a bundle in order)."""
        try:
            if len(data) % 4:  # OSC packets come in 4-byte words; python-osc reads a cut one anyway
                raise ValueError("not a whole number of 4-byte words")
            messages = [timed.message for timed in osc_packet.OscPacket(data).messages]
        except Exception as exc:  # noqa: BLE001 - python-osc raises several kinds on garbage
            self.problem("malformed", f"malformed OSC packet ({len(data)} bytes: {type(exc).__name__})")
            return []
        items = [self._message(m.address, list(m.params), arrived) for m in messages]
        return [item for item in items if item is not None]

    def _message(self, address: str, args: list, arrived: float):
        if address == self.address:
            values = [_number(a) for a in args]
            if not values or None in values:
                self.problem("bad", f"{address} takes numbers (finite, below {HUGE:g}); got "
                                    f"{_describe(args)}")
                return None
            return Heard(arrived, "gesture", tuple(values))
        if address in CONTROLS:
            name, kind = CONTROLS[address]
            if kind is None:
                return Control(name)
            if len(args) != 1 or (kind is str) != isinstance(args[0], str) or (
                    kind is not str and _number(args[0]) is None):
                self.problem("bad", f"{address} takes one {kind.__name__}; got {_describe(args)}")
                return None
            return Control(name, args[0] if kind is str else kind(args[0]))
        self.problem("ignored", f"no such input address {address} (send to {self.address} or /impsy/...)")
        return None

    def close(self) -> None:
        self._closed = True
        self._sock.close()
        self._thread.join(timeout=1)


def _describe(args: list) -> str:
    if not args:
        return "no arguments"
    shown = ", ".join(repr(a)[:20] for a in args[:4]) + (", ..." if len(args) > 4 else "")
    return f"{len(args)} argument(s): {shown}"


def _from_midi(message, arrived: float, channel: int | None) -> Heard | None:
    """A note or controller message as Heard (other messages, and other channels, are not)."""
    if channel is not None and getattr(message, "channel", channel - 1) != channel - 1:
        return None
    if message.type == "note_on":
        return Heard(arrived, "note", (float(message.note), float(message.velocity)))
    if message.type == "note_off":
        return Heard(arrived, "note", (float(message.note), 0.0))
    if message.type == "control_change":
        return Heard(arrived, "cc", (float(message.control), message.value / 127.0))
    return None


def input_names(quiet: bool = True) -> list[str]:
    """The MIDI input ports (`quiet` hides the C library's own line; only on the caller's thread,
    since it redirects the process's stderr for a moment)."""
    try:
        with quiet_c_stderr() if quiet else contextlib.nullcontext():
            return mido.get_input_names()
    except Exception as exc:  # noqa: BLE001 - rtmidi raises its own error types
        raise LivecrepreError(f"this machine has no MIDI input ({backend_label()}: {str(exc).strip()})")


class MidiInput:
    """A MIDI input port through mido; a named port that vanishes is reported once, and opened
    again when it comes back."""

    CHECK_SECONDS = 1.0

    def __init__(self, spec: str, offer: Offer, problem: Problem, client_name: str = "livecrepre-in"):
        port_spec, channel = split_midi_spec(spec)
        self.channel = channel if spec.rstrip().endswith(f":{channel}") else None
        self.offer, self.problem, self.spec = offer, problem, spec
        self.virtual = port_spec == "virtual"
        self.name = (client_name if self.virtual
                     else choose_port(port_spec, input_names(), "input", f"input {spec}"))
        self._closed = threading.Event()
        self._port = self._open()
        self._watch = None
        if not self.virtual:
            self._watch = threading.Thread(target=self._watch_port, name=f"livecrepre-in {spec}", daemon=True)
            self._watch.start()

    def _open(self):
        try:
            with quiet_c_stderr():
                if mido.backend.name == "mido.backends.rtmidi":
                    return PolledRtMidiInput(self.name, self.virtual, mido.backend.api, self._received)
                return mido.open_input(self.name, virtual=self.virtual, callback=self._received)
        except Exception as exc:  # noqa: BLE001
            raise LivecrepreError(f"input {self.spec}: cannot open a MIDI input ({backend_label()}: "
                                  f"{str(exc).strip()})")

    def _received(self, message) -> None:
        heard = _from_midi(message, now(), self.channel)
        if heard is not None:
            self.offer([heard])

    def _watch_port(self) -> None:
        gone = False
        while not self._closed.wait(self.CHECK_SECONDS):
            try:
                present = self.name in input_names(quiet=False)
            except LivecrepreError:
                present = False
            if not present and not gone:
                gone = True
                self.problem("vanished", f"MIDI input {self.name!r} vanished; the voice plays on, "
                                         f"and listens again if it comes back")
            elif present and gone:
                gone = False
                try:
                    self._port.close()
                    self._port = self._open()
                    self.problem("back", f"MIDI input {self.name!r} is back")
                except LivecrepreError as exc:
                    self.problem("vanished", str(exc))

    def close(self) -> None:
        self._closed.set()
        if self._watch is not None:
            self._watch.join(timeout=2)
        try:
            self._port.close()
        except Exception:  # noqa: BLE001 - closing is best effort
            pass


class PolledRtMidiInput:
    """A MIDI input through python-rtmidi, read by a thread of its own: RtMidi queues each message
    on JACK's (or ALSA's) thread without Python, and this thread hands it on. (mido's rtmidi input
    calls Python there instead: waiting for the interpreter's lock overran the JACK cycle, and the
    next messages arrived garbled or not at all: a note-on read as its neighbour's note-off.)"""

    POLL_SECONDS = 0.001  # how long the thread sleeps when nothing waits (the input's added latency)

    def __init__(self, name: str, virtual: bool, api: str | None, deliver: Callable[[mido.Message], None]):
        import rtmidi

        self.name, self._deliver = name, deliver
        self._rt = rtmidi.MidiIn(rtapi=getattr(rtmidi, f"API_{api}", rtmidi.API_UNSPECIFIED) if api
                                 else rtmidi.API_UNSPECIFIED, queue_size_limit=4096)
        if virtual:
            self._rt.open_virtual_port(name)
        else:
            ports = self._rt.get_ports()
            if name not in ports:
                raise OSError(f"unknown port {name!r}")
            self._rt.open_port(ports.index(name))
        self._rt.ignore_types(sysex=True, timing=True, active_sense=True)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._poll, name=f"livecrepre-in {name}", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._closed.is_set():
            got = self._rt.get_message()
            if got is None:
                time.sleep(self.POLL_SECONDS)
                continue
            try:
                message = mido.Message.from_bytes(got[0])
            except ValueError:
                continue  # not a message mido knows (a lone status byte): nothing a voice hears
            self._deliver(message)

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=2)
        self._rt.close_port()
        self._rt.delete()


class MidiFileInput:
    """A MIDI file's notes and controllers offered at their times, as if a performer played them
    (for sessions and tests without MIDI hardware). It plays once; `finished` is set at its end."""

    def __init__(self, spec: str, offer: Offer, problem: Problem):
        path = Path(spec[len("file:"):]).expanduser()
        if not path.is_file():
            raise LivecrepreError(f"input {spec}: no such MIDI file")
        try:
            self._messages = [m for m in mido.MidiFile(path) if not m.is_meta or m.time]
        except Exception as exc:  # noqa: BLE001 - mido raises several kinds on a broken file
            raise LivecrepreError(f"input {spec}: not a readable MIDI file ({type(exc).__name__}: {exc})")
        self.spec, self.offer, self.problem = spec, offer, problem
        self.finished = threading.Event()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._play, name=f"livecrepre-in {spec}", daemon=True)
        self._thread.start()

    def _play(self) -> None:
        due = now() + 0.05
        for message in self._messages:
            due += message.time  # seconds since the previous message (mido applies the file's tempi)
            if self._closed.is_set():
                return
            if due - now() > 0.01:
                if self._closed.wait(due - now() - 0.005):
                    return
            sleep_until(due, spin=0.002)
            heard = None if message.is_meta else _from_midi(message, due, None)
            if heard is not None:
                self.offer([heard])
        self.finished.set()

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=1)
