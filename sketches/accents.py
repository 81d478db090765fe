"""A velocity curve: loud downbeats, lighter beats, soft off-beats."""


def transform(note):
    if note.step == 0:
        velocity = 120
    elif note.step % 4 == 0:
        velocity = 96
    else:
        velocity = 64
    return note.but(velocity=velocity)
