"""The interaction log: every input a listening voice heard and every event it played, as rows in
IMPSY's CSV shape, `timestamp,source,x1,...,xn` (ISO-8601 timestamps; source `interface` for the
performer, `rnn` for the model). A gesture log is a dataset: `%train mdrnn --data LOG.csv`.

Rows are queued by the threads that see them and written by one thread of their own, so the
clock's threads never touch the file.
"""
from __future__ import annotations

import queue
import threading
from datetime import datetime, timezone
from pathlib import Path


class InteractionLog:
    def __init__(self, path: str | Path):
        self.path = Path(path).resolve()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")
        self._rows: queue.SimpleQueue = queue.SimpleQueue()
        self.rows_written = 0
        self._thread = threading.Thread(target=self._write, name="livecrepre-interaction-log", daemon=True)
        self._thread.start()

    def row(self, unix_time: float, source: str, values) -> None:
        """Queue one row (any thread)."""
        self._rows.put((unix_time, source, tuple(values)))

    def _write(self) -> None:
        while True:
            item = self._rows.get()
            if item is None:
                break
            when, source, values = item
            stamp = datetime.fromtimestamp(when, timezone.utc).isoformat()
            self._file.write(",".join([stamp, source] + [f"{v:.6g}" for v in values]) + "\n")
            self.rows_written += 1
            if self._rows.empty():
                self._file.flush()
        self._file.close()

    def close(self) -> None:
        """Write what is queued and close the file."""
        self._rows.put(None)
        self._thread.join(timeout=5)
