"""Character datasets: a text file, or the ABC text of the folk corpus, for char RNNs.

Each piece is encoded as newline + text + newline over the dataset's alphabet (sorted characters),
so a voice starts a line from a newline, as every piece does.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .data import FOLK_COLLECTIONS, Dataset, _collect, folk_tunes, split_abc_tunes
from .errors import LivecrepreError

def _text_pieces(text: str) -> list[str]:
    """Pieces of a text: its blank-line separated blocks, or, when there are too few to hold some
    out, runs of 20 lines."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    blocks = [b.strip("\n") for b in re.split(r"\n\s*\n", text) if b.strip()]
    if len(blocks) >= 10:
        return blocks
    lines = [line for line in text.split("\n")]
    return [b for b in ("\n".join(lines[i: i + 20]).strip("\n") for i in range(0, len(lines), 20)) if b]


def char_dataset(named_pieces: list[tuple[str, str]], validation_fraction: float, report,
                 corpus: str, plays: str | None = None) -> Dataset:
    """A char dataset from (name, text) pieces: each piece encoded as newline + text + newline."""
    named_pieces = [(n, t) for n, t in named_pieces if t.strip()]
    if not named_pieces:
        raise LivecrepreError(f"{corpus}: no text to train on")
    alphabet = "".join(sorted(set("\n".join(t for _, t in named_pieces)) | {"\n"}))
    index = {c: i for i, c in enumerate(alphabet)}
    results = [(name, np.array([index[c] for c in "\n" + text + "\n"], np.uint16), "")
               for name, text in named_pieces]
    dataset = _collect(results, validation_fraction, report, unit="characters")
    dataset.meta.update({"kind": "char", "encoding": "characters", "alphabet": alphabet,
                         "corpus": corpus, "plays": plays})
    del dataset.meta["bar_ticks"], dataset.meta["ticks_per_quarter"]
    return dataset


def build_text_dataset(path: str | Path, validation_fraction: float = 0.1, report=print) -> Dataset:
    """A char dataset from a text file (UTF-8); ABC files are read as tunes and play as music."""
    path = Path(path)
    if not path.is_file():
        raise LivecrepreError(f"{path}: no such text file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise LivecrepreError(f"{path}: not UTF-8 text (byte {exc.start})")
    if re.search(r"^X:", text, flags=re.M) and re.search(r"^K:", text, flags=re.M):
        tunes = [clean_abc(t) for t in split_abc_tunes(text)]
        return char_dataset([(f"{path.name}#{i}", t) for i, t in enumerate(tunes)],
                            validation_fraction, report, f"ABC tunes from {path.name}", plays="abc")
    pieces = _text_pieces(text)
    return char_dataset([(f"{path.name}#{i}", t) for i, t in enumerate(pieces)],
                        validation_fraction, report, f"text from {path.name}")


ABC_FIELDS_KEPT = "XTMLKR"  # tune number, title, metre, unit length, key, rhythm


def clean_abc(tune: str) -> str:
    """A tune's ABC without comments, lyrics and bookkeeping fields, whitespace tidied."""
    kept = []
    for line in tune.split("\n"):
        line = line.split("%", 1)[0].rstrip()
        if not line:
            continue
        if re.match(r"^[A-Za-z]:", line) and line[0] not in ABC_FIELDS_KEPT:
            continue
        kept.append(line)
    return "\n".join(kept)


def build_abc_text_dataset(validation_fraction: float = 0.05, limit: int | None = None,
                           report=print) -> Dataset:
    """The ABC text of O'Neill's 1850 and Ryan's Mammoth tunes, for a char model that plays music."""
    tunes = [(name, clean_abc(abc)) for name, abc in folk_tunes()[:limit]]
    return char_dataset(tunes, validation_fraction, report,
                        "music21 corpus: " + ", ".join(FOLK_COLLECTIONS) + " (public domain ABC text)",
                        plays="abc")
