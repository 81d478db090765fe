"""The performance log: one readable line per control, with the tick it took effect and the
checksums of the models and sketches it brought in, written while the session plays.

    # livecrepre performance log, 2026-11-26 12:15:01, seed 7, 124 bpm, 4 ticks per beat, 4 beats per bar
         0      1.1.1  voice lead melody temp=0.8 velocity=100 to=print  # melody 3f2a9c0d1e4b5a67
        64      5.1.1  swap lead chorale fade=2  # chorale 9b1c...
        96      7.1.1  sketch up version=2 voice=lead source=5d1e...
       130      9.1.3  stop cut=121

Everything a replay needs that is not in the line is kept beside the log, in `NAME.files/`: the
source of every sketch version (CHECKSUM.py) and every model given as an object rather than by
name or path (CHECKSUM-of-its-weights.safetensors). Lines are kept in memory (`engine.log.lines`); they and
those files are written off the clock's threads. Controls given before the clock starts are written
after the header of the run they belong to.
"""
from __future__ import annotations

import hashlib
import shlex
import time
from pathlib import Path

import numpy as np

LOG_DIR = Path("logs")  # where a session's log goes by default, relative to the working directory
MODEL_SUFFIX = ".safetensors"


def model_checksum(model) -> str:
    """The checkpoint's checksum, or for a model made in Python a hash of its weights."""
    return model.checksum or weights_checksum(model)


def weights_checksum(model) -> str:
    import jax

    digest = hashlib.sha256()
    for leaf in jax.tree.leaves(model.params):
        digest.update(np.asarray(leaf).tobytes())
    return digest.hexdigest()[:16]


def text_checksum(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def quote(word: str) -> str:
    """A word of a log command, quoted only when it must be (a path with spaces)."""
    return shlex.quote(word)


class PerformanceLog:
    def __init__(self, path: Path | None, default: bool = False):
        self.path = self._new_default_path() if default else path
        self._default = default  # a new logs/session-DATE.log at each later start
        self._runs = 0
        self.lines: list[str] = []
        self._waiting: list[str] = []  # controls given before the clock started
        self._started = False

    @classmethod
    def for_session(cls, log) -> "PerformanceLog":
        """log: a path, False for none, None for logs/session-DATE-TIME.log (one per run)."""
        if log is False:
            return cls(None)
        if log is None:
            return cls(None, default=True)
        return cls(Path(log).absolute())  # written off the clock: a later chdir must not move it

    @property
    def files(self) -> Path | None:
        """The folder beside the log keeping sketch sources and models made in Python."""
        return self.path.with_name(self.path.stem + ".files") if self.path else None

    def start(self, seed: int, bpm: float, ticks_per_beat: int, beats_per_bar: int) -> str:
        """A run begins: its header, then the controls given before it; returns the text to write."""
        if self._default and self._runs:
            self.path = self._new_default_path()
        self._runs += 1
        header = (f"# livecrepre performance log, {time.strftime('%Y-%m-%d %H:%M:%S')}, seed {seed}, "
                  f"{bpm:g} bpm, {ticks_per_beat} ticks per beat, {beats_per_bar} beats per bar")
        block = [header] + self._waiting
        self.lines.extend(block)
        self._waiting, self._started = [], True
        return "\n".join(block)

    def _new_default_path(self) -> Path:
        stamp, folder = time.strftime("session-%Y%m%d-%H%M%S"), LOG_DIR.absolute()
        path, n = folder / f"{stamp}.log", 1
        while path.exists() or path == getattr(self, "path", None):
            n += 1
            path = folder / f"{stamp}-{n}.log"
        return path

    def end(self) -> None:
        """The run stopped (its voices went with it, so controls still waiting are dropped)."""
        self._started, self._waiting = False, []

    def control(self, tick: int, position: str, command: str, checksums: dict[str, str]) -> str | None:
        """The line for a control; None while it waits for the run's header."""
        sums = "  # " + ", ".join(f"{name} {checksum}" for name, checksum in checksums.items()) if checksums else ""
        line = f"{tick:>8}  {position:>9}  {command}{sums}"
        if not self._started:
            self._waiting.append(line)
            return None
        self.lines.append(line)
        return line

    # -- called off the clock's threads --------------------------------------------------------
    def append_to_file(self, text: str) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            f.write(text + "\n")

    def keep_sketch(self, checksum: str, source: str) -> None:
        if self.files is not None:
            self.files.mkdir(parents=True, exist_ok=True)
            (self.files / f"{checksum}.py").write_text(source)

    def keep_model(self, checksum: str, model) -> None:
        if self.files is not None and not (self.files / f"{checksum}{MODEL_SUFFIX}").exists():
            from .models import save_checkpoint

            save_checkpoint(self.files / f"{checksum}{MODEL_SUFFIX}", model, dict(model.meta))
