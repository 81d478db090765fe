"""Transpose: every note up SEMITONES (change it and save: it moves at the next bar line)."""
SEMITONES = 7


def transform(note):
    return note.but(pitch=max(0, min(127, note.pitch + SEMITONES)))
