"""Voices: one model generating one line a little ahead of the clock, one class per family.

    melody   a melody RNN, one token per 16th (melody.py)
    text     a char RNN, one character per tick, words sent as they end (text.py)
    abc      a char RNN trained on ABC tunes, each finished line parsed into notes (abc.py)
    gesture  an MDRNN, (dt, x1..xn) gestures at the times it predicts (gesture.py)

The engine asks each voice, on the generator thread, for the events starting in each tick.
"""
from __future__ import annotations

from ..errors import LivecrepreError
from ..models import Model
from ..sampling import warm_up
from .abc import AbcVoice, prepare_abc
from .base import Voice
from .gesture import GestureVoice
from .melody import HORIZON, MelodyVoice
from .text import TextVoice

VOICE_CLASSES: dict[str, type[Voice]] = {"melody": MelodyVoice, "text": TextVoice,
                                         "abc": AbcVoice, "gesture": GestureVoice}


def prepare(model: Model) -> None:
    """Everything slow a voice of this model needs (compiling, imports): on the caller's thread."""
    if model.family not in VOICE_CLASSES:
        raise LivecrepreError(f"{model.name}: no voice plays {model.family} models")
    warm_up(model)
    if model.family == "abc":
        prepare_abc()


def voice_plays(model: Model) -> str:
    """notes, text or gestures: what a voice of this model sends to its routes."""
    return VOICE_CLASSES[model.family].plays


def voices_batch(model: Model) -> bool:
    """Whether voices of this model generate in batches (their class says how far a tick reads)."""
    return VOICE_CLASSES[model.family].batch_until is not Voice.batch_until


def make_voice(name: str, model: Model, **kwargs) -> Voice:
    return VOICE_CLASSES[model.family](name, model, **kwargs)


__all__ = ["HORIZON", "Voice", "make_voice", "prepare", "MelodyVoice", "TextVoice", "AbcVoice",
           "GestureVoice", "voice_plays", "voices_batch"]
