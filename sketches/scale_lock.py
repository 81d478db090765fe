"""Scale lock: every note moves to the nearest note of the scale, down when two are as near
(edit ROOT and SCALE live)."""
ROOT = 2  # D
SCALE = [0, 2, 3, 5, 7, 9, 10]  # dorian


def transform(note):
    for shift in (0, -1, 1, -2, 2):
        if (note.pitch + shift - ROOT) % 12 in SCALE:
            return note.but(pitch=note.pitch + shift)
    return note
