"""A rhythmic mask: only notes on the 8th-note grid play; the 16ths between them are dropped."""


def transform(note):
    return note if note.step % 2 == 0 else None
