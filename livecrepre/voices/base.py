"""What every voice keeps, and the three calls the engine makes on the generator thread."""
from __future__ import annotations

from collections import deque

import numpy as np

from ..errors import LivecrepreError
from ..events import Played
from ..models import Model

HISTORY = 256  # events kept (for status and, later, priming a swapped-in model)


class Voice:
    family = ""  # the models it plays (Model.family)
    can_fade = False  # whether `swap` can crossfade two models
    plays = "notes"  # what its events carry: notes, text or gestures

    def __init__(self, name: str, model: Model, *, temperature: float, key, routes: list,
                 start_tick: int, velocity: int = 100, bar_ticks: int = 16, ticks_per_beat: int = 4):
        self.name = name
        self.model = model
        self._temperature = float(temperature)
        self._key = np.asarray(key, dtype=np.uint32)
        self.routes = list(routes)
        self.velocity = velocity
        self.bar_ticks = bar_ticks
        self.ticks_per_beat = ticks_per_beat
        self.start_tick = start_tick
        self.muted = False
        self.history: deque[Played] = deque(maxlen=HISTORY)
        self.notes_played = 0  # events played, whatever they carry
        # Listening (listening.py): None plays the model's own line, as a voice that listens to
        # nothing; otherwise callresponse, polyphony, battle or useronly.
        self.mode: str | None = None
        self.idle = 0.5  # seconds without input after which a callresponse voice answers
        self.last_heard = float("-inf")  # clock.now() of the performer's last input
        self.paused = False  # /impsy/pause: generates, sends nothing

    def listening_to(self, other: "Voice") -> None:
        """A voice replacing `other` under its name keeps listening as it did."""
        self.mode, self.idle, self.last_heard = other.mode, other.idle, other.last_heard

    def own_line_sounds(self, at: float) -> bool:
        """Whether the model's own line sounds at `at` (clock.now() seconds) in this voice's mode:
        always when not listening or in battle, never in useronly, in callresponse once the
        performer has been silent for `idle` seconds; in polyphony, see `plays_alongside`."""
        if self.mode in (None, "battle"):
            return True
        if self.mode == "useronly":
            return False
        if self.mode == "polyphony":
            return self.plays_alongside
        return at - self.last_heard >= self.idle

    plays_alongside = True  # polyphony: the own line goes on (False: each input is answered instead)

    @property
    def temperature(self) -> float:
        return self._temperature

    @property
    def key(self) -> np.ndarray:
        return self._key

    @key.setter
    def key(self, key) -> None:
        """Only before the voice has generated anything (a seed given at start)."""
        self._key = np.asarray(key, dtype=np.uint32)

    def check_swap(self, model: Model) -> None:
        """On the caller's thread: a model of another family cannot take over this voice."""
        if model.family != self.family:
            raise LivecrepreError(f"{model.name} plays {model.family}; voice {self.name} plays "
                                  f"{self.family} and keeps {self.model.name}")

    def check_fade(self, model: Model) -> None:
        """On the caller's thread: one line when this voice cannot crossfade into `model`."""

    def _played(self, events: list[Played]) -> list[Played]:
        self.history.extend(events)
        self.notes_played += len(events)
        return events

    # -- what the engine calls, on the generator thread ---------------------------------------
    def events_at(self, tick: int, tempo) -> list[Played]:
        """The events starting in [tick, tick + 1); ticks are asked for in order."""
        raise NotImplementedError

    def batch_until(self, tick: int) -> int | None:
        """For voices whose token stream can be generated in a batch with other voices of its
        model: the position this tick will read up to (exclusive). None: it generates alone."""
        return None

    def set_temperature(self, temperature: float, tick: int) -> int:
        """Returns the tick from which the new temperature decides."""
        raise NotImplementedError

    def swap(self, model: Model, tick: int, fade_ticks: int = 0) -> int:
        """Returns the tick from which the new model decides (fading in over `fade_ticks`, for
        voices that can crossfade)."""
        raise NotImplementedError

    def hear(self, heard, tempo) -> list[Played]:
        """What the performer played (io.inputs.Heard), as it happens (on a listener's thread, with
        the engine's lock held): conditions the model; returns events to send at once, if any."""
        raise LivecrepreError(f"voice {self.name} plays {self.family}: %listen is for melody and "
                              f"gesture voices")

    def reset(self, tick: int) -> None:
        """/impsy/reset: the model starts again from its initial state."""
        raise LivecrepreError(f"voice {self.name} plays {self.family}: reset is for melody and "
                              f"gesture voices")
