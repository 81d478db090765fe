"""The interaction log: every input a listening voice heard and every event it played, as rows in
IMPSY's CSV shape, `timestamp,source,x1,...,xn` (ISO-8601 timestamps; source `interface` for the
performer, `rnn` for the model). A gesture log is a dataset: `%train mdrnn --data LOG.csv`.

Rows are queued by the threads that see them and written by one thread of their own every
WRITE_SECONDS, so that neither the clock's threads nor an input's (answering the performer) touch the
file or wake a writer for each row.
"""
from __future__ import annotations

import threading
from collections import deque
from datetime import datetime, timezone
from pathlib import Path

WRITE_SECONDS = 0.1


class InteractionLog:
    def __init__(self, path: str | Path):
        self.path = Path(path).resolve()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")
        self._rows: deque = deque()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._write, name="livecrepre-interaction-log", daemon=True)
        self._thread.start()

    def row(self, unix_time: float, source: str, values) -> None:
        """Queue one row (any thread)."""
        self._rows.append((unix_time, source, tuple(values)))

    def _write(self) -> None:
        while True:
            closing = self._closing.wait(WRITE_SECONDS)
            while self._rows:
                when, source, values = self._rows.popleft()
                stamp = datetime.fromtimestamp(when, timezone.utc).isoformat()
                self._file.write(",".join([stamp, source] + [f"{v:.6g}" for v in values]) + "\n")
            self._file.flush()
            if closing:
                break
        self._file.close()

    def close(self) -> None:
        """Write what is queued and close the file."""
        self._closing.set()
        self._thread.join(timeout=5)
