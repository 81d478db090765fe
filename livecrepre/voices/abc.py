"""An ABC voice: a char RNN trained on ABC tunes writes a tune; each finished line of music is
parsed into notes (music21 reads ABC) and scheduled on the clock, where the previous line ended.

Header lines (M: metre, L: unit note length, K: key) set how the following lines are read; other
fields (X:, T:, ...) are passed over. A line music21 cannot read is skipped. Characters are
generated a few blocks per tick, only while less than LOOKAHEAD_BARS of notes are waiting, so
the voice never works far ahead; temperature and swaps decide from the next line written.
"""
from __future__ import annotations

import re
from collections import deque

from ..events import Played
from ..sampling import BLOCK_TICKS, start_token
from .tokens import TokenStream, TokenVoice

LOOKAHEAD_BARS = 2
BLOCKS_PER_TICK = 4  # at most this many 16-character blocks generated in one tick
LONGEST_LINE = 240  # characters; a longer line is cut and read as it is
DEFAULT_HEADER = {"M": "4/4", "L": "1/8", "K": "C"}
_FIELD = re.compile(r"^([A-Za-z]):(.*)$")


def prepare_abc() -> None:
    """Import music21's ABC reader and read a line once: slow the first time, so never on the clock."""
    abc_line_notes(DEFAULT_HEADER, "CDEF GABc|", 4)


def abc_line_notes(header: dict, line: str, ticks_per_quarter: int) -> tuple[list[Played], float]:
    """The notes of one line of ABC music (ticks from the line's start) and the line's length."""
    from music21 import abcFormat
    from music21.abcFormat import translate

    text = "X:1\n" + "".join(f"{k}:{header[k]}\n" for k in ("M", "L", "K")) + line + "\n"
    handler = abcFormat.ABCHandler()
    handler.process(text)
    score = translate.abcToStreamScore(handler)
    notes: list[Played] = []
    for element in score.flatten().notes:
        if element.duration.isGrace or element.quarterLength <= 0:
            continue
        start = float(element.offset) * ticks_per_quarter
        end = start + float(element.quarterLength) * ticks_per_quarter
        pitch = max(p.midi for p in element.pitches)
        if notes and start < notes[-1].end:  # monophonic: the later note cuts the earlier
            if start <= notes[-1].start:
                continue
            notes[-1] = Played(notes[-1].start, start, pitch=notes[-1].pitch)
        if 0 <= pitch <= 127:
            notes.append(Played(start, end, pitch=pitch))
    return notes, float(score.highestTime) * ticks_per_quarter


class AbcVoice(TokenVoice):
    family = "abc"

    def __init__(self, name, model, **kwargs):
        super().__init__(name, model, **kwargs)
        self.stream = TokenStream(model, self.key, self.temperature, 0, start_token(model))
        self._next_char = 0
        self._line: list[str] = []
        self.header = dict(DEFAULT_HEADER)
        self._waiting: deque[Played] = deque()  # decided notes, in clock ticks
        # music starts on the first bar line after the voice was added
        self._cursor = float(-(-self.start_tick // self.bar_ticks) * self.bar_ticks)
        self.lines_skipped = 0
        self.lines: deque[str] = deque(maxlen=32)  # the last lines written, for people

    # -- writing and reading ABC --------------------------------------------------------------
    def _write_some(self, blocks: int, until: float) -> None:
        """Write characters, reading each line as it ends, until notes reach tick `until` or
        `blocks` blocks of characters are written."""
        alphabet = self.model.alphabet
        for _ in range(blocks * BLOCK_TICKS):
            if self._cursor >= until:
                break
            char = alphabet[self.stream.token_at(self._next_char)]
            self._next_char += 1
            self.stream.frozen = self._next_char
            if char != "\n" and len(self._line) < LONGEST_LINE:
                self._line.append(char)
                continue
            line, self._line = "".join(self._line).strip(), []
            self._read(line)
        self.stream.keep_from(self._next_char)

    def _read(self, line: str) -> None:
        if not line or line.startswith("%"):
            return
        field = _FIELD.match(line)
        if field and not line.startswith("|"):
            name, value = field.group(1), field.group(2).strip()
            if name in self.header and value:
                self.header[name] = value
            if name == "X":  # a new tune
                self.header = dict(DEFAULT_HEADER)
            return
        try:
            notes, length = abc_line_notes(self.header, line, self.ticks_per_beat)
        except Exception:  # noqa: BLE001 - a model writes unreadable lines now and then
            self.lines_skipped += 1
            return
        if not notes or length <= 0:
            self.lines_skipped += 1
            return
        self.lines.append(line)
        for note in notes:
            self._waiting.append(Played(self._cursor + note.start, self._cursor + note.end,
                                        pitch=note.pitch))
        self._cursor += length

    # -- what the engine calls ----------------------------------------------------------------
    def events_at(self, tick: int, tempo) -> list[Played]:
        if self._cursor < tick:  # nothing readable for a while: start again on the next bar
            self._cursor = float(-(-tick // self.bar_ticks) * self.bar_ticks)
        until = tick + LOOKAHEAD_BARS * self.bar_ticks
        if self._cursor < until:
            self._write_some(BLOCKS_PER_TICK if self._cursor < tick + self.bar_ticks else 1, until)
        played = []
        while self._waiting and self._waiting[0].start < tick + 1:
            note = self._waiting.popleft()
            if note.start >= tick:
                played.append(note)
        return self._played(played)

    def set_temperature(self, temperature: float, tick: int) -> int:
        self._temperature = self.stream.temperature = float(temperature)
        self.stream.rollback(self._next_char)
        return tick

    def swap(self, model, tick: int, fade_ticks: int = 0) -> int:
        """The new model writes from the next character on, primed with the ABC written so far
        (the tune's header and lines), so it goes on with the tune."""
        self.stream.rollback(self._next_char)
        self._continue_with(model)
        return tick
