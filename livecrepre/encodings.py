"""The 130-token melody encoding: one token per tick (a 16th note by default).

0-127  note-on of that MIDI pitch (it also ends the note sounding before it)
128    note-off (silence from this tick)
129    no event (the current note, or silence, continues)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NOTE_OFF = 128
NO_EVENT = 129
VOCAB_SIZE = 130
START_TOKEN = NOTE_OFF  # every sequence starts from silence


@dataclass(frozen=True)
class Note:
    pitch: int
    start: int  # tick
    end: int  # tick, exclusive


def notes_to_tokens(notes: list[Note]) -> np.ndarray:
    """Encode a monophonic line (notes sorted by start, not overlapping) as tokens."""
    if not notes:
        return np.zeros(0, dtype=np.uint8)
    length = max(n.end for n in notes)
    tokens = np.full(length, NO_EVENT, dtype=np.uint8)
    for i, note in enumerate(notes):
        tokens[note.start] = note.pitch
        next_start = notes[i + 1].start if i + 1 < len(notes) else None
        if next_start is None or next_start > note.end:
            if note.end < length:
                tokens[note.end] = NOTE_OFF
    return tokens


def tokens_to_notes(tokens) -> list[Note]:
    """Decode tokens back into notes; a note still sounding at the end is closed there."""
    notes: list[Note] = []
    current: tuple[int, int] | None = None  # (pitch, start)
    for tick, token in enumerate(int(t) for t in tokens):
        if token <= NOTE_OFF:  # a note-on or note-off ends the sounding note
            if current is not None:
                notes.append(Note(current[0], current[1], tick))
                current = None
            if token < NOTE_OFF:
                current = (token, tick)
    if current is not None:
        notes.append(Note(current[0], current[1], len(tokens)))
    return notes


def transpose_tokens(tokens: np.ndarray, semitones: int) -> np.ndarray:
    """Shift every note-on by `semitones`; the caller keeps pitches inside 0-127."""
    out = tokens.astype(np.int16)
    pitched = out < NOTE_OFF
    out[pitched] += semitones
    return out.astype(tokens.dtype)


def pitch_name(pitch: int) -> str:
    names = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
    return f"{names[pitch % 12]}{pitch // 12 - 1}"
