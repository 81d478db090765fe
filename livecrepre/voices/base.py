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
