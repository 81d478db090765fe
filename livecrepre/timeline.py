"""When a change lands: controls given on any thread, each resolved to the tick it lands on (the
next tick, beat, bar line, or the Nth bar line) and handed back in tick order, in the order given
within a tick. Only arithmetic and queues: the engine's generator thread drives it."""
from __future__ import annotations

import heapq
import itertools
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Iterator


@dataclass
class Control:
    at: str  # now, beat, bar or a number of bars (checks.check_at)
    apply: Callable[[int], None]  # called with the tick it lands on, on the generator thread
    what: str  # how a failure names it: "swap lead"
    logged: tuple[str, dict] | None = None  # (command, checksums) for the performance log
    tick: int | None = None
    resolved: threading.Event = field(default_factory=threading.Event)  # its tick is known
    applied: threading.Event = field(default_factory=threading.Event)

    def done(self) -> None:
        """Applied or dropped: whoever waits for it goes on."""
        self.resolved.set()
        self.applied.set()


def landing_tick(at: str, next_tick: int, ticks_per_beat: int, beats_per_bar: int) -> int:
    """The tick a control given before `next_tick` is produced lands on: that tick for `now`, the
    first beat or bar line at or after it, or for N the Nth bar line counting that first one."""
    if at == "now":
        return next_tick
    if at == "beat":
        return -(-next_tick // ticks_per_beat) * ticks_per_beat
    per_bar = ticks_per_beat * beats_per_bar
    bars = 1 if at == "bar" else int(at)
    return (-(-next_tick // per_bar) + bars - 1) * per_bar


class Timeline:
    def __init__(self, ticks_per_beat: int, beats_per_bar: int):
        self.ticks_per_beat, self.beats_per_bar = ticks_per_beat, beats_per_bar
        self._incoming: deque[Control] = deque()  # appended on any thread, taken by `resolve`
        self._pending: list[tuple[int, int, Control]] = []  # (tick, order given, control)
        self._order = itertools.count()

    def add(self, control: Control) -> None:
        """Any thread: lands where `resolve` next puts it."""
        self._incoming.append(control)

    def resolve(self, next_tick: int) -> None:
        """The controls added so far get their ticks, counted from `next_tick`."""
        while self._incoming:
            control = self._incoming.popleft()
            control.tick = landing_tick(control.at, next_tick, self.ticks_per_beat, self.beats_per_bar)
            control.resolved.set()
            heapq.heappush(self._pending, (control.tick, next(self._order), control))

    def due(self, tick: int) -> bool:
        return bool(self._pending) and self._pending[0][0] <= tick

    def take_due(self, tick: int) -> Iterator[Control]:
        """The controls landing at or before `tick`, in order (each taken off as it is yielded)."""
        while self.due(tick):
            yield heapq.heappop(self._pending)[2]

    def discard(self) -> None:
        """The clock stopped: every control not applied is dropped (its waiters released)."""
        controls = [c for _, _, c in self._pending] + list(self._incoming)
        self._pending.clear()
        self._incoming.clear()
        for control in controls:
            control.done()
