"""A gesture voice: an MDRNN predicting (dt, x1..xn) vectors, each played dt seconds after the
one before, off the tick grid (the engine schedules them at their exact times).

The voice samples one gesture ahead: when the engine asks for tick k it plays every gesture that
falls before tick k + 1 and keeps the first one after. Temperatures act from the next sample.

Listening (listening.py), the voice works as IMPSY does: each input (x1..xn, with the seconds since
the previous input as dt) is fed to the model as it arrives, and the model's prediction of the next
gesture is kept. In polyphony that prediction is played at once, at its predicted time (an answer
per input); in callresponse the voice is silent while the performer plays and, once they have been
silent for `idle` seconds, plays on from the prediction; battle ignores the input (its own line),
useronly plays nothing. `timescale` (/impsy/timescale) stretches the model's time between gestures.

A crossfade steps both models on the same gestures and mixes their mixtures linearly (a mixture of
the two mixtures): each gesture comes from the new model with probability w, rising from 1/length
to 1 over the fade's ticks; the choice is drawn from the voice's key and the gesture's index, so a
seeded session fades the same way every time.
"""
from __future__ import annotations

from collections import deque

import numpy as np

from ..errors import LivecrepreError
from ..events import Played
from ..sampling import PRIME_STEPS, generate_gesture, prime
from .base import Voice

MIN_DT, MAX_DT = 0.005, 4.0  # seconds between gestures: at most 200 a second, at least one in 4 s
MOST_PER_TICK = 64


def clip_gesture(vector: np.ndarray, meta: dict) -> np.ndarray:
    """dt kept between MIN_DT and MAX_DT, values inside the range the model was trained on."""
    vector[0] = np.clip(vector[0], MIN_DT, MAX_DT)
    low, high = meta.get("value_min"), meta.get("value_max")
    if low is not None and high is not None:
        vector[1:] = np.clip(vector[1:], low, high)
    return vector


class GestureVoice(Voice):
    family = "gesture"
    plays = "gestures"
    can_fade = True

    def __init__(self, name, model, sigma: float = 1.0, **kwargs):
        super().__init__(name, model, **kwargs)
        self.sigma = float(sigma)
        self._state = model.initial_state()
        self._prev = np.zeros(model.config["dims"], np.float32)
        self._count = 0  # gestures sampled: the PRNG index of the next one
        self._last_time: float | None = None  # when the previous gesture played (seconds)
        self._next: np.ndarray | None = None  # sampled, not yet played: (dt, x1..xn)
        self._sampled: deque[np.ndarray] = deque(maxlen=PRIME_STEPS)  # what a swapped-in model is fed
        self._fading: tuple | None = None  # (old model, its state, first tick, length in ticks)
        self._tick = 0  # the tick being played (a fade's weight is counted in ticks)
        self.timescale = 1.0  # the model's dt is multiplied by this
        self._heard_time: float | None = None  # when the previous input arrived
        self._quiet = False  # the last tick played nothing of the own line (listening)

    def _sample(self) -> np.ndarray:
        self._state, vector = generate_gesture(self.model, self._state, self._prev, self.key,
                                               self._count, self.temperature, self.sigma)
        if self._fading is not None:
            old, old_state, first, length = self._fading
            old_state, old_vector = generate_gesture(old, old_state, self._prev, self.key, self._count,
                                                     self.temperature, self.sigma)
            weight = min(1.0, (self._tick - first + 1) / length)
            self._fading = None if weight >= 1 else (old, old_state, first, length)
            draw = np.random.default_rng([int(k) for k in self.key] + [self._count]).random()
            vector = vector if draw < weight else old_vector
        self._count += 1
        if not np.isfinite(vector).all():
            raise FloatingPointError(f"{self.model.name} returned NaN or infinity")
        self._prev = clip_gesture(np.array(vector, np.float32), self.model.meta)
        self._sampled.append(self._prev)
        return self._prev

    def events_at(self, tick: int, tempo) -> list[Played]:
        self._tick = tick
        start, end = tempo.time_of(tick), tempo.time_of(tick + 1)
        if not self.own_line_sounds(start):
            self._quiet = True
            return []
        if self._last_time is None or self._quiet:  # (again) from this tick
            self._last_time, self._quiet = start, False
        played = []
        while len(played) < MOST_PER_TICK:
            if self._next is None:
                self._next = self._sample()
            dt = float(self._next[0]) * self.timescale
            at = self._last_time + dt
            if at >= end:
                break
            played.append(Played(tempo.tick_at(at), values=tuple(float(x) for x in self._next[1:]), dt=dt))
            self._last_time, self._next = at, None
        if len(played) == MOST_PER_TICK:  # never fall behind the clock
            self._last_time = max(self._last_time, end)
        return self._played(played)

    plays_alongside = False  # polyphony: each input is answered by the prediction it leads to

    def hear(self, heard, tempo) -> list[Played]:
        self.last_heard = heard.time
        if self.mode in ("battle", "useronly"):
            return []
        gap = heard.time - self._heard_time if self._heard_time is not None else 0.0
        self._heard_time = heard.time
        # A pause longer than the training data's phrases starts a new phrase, as it did there.
        vector = np.array((gap if 0 <= gap <= MAX_DT else 0.0,) + tuple(heard.values), np.float32)
        self._state, prediction = generate_gesture(self.model, self._state, vector, self.key, self._count,
                                                   self.temperature, self.sigma)
        self._count += 1
        if not np.isfinite(prediction).all():
            raise FloatingPointError(f"{self.model.name} returned NaN or infinity")
        self._prev = clip_gesture(np.array(prediction, np.float32), self.model.meta)
        self._sampled.extend([vector, self._prev])
        self._next = self._prev
        if self.mode != "polyphony":
            return []  # callresponse: played from here once the performer pauses
        self._next = None
        dt = float(self._prev[0]) * self.timescale
        return self._played([Played(tempo.tick_at(heard.time + dt),
                                    values=tuple(float(x) for x in self._prev[1:]), dt=dt)])

    def reset(self, tick: int) -> None:
        self._state = self.model.initial_state()
        self._prev = np.zeros(self.model.config["dims"], np.float32)
        self._next = self._heard_time = self._fading = None
        self._sampled.clear()

    def set_temperature(self, temperature: float, tick: int) -> int:
        self._temperature = float(temperature)
        return tick

    def set_sigma(self, sigma: float, tick: int) -> int:
        self.sigma = float(sigma)
        return tick

    def check_swap(self, model) -> None:
        super().check_swap(model)
        if model.config["dims"] != self.model.config["dims"]:
            raise LivecrepreError(f"{model.name} predicts {model.config['dims'] - 1} values per gesture; "
                                  f"voice {self.name} sends {self.model.config['dims'] - 1} and keeps "
                                  f"{self.model.name}")

    def swap(self, model, tick: int, fade_ticks: int = 0) -> int:
        """The new model decides from the next gesture on, primed with the gestures so far (with
        `fade_ticks`, fading in over that many ticks)."""
        history = np.zeros((PRIME_STEPS, model.config["dims"]), np.float32)
        if self._sampled:
            history[-len(self._sampled):] = np.array(self._sampled)
        self._fading = (self.model, self._state, tick, fade_ticks) if fade_ticks else None
        self.model = model
        self._state = prime(model, history[:-1])
        return tick
