"""Slow chores (closing routes, writing takes, appending to the performance log) run in order on
one worker thread, off the clock's threads; one that fails is reported in one line."""
from __future__ import annotations

import queue
import threading


class Chores:
    def __init__(self, name: str = "livecrepre-chores", on_error=None):
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._name = name
        self._on_error = on_error

    def submit(self, fn, *args) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._work, name=self._name, daemon=True)
            self._thread.start()
        self._queue.put((fn, args))

    def _work(self) -> None:
        while True:
            fn, args = self._queue.get()
            try:
                fn(*args)
            except Exception as exc:  # noqa: BLE001 - the next chores still run (a full disk, a folder gone)
                if self._on_error is None:
                    raise
                self._on_error(f"{getattr(fn, '__name__', 'chore')}: {type(exc).__name__}: {exc}")
            finally:
                self._queue.task_done()

    def drain(self) -> None:
        """Wait until every submitted chore is done."""
        self._queue.join()
