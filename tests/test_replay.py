"""Deterministic replay: a live session with swaps, a crossfade, tempo and temperature changes, a
sketch edited and saved, a sketch too slow for its deadline and an every_bar hook, replayed from its
performance log to the same MIDI events; and a log that cannot be replayed is one line."""
import time

import mido
import pytest

import livecrepre as lc
from livecrepre.errors import LivecrepreError
from livecrepre.replay import read_log, replay

from .helpers import constant_model
from .test_cli import run

SLOW = """import time

def transform(note):
    if note.bar == 3 and note.step < 4:
        time.sleep(0.03)  # past the 10 ms deadline: these ticks pass unchanged, live and replayed
    return note
"""
EVERY_BAR = """def every_bar(bar, engine):
    if bar == 4:
        engine.temp("bass", 1.4)
"""


def midi_events(path) -> list[tuple[str, int, str]]:
    """(track name, absolute file tick, message) for every message of every track."""
    events = []
    for track in mido.MidiFile(str(path)).tracks:
        name, at = "", 0
        for message in track:
            at += message.time
            name = message.name if message.type == "track_name" else name
            events.append((name, at, str(message.copy(time=0))))
    return events


def wait_bars(engine, bars: float) -> None:
    until = engine.tick + bars * 16
    while engine.tick < until:
        time.sleep(0.02)


@pytest.fixture
def live_session(tmp_path):
    """A seeded session of about 14 bars at 480 bpm, recorded into one take with a track per voice."""
    take, log, sketch = tmp_path / "take.mid", tmp_path / "set.log", tmp_path / "shape.py"
    sketch.write_text("def transform(note):\n    return [note, note.but(pitch=note.pitch + 12)]\n")
    (tmp_path / "slow.py").write_text(SLOW)
    (tmp_path / "conduct.py").write_text(EVERY_BAR)
    engine = lc.Engine(bpm=480, seed=21, log=log, echo_errors=False)
    engine.voice("lead", "melody", temperature=0.9, to=[f"file:{take}"])
    engine.voice("bass", lc.load_model("chorale"), temperature=0.8, velocity=80,  # an object: kept
                 to=[f"file:{take}", "print"])
    engine.voice("drone", constant_model(48), to=[f"file:{take}"])  # a model made in Python
    engine.sketch(str(sketch), voice="bass")
    engine.sketch(str(tmp_path / "slow.py"), voice="lead")
    engine.sketch(str(tmp_path / "conduct.py"))
    engine.start()
    wait_bars(engine, 1.5)
    engine.temp("lead", 1.3, at="beat")
    engine.swap("lead", "chorale", at="bar", fade=1)
    wait_bars(engine, 2)
    engine.set_bpm(420)
    sketch.write_text("def transform(note):\n    return note.but(velocity=50)\n")  # saved: next bar
    wait_bars(engine, 2)
    engine.swap("lead", "melody", at=2)
    engine.voice_off("drone", at="bar")
    wait_bars(engine, 4)
    engine.stop()
    return take, log


def test_a_replay_plays_exactly_what_the_live_session_played(live_session, tmp_path):
    take, log = live_session
    commands = [" ".join(c.words) for run_ in read_log(log) for c in run_.controls]
    assert any(c.startswith("sketch shape version=2") for c in commands)  # the save took over
    assert any(c.startswith("sketch slow skipped lead") for c in commands)  # past its deadline
    assert "temp bass 1.4" in commands  # from every_bar, logged like any control
    assert any(c.startswith("voice drone @") for c in commands)
    assert any(c.startswith("voice bass @") for c in commands)

    result = run(["replay", str(log), "--out", str(tmp_path / "again")])
    assert result.returncode == 0, result.stderr
    assert "x real time" in result.stdout and "left out print" in result.stdout
    live, replayed = midi_events(take), midi_events(tmp_path / "again" / "take.mid")
    assert {name for name, _, _ in live} >= {"lead", "bass", "drone"}
    assert sum("note_on" in m for _, _, m in live) > 100
    assert replayed == live  # event by event: pitches, velocities, ticks, tempo changes

    again = replay(log, to=f"file:{tmp_path / 'one.mid'}")  # --to: every voice into one route
    assert again.written == [str(tmp_path / "one.mid")] and midi_events(tmp_path / "one.mid") == live


def test_a_log_that_cannot_be_replayed_is_one_line(live_session, tmp_path):
    _, log = live_session
    with pytest.raises(LivecrepreError, match="no performance log"):
        replay(tmp_path / "missing.log")
    (tmp_path / "notes.txt").write_text("hello\n")
    with pytest.raises(LivecrepreError, match="not a livecrepre performance log"):
        replay(tmp_path / "notes.txt")

    text = log.read_text()
    melody = lc.load_model("melody").checksum
    changed = tmp_path / "changed.log"
    changed.write_text(text.replace(f"# melody {melody}", "# melody 0123456789abcdef"))
    result = run(["replay", str(changed)])
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"livecrepre: changed.log line 2: model melody has changed since the session (checksum "
        f"{melody}, the log has 0123456789abcdef): a replay would not play the same notes"]

    moved = tmp_path / "moved.log"  # a log copied without its .files folder
    moved.write_text(text)
    with pytest.raises(LivecrepreError, match=r"moved.log line 3: the model @\w+ kept beside the log is not in "):
        replay(moved)
    garbled = tmp_path / "set.log"  # beside set.files, which has what the replay needs
    garbled.write_text(text.replace("temp lead 1.3", "temp lead hot"))
    with pytest.raises(LivecrepreError, match=r"set.log line \d+: cannot read 'temp lead hot'"):
        replay(garbled)

    for kept in (tmp_path / "set.files").glob("*.py"):
        kept.unlink()  # the sketch sources a replay needs
    with pytest.raises(LivecrepreError, match=r"set.log line \d+: the sketch source \w+ is not in"):
        replay(log, out=tmp_path / "out")


def test_a_replay_to_an_osc_route_plays_in_real_time(tmp_path, osc_receiver):
    take, log = tmp_path / "short.mid", tmp_path / "short.log"
    engine = lc.Engine(bpm=480, seed=8, log=log, echo_errors=False)
    engine.voice("lead", "melody", to=[f"file:{take}"])
    engine.start()
    wait_bars(engine, 2)
    engine.stop()
    started = time.perf_counter()
    result = replay(log, to=f"osc://127.0.0.1:{osc_receiver.port}/again")
    took = time.perf_counter() - started
    assert result.paced and took >= result.seconds * 0.9  # at the session's pace, not faster
    time.sleep(0.3)
    live = [int(m.split("note=")[1].split()[0]) for _, _, m in midi_events(take) if m.startswith("note_on")]
    sent = [m.args[0] for m in sorted(osc_receiver.received, key=lambda m: m.timetag) if m.address == "/again"]
    # OSC bundles go out ahead, as live: the last ticks generated before the stop are sent, while
    # the take was cut where the stop was heard
    assert live and sent[:len(live)] == live and len(sent) - len(live) <= 4
