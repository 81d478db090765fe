"""A callable route's own thread: the performer's function never delays another route or the clock.

The generator hands each event over when it is made (a heap push, never a wait), a lookahead ahead;
this thread sleeps until the event's wall time and calls the function (about 0.2 ms after it, as a
thread waking up: the dispatcher spins to play MIDI closer, which several threads cannot all do).
A call that runs long makes only this route's own events late: after a call longer than CALL_DEADLINE,
the events by then more than CALL_DEADLINE late are skipped, and the performer is told once.
`clear` (panic, stop) drops what waits; after `close` the events already handed over still play at
their times, then the thread ends.
"""
from __future__ import annotations

import heapq
import itertools
import threading
from typing import Callable

from ..clock import ask_realtime_priority, now, sleep_until

CALL_DEADLINE = 0.05  # seconds late past which an event is skipped rather than called
CALL_PRIORITY = 9  # SCHED_FIFO, just below the dispatcher's
MOST_WAITING = 1024  # events handed over and not yet called (a function stuck for good: bounded)


class CallRunner:
    def __init__(self, name: str, fn: Callable, on_error: Callable[[BaseException], None],
                 report: Callable[[str], None]):
        self.name, self.fn = name, fn
        self._on_error, self._report = on_error, report
        self._waiting: list = []  # heap of (time, seq, event)
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._busy_since: float | None = None  # when the running call began
        self._closed = False
        self._told = False  # the performer heard once that the function is stuck
        self._thread: threading.Thread | None = None

    def hand(self, event) -> None:
        """On the generator's thread: queue `event` to be called at `event.time`."""
        with self._cond:
            if self._closed:
                return
            busy = self._busy_since
            if len(self._waiting) < MOST_WAITING:  # (beyond it, skipped)
                heapq.heappush(self._waiting, (event.time, next(self._seq), event))
                if self._thread is None:
                    self._thread = threading.Thread(target=self._work, name=f"livecrepre-route-{self.name}",
                                                    daemon=True)
                    self._thread.start()
                self._cond.notify()
        if busy is not None and now() - busy > CALL_DEADLINE:
            self._tell()

    def clear(self) -> None:
        """Drop the events not called yet."""
        with self._cond:
            self._waiting.clear()
            self._cond.notify()

    def close(self) -> None:
        """Nothing more is handed over; the events waiting are called at their times, then the
        thread ends."""
        with self._cond:
            self._closed = True
            self._cond.notify()

    def _tell(self) -> None:
        if not self._told:
            self._told = True
            self._report(f"route {self.name} is stuck (a call has run over {CALL_DEADLINE * 1000:.0f} ms): "
                         f"its late events are skipped; the other routes play on")

    def _next(self):
        """The next event once it is nearly due, or None when closed with nothing left."""
        with self._cond:
            while True:
                if not self._waiting:
                    if self._closed:
                        return None
                    self._cond.wait()
                    continue
                wait = self._waiting[0][0] - now()
                if wait <= 0:
                    return heapq.heappop(self._waiting)
                self._cond.wait(wait)  # an earlier event or a clear wakes it

    def _work(self) -> None:
        ask_realtime_priority(CALL_PRIORITY)
        took = 0.0  # how long the last call ran
        while (item := self._next()) is not None:
            due, _, event = item
            sleep_until(due, spin=0.0)  # (spinning, two routes took the interpreter lock from each
            # other and from the generator: p99 5-8 ms late; sleeping, 0.5-3 ms, p50 0.2 ms)
            if took > CALL_DEADLINE and now() - due > CALL_DEADLINE:
                # late because the function ran long: skipped until it has caught up (a late
                # wake-up of this thread alone is played late, as MIDI would be)
                self._tell()
                continue
            self._busy_since = began = now()
            try:
                self.fn(event)
            except Exception as exc:  # noqa: BLE001 - reported by the engine, the route muted
                self._on_error(exc)
            finally:
                self._busy_since = None
                took = now() - began
