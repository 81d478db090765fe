"""The OSC wire format of an event, in one place.

Each event is one OSC bundle, timetagged with the event's start (NTP time), holding one message:

    note     ADDRESS  i:pitch (MIDI 0-127)  i:velocity (1-127)  f:duration (seconds)
    text     ADDRESS  s:word
    gesture  ADDRESS  f:x1 ... f:xn        (the values an MDRNN predicted, at its predicted time)

Bundles are sent ahead of time (the engine's lookahead); receivers that honour timetags
(SuperCollider, python-osc's threading server) play them exactly on the tick.
"""
from __future__ import annotations

import socket

from pythonosc.osc_bundle_builder import OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder

from ..events import Event


def event_bundle(address: str, event: Event) -> bytes:
    message = OscMessageBuilder(address)
    if event.kind == "note":
        message.add_arg(int(event.pitch), "i")
        message.add_arg(int(event.velocity), "i")
        message.add_arg(float(event.duration), "f")
    elif event.kind == "text":
        message.add_arg(event.text, "s")
    else:
        for value in event.values:
            message.add_arg(float(value), "f")
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
