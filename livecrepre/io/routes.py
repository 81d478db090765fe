"""Routes: where a voice's notes go. Parsing a route spec and sending one note, per kind.

    osc://HOST:PORT/ADDRESS   OSC bundle per note, timetagged, sent ahead (see io/osc.py)
    midi:PORT[:CHANNEL]       note_on/note_off at the note's wall time (PORT: name, substring, index, virtual);
                              gestures with an option: ?cc=N,M,... (x1 -> controller N, x2 -> M, values
                              0-1 -> 0-127) or ?notes (x1 0-1 -> pitch 36-96, x2 -> velocity, 0.1 s long)
    file:PATH.mid             recorded at tick times, written as a standard MIDI file (voices naming
                              the same file share it, a track each)
    print                     a readable line per note, at the note's wall time
    a Python callable         called with the Event at the note's wall time, on its own thread

Any of them but a file takes ?nudge=MS (-500 to 500): it plays that much later, or earlier when
negative (a synth 25 ms slow: midi:Synth:1?nudge=-25), beside another option with & (?cc=1&nudge=-10).

Dispatcher routes (midi, print) queue their actions in the engine's dispatcher, which keeps the note
ledger; OSC and file routes are handled when the note is generated, ahead of time; a callable route
queues its events on its own thread, which calls the function at their wall times.
"""
from __future__ import annotations

import math
import os
import sys
from functools import partial
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

import mido

from ..errors import LivecrepreError
from ..events import Event
from .calls import CallRunner
from .midi import MidiPorts, split_midi_spec
from .osc import OscSender, event_bundle
from .recording import MidiFileRecorder

ROUTE_HELP = "osc://HOST:PORT/ADDRESS, midi:PORT[:CHANNEL], file:PATH.mid, print, or a callable"
MOST_NUDGE_MS = 500


class Route:
    spec: str = ""
    nudge = 0.0  # seconds this route plays later than the clock (earlier when negative): ?nudge=MS
    uses_dispatcher = False
    accepts: tuple[str, ...] = ("notes", "text", "gestures")  # what voices it can carry
    muted = False  # set by the engine after the route failed once

    def send(self, event: Event, dispatcher) -> None:
        raise NotImplementedError

    def cut(self, tick: int, voice: str | None = None) -> None:
        """Notes recorded by the route itself (of `voice`, or all) end at `tick` (dispatcher routes
        are cut by the ledger)."""

    def silence(self) -> None:
        """Extra silencing after the ledger was flushed (e.g. MIDI all-notes-off)."""

    def close(self) -> None:
        """Release what the route holds (write a file); called off the clock's threads."""

    def __repr__(self) -> str:
        return self.spec


class OscRoute(Route):
    def __init__(self, spec: str, host: str, port: int, address: str):
        self.spec, self.address = spec, address
        self.sender = OscSender(host, port)

    def send(self, event, dispatcher):
        self.sender.send(event_bundle(self.address, event))

    def close(self):
        self.sender.close()


GESTURE_NOTE_LOW, GESTURE_NOTE_HIGH, GESTURE_NOTE_SECONDS = 36, 96, 0.1


def _unit_to_midi(value: float, low: int = 0, high: int = 127) -> int:
    return int(round(low + min(1.0, max(0.0, value)) * (high - low)))


class MidiRoute(Route):
    uses_dispatcher = True

    def __init__(self, spec: str, port, channel: int, cc: list[int] | None = None, notes: bool = False):
        self.spec, self.port, self.channel = spec, port, channel  # channel 1-16
        self.cc, self.gesture_notes = cc, notes  # how gestures are played, if they are
        self.accepts = ("notes", "gestures") if cc or notes else ("notes",)

    def send(self, event, dispatcher):
        ch = self.channel - 1
        if event.kind == "gesture":
            self._send_gesture(event, dispatcher, ch)
            return
        on = mido.Message("note_on", note=event.pitch, velocity=event.velocity, channel=ch)
        off = mido.Message("note_off", note=event.pitch, velocity=0, channel=ch)
        dispatcher.note(event.time, partial(self.port.send, on), event.end_time,
                        partial(self.port.send, off), owner=self)

    def _send_gesture(self, event, dispatcher, ch: int) -> None:
        if self.cc:
            messages = [mido.Message("control_change", control=number, value=_unit_to_midi(value), channel=ch)
                        for number, value in zip(self.cc, event.values)]
            dispatcher.at(event.time, partial(send_all, self.port, messages), owner=self)
            return
        pitch = _unit_to_midi(event.values[0], GESTURE_NOTE_LOW, GESTURE_NOTE_HIGH)
        velocity = max(1, _unit_to_midi(event.values[1])) if len(event.values) > 1 else event.velocity
        on = mido.Message("note_on", note=pitch, velocity=velocity, channel=ch)
        off = mido.Message("note_off", note=pitch, velocity=0, channel=ch)
        dispatcher.note(event.time, partial(self.port.send, on), event.time + GESTURE_NOTE_SECONDS,
                        partial(self.port.send, off), owner=self)

    def silence(self):
        self.port.send(mido.Message("control_change", control=123, value=0, channel=self.channel - 1))


class FileRoute(Route):
    accepts = ("notes",)

    def __init__(self, spec: str, recorder: MidiFileRecorder):
        self.spec, self.recorder = spec, recorder

    def send(self, event, dispatcher):
        self.recorder.add_note(event.start_tick, event.end_tick, event.pitch, event.velocity,
                               voice=event.voice)

    def tempo(self, tick: int, bpm: float) -> None:
        self.recorder.tempo(tick, bpm)

    def cut(self, tick, voice=None):
        self.recorder.cut(tick, voice)

    def close(self):
        self.recorder.write()


class PrintRoute(Route):
    uses_dispatcher = True
    spec = "print"

    def __init__(self, stream=None):
        self.stream = stream

    def _print(self, event: Event):
        print(event.describe(), file=self.stream or sys.stdout, flush=True)

    def send(self, event, dispatcher):
        dispatcher.at(event.time, partial(self._print, event), owner=self)


class CallableRoute(Route):
    """The performer's function, called at each event's wall time on the route's own thread
    (io/calls.py), so that however long it takes, it delays nothing else."""

    def __init__(self, fn: Callable[[Event], object], on_error=None, report=None):
        self.fn = fn
        self.spec = f"{getattr(fn, '__qualname__', None) or type(fn).__name__}()"
        report = report or _print_problem
        on_error = on_error or (lambda route, exc: report(f"route {route.spec}: {exc}"))
        self.calls = CallRunner(self.spec, self._call, on_error=partial(on_error, self), report=report)

    def _call(self, event):
        if not self.muted:  # (muted after its first error, events already queued are not called)
            self.fn(event)

    def send(self, event, dispatcher):
        self.calls.hand(event)

    def silence(self):
        self.calls.clear()

    def close(self):
        self.calls.close()


def _print_problem(message: str) -> None:
    print(f"livecrepre: {message}", file=sys.stderr)


def parse_route(spec, *, voice: str, midi_ports: MidiPorts, ticks_per_beat: int,
                start_tick: int, bpm: float, print_stream=None, on_error=None, report=None) -> Route:
    """Build a route from its spec; any problem is one LivecrepreError line naming the spec.
    A callable route reports a call that raised to `on_error(route, exc)`, one stuck to `report`."""
    if callable(spec) and not isinstance(spec, str):
        return CallableRoute(spec, on_error, report)
    if not isinstance(spec, str) or not spec.strip():
        raise LivecrepreError(f"bad route {spec!r}: expected {ROUTE_HELP}")
    spec = spec.strip()
    inner, nudge = split_nudge(spec)
    route = _route_of(inner, voice=voice, midi_ports=midi_ports, ticks_per_beat=ticks_per_beat,
                      start_tick=start_tick, bpm=bpm, print_stream=print_stream)
    if nudge and isinstance(route, FileRoute):
        raise LivecrepreError(f"bad route {spec!r}: a take records ticks; ?nudge= is for routes that play live")
    route.spec, route.nudge = spec, nudge
    return route


def split_nudge(spec: str) -> tuple[str, float]:
    """`ROUTE?nudge=MS` (alone or beside another option: `?cc=1,74&nudge=-10`) -> the route without
    it, and the nudge in seconds, -0.5 to 0.5 (one line outside)."""
    where, mark, query = spec.partition("?")
    options = query.split("&") if mark else []
    nudges = [o for o in options if o.startswith("nudge=")]
    if not nudges:
        return spec, 0.0
    rest = [o for o in options if not o.startswith("nudge=")]
    given = nudges[-1][len("nudge="):]
    try:
        ms = float(given)
    except ValueError:
        ms = math.nan
    if not (math.isfinite(ms) and -MOST_NUDGE_MS <= ms <= MOST_NUDGE_MS):
        raise LivecrepreError(f"bad route {spec!r}: ?nudge= takes milliseconds from -{MOST_NUDGE_MS} to "
                              f"{MOST_NUDGE_MS} (-25 plays 25 ms earlier), not {given!r}")
    return where + ("?" + "&".join(rest) if rest else ""), ms / 1000


def _route_of(spec: str, *, voice, midi_ports, ticks_per_beat, start_tick, bpm, print_stream) -> Route:
    if spec == "print":
        return PrintRoute(print_stream)
    if spec.startswith("osc://"):
        return _osc_route(spec, voice)
    if spec.startswith("midi:"):
        return _midi_route(spec, midi_ports)
    if spec.startswith("file:"):
        path = spec[len("file:"):]
        if not path.lower().endswith((".mid", ".midi")):
            raise LivecrepreError(f"bad route {spec!r}: a file route records MIDI, name it file:PATH.mid")
        _check_writable(spec, Path(path))
        return FileRoute(spec, MidiFileRecorder(path, ticks_per_beat, start_tick, bpm))
    raise LivecrepreError(f"bad route {spec!r}: expected {ROUTE_HELP}")


def _check_writable(spec: str, path: Path) -> None:
    """A take that could not be written is refused now, not lost at stop (its folder is made here)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LivecrepreError(f"bad route {spec!r}: cannot make the folder {path.parent} "
                              f"({exc.strerror or exc})") from None
    if path.is_dir():
        raise LivecrepreError(f"bad route {spec!r}: {path} is a folder")
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise LivecrepreError(f"bad route {spec!r}: {path} cannot be written (permission denied)")


def _osc_route(spec: str, voice: str) -> OscRoute:
    parts = urlsplit(spec)
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None or not 0 < port < 65536:
        raise LivecrepreError(f"bad route {spec!r}: expected osc://HOST:PORT/ADDRESS, e.g. "
                              f"osc://127.0.0.1:57120/{voice}")
    address = parts.path if parts.path not in ("", "/") else f"/{voice}"
    try:
        return OscRoute(spec, parts.hostname, port, address)
    except OSError as exc:
        raise LivecrepreError(f"bad route {spec!r}: {exc.strerror or exc}")


def send_all(port, messages) -> None:
    for message in messages:
        port.send(message)


def _midi_route(spec: str, midi_ports: MidiPorts) -> MidiRoute:
    where, _, option = spec.partition("?")
    port_spec, channel = split_midi_spec(where)
    if not port_spec:
        raise LivecrepreError(f"bad route {spec!r}: expected midi:PORT[:CHANNEL], e.g. midi:Synth:1")
    cc, notes = None, option == "notes"
    if option.startswith("cc="):
        try:
            cc = [int(n) for n in option[3:].split(",")]
        except ValueError:
            cc = []
        if not cc or not all(0 <= n <= 119 for n in cc):
            raise LivecrepreError(f"bad route {spec!r}: ?cc= takes controller numbers 0-119, e.g. ?cc=1,74")
    elif option and not notes:
        raise LivecrepreError(f"bad route {spec!r}: a MIDI route's option is ?cc=N,M (gestures as "
                              f"controllers) or ?notes (gestures as notes)")
    return MidiRoute(spec, midi_ports.open(port_spec), channel, cc, notes)
