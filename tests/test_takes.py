"""A take is never lost: not for a voice's name, a tempo, a family change or a path; `stop` says
what it wrote and, one line each, what it could not. Files are read back with mido."""
import time

import mido
import pytest

import livecrepre as lc
from livecrepre.errors import LivecrepreError
from livecrepre.io.recording import MidiFileRecorder
from livecrepre.replay import replay

from .conftest import Collector
from .helpers import constant_model


def notes_by_track(path) -> dict[str, list[int]]:
    """Track name -> the pitches of its note-ons (names read as the UTF-8 they are written in)."""
    tracks = {}
    for track in mido.MidiFile(str(path), charset="utf-8").tracks:
        name = next((m.name for m in track if m.type == "track_name"), "")
        tracks[name] = [m.note for m in track if m.type == "note_on" and m.velocity > 0]
    return tracks


def test_a_voice_changing_family_on_its_file_route_keeps_the_take(engine, tmp_path):
    take = tmp_path / "fam.mid"
    notes = Collector()
    engine.start()
    engine.voice("lead", constant_model(62), to=[f"file:{take}", notes])
    notes.wait_for(17)
    with pytest.raises(LivecrepreError, match=r"route file:.*fam.mid takes notes; voice lead plays gestures"
                                              r".*nothing changed"):
        engine.voice("lead", "gesture", to=[f"file:{take}"])
    assert engine.voices["lead"].family == "melody"
    engine.voice("lead", "gesture", to=[f"file:{take}", "print"])  # the file route is left out
    assert [r.spec for r in engine.voices["lead"].routes] == ["print"]
    engine._closer.drain()
    recorded = notes_by_track(take)
    assert len(recorded[""]) >= 17 and set(recorded[""]) == {62}
    assert "could not" not in engine.stop()
    assert [m for _, m in engine.errors if "takes notes" not in m] == []  # only the route left out


def test_a_name_outside_latin_1_records_and_replays(tmp_path):
    take, log = tmp_path / "names.mid", tmp_path / "names.log"
    engine = lc.Engine(bpm=480, seed=3, log=log, echo_errors=False)
    engine.voice("bж", constant_model(64), to=[f"file:{take}"])
    engine.voice("lead", constant_model(60), to=[f"file:{take}"])
    engine.start()
    time.sleep(1.0)
    said = engine.stop()
    assert f"wrote {take}" in said and not (tmp_path / "names.mid.part").exists()
    recorded = notes_by_track(take)
    assert len(recorded["bж"]) > 8 and set(recorded["bж"]) == {64}
    replayed = replay(log, out=tmp_path / "again")
    assert replayed.written, "the replay wrote nothing"
    assert notes_by_track(replayed.written[0])["bж"] == recorded["bж"]


def test_a_tempo_a_midi_file_cannot_hold_is_refused_and_the_take_is_written(engine, tmp_path):
    take = tmp_path / "slow.mid"
    engine.start()
    engine.voice("lead", constant_model(60), to=[f"file:{take}"])
    for typo in (2, 1.2, 0.001, 1000):
        with pytest.raises(LivecrepreError, match="tempo must be between 20 and 999 bpm"):
            engine.set_bpm(typo)
    engine.set_bpm(20)
    time.sleep(1.0)
    said = engine.stop()
    assert f"wrote {take}" in said
    tempi = [round(mido.tempo2bpm(m.tempo)) for m in mido.MidiFile(take).tracks[0] if m.type == "set_tempo"]
    assert tempi == [240, 20]
    # and whatever a recorder is given, the file can be written (the tempo field holds 3.6 bpm and up)
    recorder = MidiFileRecorder(tmp_path / "any.mid", 4, 0, 1.0)
    recorder.add_note(0, 4, 60, 100)
    recorder.add_note(4, 8, None, 100)  # not a note: left out, the rest written
    recorder.write()
    assert [m.note for m in mido.MidiFile(tmp_path / "any.mid").tracks[0] if m.type == "note_on"] == [60]


def test_a_path_that_cannot_be_written_is_refused_when_the_route_is_added(engine, tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    (tmp_path / "a folder.mid").mkdir()
    engine.start()
    engine.voice("lead", constant_model(60), to=["print"])
    for path, why in [(tmp_path / "afile" / "take.mid", "cannot make the folder"),
                      (tmp_path / "a folder.mid", "is a folder")]:
        with pytest.raises(LivecrepreError, match=f"bad route 'file:.*{why}.*nothing changed"):
            engine.route("lead", f"file:{path}")
    assert [r.spec for r in engine.voices["lead"].routes] == ["print"]
    nested = tmp_path / "takes" / "tonight" / "set.mid"
    engine.route("lead", f"file:{nested}")  # a folder that does not exist yet is made
    assert nested.parent.is_dir()


def test_stop_says_what_it_wrote_and_what_it_could_not(engine, tmp_path):
    kept, lost = tmp_path / "kept.mid", tmp_path / "gone" / "lost.mid"
    engine.start()
    engine.voice("lead", constant_model(60), to=[f"file:{kept}"])
    engine.voice("bass", constant_model(40), to=[f"file:{lost}"])
    time.sleep(0.5)
    lost.parent.rmdir()
    lost.parent.write_text("the folder is now a file")  # the disk changed under the take
    said = engine.stop()
    first, *others = said.splitlines()
    assert first.startswith("stopped") and f"wrote {kept}" in first and str(lost) not in first
    assert len(others) == 1 and others[0].startswith(f"could not write {lost}")
    assert any(m.startswith(f"could not write {lost}") for _, m in engine.errors)
    assert len(notes_by_track(kept)[""]) > 4
