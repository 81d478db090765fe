"""The performance log: one readable line per control, with the tick it took effect and the
checksums of the models and sketches it brought in, written while the session plays.

    # livecrepre performance log, 2026-11-26 12:15:01, seed 7, 124 bpm, 4 ticks per beat, 4 beats per bar
         0      1.1.1  voice lead melody temp=0.8 velocity=100 to=print  # melody 3f2a9c0d1e4b5a67
        64      5.1.1  swap lead chorale fade=2  # chorale 9b1c...

Lines are kept in memory (`engine.log.lines`) and appended to the file off the clock's threads.
"""
from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np

LOG_DIR = Path("logs")  # where a session's log goes by default, relative to the working directory


def model_checksum(model) -> str:
    """The checkpoint's checksum, or for a model made in Python a hash of its weights."""
    if model.checksum:
        return model.checksum
    import jax

    digest = hashlib.sha256()
    for leaf in jax.tree.leaves(model.params):
        digest.update(np.asarray(leaf).tobytes())
    return digest.hexdigest()[:16]


def text_checksum(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class PerformanceLog:
    def __init__(self, path: Path | None):
        self.path = path
        self.lines: list[str] = []

    @classmethod
    def for_session(cls, log) -> "PerformanceLog":
        """log: a path, False for none, None for logs/session-DATE-TIME.log."""
        if log is False:
            return cls(None)
        if log is None:
            return cls(LOG_DIR / time.strftime("session-%Y%m%d-%H%M%S.log"))
        return cls(Path(log))

    def header(self, seed: int, bpm: float, ticks_per_beat: int, beats_per_bar: int) -> str:
        return self._add(f"# livecrepre performance log, {time.strftime('%Y-%m-%d %H:%M:%S')}, seed {seed}, "
                         f"{bpm:g} bpm, {ticks_per_beat} ticks per beat, {beats_per_bar} beats per bar")

    def control(self, tick: int, position: str, command: str, checksums: dict[str, str]) -> str:
        sums = "  # " + ", ".join(f"{name} {checksum}" for name, checksum in checksums.items()) if checksums else ""
        return self._add(f"{tick:>8}  {position:>9}  {command}{sums}")

    def _add(self, line: str) -> str:
        self.lines.append(line)
        return line

    def append_to_file(self, line: str) -> None:
        """Called off the clock's threads."""
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            f.write(line + "\n")
