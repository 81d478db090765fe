"""MIDI output ports through mido: choosing a port by name, substring, index or `virtual`.

Any failure to reach a backend or a port is one LivecrepreError line. Ports are opened once per
engine and shared by every route that names them.
"""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time

import mido

from ..errors import LivecrepreError

VIRTUAL = "virtual"
DRAIN_SECONDS = 0.05


def backend_label() -> str:
    return os.environ.get("MIDO_BACKEND", "mido.backends.rtmidi")


@contextlib.contextmanager
def quiet_c_stderr():
    """ALSA's C library prints its own line on failure; our one-line error says it better."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def split_midi_spec(spec: str) -> tuple[str, int]:
    """`midi:PORT[:CHANNEL]` -> (port, channel); a trailing :N is a channel only when N is 1-16."""
    rest = spec[len("midi:"):]
    port, _, last = rest.rpartition(":")
    if port and last.isdigit() and 1 <= int(last) <= 16:
        return port, int(last)
    return rest, 1


LIST_PORTS = """
import sys, rtmidi
kind, api = sys.argv[1], sys.argv[2]
client = (rtmidi.MidiOut if kind == "output" else rtmidi.MidiIn)(
    rtapi=getattr(rtmidi, "API_" + api, rtmidi.API_UNSPECIFIED) if api else rtmidi.API_UNSPECIFIED)
print("\\n".join(client.get_ports()))
"""


def port_names(kind: str) -> list[str]:
    """The MIDI ports of `kind` ("output" or "input"). Through rtmidi they are listed by a child
    process: listing makes a MIDI client, and making a JACK client holds the interpreter's lock for
    40 ms and more (measured), which made the music late while a route was parsed. (A client kept
    for listing instead lost messages on the ports opened after it.)"""
    backend = mido.backend
    if backend.name != "mido.backends.rtmidi":
        return list(mido.get_output_names() if kind == "output" else mido.get_input_names())
    listed = subprocess.run([sys.executable, "-c", LIST_PORTS, kind, backend.api or ""],
                            capture_output=True, text=True, timeout=10)
    if listed.returncode != 0:
        raise RuntimeError((listed.stderr.strip().splitlines() or ["cannot list MIDI ports"])[-1])
    return [name for name in listed.stdout.split("\n") if name]


def output_names(spec: str = "") -> list[str]:
    try:
        with quiet_c_stderr():
            return port_names("output")
    except Exception as exc:  # noqa: BLE001 - rtmidi raises its own error types
        raise LivecrepreError(
            f"midi:{spec}: no MIDI backend on this machine ({backend_label()}: "
            f"{str(exc).strip() or type(exc).__name__}; with JACK running, set "
            f"MIDO_BACKEND=mido.backends.rtmidi/UNIX_JACK)")


def choose_port(spec: str, names: list[str], kind: str, label: str) -> str:
    """The full name of the port (of `names`, MIDI `kind` "output" or "input") that `spec` selects:
    an index, the name, or a unique substring of it; else one line starting with `label`."""
    available = ", ".join(repr(n) for n in names) or "none"
    if spec.isdigit():
        index = int(spec)
        if index >= len(names):
            raise LivecrepreError(f"{label}: no MIDI {kind} with index {index} (available: {available})")
        return names[index]
    if spec in names:
        return spec
    matches = [n for n in names if spec.lower() in n.lower()]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise LivecrepreError(f"{label}: no such MIDI {kind} port (available: {available})")
    raise LivecrepreError(f"{label}: ambiguous MIDI {kind} port, matches {', '.join(map(repr, matches))}")


def resolve_output(spec: str) -> str:
    """The full output port name that `spec` (a name, a unique substring, or an index) selects."""
    return choose_port(spec, output_names(spec), "output", f"midi:{spec}")


class MidiPorts:
    """The engine's open MIDI outputs, by name."""

    def __init__(self, client_name: str = "livecrepre"):
        self.client_name = client_name
        self._ports: dict[str, mido.ports.BaseOutput] = {}
        self._lock = threading.Lock()

    def open(self, spec: str):
        with self._lock:
            if spec == VIRTUAL:
                key = VIRTUAL
                if key not in self._ports:
                    try:
                        self._ports[key] = mido.open_output(self.client_name, virtual=True)
                    except Exception as exc:  # noqa: BLE001
                        raise LivecrepreError(f"midi:virtual: cannot open a virtual port "
                                              f"({backend_label()}: {str(exc).strip()})")
                return self._ports[key]
            name = resolve_output(spec)
            if name not in self._ports:
                try:
                    self._ports[name] = mido.open_output(name)
                except Exception as exc:  # noqa: BLE001
                    raise LivecrepreError(f"midi:{spec}: cannot open {name!r} ({str(exc).strip()})")
            return self._ports[name]

    def close_all(self) -> None:
        with self._lock:
            if self._ports:
                # Backends such as JACK deliver sends on their next cycle and drop what is still
                # queued at close: give the final note-offs time to leave.
                time.sleep(DRAIN_SECONDS)
            for port in self._ports.values():
                try:
                    port.close()
                except Exception:  # noqa: BLE001 - closing is best effort
                    pass
            self._ports.clear()
