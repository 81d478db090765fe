"""A melody voice: a melody RNN's tokens, one per tick, turned into notes.

The stream runs at least HORIZON ticks ahead of the tick being played, so when a note starts its
length is already known: its note-off is scheduled with its note-on, and OSC receivers are told
its duration. A note already playing when a control lands keeps the length it was given:
rollback never goes before the tick where it ends, and the token regenerated there may not be
"no event" (which would hold the note on), so a change at a bar line lands on the bar line.
"""
from __future__ import annotations

from ..encodings import NO_EVENT, NOTE_OFF, START_TOKEN
from ..events import Played
from ..sampling import BLOCK_TICKS
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

    def batch_until(self, tick: int) -> int:
        return tick + HORIZON + 1

    def events_at(self, tick: int, tempo) -> list[Played]:
        stream = self.stream
        stream.ensure(self.batch_until(tick))
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
