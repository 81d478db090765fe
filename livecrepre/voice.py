"""A voice: one model generating one melodic line, a little ahead of the clock.

The voice generates tokens in blocks (one jitted call per BLOCK_TICKS) into a buffer that runs at
least HORIZON ticks ahead of the tick being played, so when a note starts its length is already
known: its note-off can be scheduled with its note-on, and OSC receivers are told its duration.

A control that lands at tick k (temperature, swap) rolls the buffer back to k, restoring the
recurrent state saved for that tick, and regenerates. A note already playing at k keeps the length
it was given: rollback never goes before the tick after the token that ended it.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import jax
import numpy as np

from .encodings import NO_EVENT, NOTE_OFF, START_TOKEN
from .models import Model
from .sampling import BLOCK_TICKS, generate_block

HORIZON = 2 * BLOCK_TICKS  # longest note, in ticks; a longer held note is cut here
HISTORY = 256  # ticks of played tokens kept (for status and, later, priming a swapped-in model)


@dataclass
class _Block:
    start: int
    tokens: np.ndarray  # int32 [n]
    states: object  # recurrent state before each tick, leaves [n, ...]
    prev: int  # token before `start`


@dataclass(frozen=True)
class VoiceNote:
    pitch: int
    tick: int
    end_tick: int


def _index_state(states, i: int):
    return jax.tree.map(lambda leaf: leaf[i], states)


class Voice:
    def __init__(self, name: str, model: Model, temperature: float, key, routes: list,
                 start_tick: int, velocity: int = 100, bar_ticks: int = 16):
        self.name = name
        self.temperature = float(temperature)
        self.key = np.asarray(key, dtype=np.uint32)
        self.routes = list(routes)
        self.velocity = velocity
        self.muted = False
        self.history: deque[int] = deque(maxlen=HISTORY)
        self.notes_played = 0
        self.model = model
        self._blocks: list[_Block] = []
        # Models learn tunes starting on a downbeat: generation starts at the bar, so the line's
        # beats fall on the clock's beats; the ticks before `start_tick` are never played.
        self._gen_tick = start_tick - start_tick % bar_ticks
        self._gen_state = model.initial_state()
        self._gen_prev = START_TOKEN
        self._frozen = start_tick  # ticks before this are decided for good

    # -- the buffer -------------------------------------------------------------------------
    def _generate(self) -> None:
        state, tokens, states = generate_block(self.model, self._gen_state, self._gen_prev,
                                               self.key, self._gen_tick, self.temperature)
        tokens = np.asarray(tokens, dtype=np.int32)
        self._blocks.append(_Block(self._gen_tick, tokens, states, self._gen_prev))
        self._gen_tick += len(tokens)
        self._gen_state, self._gen_prev = state, int(tokens[-1])

    def _ensure(self, until: int) -> None:
        while self._gen_tick < until:
            self._generate()

    def token_at(self, tick: int) -> int:
        self._ensure(tick + 1)
        for block in self._blocks:
            if block.start <= tick < block.start + len(block.tokens):
                return int(block.tokens[tick - block.start])
        raise IndexError(f"tick {tick} is no longer buffered")

    def _rollback(self, tick: int) -> int:
        """Forget generated tokens from `tick` on (never before the frozen point); returns the tick."""
        tick = max(tick, self._frozen)
        if tick >= self._gen_tick:
            return tick
        kept = []
        for block in self._blocks:
            end = block.start + len(block.tokens)
            if end <= tick:
                kept.append(block)
            elif block.start <= tick:
                i = tick - block.start
                self._gen_state = _index_state(block.states, i)
                self._gen_prev = int(block.tokens[i - 1]) if i else block.prev
                if i:
                    kept.append(_Block(block.start, block.tokens[:i],
                                       jax.tree.map(lambda leaf: leaf[:i], block.states), block.prev))
        self._blocks = kept
        self._gen_tick = tick
        return tick

    # -- what the engine calls, on the generator thread ---------------------------------------
    def note_at(self, tick: int) -> VoiceNote | None:
        """The note starting at `tick`, with its length, or None."""
        self._ensure(tick + HORIZON + 1)
        token = self.token_at(tick)
        self.history.append(token)
        note = None
        if token < NOTE_OFF:
            end = tick + HORIZON
            for t in range(tick + 1, tick + HORIZON + 1):
                if self.token_at(t) != NO_EVENT:
                    end = t
                    break
            note = VoiceNote(token, tick, end)
            self._frozen = max(self._frozen, end + 1)
            self.notes_played += 1
        self._frozen = max(self._frozen, tick + 1)
        self._blocks = [b for b in self._blocks if b.start + len(b.tokens) > tick]
        return note

    def set_temperature(self, temperature: float, tick: int) -> int:
        self.temperature = float(temperature)
        return self._rollback(tick)

    def swap(self, model: Model, tick: int) -> int:
        """The new model decides from `tick` (or the end of the note playing there), starting a tune
        from its initial state: swap `--at bar` and its downbeats fall on the clock's."""
        tick = self._rollback(tick)  # keeps the decided tokens before it
        self.model = model
        self._gen_state, self._gen_prev = model.initial_state(), START_TOKEN  # a tune starts here
        return tick
