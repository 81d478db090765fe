"""Sketches: small Python files (or notebook cells) a performer edits live; the engine calls their
hooks. A `Sketch` is one of them and its versions; the `Sketchbook` is a session's sketches, staged
at bar lines and run against their deadlines on the generator thread.

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
from functools import partial
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


class Sketchbook:
    """The sketches attached to a session. Attached and detached on the caller's thread (landing as
    a control does, through `submit`); on the generator thread, saved versions take over at bar
    lines and every_bar starts there, and each voice's notes go through the transforms at each
    tick, against DEADLINE live. Each version is a line in the performance log (`log`) with its
    source kept beside it (`keep_source`). In a replay (`offline`) there is no deadline and no
    every_bar (what it changed is in the log), and the transforms the live session skipped are
    skipped again (`replay_skips`: (tick, log command))."""

    def __init__(self, api, submit, log, keep_source, report, bar_ticks: int):
        self.sketches: dict[str, Sketch] = {}
        self.replay_skips: set[tuple[int, str]] = set()
        self._api, self._submit, self._log, self._keep_source = api, submit, log, keep_source
        self._report, self._bar_ticks = report, bar_ticks
        self._watcher = SketchWatcher(report)

    # -- on the caller's thread ---------------------------------------------------------------
    def attach(self, name: str, voice: str | None, source: str | None) -> str:
        """Engine.sketch, attaching (its docstring says what each argument does)."""
        path = None
        if source is None:
            path = sketch_path(name)
            if not path.is_file():
                raise LivecrepreError(f"no sketch file {path} (write one, or define it in a cell with "
                                      f"%%sketch {name})")
            source = path.read_text()
            name = path.stem
        voices = {voice} if voice is not None else None
        existing = self.sketches.get(name)
        if existing is not None and existing.path == path:
            existing.stage(source, voices)  # one line if it does not compile
            return f"sketch {name}: new version from the next bar line"
        sketch = Sketch(name, source, str(path) if path else f"<cell {name}>", path, voices)
        self._submit("now", partial(self._attached, sketch), f"sketch {name}")
        if path is not None:
            self._watcher.watch(sketch)
        return f"sketch {name} -> {voice or 'every voice'}" + (f" (watching {path})" if path else "")

    def detach(self, name: str) -> str:
        sketch = self.sketches.get(name)
        if sketch is None:
            raise LivecrepreError(f"no sketch {name!r} attached (sketches: {', '.join(self.sketches) or 'none'})")
        self._submit("now", lambda tick: self.sketches.pop(name, None), f"sketch {name} off",
                     (f"sketch {name} --off", {}))
        self._watcher.forget(sketch)
        return f"sketch {name}: off"

    def clear(self) -> None:
        """The clock stopped: every sketch detached, no file watched."""
        for sketch in self.sketches.values():
            self._watcher.forget(sketch)
        self.sketches.clear()

    # -- on the generator thread ------------------------------------------------------------------
    def _attached(self, sketch: Sketch, tick: int) -> None:
        self.sketches[sketch.name] = sketch
        self._log_version(sketch, tick, "")

    def _log_version(self, sketch: Sketch, tick: int, version: str) -> None:
        """The line a replay reads a sketch version from; its source is kept beside the log."""
        self._keep_source(sketch.checksum, sketch.source)
        voices = ",".join(sorted(sketch.voices)) if sketch.voices is not None else "*"
        self._log(tick, f"sketch {sketch.name} {version}voice={voices} source={sketch.checksum}")

    def at_bar(self, tick: int, offline: bool) -> None:
        """At a bar line: saved versions take over; every_bar is started (not in a replay)."""
        for sketch in list(self.sketches.values()):
            if sketch.take_pending():
                self._log_version(sketch, tick, f"version={sketch.version} ")
            if sketch.hook("every_bar") is not None and not offline:
                bar = tick // self._bar_ticks + 1
                if not sketch.every_bar(partial(self._every_bar, sketch, bar)) and sketch.bars_skipped == 1:
                    self._report(f"sketch {sketch.name}: every_bar is still running from an earlier bar; "
                                 f"skipped at bar {bar} and until it returns")

    def _every_bar(self, sketch: Sketch, bar: int) -> None:
        """On the sketch's bar thread."""
        hook = sketch.hook("every_bar")
        if hook is None or not self._api.running:
            return
        try:
            hook(bar, self._api)
        except Exception as exc:  # noqa: BLE001 - the performer's code never stops the music
            self._report(f"sketch {sketch.name}: {one_line(exc, sketch.filename)}; {sketch.revert()}")

    def transform(self, voice, played: list[Played], tick: int, offline: bool) -> list[Played]:
        """The notes of this tick through each attached sketch's transform."""
        per_bar = self._bar_ticks
        for sketch in list(self.sketches.values()):
            if sketch.hook("transform") is None or not sketch.plays_on(voice.name):
                continue
            notes = [SketchNote(voice.name, p.pitch, p.velocity or voice.velocity, p.start, p.end,
                                int(p.start) // per_bar + 1, int(p.start) % per_bar)
                     for p in played if p.pitch is not None]
            if not notes:
                continue
            skipped = f"sketch {sketch.name} skipped {voice.name}"  # logged: a replay skips it too
            if offline and (tick, skipped) in self.replay_skips:
                continue
            try:
                transformed = sketch.transform(notes, tick, None if offline else DEADLINE)
                if transformed is None:  # a late call is still running: pass unchanged
                    self._log(tick, skipped)
                    continue
                out, dropped = transformed
                if dropped and not sketch.notes_dropped:
                    self._report(f"sketch {sketch.name}: transform returned {len(out) + dropped} notes in "
                                 f"one tick; {MOST_NOTES} play, the rest are dropped (said once)")
                sketch.notes_dropped += dropped
                out = [p for p in played if p.pitch is None] + out
            except TimeoutError as exc:  # the notes of this tick pass as they were
                self._report(f"sketch {sketch.name}: {exc}")
                self._log(tick, skipped)
                continue
            except Exception as exc:  # noqa: BLE001 - the notes of this tick pass as they were
                self._report(f"sketch {sketch.name}: {one_line(exc, sketch.filename)}; {sketch.revert()}")
                continue
            played = out
        return played
