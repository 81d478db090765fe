"""MIDI for real: ports through a JACK server (dummy driver), files written and read back with mido."""
import subprocess
import sys
import textwrap
import time

import mido
import pytest

from livecrepre.io.recording import FILE_TICKS_PER_BEAT
from livecrepre.io.midi import split_midi_spec

from .conftest import Collector
from .helpers import constant_model

class MidiReceiver:
    def __init__(self, name):
        self.messages: list[tuple[float, mido.Message]] = []
        self.port = mido.open_input(name, virtual=True, callback=self._got)

    def _got(self, message):
        self.messages.append((time.perf_counter(), message))

    def notes(self):
        return [m for _, m in self.messages if m.type in ("note_on", "note_off")]

    def close(self):
        self.port.close()


def connect_livecrepre_to(port: str) -> None:
    """jack_connect the engine's virtual MIDI output (`midi:virtual`) to the port named `port`."""
    ports = subprocess.run(["jack_lsp"], capture_output=True, text=True).stdout.split("\n")
    source = next(p for p in ports if p.endswith(":livecrepre"))
    target = next(p for p in ports if p.endswith(f":{port}"))
    subprocess.run(["jack_connect", source, target], check=True)


def assert_every_note_on_is_released(messages):
    sounding = {}
    for m in messages:
        key = (m.channel, m.note)
        if m.type == "note_on" and m.velocity > 0:
            sounding[key] = sounding.get(key, 0) + 1
        elif m.type == "note_off" or (m.type == "note_on" and m.velocity == 0):
            sounding[key] = max(0, sounding.get(key, 0) - 1)
    stuck = [k for k, v in sounding.items() if v]
    assert not stuck, f"stuck notes: {stuck}: " + " ".join(
        f"{m.type[5:]}{m.note}" for m in messages if (m.channel, m.note) in stuck)


def test_midi_spec_channel_only_when_1_to_16():
    assert split_midi_spec("midi:Synth:1") == ("Synth", 1)
    assert split_midi_spec("midi:Synth") == ("Synth", 1)
    assert split_midi_spec("midi:system:midi_playback_1") == ("system:midi_playback_1", 1)
    assert split_midi_spec("midi:a2j:Synth:16") == ("a2j:Synth", 16)
    assert split_midi_spec("midi:Synth:17") == ("Synth:17", 1)
    assert split_midi_spec("midi:0:2") == ("0", 2)


def test_midi_route_panic_and_stop_leave_no_note_hanging(jack, engine):
    receiver = MidiReceiver("crepre-synth")
    try:
        engine.start()
        engine.voice("lead", "melody", to=["midi:crepre-synth:3"])
        engine.voice("pad", constant_model(50), to=["midi:crepre-synth:4"])
        time.sleep(1.0)
        engine.panic()  # mid-note: the melody voice holds notes for several ticks
        time.sleep(0.05)
        n_after_panic = len(receiver.notes())
        time.sleep(0.5)
        assert len(receiver.notes()) == n_after_panic  # silence, and the clock keeps going
        assert engine.running and engine.tick > 0
        assert_every_note_on_is_released(receiver.notes())
        assert any(m.type == "control_change" and m.control == 123 for _, m in receiver.messages)
        engine.start()  # unmute
        time.sleep(1.0)
        assert len(receiver.notes()) > n_after_panic
        engine.stop()  # mid-note again
        time.sleep(0.1)
        notes = receiver.notes()
        assert {m.channel for m in notes} == {2, 3}
        assert any(m.type == "note_on" and m.channel == 2 for m in notes)
        assert_every_note_on_is_released(notes)
    finally:
        receiver.close()


def test_midi_notes_are_sent_at_their_wall_time(jack, engine):
    receiver = MidiReceiver("crepre-timing")
    sent = Collector()
    try:
        engine.start()
        engine.voice("lead", constant_model(60), to=["midi:crepre-timing", sent])
        sent.wait_for(30)
        deadline = time.monotonic() + 2  # the 30th note-on may still be crossing JACK (one period)
        while sum(m.type == "note_on" for _, m in receiver.messages) < 30 and time.monotonic() < deadline:
            time.sleep(0.01)
        engine.stop()
        ons = [t for t, m in receiver.messages if m.type == "note_on"]
        scheduled = [e.time for _, e in sent.events]
        assert len(ons) >= 30
        lateness = sorted(a - s for a, s in zip(ons, scheduled))
        assert lateness[len(lateness) // 2] < 0.005  # median, loose: includes the JACK period
        assert lateness[0] > -0.001  # never early
    finally:
        receiver.close()


def test_swap_route_change_and_voice_off_release_notes(jack, engine):
    receiver = MidiReceiver("crepre-swap")
    try:
        engine.start()
        engine.voice("lead", "melody", to=["midi:crepre-swap"])
        engine.voice("bass", "melody", to=["midi:crepre-swap:2"])
        time.sleep(0.6)
        engine.swap("lead", constant_model(72))
        engine.route("bass", "print")  # bass leaves the port mid-note
        time.sleep(0.6)
        engine.voice_off("lead")
        time.sleep(0.4)
        notes = receiver.notes()
        assert any(m.note == 72 for m in notes)
        assert any(m.channel == 1 for m in notes)
        assert_every_note_on_is_released(notes)
        n = len(receiver.notes())
        time.sleep(0.3)
        assert len(receiver.notes()) == n  # nothing plays on the port after both left it
    finally:
        receiver.close()


def test_virtual_port_connected_with_jack_connect(jack, engine):
    receiver = MidiReceiver("crepre-patchbay")
    try:
        engine.start()
        engine.voice("lead", constant_model(65), to=["midi:virtual:2"])
        connect_livecrepre_to("crepre-patchbay")
        time.sleep(0.6)
        engine.stop()
        notes = receiver.notes()
        assert notes and all(m.note == 65 and m.channel == 1 for m in notes)
        assert_every_note_on_is_released(notes)
    finally:
        receiver.close()


def test_unreachable_port_is_one_line(jack, engine):
    keep = Collector()
    engine.start()
    engine.voice("lead", "melody", to=["midi:NoSuchSynth:2", keep])
    message = engine.errors[-1][1]
    assert "midi:NoSuchSynth: no such MIDI output port" in message and "\n" not in message
    keep.wait_for(3)


def test_receivers_that_disappear_mid_performance_stop_nothing(jack, engine, osc_receiver, tmp_path):
    """The synth's MIDI input and the OSC receiver go away while a voice plays to them: that voice
    goes on (its take has every note released), the other voice keeps every tick."""
    synth = MidiReceiver("crepre-synth")
    take, grid = tmp_path / "take.mid", Collector()
    try:
        engine.start()
        engine.voice("lead", constant_model(62), to=["midi:crepre-synth", f"osc://127.0.0.1:{osc_receiver.port}/lead",
                                                     f"file:{take}"])
        engine.voice("grid", constant_model(40), to=[grid])
        grid.wait_for(8)
        synth.close()  # the MIDI receiver's port vanishes
        osc_receiver.server.shutdown()
        osc_receiver.server.server_close()  # and the OSC receiver's socket
        heard = len(synth.notes())
        started = len(grid.events)
        grid.wait_for(started + 16)
        late = engine.late_ticks
        engine.stop()
    finally:
        synth.close()
    assert heard > 0 and late == 0
    ticks = [e.tick for _, e in grid.events]
    assert ticks == list(range(ticks[0], ticks[0] + len(ticks)))  # not one tick missing
    _, notes = read_notes(take)  # every recorded note released
    assert len(notes) >= len(ticks) - 2
    assert not [m for _, m in engine.errors if "grid" in m]


# -- files -------------------------------------------------------------------------------------

def read_notes(path):
    midi = mido.MidiFile(path)
    now, out, sounding = 0, [], {}
    for message in midi.tracks[0]:
        now += message.time
        if message.type == "note_on" and message.velocity > 0:
            sounding[message.note] = now
        elif message.type in ("note_off", "note_on"):
            out.append((sounding.pop(message.note), now, message.note))
    assert not sounding, "a note in the file was never released"
    return midi, out


def test_file_route_records_at_tick_times(engine, tmp_path):
    path = tmp_path / "takes" / "take.mid"
    events = Collector()
    engine.start()
    engine.voice("lead", "melody", to=[f"file:{path}", events])
    events.wait_for(12)
    engine.stop()
    midi, notes = read_notes(path)
    assert midi.ticks_per_beat == FILE_TICKS_PER_BEAT
    per_tick = FILE_TICKS_PER_BEAT // 4
    assert all(on % per_tick == 0 and off % per_tick == 0 for on, off, _ in notes)
    # the take starts where the route was attached: compare times from the first note on
    recorded = [((e.tick - events.events[0][1].tick) * per_tick, e.pitch) for _, e in events.events]
    in_file = [(on - notes[0][0], pitch) for on, _, pitch in notes]
    assert recorded == in_file[: len(recorded)]
    tempo = [m for m in midi.tracks[0] if m.type == "set_tempo"]
    assert mido.tempo2bpm(tempo[0].tempo) == pytest.approx(240)


def test_file_is_written_on_voice_off_and_route_change_with_tempo_changes(engine, tmp_path):
    a, b = tmp_path / "a.mid", tmp_path / "b.mid"
    engine.start()
    engine.voice("lead", constant_model(60), to=[f"file:{a}"])
    engine.voice("bass", constant_model(40), to=[f"file:{b}", "print"])
    time.sleep(0.4)
    engine.set_bpm(300)
    time.sleep(0.4)
    engine.voice_off("lead")
    engine.route("bass", "print")
    time.sleep(0.3)
    engine._closer.drain()
    for path, pitch in [(a, 60), (b, 40)]:
        midi, notes = read_notes(path)
        assert len(notes) > 8 and {n for _, _, n in notes} == {pitch}
        bpms = [round(mido.tempo2bpm(m.tempo)) for m in midi.tracks[0] if m.type == "set_tempo"]
        assert bpms == [240, 300]


def test_file_is_written_at_interpreter_exit(tmp_path):
    path = tmp_path / "exit.mid"
    script = textwrap.dedent(f"""
        import time, livecrepre as lc
        engine = lc.Engine(bpm=240, seed=1)
        engine.start()
        engine.voice("lead", "melody", to=["file:{path}"])
        time.sleep(1.0)
        # no stop(): the interpreter exits with the engine still playing
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    _, notes = read_notes(path)
    assert len(notes) >= 3
