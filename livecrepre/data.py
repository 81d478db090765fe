"""Datasets: raw material in, pieces to train on out, saved as plain .npz (no pickle).

A dataset is a list of pieces, each marked train or validation, of one kind:
    melody   melody130 token arrays (music21 corpora, the user's MIDI files)
    char     character-index arrays, the alphabet in the metadata (a text file, ABC tunes)
    gesture  float arrays [events, 1 + n] of (dt, x1..xn) (an IMPSY-shaped CSV log)
Every piece starts with its start symbol (START, a newline, a zero vector): what a voice feeds
first. The split is by piece, never by window, so held-out figures measure pieces never seen.
"""
from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass, field
import multiprocessing
from pathlib import Path

import numpy as np

from .encodings import NO_EVENT, NOTE_OFF, START_TOKEN, Note, notes_to_tokens
from .errors import LivecrepreError

FOLK_COLLECTIONS = ("oneills1850", "ryansMammoth")
ESSEN_COLLECTIONS = ("essenFolksong",)
BAR_TICKS = 16  # pieces are padded to whole 4/4 bars of 16ths; voices start on a bar


@dataclass
class Dataset:
    pieces: list[np.ndarray]
    names: list[str]
    is_validation: np.ndarray  # bool per piece
    meta: dict = field(default_factory=dict)

    def split(self, validation: bool) -> list[np.ndarray]:
        return [p for p, v in zip(self.pieces, self.is_validation) if v == validation]

    @property
    def kind(self) -> str:
        return self.meta.get("kind", "melody")

    def save(self, path: str | Path) -> None:
        """Write as .npz data at exactly `path` (any suffix, e.g. riffs.data)."""
        offsets = np.cumsum([0] + [len(p) for p in self.pieces]).astype(np.int64)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:  # a file object: numpy adds no .npz suffix
            np.savez_compressed(
                f,
                tokens=np.concatenate(self.pieces),
                offsets=offsets,
                names=np.array(self.names, dtype=str),
                is_validation=np.asarray(self.is_validation, dtype=bool),
                meta=np.array(json.dumps(self.meta)),
            )

    @classmethod
    def load(cls, path: str | Path) -> "Dataset":
        if not Path(path).is_file():
            raise LivecrepreError(f"{path}: no such dataset (make one with `livecrepre data ...`)")
        try:
            with np.load(path, allow_pickle=False) as f:
                tokens, offsets = f["tokens"], f["offsets"]
                pieces = [tokens[a:b] for a, b in zip(offsets[:-1], offsets[1:])]
                return cls(pieces, [str(n) for n in f["names"]], f["is_validation"],
                           json.loads(str(f["meta"])))
        except Exception as exc:  # noqa: BLE001 - any broken file reads the same
            raise LivecrepreError(f"{path}: corrupt or not a livecrepre dataset ({type(exc).__name__})")


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


def _pool(processes: int):
    """Worker processes started fresh: forking a process that has JAX's threads can deadlock."""
    return multiprocessing.get_context("spawn").Pool(processes)


def _encode_score(name: str, parse) -> tuple[str, np.ndarray | None, str]:
    """(name, tokens or None, why skipped) for the top line of the score `parse()` returns."""
    try:
        notes = score_to_notes(parse())
    except Exception as exc:  # noqa: BLE001 - a bad piece is reported, never fatal
        return name, None, f"unparsable: {type(exc).__name__}: {str(exc)[:80]}"
    if len(notes) < 8:
        return name, None, f"too short ({len(notes)} notes)"
    return name, encode_piece(notes), ""


def _encode_abc_tune(args: tuple[str, str]) -> tuple[str, np.ndarray | None, str]:
    name, abc = args
    from music21 import converter  # imported in the worker: music21 is slow to import

    return _encode_score(name, lambda: converter.parse(abc, format="abc"))


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
                       limit: int | None = None, report=print, collections=FOLK_COLLECTIONS) -> Dataset:
    """Melodies of the music21 package's ABC collections (O'Neill + Ryan by default; Essen's
    folksongs with collections=ESSEN_COLLECTIONS)."""
    tunes = folk_tunes(collections)[:limit]
    with _pool(processes) as pool:
        results = pool.map(_encode_abc_tune, tunes, chunksize=16)
    dataset = _collect(results, validation_fraction, report)
    dataset.meta["corpus"] = "music21 corpus: " + ", ".join(collections) + " (public domain ABC)"
    return dataset


def _encode_chorale(name: str) -> tuple[str, np.ndarray | None, str]:
    from music21 import corpus

    return _encode_score(name, lambda: corpus.parse(name).parts[0])  # the soprano


def build_chorale_dataset(validation_fraction: float = 0.1, processes: int = 2,
                          limit: int | None = None, report=print) -> Dataset:
    """The soprano lines of the Bach chorales in the music21 package's corpus."""
    from music21 import corpus

    names = list(corpus.chorales.Iterator(returnType="filename"))[:limit]
    with _pool(processes) as pool:
        results = pool.map(_encode_chorale, names, chunksize=8)
    dataset = _collect(results, validation_fraction, report)
    dataset.meta["corpus"] = "music21 corpus: Bach chorales, soprano lines (public domain)"
    return dataset


# -- the user's own MIDI files ------------------------------------------------------------------

DRUM_CHANNEL = 9  # General MIDI channel 10: percussion, not a melody


def midi_file_notes(path: str | Path, track: int | None = None, channel: int | None = None,
                    ticks_per_quarter: int = 4) -> list[Note]:
    """The top line of a MIDI file (or of one track / channel, counted from 1), on the 16th grid.

    When several notes start together the highest is kept; a note ends where the next begins."""
    import mido

    midi = mido.MidiFile(str(path))
    step = midi.ticks_per_beat / ticks_per_quarter
    tracks = midi.tracks
    if track is not None:
        if not 1 <= track <= len(tracks):
            raise ValueError(f"no track {track} (the file has {len(tracks)})")
        tracks = [tracks[track - 1]]
    raw: list[tuple[int, int, int]] = []  # (start tick, end tick, pitch) in file ticks
    for events in tracks:
        now, sounding = 0, {}
        for message in events:
            now += message.time
            if message.type not in ("note_on", "note_off"):
                continue
            if channel is not None and message.channel != channel - 1:
                continue
            if channel is None and message.channel == DRUM_CHANNEL:
                continue
            key = (message.channel, message.note)
            if message.type == "note_on" and message.velocity > 0:
                sounding.setdefault(key, now)
            elif key in sounding:
                raw.append((sounding.pop(key), now, message.note))
    by_start: dict[int, tuple[int, int]] = {}
    for start, end, pitch in raw:
        s = round(start / step)
        e = max(s + 1, round(end / step))
        if s not in by_start or pitch > by_start[s][1]:
            by_start[s] = (e, pitch)
    starts = sorted(by_start)
    notes = []
    for i, s in enumerate(starts):
        end, pitch = by_start[s]
        if i + 1 < len(starts):
            end = min(end, starts[i + 1])
        notes.append(Note(pitch, s, end))
    return notes


def _encode_midi_file(args) -> tuple[str, np.ndarray | None, str]:
    path, track, channel = args
    try:
        notes = midi_file_notes(path, track, channel)
    except Exception as exc:  # noqa: BLE001 - every way a file can be broken is reported
        detail = str(exc).strip()[:80]
        return str(path), None, f"unreadable: {type(exc).__name__}" + (f": {detail}" if detail else "")
    if len(notes) < 8:
        return str(path), None, (f"too few notes ({len(notes)})" if notes else
                                 "no notes (empty, or only drums on channel 10)")
    first_bar = notes[0].start - notes[0].start % BAR_TICKS
    notes = [Note(n.pitch, n.start - first_bar, n.end - first_bar) for n in notes]
    return str(path), encode_piece(notes), ""


def build_midi_dataset(folder: str | Path, track: int | None = None, channel: int | None = None,
                       validation_fraction: float = 0.1, report=print) -> Dataset:
    """A dataset from a folder of the user's MIDI files (searched recursively)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise LivecrepreError(f"{folder}: no such folder of MIDI files")
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".mid", ".midi"))
    if not paths:
        raise LivecrepreError(f"{folder}: no .mid or .midi files in it")
    results = [_encode_midi_file((p, track, channel)) for p in paths]
    dataset = _collect(results, validation_fraction, report)
    dataset.meta.update({"corpus": f"MIDI files from {folder}", "track": track, "channel": channel})
    return dataset


def _collect(results, validation_fraction: float, report, unit: str = "tokens") -> Dataset:
    """Pieces from (name, tokens or None, why) results; skipped ones reported; split by piece."""
    pieces, names, skipped = [], [], []
    for name, tokens, why in results:
        if tokens is None:
            skipped.append((name, why))
        else:
            pieces.append(tokens)
            names.append(name)
    for name, why in skipped:
        report(f"skipped {name}: {why}")
    report(f"{len(pieces)} pieces encoded, {len(skipped)} skipped, "
           f"{sum(len(p) for p in pieces):,} {unit}")
    if not pieces:
        raise LivecrepreError("nothing to train on: every file was skipped")
    is_val = np.array([is_validation_piece(n, validation_fraction) for n in names])
    if len(pieces) >= 2 and not is_val.any():
        is_val[-1] = True  # always hold something out, or no figure means anything
    if is_val.all():
        is_val[0] = False
    meta = {"kind": "melody", "encoding": "melody130", "ticks_per_quarter": 4, "bar_ticks": BAR_TICKS,
            "validation_fraction": validation_fraction, "skipped": len(skipped)}
    return Dataset(pieces, names, is_val, meta)
