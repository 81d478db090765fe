"""The OSC wire format of a note, in one place.

Each note is one OSC bundle, timetagged with the note's start (NTP time), holding one message:

    ADDRESS  i:pitch (MIDI 0-127)  i:velocity (1-127)  f:duration (seconds)

Bundles are sent ahead of time (the engine's lookahead); receivers that honour timetags
(SuperCollider, python-osc's threading server) play them exactly on the tick.
"""
from __future__ import annotations

import socket

from pythonosc.osc_bundle_builder import OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder

from ..events import Event


def note_bundle(address: str, event: Event) -> bytes:
    message = OscMessageBuilder(address)
    message.add_arg(int(event.pitch), "i")
    message.add_arg(int(event.velocity), "i")
    message.add_arg(float(event.duration), "f")
    bundle = OscBundleBuilder(event.timetag)
    bundle.add_content(message.build())
    return bundle.build().dgram


class OscSender:
    """A UDP socket aimed at one host and port."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        self._sock.setblocking(False)
        self._target = socket.getaddrinfo(host, port, family, socket.SOCK_DGRAM)[0][4]

    def send(self, datagram: bytes) -> None:
        self._sock.sendto(datagram, self._target)

    def close(self) -> None:
        self._sock.close()
