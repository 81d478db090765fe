import numpy as np

from livecrepre.data import BAR_TICKS, Dataset, build_folk_dataset, folk_tunes, split_abc_tunes
from livecrepre.encodings import NOTE_OFF, START_TOKEN


def test_folk_corpus_is_in_the_music21_package():
    tunes = folk_tunes()
    assert len(tunes) > 3000  # O'Neill's 1850 + Ryan's Mammoth
    assert any(name.startswith("oneills1850/") for name, _ in tunes)
    assert any(name.startswith("ryansMammoth/") for name, _ in tunes)


def test_build_a_small_dataset_and_read_it_back(tmp_path):
    lines = []
    dataset = build_folk_dataset(limit=24, processes=1, report=lines.append)
    assert lines[-1].startswith("24 pieces encoded, 0 skipped")
    for piece in dataset.pieces:
        assert piece[0] == START_TOKEN and NOTE_OFF in piece[1:]
        assert (len(piece) - 1) % BAR_TICKS == 0  # whole bars: the bar phase holds in a stream
    first_onsets = [int(np.argmax(p[1:] < NOTE_OFF)) for p in dataset.pieces]
    assert any(t > 0 for t in first_onsets)  # pickups are shifted so that tick 0 is a downbeat
    path = tmp_path / "folk.npz"
    dataset.save(path)
    again = Dataset.load(path)
    assert again.names == dataset.names
    assert all(np.array_equal(a, b) for a, b in zip(again.pieces, dataset.pieces))
    assert again.meta["encoding"] == "melody130"


def test_a_broken_tune_is_reported_not_fatal():
    from livecrepre.data import _encode_abc_tune

    name, tokens, why = _encode_abc_tune(("bad#0", "X:1\nT:empty\nK:G\n"))
    assert tokens is None and why


def test_split_abc_text_into_tunes():
    text = "%comment\nX:1\nT:a\nK:G\nGAB|\n\nX:2\nT:b\nK:D\ndef|\n"
    tunes = split_abc_tunes(text)
    assert len(tunes) == 2 and tunes[1].startswith("X:2")


# -- the user's own MIDI files --------------------------------------------------------------------

import mido
import pytest

from livecrepre.data import build_midi_dataset, midi_file_notes
from livecrepre.errors import LivecrepreError


def write_midi(path, notes, channel=0, ticks_per_beat=480, extra_track=None):
    """notes: (start 16th, length in 16ths, pitch); written as a real standard MIDI file."""
    midi = mido.MidiFile(ticks_per_beat=ticks_per_beat)
    for track_notes, ch in [(notes, channel)] + ([extra_track] if extra_track else []):
        events = []
        for start, length, pitch in track_notes:
            events.append((start * ticks_per_beat // 4, 1, mido.Message("note_on", note=pitch, velocity=90, channel=ch)))
            events.append(((start + length) * ticks_per_beat // 4, 0, mido.Message("note_off", note=pitch, channel=ch)))
        track, now = mido.MidiTrack(), 0
        for t, _, m in sorted(events, key=lambda e: (e[0], e[1])):
            track.append(m.copy(time=t - now))
            now = t
        midi.tracks.append(track)
    midi.save(str(path))


RIFF = [(0, 2, 64), (2, 2, 67), (4, 1, 69), (5, 1, 67), (6, 2, 64), (8, 4, 62), (12, 2, 60), (14, 2, 62)]


def test_midi_top_line_on_the_16th_grid(tmp_path):
    path = tmp_path / "riff.mid"
    chord_under = [(s, l, p - 12) for s, l, p in RIFF]  # a lower line under the riff
    write_midi(path, RIFF + chord_under)
    notes = midi_file_notes(path)
    assert [(n.start, n.end - n.start, n.pitch) for n in notes] == RIFF


def test_midi_folder_reports_what_it_skips(tmp_path):
    riffs = tmp_path / "riffs"
    riffs.mkdir()
    for i in range(4):
        write_midi(riffs / f"riff{i}.mid", [(s + 16 * k, l, p + i) for k in range(3) for s, l, p in RIFF])
    (riffs / "corrupt.mid").write_bytes(b"MThd\x00\x00garbage")
    (riffs / "empty.mid").write_bytes(b"")
    write_midi(riffs / "drums.mid", RIFF * 2, channel=9)
    write_midi(riffs / "two_notes.mid", RIFF[:2])
    lines = []
    dataset = build_midi_dataset(riffs, report=lines.append)
    text = "\n".join(lines)
    assert "corrupt.mid: unreadable" in text and "empty.mid: unreadable" in text
    assert "drums.mid: no notes (empty, or only drums on channel 10)" in text
    assert "two_notes.mid: too few notes (2)" in text
    assert lines[-1].startswith("4 pieces encoded, 4 skipped")
    assert dataset.is_validation.any() and not dataset.is_validation.all()
    assert all((len(p) - 1) % 16 == 0 for p in dataset.pieces)


def test_midi_folder_that_is_missing_or_empty_is_one_line(tmp_path):
    with pytest.raises(LivecrepreError, match="no such folder"):
        build_midi_dataset(tmp_path / "nope")
    with pytest.raises(LivecrepreError, match="no .mid or .midi files"):
        build_midi_dataset(tmp_path)
    (tmp_path / "bad.mid").write_bytes(b"xx")
    with pytest.raises(LivecrepreError, match="every file was skipped"):
        build_midi_dataset(tmp_path, report=lambda line: None)


def test_essen_folksongs_and_bach_chorales_from_the_music21_corpus():
    from livecrepre.data import ESSEN_COLLECTIONS, build_chorale_dataset

    essen = build_folk_dataset(collections=ESSEN_COLLECTIONS, limit=6, processes=1, report=lambda line: None)
    assert len(essen.pieces) == 6 and "essenFolksong" in essen.meta["corpus"]
    chorales = build_chorale_dataset(limit=4, processes=1, report=lambda line: None)
    assert len(chorales.pieces) == 4 and "soprano" in chorales.meta["corpus"]
    assert all(p[0] == START_TOKEN and (len(p) - 1) % BAR_TICKS == 0 for p in chorales.pieces)
