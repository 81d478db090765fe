"""The dispatcher: a thread that runs actions (MIDI sends, prints) at their wall time. It never runs
the performer's own code: a callable route has a thread of its own (io/calls.py).

It is also the note ledger: every note-on is queued together with its note-off, and `flush` cancels
what has not played yet while sending, at once, the note-off of every note that already started, so
no note is left hanging whatever stops it (stop, panic, swap, voice removal, route change).
"""
from __future__ import annotations

import heapq
import itertools
import sys
import threading
from dataclasses import dataclass, field
from typing import Callable

from .clock import SPIN, ask_realtime_priority, now, sleep_until

REALTIME_PRIORITY = 10  # SCHED_FIFO priority asked for the dispatcher thread (1-99; JACK uses 70)


@dataclass(order=True)
class _Item:
    time: float
    seq: int
    action: Callable[[], None] = field(compare=False)
    owner: object = field(compare=False)
    note_id: int | None = field(compare=False, default=None)
    is_note_off: bool = field(compare=False, default=False)


class Dispatcher:
    def __init__(self, on_error: Callable[[object, BaseException], None] | None = None,
                 realtime: bool = True):
        self._heap: list[_Item] = []
        self._cond = threading.Condition()
        self._exec_lock = threading.RLock()  # held while actions run; flush waits for it
        self._next_seq = 0
        self._note_ids = itertools.count()
        self._running = False
        self._thread: threading.Thread | None = None
        self.on_error = on_error or (lambda owner, exc: print(f"livecrepre: {exc}", file=sys.stderr))
        self.lateness: list[float] = []  # seconds, of each action run; bounded below
        self.realtime = realtime
        self.priority = "not started"  # "realtime" or "normal" once the thread runs

    def start(self) -> None:
        with self._cond:
            if self._running:
                return
            self._running = True
        self._thread = threading.Thread(target=self._run, name="livecrepre-dispatch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._running = False
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None

    def _take_seq(self) -> int:
        with self._cond:
            self._next_seq += 1
            return self._next_seq - 1

    def watermark(self) -> int:
        """Everything queued so far has a sequence number below this."""
        with self._cond:
            return self._next_seq

    def _push(self, item: _Item) -> None:
        with self._cond:
            heapq.heappush(self._heap, item)
            if self._heap[0] is item:
                self._cond.notify()

    def at(self, when: float, action: Callable[[], None], owner: object) -> None:
        self._push(_Item(when, self._take_seq(), action, owner))

    def note(self, on_time: float, on: Callable[[], None], off_time: float,
             off: Callable[[], None], owner: object) -> None:
        """Queue a note-on and its paired note-off."""
        note_id = next(self._note_ids)
        self._push(_Item(on_time, self._take_seq(), on, owner, note_id, False))
        self._push(_Item(off_time, self._take_seq(), off, owner, note_id, True))

    def flush(self, owner: object | None = None, before: int | None = None) -> int:
        """Cancel queued actions of `owner` (all when None) queued before the watermark `before`
        (all when None), and at once release the notes among them that already sounded.

        Returns how many notes were released early."""
        def matches(item: _Item) -> bool:
            return ((owner is None or item.owner is owner)
                    and (before is None or item.seq < before))

        with self._exec_lock:
            with self._cond:
                keep, dropped = [], []
                for item in self._heap:
                    (dropped if matches(item) else keep).append(item)
                heapq.heapify(keep)
                self._heap = keep
            unstarted = {i.note_id for i in dropped if i.note_id is not None and not i.is_note_off}
            released = [i for i in dropped if i.is_note_off and i.note_id not in unstarted]
            for item in sorted(released):
                self._run_item(item)
            return len(released)

    def _run_item(self, item: _Item) -> None:
        try:
            item.action()
        except Exception as exc:  # noqa: BLE001 - a failing route must not stop the others
            self.on_error(item.owner, exc)

    def _run(self) -> None:
        self.priority = ask_realtime_priority(REALTIME_PRIORITY) if self.realtime else "normal"
        while True:
            with self._cond:
                while self._running and (not self._heap or self._heap[0].time - now() > SPIN):
                    timeout = None if not self._heap else self._heap[0].time - now() - SPIN
                    self._cond.wait(timeout)
                if not self._running:
                    return
                due = self._heap[0].time
            sleep_until(due, spin=SPIN)
            with self._exec_lock:
                with self._cond:
                    batch = []
                    t = now()
                    while self._heap and self._heap[0].time <= t:
                        batch.append(heapq.heappop(self._heap))
                for item in batch:
                    self.lateness.append(now() - item.time)
                    self._run_item(item)
                if len(self.lateness) > 100_000:
                    del self.lateness[:50_000]
