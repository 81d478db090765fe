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
    assert "24 tunes encoded" in lines[-1] or "skipped" in "".join(lines)
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
