"""Sketches: the shipped examples change what plays; a save reloads at the next bar line; a broken
sketch is one line and the previous version plays on."""
import shutil
import time
from pathlib import Path

import pytest

import livecrepre as lc

from livecrepre.errors import LivecrepreError
from livecrepre.magics import engine_of
from livecrepre.sketches import MOST_NOTES

from .conftest import Collector
from .helpers import constant_model

EXAMPLES = Path(__file__).parent.parent / "sketches"


@pytest.fixture
def sketch_dir(tmp_path, monkeypatch):
    """A working directory with a copy of the example sketches, as a performer's session has."""
    shutil.copytree(EXAMPLES, tmp_path / "sketches")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "sketches"


def play_with(engine, name, model, bars=2):
    notes = Collector()
    engine.voice("lead", model, to=[notes])
    engine.sketch(name, voice="lead")
    engine.start()
    notes.wait_for(bars * 16, timeout=15)
    engine.stop()
    return [e for _, e in notes.events]


def playing_transposed(engine) -> Collector:
    """A voice of middle Cs through sketches/transpose.py, playing."""
    notes = Collector()
    engine.voice("lead", constant_model(60), to=[notes])
    engine.sketch("transpose", voice="lead")
    engine.start()
    notes.wait_for(4)
    return notes


def test_octaves_doubles_every_note(sketch_dir, engine):
    events = play_with(engine, "octaves", constant_model(60))
    assert {e.pitch for e in events} == {60, 72}
    assert all(e.velocity == 80 for e in events if e.pitch == 72)


def test_transpose_and_scale_lock(sketch_dir, engine):
    assert {e.pitch for e in play_with(engine, "transpose", constant_model(60))} == {67}
    locked = play_with(engine, "scale_lock", constant_model(61))  # C#: not in D dorian
    assert {e.pitch for e in locked} == {60}  # C, the nearest scale note (D dorian has C natural)


def test_accents_and_the_eighth_note_mask(sketch_dir, engine):
    accented = play_with(engine, "accents", constant_model(60))
    by_step = {e.tick % 16: e.velocity for e in accented}
    assert by_step[0] == 120 and by_step[4] == 96 and by_step[1] == 64
    masked = play_with(engine, "eighths", constant_model(60))
    assert masked and all(e.tick % 2 == 0 for e in masked)


def test_every_bar_changes_the_voice_on_a_worker_thread(sketch_dir, engine):
    (sketch_dir / "build.py").write_text(
        "def every_bar(bar, engine):\n    engine.temp('lead', 1.0 + bar / 10)\n")
    notes = Collector()
    engine.voice("lead", "melody", to=[notes])
    engine.sketch("build")
    engine.start()
    time.sleep(1.5)  # 240 bpm: a bar a second
    assert engine.voices["lead"].temperature > 1.0
    assert not engine.errors


def test_saving_a_sketch_reloads_it_at_the_next_bar_line(sketch_dir, engine):
    notes = playing_transposed(engine)
    path = sketch_dir / "transpose.py"
    path.write_text(path.read_text().replace("SEMITONES = 7", "SEMITONES = 12"))
    deadline = time.monotonic() + 6
    while not any(e.pitch == 72 for _, e in notes.events) and time.monotonic() < deadline:
        time.sleep(0.05)
    engine.stop()
    pitches = [(e.tick, e.pitch) for _, e in notes.events]
    first_new = next(tick for tick, pitch in pitches if pitch == 72)
    assert first_new % 16 == 0  # the new version took over on a bar line
    assert all(pitch == 67 for tick, pitch in pitches if tick < first_new)
    assert all(pitch == 72 for tick, pitch in pitches if tick >= first_new)


def test_a_save_that_breaks_the_sketch_is_one_line_and_the_old_version_plays_on(sketch_dir, engine):
    notes = playing_transposed(engine)
    (sketch_dir / "transpose.py").write_text("SEMITONES = 7\n\ndef transform(note)\n    return note\n")
    deadline = time.monotonic() + 5
    while not engine.errors and time.monotonic() < deadline:
        time.sleep(0.05)
    count = len(notes.events)
    time.sleep(1.0)
    engine.stop()
    message = engine.errors[-1][1]
    assert message.startswith("sketch transpose: transpose.py line 3: SyntaxError")
    assert "previous version keeps playing" in message and "\n" not in message
    assert len(notes.events) > count + 8 and all(e.pitch == 67 for _, e in notes.events)


def test_a_sketch_that_raises_while_playing_reverts_and_the_music_goes_on(shell):
    engine = engine_of(shell)
    notes = Collector()
    shell.user_ns["notes"] = notes
    shell.run_line_magic("voice", "lead melody --to notes")
    shell.run_cell_magic("sketch", "up --voice lead", "def transform(note):\n    return note.but(pitch=note.pitch + 12)\n")
    shell.run_cell_magic("sketch", "up --voice lead", "def transform(note):\n    return note.but(pitch=note.pitch // 0)\n")
    shell.run_line_magic("crepre", "start --bpm 240 --seed 4")
    notes.wait_for(20, timeout=10)
    shell.run_line_magic("crepre", "stop")
    failures = [m for _, m in engine.errors if m.startswith("sketch up:")]
    assert len(failures) == 1
    assert failures[0] == ("sketch up: <cell up> line 2: ZeroDivisionError: integer division or modulo by "
                           "zero; reverted to the previous version")
    shifted = [(e.tick, e.pitch) for _, e in notes.events]
    plain = Collector()  # the same voice, seed and model with no sketch: the line the sketch shifts
    unshifted = lc.Engine(bpm=240, seed=4, echo_errors=False)
    unshifted.voice("lead", "melody", to=[plain])
    unshifted.start()
    plain.wait_for(len(shifted), timeout=10)
    unshifted.stop()
    line = [(e.tick, e.pitch) for _, e in plain.events][:len(shifted)]
    # the note the broken version raised on passes unchanged; the +12 version plays on after it
    assert len(shifted) >= 20 and shifted[0] == line[0]
    assert shifted[1:] == [(tick, pitch + 12) for tick, pitch in line[1:]]


def test_bad_sketches_are_one_line(sketch_dir, engine):
    with pytest.raises(LivecrepreError, match="no sketch file sketches/nothing.py"):
        engine.sketch("nothing")
    (sketch_dir / "empty.py").write_text("X = 1\n")
    with pytest.raises(LivecrepreError, match="defines neither transform"):
        engine.sketch("empty")
    (sketch_dir / "crash.py").write_text("import nosuchmodule\n")
    with pytest.raises(LivecrepreError, match="crash.py line 1: ModuleNotFoundError"):
        engine.sketch("crash")
    (sketch_dir / "wrong.py").write_text("def transform(note):\n    return 60\n")
    notes = Collector()
    engine.voice("lead", constant_model(60), to=[notes])
    engine.sketch("wrong")
    engine.start()
    notes.wait_for(8)
    engine.stop()
    assert any("transform returned int, not a note" in m and "notes pass unchanged" in m for _, m in engine.errors)
    assert all(e.pitch == 60 for _, e in notes.events)


def test_a_sketch_stuck_in_a_loop_costs_the_clock_one_deadline(sketch_dir, engine):
    (sketch_dir / "stuck.py").write_text(
        "import time\n\ndef transform(note):\n    if note.bar == 2:\n        time.sleep(3)\n"
        "    return note.but(pitch=note.pitch + 1)\n")
    notes, other = Collector(), Collector()
    engine.voice("lead", constant_model(60), to=[notes])
    engine.voice("other", constant_model(48), to=[other])
    engine.sketch("stuck", voice="lead")
    engine.start()
    other.wait_for(56, timeout=10)  # 3.5 bars at 240 bpm
    engine.stop()
    pitches = {e.tick: e.pitch for _, e in notes.events}
    assert all(pitches[t] == 61 for t in range(4, 16) if t in pitches)  # bar 1: transformed
    assert pitches[16] == 60 and pitches[17] == 60  # stuck: skipped, the notes pass unchanged
    assert other.ticks == list(range(other.ticks[0], other.ticks[0] + len(other.ticks)))
    assert engine.late_ticks == 0
    reports = [m for _, m in engine.errors if m.startswith("sketch stuck:")]
    assert reports == ["sketch stuck: transform took longer than 10 ms; skipped for this tick"]


def test_an_every_bar_stuck_in_a_loop_is_skipped_and_reported_once(sketch_dir, engine):
    (sketch_dir / "conductor.py").write_text(
        "import time\n\ndef every_bar(bar, engine):\n    if bar == 2:\n        time.sleep(2.5)\n"
        "    engine.temp('lead', 1.0 + bar / 10)\n")
    notes = Collector()
    engine.voice("lead", constant_model(60), to=[notes])
    engine.sketch("conductor")
    engine.sketch("transpose", voice="lead")  # another sketch goes on meanwhile
    engine.start()
    notes.wait_for(16 * 5 + 4, timeout=12)  # five bars at 240 bpm
    engine.stop()
    reports = [m for _, m in engine.errors if m.startswith("sketch conductor:")]
    assert reports == ["sketch conductor: every_bar is still running from an earlier bar; "
                       "skipped at bar 3 and until it returns"]
    assert notes.ticks == list(range(notes.ticks[0], notes.ticks[0] + len(notes.ticks)))
    assert all(e.pitch == 67 for _, e in notes.events)  # transpose kept playing every note
    assert engine.late_ticks == 0


def test_a_transform_returning_a_flood_is_bounded_and_the_clock_keeps_time(sketch_dir, engine):
    (sketch_dir / "flood.py").write_text("def transform(note):\n    return [note] * 20000\n")
    notes, grid = Collector(), Collector()
    engine.voice("lead", constant_model(60), to=[notes])
    engine.voice("grid", constant_model(48), to=[grid])
    engine.sketch("flood", voice="lead")
    engine.start()
    grid.wait_for(40, timeout=10)
    engine.stop()
    lateness = sorted(called - e.time for called, e in grid.events)
    assert grid.ticks == list(range(grid.ticks[0], grid.ticks[0] + len(grid.ticks)))
    assert lateness[-1] < 0.05, f"the other voice came late: {lateness[-3:]}"
    per_tick = {}
    for _, e in notes.events:
        per_tick[e.tick] = per_tick.get(e.tick, 0) + 1
    assert per_tick and max(per_tick.values()) == MOST_NOTES
    # (building 20,000 notes can pass the 10 ms deadline on a loaded machine: that tick is skipped, said)
    reports = [m for _, m in engine.errors if m.startswith("sketch flood:") and "took longer than 10 ms" not in m]
    assert reports == [f"sketch flood: transform returned 20000 notes in one tick; {MOST_NOTES} play, "
                       f"the rest are dropped (said once)"]
