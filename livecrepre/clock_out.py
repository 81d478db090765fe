"""Clocks sent to other gear, derived from the tick grid as it is produced, so that they follow every
tempo change and whatever the clock source follows (Link):

    midi:PORT                  MIDI clock, 24 pulses a quarter note, each at its place between the
                               ticks' times; it starts at a bar line (start at bar 1, else song position
                               and continue) and stops when the clock stops or is no longer sent
    osc://HOST:PORT/ADDRESS    one bundle a beat, timetagged with the beat's time: i:bar i:beat f:bpm

Pulses are played by the dispatcher at their wall times, as MIDI notes are; OSC bundles leave ahead,
as OSC notes do."""
from __future__ import annotations

import math
from functools import partial

import mido
from pythonosc.osc_bundle_builder import OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder

from .errors import LivecrepreError
from .io.routes import MidiRoute, OscRoute, Route, send_all

PULSES_PER_BEAT = 24
CLOCK, STOP = mido.Message("clock"), mido.Message("stop")


class ClockOut:
    def __init__(self, route: Route):
        self.route, self.spec = route, route.spec

    def tick(self, tick: int, clock, dispatcher, *, ticks_per_beat: int, bar_ticks: int,
             wall_offset: float) -> None:
        """Tick `tick` was produced: what the clock sends for it."""
        raise NotImplementedError

    def stop(self, dispatcher) -> None:
        """The clock stopped, or it is no longer sent (from the dispatcher's thread or at stop)."""


class MidiClockOut(ClockOut):
    def __init__(self, route: MidiRoute):
        super().__init__(route)
        self.port, self.started = route.port, False

    def tick(self, tick, clock, dispatcher, *, ticks_per_beat, bar_ticks, wall_offset):
        if not self.started:
            if tick % bar_ticks:
                return  # it starts at a bar line
            sixteenths = tick * 4 // ticks_per_beat
            begin = ([mido.Message("start")] if tick == 0 else
                     [mido.Message("songpos", pos=sixteenths % 16384), mido.Message("continue")])
            dispatcher.at(clock.time_of(tick), partial(send_all, self.port, begin), owner=self)
            self.started = True
        per_tick = PULSES_PER_BEAT / ticks_per_beat
        for pulse in range(math.ceil(tick * per_tick - 1e-9), math.ceil((tick + 1) * per_tick - 1e-9)):
            dispatcher.at(clock.time_of(pulse / per_tick), partial(self.port.send, CLOCK), owner=self)

    def stop(self, dispatcher):
        dispatcher.flush(self)
        if self.started:
            self.port.send(STOP)
        self.started = False


class OscClockOut(ClockOut):
    def __init__(self, route: OscRoute):
        super().__init__(route)
        self.sender, self.address = route.sender, route.address

    def tick(self, tick, clock, dispatcher, *, ticks_per_beat, bar_ticks, wall_offset):
        if tick % ticks_per_beat:
            return
        message = OscMessageBuilder(self.address)
        message.add_arg(tick // bar_ticks + 1, "i")
        message.add_arg(tick % bar_ticks // ticks_per_beat + 1, "i")
        message.add_arg(float(clock.bpm_at(tick)), "f")
        bundle = OscBundleBuilder(clock.time_of(tick) + wall_offset)
        bundle.add_content(message.build())
        self.sender.send(bundle.build().dgram)


def clock_out(route: Route) -> ClockOut:
    """The clock a route sends; one line for a route that cannot carry one."""
    if isinstance(route, MidiRoute):
        return MidiClockOut(route)
    if isinstance(route, OscRoute):
        return OscClockOut(route)
    raise LivecrepreError(f"a clock goes to midi:PORT or osc://HOST:PORT/ADDRESS, not {route.spec}")
