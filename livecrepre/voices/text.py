"""A text voice: a char RNN writing one character per tick; each word is sent as it ends."""
from __future__ import annotations

from ..events import Played
from ..sampling import start_token
from .tokens import TokenStream, TokenVoice

LONGEST_WORD = 32  # characters; a longer run without a space is sent in pieces


class TextVoice(TokenVoice):
    family = "text"
    plays = "text"
    can_fade = True  # between models of one alphabet (see TokenVoice.check_fade)

    def __init__(self, name, model, **kwargs):
        super().__init__(name, model, **kwargs)
        self.stream = TokenStream(model, self.key, self.temperature, self.start_tick,
                                  start_token(model))
        self._word: list[str] = []
        self.text = ""  # the last few hundred characters written, for status and tests

    def batch_until(self, tick: int) -> int:
        return tick + 1

    def events_at(self, tick: int, tempo) -> list[Played]:
        char = self.model.alphabet[self.stream.token_at(tick)]
        self.stream.frozen = tick + 1
        self.stream.keep_from(tick)
        self.text = (self.text + char)[-400:]
        if not char.isspace():
            self._word.append(char)
            if len(self._word) < LONGEST_WORD:
                return []
        if not self._word:
            return []
        word, self._word = "".join(self._word), []
        return self._played([Played(tick, text=word)])

    def swap(self, model, tick: int, fade_ticks: int = 0) -> int:
        """The new model goes on from `tick`, primed with the text written so far (with
        `fade_ticks`, their next-character distributions mixed over that many ticks)."""
        tick = self.stream.rollback(tick)
        self._continue_with(model, fade_ticks)
        return tick
