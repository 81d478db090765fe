"""Octave doubling: every note also sounds an octave above, a little softer."""


def transform(note):
    return [note, note.but(pitch=min(note.pitch + 12, 127), velocity=max(1, note.velocity - 20))]
