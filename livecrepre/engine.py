"""The engine: a musical clock, voices stepping on it, controls landing on tick boundaries.

Threads:
- the caller's (IPython) thread does everything slow: loading and warming up models, opening ports,
  parsing routes, writing files at stop. It then submits a control that the generator applies at a
  tick boundary (next tick, beat or bar): a reference exchange, never a load or a compile.
- the generator thread runs `lookahead` seconds ahead of wall time. Per tick it applies due
  controls, asks each voice for the note starting there (voices generate in jitted blocks), sends
  OSC bundles (timetagged) and records file routes, and queues MIDI, print and callable actions.
- the dispatcher thread plays queued actions at their wall time and keeps the note ledger.
"""
from __future__ import annotations

import atexit
import gc
import heapq
import itertools
import math
import secrets
import sys
import threading
import time
import weakref
import zlib
from collections import deque
from pathlib import Path
import queue
from dataclasses import dataclass, field
from functools import partial
from typing import Callable

import jax
import numpy as np

from .checks import (check_at, check_bpm, check_fade, check_sigma, check_temperature, check_timescale,
                     check_velocity, check_voice_name)
from .clock import TempoMap, now
from .dispatcher import Dispatcher
from .errors import LivecrepreError
from .events import Event, Played, whole_ticks
from .io.inputs import Control, Heard
from .io.midi import MidiPorts
from .io.routes import FileRoute, Route, parse_route
from .listening import Listener, check_idle, check_mode
from .models import Model, checkpoint_file, load_model
from .performance_log import LOG_DIR, PerformanceLog, model_checksum, quote, weights_checksum
from .sketches import DEADLINE, MOST_NOTES, Sketch, SketchNote, SketchWatcher, one_line, sketch_path
from .sampling import BLOCK_TICKS, fade_fn, generate_blocks, warm_up_batches, warm_up_fade
from .voices import Voice, make_voice, prepare, voice_plays, voices_batch
from .voices.tokens import TokenVoice

_engines: "weakref.WeakSet[Engine]" = weakref.WeakSet()


@atexit.register
def _stop_engines_at_exit() -> None:
    for engine in list(_engines):
        engine.stop()


@dataclass
class _Control:
    at: str
    apply: Callable[[int], None]
    what: str
    logged: tuple[str, dict] | None = None  # (command, checksums) for the performance log
    tick: int | None = None
    resolved: threading.Event = field(default_factory=threading.Event)  # its tick is known
    applied: threading.Event = field(default_factory=threading.Event)


class Engine:
    """Live-codable generative instrument. Every method returns quickly and never stops the music."""

    def __init__(self, bpm: float = 120, seed: int | None = None, ticks_per_beat: int = 4,
                 beats_per_bar: int = 4, lookahead: float = 0.1, echo_errors: bool = True,
                 realtime: bool = True, log=None, batch_voices: bool = True):
        self._bpm = check_bpm(bpm)
        self.batch_voices = batch_voices  # voices of one model step in one call (False: one by one)
        self.batched_calls = 0  # blocks generated for several voices at once, for status and tests
        self._models: dict[tuple, Model] = {}  # loaded once per checkpoint: voices share the object
        self._checkpoints: dict[tuple, Model] = {}  # (file, mtime, size) -> its model: never read twice
        self.seed = int(seed) if seed is not None else secrets.randbelow(2**31)
        self.ticks_per_beat = int(ticks_per_beat)
        self.beats_per_bar = int(beats_per_bar)
        self.lookahead = float(lookahead)
        self.echo_errors = echo_errors
        self.voices: dict[str, Voice] = {}
        self.errors: deque[tuple[str, str]] = deque(maxlen=20)
        self.tempo: TempoMap | None = None
        self.dispatcher = Dispatcher(on_error=self._route_failed, realtime=realtime)
        self.midi_ports = MidiPorts()
        self._lock = threading.RLock()  # held by the generator while it processes a tick
        self._incoming: deque[_Control] = deque()
        self._pending: list[tuple[int, int, _Control]] = []
        self._seq = itertools.count()
        self._wake = threading.Event()
        self._next_tick = 0  # the next tick the generator will produce
        self._running = False
        self._thread: threading.Thread | None = None
        self._wall_offset = time.time() - now()
        self._closer = _Chores(on_error=lambda message: self.report(message))
        self.late_ticks = 0  # ticks produced after their own start time (should stay 0)
        self.log = PerformanceLog.for_session(log)
        self.sketches: dict[str, Sketch] = {}
        self._swapping_to: dict[str, Model] = {}  # per voice, the model its latest swap brings in
        self._files: dict = {}  # file routes by resolved path, shared by the voices recording there
        self._watcher = SketchWatcher(self.report)
        self.listeners: dict[str, Listener] = {}  # voice name -> the input it listens to
        self.print_stream = None  # where print routes and error lines go (None: stdout, stderr)
        # A replay (replay.py) steps the engine off the clock: no deadlines, no every_bar, and the
        # sketch calls the live session skipped, as (tick, log command), skipped again.
        self.offline = False
        self.replay_skips: set[tuple[int, str]] = set()
        _engines.add(self)

    @property
    def _bar_ticks(self) -> int:
        return self.ticks_per_beat * self.beats_per_bar

    # -- state ------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._running

    @property
    def bpm(self) -> float:
        return self.tempo.bpm_at(self._next_tick) if self.tempo else self._bpm

    @property
    def tick(self) -> int:
        """The tick sounding now (0 before start)."""
        return max(0, math.floor(self.tempo.tick_at(now()))) if self.tempo and self._running else 0

    def position(self, tick: int) -> str:
        """`bar.beat.tick`, counted from 1."""
        per_bar = self.ticks_per_beat * self.beats_per_bar
        return (f"{tick // per_bar + 1}.{tick % per_bar // self.ticks_per_beat + 1}"
                f".{tick % self.ticks_per_beat + 1}")

    def report(self, message: str, echo: bool = True) -> None:
        """An error the performer should see once: kept for status (and the terminal's toolbar),
        printed as one line (not when the caller shows it itself: `echo=False`)."""
        self.errors.append((time.strftime("%H:%M:%S"), message))
        if self.echo_errors and echo:
            print(f"livecrepre: {message}", file=self.print_stream or sys.stderr, flush=True)

    def _all_routes(self) -> list[Route]:
        """Every route of every voice, once (voices may share a route object)."""
        seen: dict[int, Route] = {}
        for voice in self.voices.values():
            for route in voice.routes:
                seen.setdefault(id(route), route)
        return list(seen.values())

    def _voice(self, name: str) -> Voice:
        try:
            return self.voices[name]
        except KeyError:
            known = ", ".join(self.voices) or "none yet"
            raise LivecrepreError(f"unknown voice {name!r} (voices: {known})") from None

    def _still_there(self, name: str, what: str) -> Voice:
        """In a control's apply: the voice, or one line saying it went before the control landed."""
        voice = self.voices.get(name)
        if voice is None:
            raise LivecrepreError(f"voice {name} was removed before the {what} landed")
        return voice

    def _voice_key(self, name: str) -> np.ndarray:
        key = jax.random.fold_in(jax.random.PRNGKey(self.seed), zlib.crc32(name.encode()) & 0x7FFFFFFF)
        return np.asarray(key, dtype=np.uint32)

    # -- clock ------------------------------------------------------------------------------
    def start(self, bpm: float | None = None, seed: int | None = None) -> str:
        """Start the clock (idempotent: when running, applies bpm and unmutes after a panic)."""
        bpm = check_bpm(bpm) if bpm is not None else None
        with self._lock:
            if self._running:
                self.unmute()
                if seed is not None and int(seed) != self.seed:
                    self.report(f"already running with seed {self.seed}; stop first to change it")
                if bpm is not None:
                    self.set_bpm(bpm)
                return f"running at {self.bpm:g} bpm, seed {self.seed}"
            if bpm is not None:
                self._bpm = bpm
            if seed is not None:
                self.seed = int(seed)
                for name, voice in self.voices.items():
                    voice.key = self._voice_key(name)
            # A 1 ms switch interval keeps the dispatcher punctual beside busy Python threads.
            sys.setswitchinterval(0.001)
            _freeze_what_lives()
            origin = now() + self.lookahead + 0.05
            self.tempo = TempoMap(self._bpm, self.ticks_per_beat, origin)
            self._wall_offset = time.time() - now()
            self._next_tick = 0
            self._running = True
            self._closer.submit(self.log.append_to_file, self.log.start(
                self.seed, self._bpm, self.ticks_per_beat, self.beats_per_bar))
            self.dispatcher.start()
            self._thread = threading.Thread(target=self._run, name="livecrepre-generator",
                                            daemon=True)
            self._thread.start()
        return f"started at {self._bpm:g} bpm, seed {self.seed}"

    def stop(self, cut_tick: int | None = None) -> str:
        """Stop the clock, release every note, write recordings, close ports; voices and sketches
        are removed. (A replay gives the tick the live session was cut at.)"""
        with self._lock:
            was_running = self._running
            self._running = False
            self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        released = self.dispatcher.flush()
        cut_tick = self._now_tick_ceil() if cut_tick is None else cut_tick
        if was_running:
            self._log(self._next_tick, f"stop cut={cut_tick}")
        self.log.end()
        routes = self._all_routes()
        for route in routes:
            self._silence(route)
            route.cut(cut_tick)
        self._closer.drain()  # earlier closes (file writes) finish first
        written, unwritten = [], []
        for route in routes:
            if not isinstance(route, FileRoute):
                self._close(route)
                continue
            try:
                written.append(str(route.recorder.write()))
            except Exception as exc:  # noqa: BLE001 - said in one line; the other takes are written
                unwritten.append(f"could not write {route.recorder.path} ({type(exc).__name__}: {exc})")
                self.report(unwritten[-1], echo=False)
        self.dispatcher.stop()
        self.midi_ports.close_all()
        for listener in self.listeners.values():
            listener.close()
        self.listeners.clear()
        self.voices.clear()
        self._files.clear()
        for sketch in self.sketches.values():
            self._watcher.forget(sketch)
        self.sketches.clear()
        self._discard_pending()
        self._bpm = self.bpm  # the tempo it ended at is where a restart begins
        self.tempo = None
        self._next_tick = 0
        if not was_running and not written and not unwritten:
            return "stopped"
        return "\n".join(["stopped" + (f", {released} note(s) released" if released else "")
                          + (f", wrote {', '.join(written)}" if written else "")] + unwritten)

    def unmute(self) -> None:
        """After a panic: the voices play again from the next tick."""
        with self._lock:
            if any(voice.muted for voice in self.voices.values()):
                self._log(self._next_tick, "unmute")
            for voice in self.voices.values():
                voice.muted = False

    def panic(self, cut_tick: int | None = None) -> str:
        """Silence everything now: notes off, queued notes dropped, voices muted; the clock goes on.
        (A replay gives the tick the live session was cut at.)"""
        with self._lock:
            for voice in self.voices.values():
                voice.muted = True
            released = self.dispatcher.flush()
            cut_tick = self._now_tick_ceil() if cut_tick is None else cut_tick
            self._log(self._next_tick, f"panic cut={cut_tick}")
            for route in self._all_routes():
                self._silence(route)
                route.cut(cut_tick)
        return (f"panic: {released} note(s) released, voices muted; the clock keeps going "
                f"(%crepre start to unmute)")

    def set_bpm(self, bpm, at: str = "now") -> int:
        """Change tempo at the next tick, beat or bar (20-999 bpm). A faster tempo given `now`
        during a long tick lands at once: the next tick comes one new tick after the last."""
        bpm = check_bpm(bpm)
        at = check_at(at)

        def apply(tick: int) -> None:
            self._bpm = bpm
            if self.tempo is not None:
                live = at == "now" and self._running and not self.offline
                self.tempo.set_bpm(bpm, tick, earliest=now() + self.lookahead if live else None)
            for route in self._all_routes():
                if isinstance(route, FileRoute):
                    route.tempo(tick, bpm)

        return self._submit(at, apply, f"bpm {bpm:g}", (f"bpm {bpm:g}", {}))

    # -- voices -----------------------------------------------------------------------------
    def voice(self, name: str, model="melody", temperature: float = 1.0, to=None,
              at: str = "now", velocity: int = 100, sigma: float | None = None) -> int:
        """Add a voice, or replace the one with this name. Routes default to `print`.

        The model's family decides what the voice plays: melody and abc models play notes, text
        models words, MDRNNs gestures (`sigma` is their sigma-temperature; `temperature` picks the
        mixture). A route that cannot be opened is reported in one line; the voice keeps the others."""
        check_voice_name(name)
        temperature = check_temperature(temperature)
        at = check_at(at)
        check_velocity(velocity)
        loaded = self._load(model, name)
        extra = {}
        if sigma is not None:
            extra["sigma"] = check_sigma(sigma, loaded.family, name)
        existing = self.voices.get(name)
        routes = self._make_routes(name, ["print"] if to is None else to,
                                   existing.routes if existing else [], voice_plays(loaded))
        key = self._voice_key(name)
        self._swapping_to.pop(name, None)
        listener = self.listeners.get(name)
        if listener is not None and not listener.fits(voice_plays(loaded), loaded.config.get("dims", 0)):
            self.listen(name, off=True)
            self.report(f"voice {name} no longer listens to {listener.spec}: {loaded.name} plays "
                        f"{loaded.family} (%listen {name} SOURCE to listen again)")

        def apply(tick: int) -> None:
            old = self.voices.get(name)
            if old is not None:
                self._release(name, [r for r in old.routes if r not in routes], tick)
            self._begin_takes(routes, tick)
            voice = self.voices[name] = make_voice(
                name, loaded, temperature=temperature, key=key, routes=routes, start_tick=tick,
                velocity=velocity, bar_ticks=self.ticks_per_beat * self.beats_per_bar,
                ticks_per_beat=self.ticks_per_beat, **extra)
            if old is not None and name in self.listeners:
                voice.listening_to(old)

        command = (f"voice {name} {self._model_ref(model, loaded)} temp={temperature:g} velocity={velocity}"
                   + (f" sigma={extra['sigma']:g}" if "sigma" in extra else "")
                   + f" to={','.join(r.spec for r in routes) or '-'}")
        return self._submit(at, apply, f"voice {name}", (command, {loaded.name: model_checksum(loaded)}))

    def voice_off(self, name: str, at: str = "now") -> int:
        """Remove a voice; its notes are released at the tick it goes (and it stops listening)."""
        self._voice(name)
        if name in self.listeners:
            self.listen(name, off=True)

        def apply(tick: int) -> None:
            voice = self.voices.pop(name, None)
            if voice is not None:
                self._release(name, voice.routes, tick)

        return self._submit(at, apply, f"voice {name} off", (f"voice {name} --off", {}))

    def swap(self, name: str, model, at: str = "now", fade: float | None = None) -> int:
        """Hot-swap a voice's model. Loading and compiling happen here, the exchange at the tick.

        The new model is primed with the voice's recent line. With `fade` (bars), a melody voice
        crossfades: both models play, the new one's share rising to all over that many bars."""
        at = check_at(at)
        voice = self._voice(name)
        fade_ticks = check_fade(fade, voice, self._bar_ticks) if fade is not None else 0
        loaded = self._load(model, name)
        voice.check_swap(loaded)
        needs_fade_fn = fade_ticks and isinstance(voice, TokenVoice)  # gestures mix outside jit
        if fade_ticks:
            voice.check_fade(loaded)
        if needs_fade_fn:  # compiled here, never on the clock, for each model the voice may hold
            # when the swap lands: its own, or the one an earlier swap still waiting brings in
            for old in {id(m): m for m in (voice.model, self._swapping_to.get(name, voice.model))}.values():
                warm_up_fade(old, loaded)
        self._swapping_to[name] = loaded

        def apply(tick: int) -> None:
            voice = self._still_there(name, "swap")
            voice.check_swap(loaded)  # the voice may have been replaced meanwhile
            ticks = fade_ticks
            if needs_fade_fn and fade_fn(voice.model, loaded, compile_if_missing=False) is None:
                self.report(f"swap {name}: the voice changed model before the fade; swapped without it")
                ticks = 0
            voice.swap(loaded, tick, ticks)

        command = f"swap {name} {self._model_ref(model, loaded)}" + (f" fade={float(fade):g}" if fade_ticks else "")
        return self._submit(at, apply, f"swap {name}", (command, {loaded.name: model_checksum(loaded)}))

    def temp(self, name: str, temperature=None, at: str = "now", sigma=None) -> int:
        """Set a voice's sampling temperature, and for a gesture voice its sigma-temperature
        (traced arguments: never recompile)."""
        voice = self._voice(name)
        if temperature is None and sigma is None:
            raise LivecrepreError("give a temperature (and for gesture voices, --sigma)")
        temperature = check_temperature(temperature) if temperature is not None else None
        sigma = check_sigma(sigma, voice.family, name) if sigma is not None else None

        def apply(tick: int) -> None:
            voice = self._still_there(name, "temperature change")
            if temperature is not None:
                voice.set_temperature(temperature, tick)
            if sigma is not None:
                voice.set_sigma(sigma, tick)

        command = (f"temp {name}" + (f" {temperature:g}" if temperature is not None else "")
                   + (f" sigma={sigma:g}" if sigma is not None else ""))
        return self._submit(at, apply, f"temp {name}", (command, {}))

    def route(self, name: str, *routes, at: str = "now") -> int:
        """Replace where a voice's notes go. Routes kept by spec keep recording without a break."""
        voice = self._voice(name)
        at = check_at(at)
        specs = [r for spec in routes for r in (spec if isinstance(spec, (list, tuple)) else [spec])]
        new_routes = self._make_routes(name, specs, voice.routes, voice.plays)

        def apply(tick: int) -> None:
            v = self.voices.get(name)
            if v is not None:
                self._release(name, [r for r in v.routes if r not in new_routes], tick)
                self._begin_takes(new_routes, tick)
                v.routes = new_routes

        command = f"route {name} {','.join(r.spec for r in new_routes) or '-'}"
        return self._submit(at, apply, f"route {name}", (command, {}))

    # -- listening: predictive interaction (listening.py) ----------------------------------------
    def listen(self, name: str, source: str | None = None, mode: str | None = None,
               idle: float | None = None, off: bool = False, log=None, cc=None) -> str:
        """Attach an input to a voice: `source` is osc://127.0.0.1:PORT/ADDRESS, midi:PORT[:CHANNEL]
        or file:PATH.mid. What the performer plays conditions the voice's model as it happens.
        `mode` (callresponse by default) and `idle` (seconds of silence before a callresponse
        voice answers, 0.5 by default) can be changed later without a source; `off` detaches it.
        Inputs and the voice's events go to `log`, an IMPSY-shaped CSV (by default logs/NAME-DATE.csv);
        `cc` lists the MIDI controllers that are a gesture voice's x1..xn (1, 2, ... by default)."""
        voice = self._voice(name)
        if off:
            listener = self.listeners.pop(name, None)
            if listener is None:
                raise LivecrepreError(f"voice {name} is not listening")
            self._submit("now", partial(self._set_listening, name, None, None), f"listen {name} off",
                         (f"listen {name} --off", {}))
            listener.close()
            return f"voice {name} stopped listening to {listener.spec} (log: {listener.log.path})"
        mode = check_mode(mode) if mode is not None else None
        idle = check_idle(idle) if idle is not None else None
        if source is None:
            if name not in self.listeners:
                raise LivecrepreError(f"voice {name} is not listening: give a source "
                                      f"(%listen {name} osc://127.0.0.1:5000/interface)")
            if mode is None and idle is None:
                raise LivecrepreError("give --mode or --idle to change, or a source to listen to")
        elif name in self.listeners and source in (self.listeners[name].spec, self.listeners[name].asked):
            mode = mode or self.voices[name].mode  # the same input again: kept, its mode changed
            source = None
        else:
            mode = mode or "callresponse"
            listener = self._open_listener(voice, source, log, cc)
            old = self.listeners.pop(name, None)
            self.listeners[name] = listener
            if old is not None:
                old.close()
        said = " ".join(([self.listeners[name].spec] if source is not None else [])
                        + ([f"mode={mode}"] if mode else []) + ([f"idle={idle:g}"] if idle else []))
        self._submit("now", partial(self._set_listening, name, mode, idle), f"listen {name}",
                     (f"listen {name} {said}", {}))
        listener = self.listeners[name]
        return (f"voice {name} listens to {listener.spec} ({self.voices[name].mode}"
                + (f", answers after {self.voices[name].idle:g} s" if self.voices[name].mode == "callresponse" else "")
                + f"); log: {listener.log.path}")

    def _open_listener(self, voice: Voice, source: str, log, cc) -> Listener:
        if voice.plays == "text" or voice.family == "abc":
            raise LivecrepreError(f"voice {voice.name} plays {voice.family}: %listen is for melody and "
                                  f"gesture voices")
        if log is None:
            folder = self.log.path.parent if self.log.path else LOG_DIR
            log = folder / f"{voice.name}-{time.strftime('%Y%m%d-%H%M%S')}.csv"
        name = voice.name
        return Listener(name, source, plays=voice.plays, dims=voice.model.config.get("dims", 0),
                        log_path=log, deliver=partial(self._heard, name),
                        control=partial(self._input_control, name), report=self.report,
                        wall_offset=self._wall_offset, cc=cc)

    def _set_listening(self, name: str, mode: str | None, idle: float | None, tick: int) -> None:
        """Mode and idle (those given) from `tick`; with neither, the voice stops listening."""
        voice = self.voices.get(name)
        if voice is None:
            return
        if mode is None and idle is None:
            voice.mode = None
            return
        voice.mode = mode or voice.mode
        voice.idle = idle if idle is not None else voice.idle

    def reset(self, name: str, at: str = "now") -> int:
        """The voice's model starts again from its initial state (IMPSY's /impsy/reset)."""
        self._voice(name)
        return self._submit(at, lambda tick: self._still_there(name, "reset").reset(tick), f"reset {name}",
                            (f"reset {name}", {}))

    def pause(self, name: str, paused: bool = True) -> None:
        """The voice goes on generating and listening, and sends nothing (IMPSY's /impsy/pause)."""
        self._voice(name)
        self._submit("now", lambda tick: setattr(self._still_there(name, "pause"), "paused", bool(paused)),
                     f"pause {name}", (f"pause {name} {int(bool(paused))}", {}))

    def timescale(self, name: str, scale) -> None:
        """A gesture voice's time between gestures is the model's times `scale` (/impsy/timescale)."""
        value = check_timescale(scale, self._voice(name).family, name)
        self._submit("now", lambda tick: setattr(self._still_there(name, "timescale"), "timescale", value),
                     f"timescale {name}", (f"timescale {name} {value:g}", {}))

    def _heard(self, name: str, heard: Heard) -> None:
        """On the listener's thread: the voice hears the input; what it answers is sent at once."""
        with self._lock:
            voice = self.voices.get(name)
            if voice is None or self.tempo is None or not self._running:
                return
            played = voice.hear(heard, self.tempo)
            if played and not (voice.muted or voice.paused):
                self._send(voice, played)

    def _input_control(self, name: str, control: Control) -> None:
        """On the listener's thread: an IMPSY control message, through the same API as a magic."""
        value = control.value
        if control.name == "pitemp":
            self.temp(name, value)
        elif control.name == "sigmatemp":
            self.temp(name, sigma=value)
        elif control.name == "timescale":
            self.timescale(name, value)
        elif control.name == "mode":
            self.listen(name, mode=value)
        elif control.name == "reset":
            self.reset(name)
        elif control.name == "pause":
            self.pause(name, bool(value))
        elif control.name == "bpm":
            self.set_bpm(value)

    # -- pictures ----------------------------------------------------------------------------------
    def pianoroll(self, voice: str | None = None, bars: int | None = None, take=None):
        """A piano roll (a matplotlib Figure) of what `voice` (or every voice) played, the last
        `bars` bars of it (default: what is kept, the last 256 events of each voice); or of a
        recorded `take` (a MIDI file written by a file: route)."""
        from . import pianoroll

        if bars is not None and (not isinstance(bars, int) or bars < 1):
            raise LivecrepreError(f"--bars takes a whole number of bars, 1 or more, not {bars!r}")
        if take is not None:
            notes, title = pianoroll.notes_of_take(take), Path(take).name
        else:
            if voice is not None:
                self._voice(voice)
            notes = pianoroll.notes_of_voices(self.voices, self.ticks_per_beat, voice)
            title = voice or ", ".join(notes)
        since = None
        if bars is not None:
            last = max(n.end for ns in notes.values() for n in ns)
            since = max(0.0, last - bars * self.beats_per_bar)
        return pianoroll.draw(notes, self.beats_per_bar, title, since)

    # -- the performance log ------------------------------------------------------------------
    def _log(self, tick: int, command: str, checksums: dict | None = None) -> None:
        """A control took effect at `tick`: one line in memory, appended to the file off the clock."""
        line = self.log.control(tick, self.position(tick), command, checksums or {})
        if line is not None:
            self._closer.submit(self.log.append_to_file, line)

    def _model_ref(self, spec, model: Model) -> str:
        """How the log names a model: the shipped name or path given; a model given as an object
        is kept beside the log and named @CHECKSUM of its weights, so that a replay can load it."""
        if isinstance(spec, (str, Path)):
            return quote(str(spec))
        checksum = weights_checksum(model)
        self._closer.submit(self.log.keep_model, checksum, model)
        return f"@{checksum}"

    # -- sketches -----------------------------------------------------------------------------
    def sketch(self, name: str, voice: str | None = None, source: str | None = None,
               off: bool = False) -> str:
        """Attach the sketch sketches/NAME.py (or a .py path), or one defined by `source` (a cell),
        to a voice (or to every voice). Compiled here; a sketch already attached is replaced by the
        new version at the next bar line. Saving its file does the same."""
        if off:
            sketch = self.sketches.get(name)
            if sketch is None:
                raise LivecrepreError(f"no sketch {name!r} attached (sketches: {', '.join(self.sketches) or 'none'})")
            self._submit("now", lambda tick: self.sketches.pop(name, None), f"sketch {name} off",
                         (f"sketch {name} --off", {}))
            self._watcher.forget(sketch)
            return f"sketch {name}: off"
        if voice is not None:
            self._voice(voice)
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
        self._submit("now", partial(self._attach_sketch, sketch), f"sketch {name}")
        if path is not None:
            self._watcher.watch(sketch)
        return f"sketch {name} -> {voice or 'every voice'}" + (f" (watching {path})" if path else "")

    def _attach_sketch(self, sketch: Sketch, tick: int) -> None:
        self.sketches[sketch.name] = sketch
        self._log_sketch(sketch, tick, "")

    def _log_sketch(self, sketch: Sketch, tick: int, version: str) -> None:
        """The line a replay reads a sketch version from; its source is kept beside the log."""
        self._closer.submit(self.log.keep_sketch, sketch.checksum, sketch.source)
        voices = ",".join(sorted(sketch.voices)) if sketch.voices is not None else "*"
        self._log(tick, f"sketch {sketch.name} {version}voice={voices} source={sketch.checksum}")

    def _sketches_at_bar(self, tick: int) -> None:
        """At a bar line, on the generator thread: saved versions take over; every_bar is queued
        (not in a replay: what it changed was logged and is replayed from the log)."""
        for sketch in list(self.sketches.values()):
            if sketch.take_pending():
                self._log_sketch(sketch, tick, f"version={sketch.version} ")
            if sketch.hook("every_bar") is not None and not self.offline:
                bar = tick // self._bar_ticks + 1
                if not sketch.every_bar(partial(self._every_bar, sketch, bar)) and sketch.bars_skipped == 1:
                    self.report(f"sketch {sketch.name}: every_bar is still running from an earlier bar; "
                                f"skipped at bar {bar} and until it returns")

    def _every_bar(self, sketch: Sketch, bar: int) -> None:
        hook = sketch.hook("every_bar")
        if hook is None or not self._running:
            return
        try:
            hook(bar, self)
        except Exception as exc:  # noqa: BLE001 - the performer's code never stops the music
            self.report(f"sketch {sketch.name}: {one_line(exc, sketch.filename)}; {sketch.revert()}")

    def _transform(self, voice: Voice, played: list[Played], tick: int) -> list[Played]:
        """The notes of this tick through each attached sketch's transform (generator thread)."""
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
            if self.offline and (tick, skipped) in self.replay_skips:
                continue
            try:
                transformed = sketch.transform(notes, tick, None if self.offline else DEADLINE)
                if transformed is None:  # a late call is still running: pass unchanged
                    self._log(tick, skipped)
                    continue
                out, dropped = transformed
                if dropped and not sketch.notes_dropped:
                    self.report(f"sketch {sketch.name}: transform returned {len(out) + dropped} notes in "
                                f"one tick; {MOST_NOTES} play, the rest are dropped (said once)")
                sketch.notes_dropped += dropped
                out = [p for p in played if p.pitch is None] + out
            except TimeoutError as exc:  # the notes of this tick pass as they were
                self.report(f"sketch {sketch.name}: {exc}")
                self._log(tick, skipped)
                continue
            except Exception as exc:  # noqa: BLE001 - the notes of this tick pass as they were
                self.report(f"sketch {sketch.name}: {one_line(exc, sketch.filename)}; {sketch.revert()}")
                continue
            played = out
        return played

    # -- what the caller's thread prepares ----------------------------------------------------
    def _load(self, spec, voice: str) -> Model:
        """The model, compiled and warmed up here (never on the clock's threads), for `voice`: one
        object per checkpoint, so that voices playing it are batched; the batch size they will
        need with this voice among them is compiled too."""
        file = checkpoint_file(spec)
        stat = file.stat() if file is not None else None  # a checkpoint written again is loaded again
        on_disk = (str(file.resolve()), stat.st_mtime_ns, stat.st_size) if file is not None else None
        model = self._checkpoints.get(on_disk) if on_disk else None
        if model is None:
            model = load_model(spec)
            same = (model_checksum(model), model.name, repr(sorted(model.meta.items())))  # a checkpoint's
            model = self._models.setdefault(same, model)  # checksum covers its metadata; Python's may not
            if on_disk:
                self._checkpoints[on_disk] = model
        prepare(model)
        if self.batch_voices and voices_batch(model):
            sharing = {name for name, v in list(self.voices.items()) if v.model is model} | {voice}
            warm_up_batches(model, len(sharing))
        _freeze_what_lives()
        return model

    def _make_routes(self, voice: str, specs, current: list[Route], plays: str) -> list[Route]:
        """The routes for `specs`: those in `current` kept by spec, the others opened here. One that
        fails is reported in one line and left out; when every one fails, nothing changes: the
        command is refused (a typo never leaves a voice silent)."""
        if isinstance(specs, str) or callable(specs):
            specs = [specs]
        routes: list[Route] = []
        failures: list[str] = []
        for spec in specs:
            same = [r for r in current if (r.spec == spec if isinstance(spec, str)
                                           else getattr(r, "fn", None) is spec)]
            route = same[0] if same else None
            if route is None:
                try:
                    route = parse_route(spec, voice=voice, midi_ports=self.midi_ports,
                                        ticks_per_beat=self.ticks_per_beat, start_tick=self._next_tick,
                                        bpm=self.bpm, print_stream=self.print_stream,
                                        on_error=self._route_failed, report=self.report)
                except LivecrepreError as exc:
                    failures.append(str(exc))
                    continue
            if plays not in route.accepts:
                hint = (" (midi:PORT?cc=1,2 plays gestures as controllers, ?notes as notes)"
                        if plays == "gestures" and route.spec.startswith("midi:") else "")
                failures.append(f"route {route.spec} takes {' or '.join(route.accepts)}; "
                                f"voice {voice} plays {plays}{hint}")
                if not same and not isinstance(route, FileRoute):  # (closing a file route writes it)
                    self._closer.submit(self._close, route)
                continue
            if isinstance(route, FileRoute):  # voices naming one file record into one take
                route = self._files.setdefault(route.recorder.path.resolve(), route)
            routes.append(route)
        if failures and not routes:
            kept = (f"voice {voice} keeps {', '.join(map(repr, current))}" if current
                    else f"voice {voice} not added")
            raise LivecrepreError(f"{'; '.join(failures)} (nothing changed: {kept})")
        for failure in failures:
            self.report(f"{failure} (voice {voice} keeps {', '.join(map(repr, routes))})")
        return routes

    # -- controls ---------------------------------------------------------------------------
    def _submit(self, at: str, apply: Callable[[int], None], what: str,
                logged: tuple[str, dict] | None = None) -> int:
        """Apply at the next tick, beat or bar; returns the tick where it lands. (`at` is checked
        here; callers that do slow work first check it before that work, to fail fast.)

        For `now` this returns once applied (within a tick), so status shows it at once."""
        control = _Control(check_at(at), apply, what, logged)
        with self._lock:
            if not self._running:
                control.tick = self._next_tick
                self._apply(control)
                return control.tick
            self._incoming.append(control)
        self._wake.set()
        (control.applied if control.at == "now" else control.resolved).wait(2.0)
        return control.tick if control.tick is not None else self._next_tick

    def _resolve_incoming(self) -> None:
        while self._incoming:
            control = self._incoming.popleft()
            tick, per_beat = self._next_tick, self.ticks_per_beat
            if control.at == "beat":
                tick = -(-tick // per_beat) * per_beat
            elif control.at != "now":  # bar, or the Nth bar line
                per_bar = per_beat * self.beats_per_bar
                bars = 1 if control.at == "bar" else int(control.at)
                tick = (-(-tick // per_bar) + bars - 1) * per_bar
            control.tick = tick
            control.resolved.set()
            heapq.heappush(self._pending, (tick, next(self._seq), control))

    def _apply(self, control: _Control) -> None:
        try:
            control.apply(control.tick)
            if control.logged is not None:
                self._log(control.tick, *control.logged)
        except Exception as exc:  # noqa: BLE001 - a failing control must not stop the clock
            self.report(f"{control.what}: {exc}")
        finally:
            control.resolved.set()
            control.applied.set()

    def _discard_pending(self) -> None:
        controls = [c for _, _, c in self._pending] + list(self._incoming)
        self._pending.clear()
        self._incoming.clear()
        for control in controls:
            control.resolved.set()
            control.applied.set()

    # -- the generator thread ----------------------------------------------------------------
    def _run(self) -> None:
        while self._running:
            self._resolve_incoming()
            if self._pending and self._pending[0][0] <= self._next_tick:
                with self._lock:  # due at the next tick: applied now, so a tempo change made
                    self._resolve_incoming()  # during a long tick lands at once (and the caller
                    self._apply_due(self._next_tick)  # waits for no tick)
            wait = self.tempo.time_of(self._next_tick) - self.lookahead - now()
            if wait > 0:
                self._wake.wait(min(wait, 0.05))
                self._wake.clear()
                continue
            with self._lock:
                if not self._running:
                    return
                self._resolve_incoming()
                self._tick(self._next_tick)
                self._next_tick += 1

    def _apply_due(self, tick: int) -> None:
        while self._pending and self._pending[0][0] <= tick:
            self._apply(heapq.heappop(self._pending)[2])

    def _tick(self, tick: int) -> None:
        self._apply_due(tick)
        if self.sketches and tick % self._bar_ticks == 0:
            self._sketches_at_bar(tick)
        start = self.tempo.time_of(tick)
        if self._running and now() > start:
            self.late_ticks += 1
        if self.batch_voices and len(self.voices) > 1:
            self._generate_in_batches(tick)
        for voice in list(self.voices.values()):
            try:
                played = voice.events_at(tick, self.tempo)
            except Exception as exc:  # noqa: BLE001 - a broken model silences only its voice
                self.voices.pop(voice.name, None)
                self._release(voice.name, voice.routes, tick)
                self.report(f"voice {voice.name}: model failed at tick {tick} "
                            f"({type(exc).__name__}: {exc}); voice removed")
                continue
            if voice.muted or voice.paused:
                continue
            if self.sketches and played:
                played = self._transform(voice, played, tick)
            self._send(voice, played)

    def _send(self, voice: Voice, played: list[Played]) -> None:
        """The voice's events to its routes (and to its listener's log and echo guard)."""
        listener = self.listeners.get(voice.name)
        for p in played:
            event = self._event(voice, p)
            if listener is not None:  # first: an echo may be back before the send returns
                listener.sent(event)
            for route in voice.routes:
                if route.muted:
                    continue
                try:
                    route.send(event, self.dispatcher)
                except Exception as exc:  # noqa: BLE001 - one bad route, the others go on
                    self._route_failed(route, exc)

    # -- a replay steps the engine instead of the clock (replay.py) ----------------------------
    def play_offline(self, paced: bool = False) -> None:
        """Get ready to be stepped by `step`: as fast as it goes, or `paced` at the ticks' wall
        times, for routes that play live. Controls given meanwhile apply at the next tick."""
        self.offline = True
        origin = now() + self.lookahead + 0.05 if paced else 0.0
        self.tempo = TempoMap(self._bpm, self.ticks_per_beat, origin)
        self._wall_offset = time.time() - now()
        if paced:
            self.dispatcher.start()

    def step(self, tick: int) -> None:
        """Produce one tick (ticks in order, from 0)."""
        with self._lock:
            self._tick(tick)
            self._next_tick = tick + 1

    def _generate_in_batches(self, tick: int) -> None:
        """Voices playing one model get their next blocks from one batched call when one of them
        needs a block for this tick; the others of the group whose buffer ends within a block are
        topped up in the same call, so the group stays in step. A voice alone, fading or of
        another family generates by itself in events_at, as does any voice when no compiled batch
        size fits (the generator thread never compiles)."""
        groups: dict[int, list] = {}
        for voice in self.voices.values():
            until = voice.batch_until(tick)
            if until is not None and voice.stream.batchable():
                groups.setdefault(id(voice.stream.model), []).append((voice.stream, until))
        for members in groups.values():
            while len(members) > 1 and any(s.generated_until < until for s, until in members):
                batch = [s for s, until in members if s.generated_until < until + BLOCK_TICKS]
                blocks = generate_blocks(batch[0].model, [s.block_inputs() for s in batch])
                if blocks is None:
                    break
                self.batched_calls += 1
                for stream, block in zip(batch, blocks):
                    try:
                        stream.take_block(*block)
                    except FloatingPointError:  # its voice fails alone, in events_at
                        members = [m for m in members if m[0] is not stream]

    def _event(self, voice: Voice, p: Played) -> Event:
        tick, offset = whole_ticks(p.start)
        start = self.tempo.time_of(p.start)
        end = self.tempo.time_of(p.end) if p.end is not None else start
        return Event(voice.name, p.pitch, p.velocity or voice.velocity, tick,
                     (p.end - p.start) if p.end is not None else 0, start, end,
                     start + self._wall_offset, self.position(tick), offset, p.text, p.values, p.dt)

    def _release(self, voice: str, routes: list[Route], tick: int) -> None:
        """Routes leaving a voice at `tick`: their notes end there; then they are closed."""
        for route in routes:
            route.cut(tick, voice)
            if route.uses_dispatcher:  # what it plays before `tick` still plays
                leave = partial(self._flush_and_close, route, self.dispatcher.watermark())
                if self.tempo is not None and self._running:
                    self.dispatcher.at(self.tempo.time_of(tick), leave, owner=self)
                    continue
                leave()
            else:
                self._closer.submit(self._close, route)

    def _flush_and_close(self, route: Route, mark: int) -> None:
        """A dispatcher route leaving: what it queued before `mark` ends now; then it is closed."""
        self.dispatcher.flush(route, mark)
        self._closer.submit(self._close, route)

    def _begin_takes(self, routes: list[Route], tick: int) -> None:
        """A file route's take starts where a voice first sends to it (not when it was parsed)."""
        for route in routes:
            if isinstance(route, FileRoute):
                route.recorder.begin(tick, self.tempo.bpm_at(tick) if self.tempo else self._bpm)

    def _close(self, route: Route) -> None:
        try:
            route.close()
        except Exception as exc:  # noqa: BLE001
            self.report(f"route {route.spec}: {type(exc).__name__}: {exc}")

    def _silence(self, route: Route) -> None:
        try:
            route.silence()
        except Exception:  # noqa: BLE001 - silencing a vanished port is best effort
            pass

    def _route_failed(self, route, exc: BaseException) -> None:
        if isinstance(route, Route) and not route.muted:
            route.muted = True
            self.report(f"route {route.spec} failed ({type(exc).__name__}: {exc}); route muted, "
                        f"the voice keeps its other routes")
        elif not isinstance(route, Route):
            self.report(f"{type(exc).__name__}: {exc}")

    def _now_tick_ceil(self) -> int:
        if self.tempo is None:
            return self._next_tick
        return min(self._next_tick, max(0, math.ceil(self.tempo.tick_at(now()))))

    # -- status -----------------------------------------------------------------------------
    def status_info(self) -> dict:
        lateness = self.dispatcher.lateness[-2000:]
        return {
            "running": self._running, "bpm": self.bpm, "tick": self.tick, "seed": self.seed,
            "position": self.position(self.tick), "lookahead": self.lookahead,
            "voices": {name: {"model": v.model.name, "family": v.family, "temperature": v.temperature,
                              "sigma": getattr(v, "sigma", None),
                              "routes": [r.spec + (" (muted)" if r.muted else "") for r in v.routes],
                              "muted": v.muted, "notes": v.notes_played}
                       for name, v in self.voices.items()},
            "late_p99_ms": (float(np.percentile(lateness, 99)) * 1000 if lateness else None),
            "dispatcher": self.dispatcher.priority,
            "sketches": {name: {"voices": sorted(sk.voices) if sk.voices is not None else None,
                                "version": sk.version, "working": sk.namespace is not None,
                                "file": str(sk.path) if sk.path else None}
                         for name, sk in self.sketches.items()},
            "listening": {name: {**listener.info(), "mode": self.voices[name].mode,
                                 "idle": self.voices[name].idle, "paused": self.voices[name].paused}
                          for name, listener in list(self.listeners.items()) if name in self.voices},
            "log": str(self.log.path) if self.log.path else None,
            "errors": list(self.errors)[-5:],
        }

    def status(self) -> str:
        info = self.status_info()
        state = "running" if info["running"] else "stopped"
        lines = [f"livecrepre {state}: {info['bpm']:g} bpm, bar {info['position']} "
                 f"(tick {info['tick']}), seed {info['seed']}, lookahead {self.lookahead * 1000:.0f} ms"
                 + (f", p99 late {info['late_p99_ms']:.2f} ms ({info['dispatcher']} dispatcher)"
                    if info["late_p99_ms"] is not None else "")]
        if not info["voices"]:
            lines.append("  no voices (add one: %voice lead melody --to print)")
        for name, v in info["voices"].items():
            routes = ", ".join(v["routes"]) or "no routes"
            temps = f"temp {v['temperature']:<5g}" + (f" sigma {v['sigma']:g}" if v["sigma"] is not None else "")
            counted = {"gesture": "gestures", "text": "words"}.get(v["family"], "notes")
            lines.append(f"  {name:<8} {v['model']:<12} {temps} -> {routes}"
                         + ("  [muted]" if v["muted"] else "") + f"  ({v['notes']} {counted})")
        for name, sk in info["sketches"].items():
            lines.append(f"  sketch {name} -> {', '.join(sk['voices']) if sk['voices'] else 'every voice'}"
                         f" (version {sk['version']}{'' if sk['working'] else ', passing notes unchanged'}"
                         f"{', ' + sk['file'] if sk['file'] else ''})")
        for name, heard in info["listening"].items():
            counts = heard["counts"]
            said = ", ".join(f"{counts[k]} {k}" for k in ("heard", "fed", "echoes", "dropped", "malformed",
                                                          "bad", "wrong", "refused", "failed", "ignored",
                                                          "vanished") if counts.get(k))
            lines.append(f"  {name} listens to {heard['source']} ({heard['mode']}"
                         + (f", idle {heard['idle']:g} s" if heard["mode"] == "callresponse" else "")
                         + (", paused" if heard["paused"] else "") + (", input ended" if heard["ended"] else "")
                         + f"): {said or 'nothing heard yet'}; log {heard['log']}")
        if info["log"]:
            lines.append(f"  performance log: {info['log']}")
        if info["errors"]:
            lines.append("recent errors:")
            lines += [f"  {when} {message}" for when, message in info["errors"]]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<livecrepre.Engine {self.status().splitlines()[0]}>"


def _freeze_what_lives() -> None:
    """What is loaded so far lives all session: frozen, the cyclic garbage collector no longer
    walks it. A full collection over jax, the models and music21 held the interpreter lock for
    60-130 ms (measured), making every thread late; after freezing, ~nothing. Garbage waiting
    in cycles is collected first (it would otherwise be frozen for good: +1.3 GB over 300 swaps,
    measured); that collection walks only what the last freeze left, a few ms."""
    gc.collect()
    gc.freeze()


class _Chores:
    """Slow chores (closing routes, writing takes and the log) run in order on a worker, off the
    clock's threads; one that fails (a full disk, a folder gone) is reported in one line."""

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
            except Exception as exc:  # noqa: BLE001 - the next chores still run
                if self._on_error is None:
                    raise
                self._on_error(f"{getattr(fn, '__name__', 'chore')}: {type(exc).__name__}: {exc}")
            finally:
                self._queue.task_done()

    def drain(self) -> None:
        """Wait until every submitted chore is done."""
        self._queue.join()
