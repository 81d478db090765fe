"""A melody voice: a melody RNN's tokens, one per tick, turned into notes.

The stream runs at least HORIZON ticks ahead of the tick being played, so when a note starts its
length is already known: its note-off is scheduled with its note-on, and OSC receivers are told
its duration. A note already playing when a control lands keeps the length it was given:
rollback never goes before the tick where it ends, and the token regenerated there may not be
"no event" (which would hold the note on), so a change at a bar line lands on the bar line.

Listening (listening.py), the performer's notes are written into a line of their own, a token per
tick where they landed. When the voice (re)starts playing after listening (callresponse: once the
performer has paused for `idle` seconds; polyphony: at each tick after a new input) its model is
primed with the last PRIME_STEPS ticks of both lines merged, the performer's taking precedence where
they played, so it continues from the performer's phrase. A listening voice generates alone (not in
a batch): its blocks are thrown away whenever the performer plays.
"""
from __future__ import annotations

import numpy as np

from ..encodings import NO_EVENT, NOTE_OFF, START_TOKEN
from ..events import Played
from ..sampling import BLOCK_TICKS, PRIME_STEPS
from .tokens import TokenStream, TokenVoice

HORIZON = 2 * BLOCK_TICKS  # longest note, in ticks; a longer held note is cut here


class MelodyVoice(TokenVoice):
    family = "melody"
    can_fade = True

    def __init__(self, name, model, **kwargs):
        super().__init__(name, model, **kwargs)
        # Models learn tunes starting on a downbeat: generation starts at the bar, so the line's
        # beats fall on the clock's beats; the ticks before `start_tick` are never played.
        first = self.start_tick - self.start_tick % self.bar_ticks
        self.stream = TokenStream(model, self.key, self.temperature, first, START_TOKEN)
        self.stream.frozen = self.start_tick
        self._heard: dict[int, int] = {}  # the performer's line: tick -> token
        self._held: int | None = None  # the performer's note sounding
        self._quiet_ticks: set[int] = set()  # ticks where the own line was silent (listening)
        self._quiet = False
        self._heard_new = False  # input since the model was last primed

    @staticmethod
    def _reads_until(tick: int) -> int:
        return tick + HORIZON + 1

    def batch_until(self, tick: int) -> int | None:
        return self._reads_until(tick) if self.mode is None else None

    def hear(self, heard, tempo) -> list[Played]:
        self.last_heard = heard.time
        if self.mode in ("battle", "useronly"):
            return []
        pitch, velocity = int(heard.values[0]), int(heard.values[1])
        tick = max(0, round(tempo.tick_at(heard.time)))
        if velocity > 0:
            self._heard[tick], self._held = pitch, pitch
        elif pitch == self._held:
            self._held = None
            if self._heard.get(tick, NO_EVENT) < NOTE_OFF:  # it started in this very tick
                tick += 1
            self._heard.setdefault(tick, NOTE_OFF)
        self._heard_new = True
        if len(self._heard) > 4 * PRIME_STEPS:
            self._heard = {t: v for t, v in self._heard.items() if t >= tick - PRIME_STEPS}
        return []

    def _line_before(self, end: int) -> np.ndarray:
        """The PRIME_STEPS tokens before `end`: the performer's where they played (and while
        their note sounds), silence where the own line was silent, the own line elsewhere."""
        line = self.stream.recent(PRIME_STEPS, NO_EVENT, end)
        sounding = False
        for i, t in enumerate(range(end - PRIME_STEPS, end)):
            token = self._heard.get(t)
            if token is not None:
                line[i], sounding = token, token < NOTE_OFF
            elif sounding or t in self._quiet_ticks:
                line[i] = NO_EVENT
        return line

    def _resume(self, tick: int) -> None:
        """The model goes on from `tick` (or the end of a note playing there), primed with the
        merged line before it. A callresponse answer follows the performer's phrase directly: the
        pause the voice waited for is left out of what it is primed with (else the model, having
        heard a long rest, often goes on resting)."""
        position = self.stream.skip_to(self.stream.rollback(tick))
        end = position
        if self.mode == "callresponse" and self._heard:
            end = min(position, max(self._heard) + 1)
        self.stream.restart(self.model, self._line_before(end))
        self._quiet = self._heard_new = False
        self._quiet_ticks = {t for t in self._quiet_ticks if t >= position - PRIME_STEPS}

    def reset(self, tick: int) -> None:
        self._heard.clear()
        self._held = None
        position = self.stream.skip_to(self.stream.rollback(tick))
        self.stream.restart(self.model, np.full(PRIME_STEPS, START_TOKEN, np.int32))
        self._quiet_ticks = {t for t in self._quiet_ticks if t >= position}

    def events_at(self, tick: int, tempo) -> list[Played]:
        stream = self.stream
        if self.mode is not None:
            if not self.own_line_sounds(tempo.time_of(tick)):
                self._quiet = True
                self._quiet_ticks.add(tick)
                stream.frozen = max(stream.frozen, tick + 1)
                return []
            if self._quiet or (self._heard_new and self.mode == "polyphony"):
                self._resume(tick)
        stream.ensure(self._reads_until(tick))
        token = stream.token_at(tick)
        played = []
        if token < NOTE_OFF:
            end = tick + HORIZON
            for t in range(tick + 1, tick + HORIZON + 1):
                if stream.token_at(t) != NO_EVENT:
                    end = t
                    break
            played.append(Played(tick, end, pitch=token))
            stream.frozen = max(stream.frozen, end)
            stream.barred = end
        stream.frozen = max(stream.frozen, tick + 1)
        stream.keep_from(tick)
        return self._played(played)

    def swap(self, model, tick: int, fade_ticks: int = 0) -> int:
        """The new model decides from `tick` (or the end of the note playing there), primed with
        the line so far, so it continues the phrase instead of starting a tune from silence;
        with `fade_ticks`, both models play, the new one's weight rising over that many ticks."""
        tick = self.stream.rollback(tick)  # keeps the decided tokens before it
        self._continue_with(model, fade_ticks)
        return tick
