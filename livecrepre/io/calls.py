"""A callable route's own thread: the performer's function never delays another route or the clock.

The dispatcher hands each event over at its wall time (a queue append, never a wait); this thread
calls the function. While a call has run longer than CALL_DEADLINE, the events handed over meanwhile
are skipped (not queued up to arrive late in a burst) and the performer is told once; when the call
returns, the function gets the next events again. `clear` (panic, a route leaving) drops what waits.
"""
from __future__ import annotations

import threading
from collections import deque
from typing import Callable

from ..clock import ask_realtime_priority, now

CALL_DEADLINE = 0.05  # seconds a call may run before the events after it are skipped
CALL_PRIORITY = 9  # SCHED_FIFO, just below the dispatcher's: a callable plays as punctually as MIDI
MOST_WAITING = 64  # events handed over and not yet called; beyond it they are skipped


class CallRunner:
    def __init__(self, name: str, fn: Callable, on_error: Callable[[BaseException], None],
                 report: Callable[[str], None]):
        self.name, self.fn = name, fn
        self._on_error, self._report = on_error, report
        self._waiting: deque = deque()
        self._cond = threading.Condition()
        self._busy_since: float | None = None  # when the running call began
        self._closed = False
        self._told = False  # the performer heard once that the function is stuck
        self.skipped = 0  # events skipped because the function was stuck or far behind
        self._thread: threading.Thread | None = None

    def hand(self, event) -> None:
        """On the dispatcher thread: queue `event` for the function, or skip it when it is stuck."""
        with self._cond:
            if self._closed:
                return
            stuck = self._busy_since is not None and now() - self._busy_since > CALL_DEADLINE
            if stuck or len(self._waiting) >= MOST_WAITING:
                self.skipped += 1
                tell, self._told = not self._told, True
            else:
                tell = False
                self._waiting.append(event)
                self._start()
                self._cond.notify()
        if tell:
            self._report(f"route {self.name} is stuck (a call has run over {CALL_DEADLINE * 1000:.0f} ms): "
                         f"its events are skipped while it runs; the other routes play on")

    def clear(self) -> int:
        """Drop the events not called yet; returns how many."""
        with self._cond:
            dropped = len(self._waiting)
            self._waiting.clear()
            return dropped

    def close(self) -> None:
        """Nothing more is handed over; the thread calls what waits, then ends."""
        with self._cond:
            self._closed = True
            self._cond.notify()

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name=f"livecrepre-route-{self.name}",
                                            daemon=True)
            self._thread.start()

    def _work(self) -> None:
        ask_realtime_priority(CALL_PRIORITY)
        while True:
            with self._cond:
                while not self._waiting and not self._closed:
                    self._cond.wait()
                if not self._waiting:
                    return
                event = self._waiting.popleft()
                self._busy_since = now()
            try:
                self.fn(event)
            except Exception as exc:  # noqa: BLE001 - reported by the engine, the route muted
                self._on_error(exc)
            finally:
                with self._cond:
                    self._busy_since = None
