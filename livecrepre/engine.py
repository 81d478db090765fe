"""The engine: the facade a performer (or a magic) calls, and the generator loop.

Threads:
- the caller's (IPython) thread does everything slow: loading and warming up models (model_cache),
  opening ports and parsing routes (routing), opening inputs (listening), compiling sketches
  (sketches), writing files at stop. Each public method checks its arguments (checks), prepares
  there, then submits a control that lands on the timeline (timeline) at a tick boundary (the next
  tick, beat, bar or Nth bar): a reference exchange, never a load or a compile.
- the generator thread runs `lookahead` seconds ahead of wall time, asking the clock source (clock)
  where each tick falls. Per tick it applies due controls, asks each voice for the events starting
  there (voices generate in jitted blocks, batched across voices of one model), passes them through
  the sketches' transforms and hands them to the voice's routes: OSC bundles (timetagged) and file
  takes at once, MIDI and print to the dispatcher, callables to their own threads.
- the dispatcher thread plays queued actions at their wall time and keeps the note ledger; slow
  chores (closing routes, appending to the performance log) run on a worker (chores).
"""
from __future__ import annotations

import atexit
import math
import secrets
import sys
import threading
import time
import weakref
import zlib
from collections import deque
from functools import partial
from pathlib import Path
from typing import Callable

import jax
import numpy as np

from . import model_cache
from .checks import (check_at, check_bars, check_bpm, check_fade, check_nudge, check_quantum, check_sigma, check_temperature,
                     check_timescale, check_velocity, check_voice_name)
from .chores import Chores
from .clock import ClockSource, now
from .clock.sources import clock_maker
from .clock_out import ClockOut, MidiClockOut, clock_out
from .errors import LivecrepreError
from .events import Event, Played, whole_ticks
from .io.inputs import Heard
from .listening import Listening
from .model_cache import ModelCache
from .models import Model
from .performance_log import LOG_DIR, PerformanceLog, model_checksum, quote, weights_checksum
from .routing import Routing, routes_of
from .sampling import fade_fn, warm_up_fade
from .sketches import Sketchbook
from .status_view import session_info, status_text
from .timeline import Control, Timeline
from .voices import Voice, make_voice, voice_plays
from .voices.batching import generate_in_batches
from .voices.tokens import TokenVoice

_engines: "weakref.WeakSet[Engine]" = weakref.WeakSet()


@atexit.register
def _stop_engines_at_exit() -> None:
    for engine in list(_engines):
        engine.stop()


class Engine:
    """Live-codable generative instrument. Every method returns quickly and never stops the music."""

    def __init__(self, bpm: float = 120, seed: int | None = None, ticks_per_beat: int = 4,
                 beats_per_bar: int = 4, lookahead: float = 0.1, echo_errors: bool = True,
                 realtime: bool = True, log=None, batch_voices: bool = True, clock: str = "internal",
                 quantum=None):
        self._bpm = check_bpm(bpm)
        self.batch_voices = batch_voices  # voices of one model step in one call (False: one by one)
        self.batched_calls = 0  # blocks generated for several voices at once, for status and tests
        self.seed = int(seed) if seed is not None else secrets.randbelow(2**31)
        self.ticks_per_beat = int(ticks_per_beat)
        self.beats_per_bar = int(beats_per_bar)
        self.lookahead = float(lookahead)
        self.echo_errors = echo_errors
        self.voices: dict[str, Voice] = {}
        self.errors: deque[tuple[str, str]] = deque(maxlen=20)
        self.clock: ClockSource | None = None  # where ticks fall in time, while running
        # (bpm, ticks_per_beat, origin) -> the source the clock starts on, and how the log names it
        self.make_clock, self._clock_spec = clock_maker(clock, beats_per_bar=int(beats_per_bar),
                                                        quantum=check_quantum(quantum))
        self.model_cache = ModelCache()
        self._closer = Chores(on_error=lambda message: self.report(message))
        self.routing = Routing(self._closer, self.report, realtime=realtime)
        self.dispatcher = self.routing.dispatcher
        self.timeline = Timeline(self.ticks_per_beat, self.beats_per_bar)
        self._lock = threading.RLock()  # held by the generator while it processes a tick
        self._wake = threading.Event()
        self._next_tick = 0  # the next tick the generator will produce
        self._running = False
        self._thread: threading.Thread | None = None
        self._wall_offset = time.time() - now()
        self.late_ticks = 0  # ticks produced after their own start time (should stay 0)
        self.log = PerformanceLog.for_session(log)
        self._swapping_to: dict[str, Model] = {}  # per voice, the model its latest swap brings in
        self.listening = Listening(self, self.voices, self._submit, self._heard, self.report)
        self.sketchbook = Sketchbook(self, self._submit, self._log, partial(self._closer.submit, self.log.keep_sketch),
                                     self.report, self._bar_ticks)
        self.clock_outs: dict[str, ClockOut] = {}  # route spec -> the clock sent there
        self.print_stream = None  # where print routes and error lines go (None: stdout, stderr)
        self.offline = False  # a replay (replay.py) steps the engine off the clock
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
        return self.clock.bpm_at(self._next_tick) if self.clock else self._bpm

    @property
    def tempo(self) -> ClockSource | None:
        """The clock source (the name from when it could only be a tempo map)."""
        return self.clock

    @property
    def clock_spec(self) -> str:
        """The clock source as the log names it: `internal`, `link quantum=4`."""
        return self._clock_spec

    @property
    def tick(self) -> int:
        """The tick sounding now (0 before start)."""
        return max(0, math.floor(self.clock.tick_at(now()))) if self.clock and self._running else 0

    @property
    def listeners(self) -> dict:
        """Voice name -> the input it listens to."""
        return self.listening.listeners

    @property
    def sketches(self) -> dict:
        """Sketch name -> the sketch attached."""
        return self.sketchbook.sketches

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
            model_cache.freeze_what_lives()
            lead = self.routing.lead(routes_of(self.voices.values()))  # routes nudged earlier
            self._start_clock(origin=now() + self.lookahead + lead + 0.05)
            self._next_tick = 0
            self._running = True
            self._closer.submit(self.log.append_to_file, self.log.start(
                self.seed, self._bpm, self.ticks_per_beat, self.beats_per_bar))
            self.dispatcher.start()
            self._thread = threading.Thread(target=self._run, name="livecrepre-generator",
                                            daemon=True)
            self._thread.start()
        return f"started at {self._bpm:g} bpm, seed {self.seed}"

    def use_clock(self, source: str = "internal", quantum=None) -> str:
        """Where ticks fall in time: `internal` (its own clock) or `link` (join the Ableton Link
        session on this machine's network: tempo shared with every peer, bar lines where the
        session's phase for `quantum` beats, the beats per bar by default, is 0). Running, the
        change lands at the next tick without a jump (Link moves the grid to the session's phase
        at the next bar line); stopped, the clock starts on it."""
        make, spec = clock_maker(source, beats_per_bar=self.beats_per_bar, quantum=check_quantum(quantum))
        if not self._running:
            self.make_clock, self._clock_spec = make, spec
            return f"clock: {spec} (from %crepre start)"
        new = make(self.bpm, self.ticks_per_beat, now())  # joins Link here, on the caller's thread

        def apply(tick: int) -> None:
            old, self.clock = self.clock, new
            new.take_over(old, tick)
            self.make_clock, self._clock_spec = make, spec
            old.close()

        self._submit("now", apply, f"clock {spec}", (f"clock {spec}", {}))
        if self.clock is not new:  # stopped meanwhile
            new.close()
        return f"clock: {spec}"

    def send_clock(self, route: str, off: bool = False) -> str:
        """Send a clock to other gear: `midi:PORT` gets MIDI clock (24 pulses a quarter note, from
        the tick grid: it follows tempo changes and Link; started at the next bar line, stopped at
        stop), `osc://HOST:PORT/ADDRESS` a bundle a beat timetagged with the beat's time
        (i:bar i:beat f:bpm). Several at once; `off` stops one."""
        if off:
            if route not in self.clock_outs:
                raise LivecrepreError(f"no clock is sent to {route} (sent to: {', '.join(self.clock_outs) or 'none'})")
            self._submit("now", partial(self._stop_clock_out, route), f"clock send {route} off",
                         (f"clock send {route} --off", {}))
            return f"clock to {route}: off"
        if route in self.clock_outs:
            return f"clock already sent to {route}"
        if not (isinstance(route, str) and route.startswith(("midi:", "osc://"))):
            raise LivecrepreError(f"a clock goes to midi:PORT or osc://HOST:PORT/ADDRESS, not {route}")
        out = clock_out(self.routing.open(route, "clock", ticks_per_beat=self.ticks_per_beat,
                                          start_tick=self._next_tick, bpm=self.bpm))
        self._submit("now", lambda tick: self.clock_outs.setdefault(route, out), f"clock send {route}",
                     (f"clock send {route}", {}))
        return f"clock to {route}" + (" from the next bar line" if isinstance(out, MidiClockOut) else "")

    def nudge(self, ms) -> str:
        """Every route plays `ms` milliseconds later than the clock (earlier when negative, -500 to
        500): the whole rig's audio latency against the other players. A route's own ?nudge=MS
        adds to it."""
        value = check_nudge(ms)

        def apply(tick: int) -> None:
            self.routing.nudge = value / 1000

        self._submit("now", apply, "nudge", (f"nudge {value:g}", {}))
        return f"every route nudged {value:g} ms"

    def _stop_clock_out(self, route: str, tick: int) -> None:
        """A control's apply: the clock to `route` stops at `tick` (its pulses up to there still play)."""
        out = self.clock_outs.pop(route, None)
        if out is None:
            return

        def stop() -> None:
            out.stop(self.dispatcher)
            self._closer.submit(self.routing.close, out.route)
        if self.clock is not None and self._running:
            self.dispatcher.at(self.clock.time_of(tick), stop, owner=self)
        else:
            stop()

    def _start_clock(self, origin: float) -> None:
        """Tick 0 at `origin` (at the tempo set so far): the clock the generator will ask."""
        self.clock = self.make_clock(self._bpm, self.ticks_per_beat, origin)
        self._wall_offset = time.time() - now()

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
        for out in self.clock_outs.values():
            out.stop(self.dispatcher)
        cut_tick = self._now_tick_ceil() if cut_tick is None else cut_tick
        if was_running:
            self._log(self._next_tick, f"stop cut={cut_tick}")
        self.log.end()
        routes = routes_of(self.voices.values())
        self.routing.cut_all(routes, cut_tick)
        written, unwritten = self.routing.close_all(routes + [out.route for out in self.clock_outs.values()])
        self.clock_outs.clear()
        self.listening.close_all()
        self.voices.clear()
        self.sketchbook.clear()
        self.timeline.discard()
        self._bpm = self.bpm  # the tempo it ended at is where a restart begins
        if self.clock is not None:
            self.clock.close()
        self.clock = None
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
            self.routing.cut_all(routes_of(self.voices.values()), cut_tick)
        return (f"panic: {released} note(s) released, voices muted; the clock keeps going "
                f"(%crepre start to unmute)")

    def set_bpm(self, bpm, at: str = "now") -> int:
        """Change tempo at the next tick, beat or bar (20-999 bpm). A faster tempo given `now`
        during a long tick lands at once: the next tick comes one new tick after the last."""
        bpm = check_bpm(bpm)
        at = check_at(at)

        def apply(tick: int) -> None:
            self._bpm = bpm
            if self.clock is not None:
                live = at == "now" and self._running and not self.offline
                self.clock.set_bpm(bpm, tick, earliest=now() + self.lookahead if live else None)
            self.routing.tempo(routes_of(self.voices.values()), tick, bpm)

        return self._submit(at, apply, f"bpm {bpm:g}", (f"bpm {bpm:g}", {}))

    def _now_tick_ceil(self) -> int:
        if self.clock is None:
            return self._next_tick
        return min(self._next_tick, max(0, math.ceil(self.clock.tick_at(now()))))

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
            self.listening.stop(name)
            self.report(f"voice {name} no longer listens to {listener.spec}: {loaded.name} plays "
                        f"{loaded.family} (%listen {name} SOURCE to listen again)")

        def apply(tick: int) -> None:
            old = self.voices.get(name)
            if old is not None:
                self._release(name, [r for r in old.routes if r not in routes], tick)
            self.routing.begin_takes(routes, tick, self.clock.bpm_at(tick) if self.clock else self._bpm)
            voice = self.voices[name] = make_voice(
                name, loaded, temperature=temperature, key=key, routes=routes, start_tick=tick,
                velocity=velocity, bar_ticks=self._bar_ticks, ticks_per_beat=self.ticks_per_beat, **extra)
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
            self.listening.stop(name)

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
                self.routing.begin_takes(new_routes, tick, self.clock.bpm_at(tick) if self.clock else self._bpm)
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
            return self.listening.stop(name)
        return self.listening.listen(voice, source, mode, idle, log, cc, wall_offset=self._wall_offset,
                                     log_folder=self.log.path.parent if self.log.path else LOG_DIR)

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
            if voice is None or self.clock is None or not self._running:
                return
            played = voice.hear(heard, self.clock)
            if played and not (voice.muted or voice.paused):
                self._send(voice, played)

    # -- sketches (sketches.py) ---------------------------------------------------------------
    def sketch(self, name: str, voice: str | None = None, source: str | None = None,
               off: bool = False) -> str:
        """Attach the sketch sketches/NAME.py (or a .py path), or one defined by `source` (a cell),
        to a voice (or to every voice). Compiled here; a sketch already attached is replaced by the
        new version at the next bar line. Saving its file does the same."""
        if off:
            return self.sketchbook.detach(name)
        if voice is not None:
            self._voice(voice)
        return self.sketchbook.attach(name, voice, source)

    # -- pictures and status ------------------------------------------------------------------------
    def pianoroll(self, voice: str | None = None, bars: int | None = None, take=None):
        """A piano roll (a matplotlib Figure) of what `voice` (or every voice) played, the last
        `bars` bars of it (default: what is kept, the last 256 events of each voice); or of a
        recorded `take` (a MIDI file written by a file: route)."""
        from . import pianoroll

        check_bars(bars)
        if voice is not None and take is None:
            self._voice(voice)
        return pianoroll.of_session(self.voices, self.ticks_per_beat, self.beats_per_bar, voice, bars, take)

    def status_info(self) -> dict:
        return session_info(self)

    def status(self) -> str:
        return status_text(self.status_info())

    def __repr__(self) -> str:
        return f"<livecrepre.Engine {self.status().splitlines()[0]}>"

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

    # -- what the caller's thread prepares ----------------------------------------------------
    def _load(self, spec, voice: str) -> Model:
        """The model, compiled and warmed up here (never on the clock's threads), for `voice` and
        the voices already playing it (model_cache.py)."""
        def sharing(model: Model) -> int:
            return len({name for name, v in list(self.voices.items()) if v.model is model} | {voice})

        return self.model_cache.load(spec, sharing, self.batch_voices)

    def _make_routes(self, voice: str, specs, current, plays: str):
        return self.routing.make(voice, specs, current, plays, ticks_per_beat=self.ticks_per_beat,
                                 start_tick=self._next_tick, bpm=self.bpm, print_stream=self.print_stream)

    def _release(self, voice: str, routes, tick: int) -> None:
        running = self.clock is not None and self._running
        self.routing.release(voice, routes, tick, self.clock.time_of(tick) if running else None)

    # -- controls: when a change lands (timeline.py) ---------------------------------------------
    def _submit(self, at: str, apply: Callable[[int], None], what: str,
                logged: tuple[str, dict] | None = None) -> int:
        """Apply at the next tick, beat or bar; returns the tick where it lands. (`at` is checked
        here; callers that do slow work first check it before that work, to fail fast.)

        For `now` this returns once applied (within a tick), so status shows it at once."""
        control = Control(check_at(at), apply, what, logged)
        with self._lock:
            if not self._running:
                control.tick = self._next_tick
                self._apply(control)
                return control.tick
            self.timeline.add(control)
        self._wake.set()
        (control.applied if control.at == "now" else control.resolved).wait(2.0)
        return control.tick if control.tick is not None else self._next_tick

    def _apply(self, control: Control) -> None:
        try:
            control.apply(control.tick)
            if control.logged is not None:
                self._log(control.tick, *control.logged)
        except Exception as exc:  # noqa: BLE001 - a failing control must not stop the clock
            self.report(f"{control.what}: {exc}")
        finally:
            control.done()

    def _apply_due(self, tick: int) -> None:
        for control in self.timeline.take_due(tick):
            self._apply(control)

    # -- the generator thread ----------------------------------------------------------------
    def _run(self) -> None:
        while self._running:
            self.timeline.resolve(self._next_tick)
            if self.timeline.due(self._next_tick):
                with self._lock:  # due at the next tick: applied now, so a tempo change made
                    self.timeline.resolve(self._next_tick)  # during a long tick lands at once
                    self._apply_due(self._next_tick)  # (and the caller waits for no tick)
            self.clock.follow(self._next_tick)
            self._heed_outside_tempo()
            ahead = self.lookahead + self.routing.lead(routes_of(self.voices.values()))  # nudged earlier
            wait = self.clock.time_of(self._next_tick) - ahead - now()
            if wait > 0:
                self._wake.wait(min(wait, 0.05))
                self._wake.clear()
                continue
            with self._lock:
                if not self._running:
                    return
                self.timeline.resolve(self._next_tick)
                self._tick(self._next_tick)
                self._next_tick += 1

    def _heed_outside_tempo(self) -> None:
        """A tempo the clock source brought (a Link peer's): a line in the performance log at the
        tick it lands on, and a tempo change in the takes, so that a replay plays it too."""
        bpm = self.clock.bpm_at(self._next_tick)
        if abs(bpm - self._bpm) > 0.005:
            with self._lock:
                self._bpm = bpm
                self._log(self._next_tick, f"bpm {bpm:g} from={self.clock.name}")
                self.routing.tempo(routes_of(self.voices.values()), self._next_tick, bpm)
        clamped = getattr(self.clock, "clamped", None)
        if clamped is not None:
            self.clock.clamped = None
            self.report(f"clock {self.clock.name}: tempo {clamped:g} bpm is outside 20-999; playing at {bpm:g}")

    def _tick(self, tick: int) -> None:
        self._apply_due(tick)
        if self.sketches and tick % self._bar_ticks == 0:
            self.sketchbook.at_bar(tick, self.offline)
        start = self.clock.time_of(tick)
        if self._running and now() > start:
            self.late_ticks += 1
        for route, out in list(self.clock_outs.items()):
            try:
                out.tick(tick, self.clock, self.dispatcher, ticks_per_beat=self.ticks_per_beat,
                         bar_ticks=self._bar_ticks, wall_offset=self._wall_offset)
            except Exception as exc:  # noqa: BLE001 - one bad clock output, the music goes on
                self.clock_outs.pop(route, None)
                self.report(f"clock to {route} failed ({type(exc).__name__}: {exc}); no longer sent")
        if self.batch_voices and len(self.voices) > 1:
            self.batched_calls += generate_in_batches(self.voices.values(), tick)
        for voice in list(self.voices.values()):
            try:
                played = voice.events_at(tick, self.clock)
            except Exception as exc:  # noqa: BLE001 - a broken model silences only its voice
                self.voices.pop(voice.name, None)
                self._release(voice.name, voice.routes, tick)
                self.report(f"voice {voice.name}: model failed at tick {tick} "
                            f"({type(exc).__name__}: {exc}); voice removed")
                continue
            if voice.muted or voice.paused:
                continue
            if self.sketches and played:
                played = self.sketchbook.transform(voice, played, tick, self.offline)
            self._send(voice, played)

    def _send(self, voice: Voice, played: list[Played]) -> None:
        """The voice's events to its routes (and to its listener's log and echo guard)."""
        listener = self.listeners.get(voice.name)
        for p in played:
            event = self._event(voice, p)
            if listener is not None:  # first: an echo may be back before the send returns
                listener.sent(event)
            self.routing.send(voice.routes, event)

    def _event(self, voice: Voice, p: Played) -> Event:
        tick, offset = whole_ticks(p.start)
        start = self.clock.time_of(p.start)
        end = self.clock.time_of(p.end) if p.end is not None else start
        return Event(voice.name, p.pitch, p.velocity or voice.velocity, tick,
                     (p.end - p.start) if p.end is not None else 0, start, end,
                     start + self._wall_offset, self.position(tick), offset, p.text, p.values, p.dt)

    # -- a replay steps the engine instead of the clock (replay.py) ----------------------------
    def play_offline(self, paced: bool = False) -> None:
        """Get ready to be stepped by `step`: as fast as it goes, or `paced` at the ticks' wall
        times, for routes that play live. Controls given meanwhile apply at the next tick."""
        self.offline = True
        self._start_clock(origin=now() + self.lookahead + 0.05 if paced else 0.0)
        if paced:
            self.dispatcher.start()

    def step(self, tick: int) -> None:
        """Produce one tick (ticks in order, from 0)."""
        with self._lock:
            self._tick(tick)
            self._next_tick = tick + 1
