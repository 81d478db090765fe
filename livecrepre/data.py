"""Datasets of encoded melodies: built from the music21 corpus, saved as plain .npz (no pickle).

A dataset is a list of pieces (token arrays), each marked train or validation. The split is by
piece, never by window, so held-out figures measure tunes the model never saw.
"""
from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass, field
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from .encodings import NO_EVENT, NOTE_OFF, START_TOKEN, Note, notes_to_tokens

FOLK_COLLECTIONS = ("oneills1850", "ryansMammoth")
BAR_TICKS = 16  # pieces are padded to whole 4/4 bars of 16ths; voices start on a bar


@dataclass
class Dataset:
    pieces: list[np.ndarray]
    names: list[str]
    is_validation: np.ndarray  # bool per piece
    meta: dict = field(default_factory=dict)

    def split(self, validation: bool) -> list[np.ndarray]:
        return [p for p, v in zip(self.pieces, self.is_validation) if v == validation]

    def save(self, path: str | Path) -> None:
        offsets = np.cumsum([0] + [len(p) for p in self.pieces]).astype(np.int64)
        np.savez_compressed(
            path,
            tokens=np.concatenate(self.pieces).astype(np.uint8),
            offsets=offsets,
            names=np.array(self.names, dtype=str),
            is_validation=np.asarray(self.is_validation, dtype=bool),
            meta=np.array(json.dumps(self.meta)),
        )

    @classmethod
    def load(cls, path: str | Path) -> "Dataset":
        with np.load(path, allow_pickle=False) as f:
            tokens, offsets = f["tokens"], f["offsets"]
            pieces = [tokens[a:b] for a, b in zip(offsets[:-1], offsets[1:])]
            return cls(pieces, [str(n) for n in f["names"]], f["is_validation"],
                       json.loads(str(f["meta"])))


def split_abc_tunes(text: str) -> list[str]:
    """Split an ABC file into single tunes (each starts at an `X:` line)."""
    starts = [m.start() for m in re.finditer(r"^X:", text, flags=re.M)]
    return [text[a:b].strip() for a, b in zip(starts, starts[1:] + [len(text)])]


def score_to_notes(score, ticks_per_quarter: int = 4) -> list[Note]:
    """The top line of a music21 stream, quantized to ticks; ties merged, grace notes dropped."""
    notes: list[Note] = []
    # A pickup bar is short by its paddingLeft: shift everything so tick 0 is a downbeat.
    first_bar = score.recurse().getElementsByClass("Measure").first()
    shift = float(first_bar.paddingLeft) if first_bar is not None else 0.0
    for element in score.flatten().notes:
        if element.duration.isGrace or element.quarterLength <= 0:
            continue
        pitch = max(p.midi for p in element.pitches)  # top note of a chord
        start = round((float(element.offset) + shift) * ticks_per_quarter)
        end = round((float(element.offset + element.quarterLength) + shift) * ticks_per_quarter)
        tie = element.tie.type if element.tie is not None else None
        if tie in ("stop", "continue") and notes and notes[-1].pitch == pitch:
            notes[-1] = Note(pitch, notes[-1].start, max(end, notes[-1].end))
            continue
        if end <= start or (notes and start < notes[-1].end and start <= notes[-1].start):
            continue  # collapsed by quantization (fast triplets) or not monophonic
        if notes and start < notes[-1].end:
            notes[-1] = Note(notes[-1].pitch, notes[-1].start, start)
        notes.append(Note(pitch, start, end))
    return notes


def _encode_abc_tune(args: tuple[str, str]) -> tuple[str, np.ndarray | None, str]:
    name, abc = args
    from music21 import converter  # imported in the worker: music21 is slow to import

    try:
        score = converter.parse(abc, format="abc")
        notes = score_to_notes(score)
    except Exception as exc:  # noqa: BLE001 - a bad tune is reported, never fatal
        return name, None, f"unparsable: {type(exc).__name__}: {str(exc)[:80]}"
    if len(notes) < 8:
        return name, None, f"too short ({len(notes)} notes)"
    return name, encode_piece(notes), ""


def encode_piece(notes: list[Note]) -> np.ndarray:
    """START, then the tune from its first downbeat, ended by a note-off and padded with silence
    to whole bars of BAR_TICKS, so every piece keeps the 16th grid's bar phase in a stream."""
    body = np.concatenate([notes_to_tokens(notes), [NOTE_OFF]])
    padded = np.full(-(-len(body) // BAR_TICKS) * BAR_TICKS, NO_EVENT, dtype=np.uint8)
    padded[: len(body)] = body
    return np.concatenate([[START_TOKEN], padded]).astype(np.uint8)


def folk_tunes(collections=FOLK_COLLECTIONS) -> list[tuple[str, str]]:
    """(name, abc text) for every tune in the music21 package's folk ABC collections."""
    import music21

    corpus = Path(music21.__file__).parent / "corpus"
    tunes = []
    for collection in collections:
        for path in sorted((corpus / collection).glob("*.abc")):
            for i, abc in enumerate(split_abc_tunes(path.read_text(encoding="latin-1"))):
                tunes.append((f"{collection}/{path.stem}#{i}", abc))
    return tunes


def is_validation_piece(name: str, fraction: float) -> bool:
    """Stable split by piece name, independent of order and of the machine."""
    return (zlib.crc32(name.encode()) % 10_000) < fraction * 10_000


def build_folk_dataset(validation_fraction: float = 0.05, processes: int = 2,
                       limit: int | None = None, report=print) -> Dataset:
    tunes = folk_tunes()[:limit]
    with Pool(processes) as pool:
        results = pool.map(_encode_abc_tune, tunes, chunksize=16)
    pieces, names, skipped = [], [], []
    for name, tokens, why in results:
        if tokens is None:
            skipped.append((name, why))
        else:
            pieces.append(tokens)
            names.append(name)
    for name, why in skipped:
        report(f"skipped {name}: {why}")
    report(f"{len(pieces)} tunes encoded, {len(skipped)} skipped, "
           f"{sum(len(p) for p in pieces):,} tokens")
    is_val = np.array([is_validation_piece(n, validation_fraction) for n in names])
    meta = {"encoding": "melody130", "ticks_per_quarter": 4,
            "corpus": "music21 corpus: " + ", ".join(FOLK_COLLECTIONS) + " (public domain ABC)",
            "validation_fraction": validation_fraction, "skipped": len(skipped)}
    return Dataset(pieces, names, is_val, meta)
