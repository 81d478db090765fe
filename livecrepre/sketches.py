"""Sketches: small Python files (or notebook cells) a performer edits live; the engine calls their hooks.

A sketch defines either or both of:

    def transform(note):          # every note of the voices it is attached to, as it is decided
        return note.but(pitch=note.pitch + 12)    # a note, a list of notes, or None to drop it

    def every_bar(bar, engine):   # at each bar line (bar counted from 1), on a worker thread
        if bar % 8 == 1:
            engine.temp("lead", 1.3)

`note` is a SketchNote (pitch, velocity, start and end in ticks, voice, bar and step in the bar).
Saving the file reloads it at the next bar line. A sketch that does not compile, or raises while
playing, is reported in one line naming the file and line; the previous working version goes on
(or, with none, the notes pass unchanged) until a save that works.
"""
from __future__ import annotations

import queue
import threading
import traceback
from concurrent.futures import Future, TimeoutError as FutureTimeout
from dataclasses import dataclass, replace
from pathlib import Path

from .errors import LivecrepreError
from .events import Played
from .performance_log import text_checksum

SKETCH_DIR = Path("sketches")  # where %sketch NAME looks, relative to the working directory
HOOKS = ("transform", "every_bar")
DEADLINE = 0.010  # seconds a transform may take for one tick's notes before they pass unchanged
MOST_NOTES = 32  # notes one voice's transform may return in one tick; the rest are dropped


@dataclass(frozen=True)
class SketchNote:
    voice: str
    pitch: int
    velocity: int
    start: float  # tick (fractional off the grid)
    end: float
    bar: int  # counted from 1
    step: int  # tick within the bar, from 0

    def but(self, **changes) -> "SketchNote":
        """A copy with some fields changed: note.but(pitch=62, velocity=90)."""
        return replace(self, **changes)


def sketch_path(name: str) -> Path:
    """sketches/NAME.py, or NAME itself when it is a path to a .py file."""
    path = Path(name)
    if path.suffix == ".py":
        return path
    return SKETCH_DIR / f"{name}.py"


def one_line(exc: BaseException, filename: str) -> str:
    """`file line N: Error: message`, at the innermost line of the sketch itself."""
    line = getattr(exc, "lineno", None) if isinstance(exc, SyntaxError) else None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == filename:
            line = frame.lineno
    where = f"{Path(filename).name} line {line}" if line else Path(filename).name
    message = exc.msg if isinstance(exc, SyntaxError) else str(exc)
    return f"{where}: {type(exc).__name__}: {message}".rstrip(": ")


def compile_sketch(source: str, filename: str) -> dict:
    """Run a sketch's source in a fresh namespace; any problem is one LivecrepreError line."""
    namespace: dict = {"__name__": f"sketch:{Path(filename).stem}", "__file__": filename}
    try:
        exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - the performer's own code
    except Exception as exc:  # noqa: BLE001 - anything a sketch does wrong is one line
        raise LivecrepreError(one_line(exc, filename)) from None
    if not any(callable(namespace.get(h)) for h in HOOKS):
        raise LivecrepreError(f"{Path(filename).name}: defines neither transform(note) nor every_bar(bar, engine)")
    return namespace


def notes_to_play(results: list, tick: int) -> tuple[list[Played], int]:
    """What a transform returned for each note (a note, a list of notes or None) as notes to play,
    at most MOST_NOTES of them, and how many it returned beyond that."""
    notes = [note for result in results if result is not None
             for note in (result if isinstance(result, (list, tuple)) else [result])]
    out = []
    for note in notes[:MOST_NOTES]:
        if not isinstance(note, SketchNote):
            raise TypeError(f"transform returned {type(note).__name__}, not a note (use note.but(...))")
        if not (0 <= int(note.pitch) <= 127 and 1 <= int(note.velocity) <= 127):
            raise ValueError(f"transform returned pitch {note.pitch}, velocity {note.velocity} "
                             f"(pitch 0-127, velocity 1-127)")
        start = max(float(note.start), float(tick))  # never in the past
        out.append(Played(start, max(float(note.end), start + 0.01), pitch=int(note.pitch),
                          velocity=int(note.velocity)))
    return out, max(0, len(notes) - MOST_NOTES)


class Sketch:
    """One sketch: the working version, a newer one waiting for the bar line, and where it came from."""

    def __init__(self, name: str, source: str, filename: str, path: Path | None, voices: set[str] | None):
        self.name, self.filename, self.path = name, filename, path
        self.voices = voices  # None: every voice
        self.namespace = compile_sketch(source, filename)
        self.previous: dict | None = None  # the version before, to revert to
        self.pending: dict | None = None  # compiled after a save, taken at the next bar line
        self.version = 1
        self.source = source  # of the working version, kept beside the performance log
        self.checksum = text_checksum(source)
        self._pending_version: tuple[str, str, set[str] | None] | None = None  # source, checksum, voices
        self._lock = threading.Lock()
        self._runner = _Runner(f"livecrepre-sketch-{name}")
        self._late: Future | None = None  # a transform still running past its deadline
        self._bar_runner = _Runner(f"livecrepre-sketch-{name}-every-bar")
        self._bar_call: Future | None = None
        self.bars_skipped = 0  # bar lines passed while an every_bar call was still running
        self.notes_dropped = 0  # notes returned beyond MOST_NOTES in one tick (said once)

    def transform(self, notes: list, tick: int, deadline: float | None = DEADLINE
                  ) -> tuple[list[Played], int] | None:
        """This tick's notes through the working transform, as notes to play and how many more it
        returned than MOST_NOTES (those are dropped). On the sketch's own thread, so that a slow
        or endless one, or one returning a flood, costs the clock at most `deadline`. None when
        it ran past the deadline (or a late call is still running): the notes then pass unchanged.
        Raises what it raised. With no deadline (a replay, off the clock) it runs here."""
        hook = self.hook("transform")

        def call():
            return notes_to_play([hook(note) for note in notes], tick)

        if deadline is None:
            return call()
        if self._late is not None:
            if not self._late.done():
                return None
            self._late = None
        future = self._runner.run(call)
        try:
            return future.result(timeout=deadline)
        except FutureTimeout:
            self._late = future
            raise TimeoutError(f"transform took longer than {deadline * 1000:.0f} ms; "
                               f"skipped for this tick") from None

    def every_bar(self, call) -> bool:
        """Start `call` (the every_bar hook with its arguments) on the sketch's own bar thread,
        unless the one started at an earlier bar is still running; returns whether it started."""
        if self._bar_call is not None and not self._bar_call.done():
            self.bars_skipped += 1
            return False
        self.bars_skipped = 0
        self._bar_call = self._bar_runner.run(call)
        return True

    def plays_on(self, voice: str) -> bool:
        return self.voices is None or voice in self.voices

    def hook(self, name: str):
        return self.namespace.get(name) if self.namespace else None

    def stage(self, source: str, voices: set[str] | None | str = "same") -> None:
        """A new version (compiled now, on the caller's or the watcher's thread) for the next bar,
        attached to `voices` from then on (the same voices unless given)."""
        namespace = compile_sketch(source, self.filename)
        with self._lock:
            self.pending = namespace
            self._pending_version = (source, text_checksum(source),
                                     self.voices if voices == "same" else voices)

    def take_pending(self) -> bool:
        """At a bar line: the waiting version becomes the working one."""
        with self._lock:
            if self.pending is None:
                return False
            self.previous, self.namespace, self.pending = self.namespace, self.pending, None
            self.source, self.checksum, self.voices = self._pending_version
            self.version += 1
            return True

    def revert(self) -> str:
        """After the working version failed: back to the one before (or to passing notes through)."""
        self.namespace, self.previous = self.previous, None
        return "reverted to the previous version" if self.namespace else "notes pass unchanged until a fix"


class _Runner:
    """One daemon thread running a sketch's calls in order (a sketch stuck in a loop never blocks
    the clock, nor the interpreter's exit)."""

    def __init__(self, name: str):
        self._queue: queue.Queue = queue.Queue()
        self._name = name
        self._thread: threading.Thread | None = None

    def run(self, fn) -> Future:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name=self._name, daemon=True)
            self._thread.start()
        future: Future = Future()
        self._queue.put((fn, future))
        return future

    def _work(self) -> None:
        while True:
            fn, future = self._queue.get()
            try:
                future.set_result(fn())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                future.set_exception(exc)


class SketchWatcher:
    """Watches sketch files with watchfiles; a save compiles the new version and stages it."""

    def __init__(self, on_error):
        self._paths: dict[Path, Sketch] = {}
        self._on_error = on_error
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def watch(self, sketch: Sketch) -> None:
        self._paths[sketch.path.resolve()] = sketch
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="livecrepre-sketches", daemon=True)
            self._thread.start()

    def forget(self, sketch: Sketch) -> None:
        self._paths = {p: s for p, s in self._paths.items() if s is not sketch}

    def _run(self) -> None:
        from watchfiles import watch

        folders = {p.parent for p in self._paths}
        for changes in watch(*folders, stop_event=self._stop, debounce=50, step=20, rust_timeout=200,
                             yield_on_timeout=True):
            for _, changed in changes:
                sketch = self._paths.get(Path(changed).resolve())
                if sketch is None or not sketch.path.is_file():
                    continue
                try:
                    sketch.stage(sketch.path.read_text())
                except LivecrepreError as exc:
                    self._on_error(f"sketch {sketch.name}: {exc}; the previous version keeps playing")
            if {p.parent for p in self._paths} - folders:  # a sketch in a new folder: watch it too
                self._thread = threading.Thread(target=self._run, name="livecrepre-sketches", daemon=True)
                self._thread.start()
                return

    def stop(self) -> None:
        self._stop.set()
