"""Voices listening to inputs: `Listening` keeps which voice listens to which input (the engine's
%listen, and IMPSY's control messages turned into the engine's own calls); a `Listener` is one
voice's input. What the performer plays reaches the voice at once, on the input's own thread
(never the clock's), so that an answer leaves about a model step after the input came in; controls
(/impsy/...) are handed on by a thread of the listener's, in order.

- What comes in is checked first (the right number of values, notes 0-127); what a voice cannot
  use is one line for the performer the first time, then counted (status shows the counts).
- The feedback guard: an input equal to what the voice itself sent a moment ago (its own output
  echoed back by a patch or a MIDI thru) is not fed back.
- Every valid input is written to the interaction log as it arrives (`interface` rows), and every
  event the voice plays as it is sent (`rnn` rows): IMPSY's CSV shape.
- A flood: what was waiting when the input got to it is handled together, and only its newest
  KEEP inputs reach the voice (the newest input wins); the others are logged and counted as dropped.
  Controls wait in a queue of QUEUE_SIZE, the oldest dropped when it is full.
"""
from __future__ import annotations

import threading
import time
from collections import Counter, deque
from functools import partial
from pathlib import Path
from typing import Callable

from .checks import as_number
from .clock import now
from .errors import LivecrepreError
from .events import Event
from .io.inputs import Control, Heard, open_input
from .io.interaction_log import InteractionLog

MODES = ("callresponse", "polyphony", "battle", "useronly")
KEEP = 8  # inputs of one batch handed on: a chord in one bundle is kept, a flood cut to its newest
QUEUE_SIZE = 64  # controls waiting
ECHO_SECONDS = 0.05  # an input this close to the time the voice played the same values is its echo
ECHO_TOLERANCE = 1e-4  # OSC carries 32-bit floats


def check_mode(mode) -> str:
    if mode not in MODES:
        raise LivecrepreError(f"bad mode {mode!r}: expected {', '.join(MODES)}")
    return mode


def check_idle(idle) -> float:
    value = as_number(idle)
    if not 0.01 <= value <= 60:
        raise LivecrepreError(f"--idle takes seconds of silence before the model answers "
                              f"(0.01-60, e.g. 0.5), not {idle!r}")
    return value


class Listener:
    """An input attached to a voice. `deliver(heard)` runs on the input's thread, `control(control)`
    on the listener's; `report(message)` shows the performer one line."""

    def __init__(self, voice: str, spec: str, *, plays: str, dims: int, log_path,
                 deliver: Callable[[Heard], None], control: Callable[[Control], None],
                 report: Callable[[str], None], wall_offset: float, cc: list[int] | None = None):
        self.voice, self.plays, self.dims = voice, plays, dims
        self._deliver, self._control, self._report = deliver, control, report
        self._wall_offset = wall_offset  # time.time() - clock.now(), for log timestamps
        self.cc = list(cc) if cc else list(range(1, dims))  # MIDI controllers -> x1..xn
        self._cc_values = [0.0] * max(0, dims - 1)
        self.counts: Counter = Counter()
        self._queue: deque = deque()
        self._cond = threading.Condition()
        self._echoes: deque[tuple[tuple, float, float]] = deque(maxlen=256)  # (values, from, until)
        self._closed = False
        self._busy = False  # a control taken from the queue is being handed on
        self.log = InteractionLog(log_path)
        try:
            self.source = open_input(spec, self._offer, self._problem)
        except Exception:
            self.log.close()
            raise
        self.asked, self.spec = spec, getattr(self.source, "spec", spec)  # as given; as opened (its port)
        self._thread = threading.Thread(target=self._work, name=f"livecrepre-listen {voice}", daemon=True)
        self._thread.start()

    def fits(self, plays: str, dims: int) -> bool:
        """Whether a voice that plays this can take what this listener hands on."""
        return plays == self.plays and (plays != "gestures" or dims == self.dims)

    # -- on the source's thread ----------------------------------------------------------------
    def _offer(self, items: list) -> None:
        """What arrived together: checked, logged, and the newest KEEP inputs handed on."""
        inputs = []
        for item in items:
            if isinstance(item, Control):
                self._queue_control(item)
                continue
            heard = self._check(item)
            if heard is None:
                continue
            if self._is_echo(heard):
                self.counts["echoes"] += 1
                continue
            self.log.row(heard.time + self._wall_offset, "interface", heard.values)
            self.counts["heard"] += 1
            inputs.append(heard)
        if len(inputs) > KEEP:
            self.counts["dropped"] += len(inputs) - KEEP
            inputs = inputs[-KEEP:]
        for heard in inputs:
            self._guarded(self._deliver, heard)
            self.counts["fed"] += 1

    def _queue_control(self, control: Control) -> None:
        with self._cond:
            if len(self._queue) >= QUEUE_SIZE:
                self._queue.popleft()
                self.counts["dropped"] += 1
            self._queue.append(control)
            self._cond.notify()

    def _guarded(self, fn, item) -> None:
        """Hand on one input or control; what the engine refuses is one line, never a crash."""
        try:
            fn(item)
        except LivecrepreError as exc:
            self._problem("refused", str(exc))
        except Exception as exc:  # noqa: BLE001 - a bad input never stops the listener
            self._problem("failed", f"{type(exc).__name__}: {exc}")

    def _check(self, heard: Heard) -> Heard | None:
        """The input as this voice takes it, or None (reported) when it cannot."""
        if heard.kind == "cc":
            if self.plays != "gestures" or int(heard.values[0]) not in self.cc:
                self.counts["ignored"] += 1
                return None
            self._cc_values[self.cc.index(int(heard.values[0]))] = heard.values[1]
            return Heard(heard.time, "gesture", tuple(self._cc_values))
        if self.plays == "gestures":
            if heard.kind != "gesture" or len(heard.values) != self.dims - 1:
                what = "a note" if heard.kind == "note" else f"{len(heard.values)} value(s)"
                self._problem("wrong", f"voice {self.voice} takes {self.dims - 1} values per gesture, not {what}")
                return None
            return heard
        pitch, velocity = (heard.values + (100.0,))[:2] if heard.values else (None, None)
        if pitch is None or len(heard.values) > 2 or not (0 <= pitch <= 127 and 0 <= velocity <= 127):
            self._problem("wrong", f"voice {self.voice} takes a note: pitch 0-127 and an optional velocity "
                                 f"0-127 (0 ends it); got {heard.values!r}")
            return None
        return Heard(heard.time, "note", (float(round(pitch)), float(round(velocity))))

    def _is_echo(self, heard: Heard) -> bool:
        echoes = self._echoes
        while echoes and echoes[0][2] < heard.time - 1.0:  # long gone (kept in time order, roughly)
            echoes.popleft()
        values = heard.values[:1] if heard.kind == "note" else heard.values
        return any(since <= heard.time <= until and len(sent) == len(values)
                   and all(abs(a - b) <= ECHO_TOLERANCE for a, b in zip(sent, values))
                   for sent, since, until in list(echoes))

    def _problem(self, kind: str, message: str) -> None:
        """The first problem of each kind is shown, the rest counted; a port that vanishes or comes
        back is shown each time."""
        self.counts[kind] += 1
        if kind in ("vanished", "back") or self.counts[kind] == 1:
            more = "" if kind in ("vanished", "back") else "; more are counted in %crepre status"
            self._report(f"listen {self.voice}: {message}{more}")

    # -- on the clock's (or the input's) thread: what the voice played ----------------------------
    def sent(self, event: Event) -> None:
        """The voice played `event`: logged as an `rnn` row, and remembered for the echo guard."""
        values = (float(event.pitch),) if event.pitch is not None else tuple(event.values or ())
        if event.text is not None:
            return
        self._echoes.append((values, now(), event.time + ECHO_SECONDS))
        row = values + ((float(event.velocity),) if event.pitch is not None else ())
        self.log.row(event.timetag, "rnn", row)

    # -- the listener's thread: controls -----------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                control = self._queue.popleft()
                self._busy = True
            self._guarded(self._control, control)
            self._busy = False

    def idle(self, timeout: float = 2.0) -> bool:
        """Wait until what was sent has been handed on: nothing waiting at the input, no control
        queued (for tests and scripts; an OSC input knows what is waiting, other inputs say so
        as they hand it on)."""
        settled = getattr(self.source, "settled", lambda: True)
        deadline, calm = time.monotonic() + timeout, 0
        while time.monotonic() < deadline:
            with self._cond:
                quiet = not self._queue and not self._busy
            calm = calm + 1 if quiet and settled() else 0
            if calm >= 3:
                return True
            time.sleep(0.005)
        return False

    def info(self) -> dict:
        finished = getattr(self.source, "finished", None)
        return {"source": self.spec, "log": str(self.log.path), "counts": dict(self.counts),
                "ended": bool(finished is not None and finished.is_set())}

    def close(self) -> None:
        self.source.close()
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout=2)
        self.log.close()


class Listening:
    """Which voice listens to which input. Inputs are opened and closed on the caller's thread; a
    change of mode or idle lands on a tick like any control (`submit`); what an input plays goes to
    `hear(voice name, heard)`; IMPSY's control messages go through the engine's own API (`api`:
    temp, timescale, listen, reset, pause, set_bpm), so they behave as the magics do."""

    def __init__(self, api, voices: dict, submit, hear, report):
        self.listeners: dict[str, Listener] = {}  # voice name -> the input it listens to
        self._api, self._voices, self._submit, self._hear, self._report = api, voices, submit, hear, report

    def listen(self, voice, source: str | None, mode: str | None, idle: float | None, log, cc, *,
               log_folder: Path, wall_offset: float) -> str:
        """Engine.listen for a voice that exists (its docstring says what each argument does)."""
        name = voice.name
        mode = check_mode(mode) if mode is not None else None
        idle = check_idle(idle) if idle is not None else None
        if source is None:
            if name not in self.listeners:
                raise LivecrepreError(f"voice {name} is not listening: give a source "
                                      f"(%listen {name} osc://127.0.0.1:5000/interface)")
            if mode is None and idle is None:
                raise LivecrepreError("give --mode or --idle to change, or a source to listen to")
        elif name in self.listeners and source in (self.listeners[name].spec, self.listeners[name].asked):
            mode = mode or voice.mode  # the same input again: kept, its mode changed
            source = None
        else:
            mode = mode or "callresponse"
            if log is None:
                log = log_folder / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.csv"
            listener = self._open(voice, source, log, cc, wall_offset)
            old = self.listeners.pop(name, None)
            self.listeners[name] = listener
            if old is not None:
                old.close()
        said = " ".join(([self.listeners[name].spec] if source is not None else [])
                        + ([f"mode={mode}"] if mode else []) + ([f"idle={idle:g}"] if idle else []))
        self._submit("now", partial(self._set, name, mode, idle), f"listen {name}", (f"listen {name} {said}", {}))
        listener, voice = self.listeners[name], self._voices[name]
        return (f"voice {name} listens to {listener.spec} ({voice.mode}"
                + (f", answers after {voice.idle:g} s" if voice.mode == "callresponse" else "")
                + f"); log: {listener.log.path}")

    def stop(self, name: str) -> str:
        """The voice stops listening (from the next tick); its input is closed."""
        listener = self.listeners.pop(name, None)
        if listener is None:
            raise LivecrepreError(f"voice {name} is not listening")
        self._submit("now", partial(self._set, name, None, None), f"listen {name} off",
                     (f"listen {name} --off", {}))
        listener.close()
        return f"voice {name} stopped listening to {listener.spec} (log: {listener.log.path})"

    def _open(self, voice, source: str, log, cc, wall_offset: float) -> Listener:
        if voice.plays == "text" or voice.family == "abc":
            raise LivecrepreError(f"voice {voice.name} plays {voice.family}: %listen is for melody and "
                                  f"gesture voices")
        name = voice.name
        return Listener(name, source, plays=voice.plays, dims=voice.model.config.get("dims", 0),
                        log_path=log, deliver=partial(self._hear, name), control=partial(self._control, name),
                        report=self._report, wall_offset=wall_offset, cc=cc)

    def _set(self, name: str, mode: str | None, idle: float | None, tick: int) -> None:
        """A control's apply: mode and idle (those given) from `tick`; with neither, the voice
        stops listening."""
        voice = self._voices.get(name)
        if voice is None:
            return
        if mode is None and idle is None:
            voice.mode = None
            return
        voice.mode = mode or voice.mode
        voice.idle = idle if idle is not None else voice.idle

    def _control(self, name: str, control: Control) -> None:
        """On the listener's thread: an IMPSY control message, through the same API as a magic."""
        api, value = self._api, control.value
        if control.name == "pitemp":
            api.temp(name, value)
        elif control.name == "sigmatemp":
            api.temp(name, sigma=value)
        elif control.name == "timescale":
            api.timescale(name, value)
        elif control.name == "mode":
            api.listen(name, mode=value)
        elif control.name == "reset":
            api.reset(name)
        elif control.name == "pause":
            api.pause(name, bool(value))
        elif control.name == "bpm":
            api.set_bpm(value)

    def info(self) -> dict:
        """For status: each listening voice's input, counts, mode, idle and pause."""
        return {name: {**listener.info(), "mode": self._voices[name].mode, "idle": self._voices[name].idle,
                       "paused": self._voices[name].paused}
                for name, listener in list(self.listeners.items()) if name in self._voices}

    def close_all(self) -> None:
        for listener in self.listeners.values():
            listener.close()
        self.listeners.clear()
