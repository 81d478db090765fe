import time

import numpy as np
import pytest

from livecrepre.checks import check_bpm
from livecrepre.clock import TempoMap, sleep_until
from livecrepre.encodings import NO_EVENT, NOTE_OFF, Note, notes_to_tokens, tokens_to_notes, transpose_tokens
from livecrepre.errors import LivecrepreError


def test_notes_round_trip_through_tokens():
    notes = [Note(62, 0, 2), Note(64, 2, 3), Note(67, 5, 9)]
    tokens = notes_to_tokens(notes)
    assert list(tokens) == [62, NO_EVENT, 64, NOTE_OFF, NO_EVENT, 67, NO_EVENT, NO_EVENT, NO_EVENT]
    assert tokens_to_notes(tokens) == notes


def test_transpose_moves_only_pitches():
    tokens = np.array([60, NO_EVENT, NOTE_OFF, 72], dtype=np.uint8)
    assert list(transpose_tokens(tokens, 2)) == [62, NO_EVENT, NOTE_OFF, 74]


def test_tempo_map_is_drift_free_across_changes():
    tempo = TempoMap(120, 4, origin=100.0)
    assert tempo.time_of(8) == pytest.approx(101.0)
    tempo.set_bpm(60, at_tick=8)  # from tick 8, 16ths last 0.25 s
    assert tempo.time_of(8) == pytest.approx(101.0)  # no jump where it lands
    assert tempo.time_of(12) == pytest.approx(102.0)
    # many changes later, a tick's time is still computed, never accumulated
    for i in range(1000):
        tempo.set_bpm(60 + i % 7, at_tick=12 + i)
    tempo.set_bpm(120, at_tick=2000)
    assert tempo.time_of(2004) - tempo.time_of(2000) == pytest.approx(0.5, abs=1e-9)
    assert tempo.tick_at(tempo.time_of(2003)) == pytest.approx(2003)


@pytest.mark.parametrize("bad", [0, -10, "fast", float("nan"), None, 5000])
def test_bad_tempo_is_one_clear_line(bad):
    with pytest.raises(LivecrepreError, match="tempo") as err:
        check_bpm(bad)
    assert "\n" not in str(err.value)


def test_sleep_until_is_precise_without_accumulating():
    start = time.perf_counter()
    targets = [start + 0.01 * (i + 1) for i in range(20)]
    errors = []
    for target in targets:
        sleep_until(target)
        errors.append(time.perf_counter() - target)
    assert min(errors) >= 0
    assert np.median(errors) < 0.002  # loose: the machine is shared
