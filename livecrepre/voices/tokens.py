"""A token model's output, generated in jitted blocks ahead of where it is read.

Tokens are indexed by position (a tick for melody and text voices, a character count for ABC).
A control that lands at position k rolls the buffer back to k, restoring the recurrent state saved
for it, and the tokens are regenerated; positions before `frozen` are decided for good.

During a crossfade the stream steps two models and mixes their distributions (sampling.py); its
state is then a pair, and each block remembers the fade it was made in, so a rollback into a fade
resumes it. When the fade is over the new model goes on alone.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax
import numpy as np

from ..encodings import NO_EVENT
from ..errors import LivecrepreError
from ..models import Model
from ..sampling import PRIME_STEPS, generate_block, generate_fade_block, prime, start_token
from .base import Voice


@dataclass(frozen=True)
class Fade:
    old: Model
    new: Model
    start: int  # position where the new model's weight starts rising
    length: int  # positions until it is 1

    @property
    def end(self) -> int:
        return self.start + self.length


@dataclass
class _Block:
    start: int
    tokens: np.ndarray  # int32 [n]
    states: object  # recurrent state before each position, leaves [n, ...] (a pair in a fade)
    prev: int  # token before `start`
    model: Model
    fade: Fade | None = None


def _index_state(states, i: int):
    return jax.tree.map(lambda leaf: leaf[i], states)


class TokenStream:
    def __init__(self, model: Model, key, temperature: float, first: int, start_token: int):
        self.model = model
        self.key = key
        self.temperature = float(temperature)
        self._blocks: list[_Block] = []
        self._gen = first  # the next position to generate
        self._gen_state = model.initial_state()
        self._gen_prev = start_token
        self.frozen = first
        self.origin = first  # a bar line, for models that know the metre
        self.barred = -1  # a position where "no event" may not be sampled (a note ends there)
        self.fade: Fade | None = None

    def _generate(self) -> None:
        if self.batchable():
            self.take_block(*generate_block(self.model, *self.block_inputs()))
        else:
            self.take_block(*generate_fade_block(
                self.fade.old, self.fade.new, self._gen_state, self._gen_prev, self.key, self._gen,
                self.temperature, self.origin, self.barred, self.fade.start, self.fade.length))

    def batchable(self) -> bool:
        """Whether its next block comes from its model alone, so that it can be generated in a
        batch with other streams of that model: not during a fade, which steps two models (a fade
        that has ended is settled here: the new model goes on alone)."""
        if self.fade is not None and self._gen >= self.fade.end:
            self._settle()
        return self.fade is None

    def block_inputs(self) -> tuple:
        """(state, prev_token, key, start_tick, temperature, origin, barred) of the next block."""
        return (self._gen_state, self._gen_prev, self.key, self._gen, self.temperature, self.origin,
                self.barred)

    def take_block(self, state, tokens, states) -> None:
        """The next block, generated here or in a batch."""
        if not all(np.isfinite(leaf).all() for leaf in jax.tree.leaves(state)):
            raise FloatingPointError(f"{self.model.name} returned NaN or infinity")
        tokens = np.asarray(tokens, dtype=np.int32)
        self._blocks.append(_Block(self._gen, tokens, states, self._gen_prev, self.model, self.fade))
        self._gen += len(tokens)
        self._gen_state, self._gen_prev = state, int(tokens[-1])

    @property
    def generated_until(self) -> int:
        return self._gen

    def ensure(self, until: int) -> None:
        while self._gen < until:
            self._generate()

    def token_at(self, position: int) -> int:
        self.ensure(position + 1)
        for block in self._blocks:
            if block.start <= position < block.start + len(block.tokens):
                return int(block.tokens[position - block.start])
        raise IndexError(f"position {position} is no longer buffered")

    def forget_before(self, position: int) -> None:
        self._blocks = [b for b in self._blocks if b.start + len(b.tokens) > position]

    def rollback(self, position: int) -> int:
        """Forget tokens from `position` on (never before `frozen`); returns where it rolled to."""
        position = max(position, self.frozen)
        if position >= self._gen:
            return position
        kept = []
        for block in self._blocks:
            end = block.start + len(block.tokens)
            if end <= position:
                kept.append(block)
            elif block.start <= position:
                i = position - block.start
                self._gen_state = _index_state(block.states, i)
                self._gen_prev = int(block.tokens[i - 1]) if i else block.prev
                self.model, self.fade = block.model, block.fade
                if i:
                    kept.append(_Block(block.start, block.tokens[:i],
                                       jax.tree.map(lambda leaf: leaf[:i], block.states), block.prev,
                                       block.model, block.fade))
        self._blocks = kept
        self._gen = position
        return position

    def skip_to(self, position: int) -> int:
        """Go on from `position` when the tokens up to it were never generated (a listening voice
        that was silent); the caller restarts the model there. Returns where it now is."""
        self._gen = max(self._gen, position)
        return self._gen

    def recent(self, count: int, fill: int, end: int | None = None) -> np.ndarray:
        """The `count` tokens before `end` (the next position to generate by default; `fill`
        where none is kept)."""
        end = self._gen if end is None else end
        out = np.full(count, fill, np.int32)
        first = end - count
        for block in self._blocks:
            for i, token in enumerate(block.tokens):
                if first <= block.start + i < end:
                    out[block.start + i - first] = token
        return out

    def keep_from(self, position: int) -> None:
        """Forget blocks that end before `position`, keeping what a swap primes with."""
        self.forget_before(position - PRIME_STEPS)

    def _settle(self) -> None:
        """Complete a fade: the new model alone, from its half of the state (at the fade's end, or
        at once when another change comes during it)."""
        if self.fade is not None:
            self.model, self._gen_state, self.fade = self.fade.new, self._gen_state[1], None

    def restart(self, model: Model, history: np.ndarray) -> None:
        """After a rollback: `model` goes on from here, primed with `history` (PRIME_STEPS tokens in
        its encoding, ending just before here) so it continues the line rather than starting anew."""
        self._settle()
        self.model = model
        self._gen_state = prime(model, history[:-1], self._gen - len(history), self.origin)
        self._gen_prev = int(history[-1])

    def crossfade(self, model: Model, history: np.ndarray, length: int) -> None:
        """After a rollback: `model` (primed like `restart`) fades in over `length` positions."""
        self._settle()
        primed = prime(model, history[:-1], self._gen - len(history), self.origin)
        self.fade = Fade(self.model, model, self._gen, length)
        self._gen_state = (self._gen_state, primed)
        self.model = model


def reencode_chars(tokens: np.ndarray, old: Model, new: Model) -> np.ndarray:
    """A char model's tokens in another char model's alphabet (unknown characters become newlines)."""
    index = {c: i for i, c in enumerate(new.alphabet)}
    newline = index["\n"]
    return np.array([index.get(old.alphabet[t], newline) for t in tokens], np.int32)


class TokenVoice(Voice):
    """A voice that reads a token model's TokenStream (melody, text, ABC): the key and
    temperature are the stream's, and a swap primes the new model with the stream's recent tokens."""

    stream: TokenStream

    @Voice.key.setter
    def key(self, key) -> None:
        Voice.key.fset(self, key)
        self.stream.key = self.key

    def set_temperature(self, temperature: float, tick: int) -> int:
        self._temperature = self.stream.temperature = float(temperature)
        return self.stream.rollback(tick)

    def check_fade(self, model: Model) -> None:
        """On the caller's thread: two char models mix their distributions only over one alphabet."""
        if self.model.kind == "char" and model.alphabet != self.model.alphabet:
            raise LivecrepreError(f"--fade mixes two models' next characters, but {model.name} writes "
                                  f"other characters than {self.model.name}; swap without --fade")

    def _continue_with(self, model: Model, fade_ticks: int = 0) -> None:
        """After a rollback: `model` goes on, fed the last PRIME_STEPS tokens (characters in its
        alphabet), fading in over `fade_ticks` when given."""
        if self.model.kind == "char":
            history = reencode_chars(self.stream.recent(PRIME_STEPS, start_token(self.model)), self.model, model)
        else:
            history = self.stream.recent(PRIME_STEPS, NO_EVENT)
        if fade_ticks:
            self.stream.crossfade(model, history, fade_ticks)
        else:
            self.stream.restart(model, history)
        self.model = model
