"""A voice listening to an input: what the performer plays reaches the voice at once, on the
input's own thread (never the clock's), so that an answer leaves about a model step after the input
came in; controls (/impsy/...) are handed on by a thread of the listener's, in order.

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
from typing import Callable

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
    try:
        value = float(idle)
    except (TypeError, ValueError):
        value = float("nan")
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
