"""MIDI for real: ports through a JACK server (dummy driver), files written and read back with mido."""
import subprocess
import sys
import textwrap
import threading
import time

import mido
import pytest

from livecrepre.io.recording import FILE_TICKS_PER_BEAT
from livecrepre.io.midi import split_midi_spec

from .conftest import Collector
from .helpers import constant_model

class MidiReceiver:
    """A JACK MIDI input that keeps every message with its arrival time: JACK's own jack_midi_dump,
    read line by line. (python-rtmidi's JACK input loses or garbles messages that arrive in one
    JACK period: of 480 note messages sent in bursts of 8, it kept 448-464 while jack_midi_dump,
    on the same output, got all 480 in order; so a spurious or missing note-off it reports
    may be its own.)"""

    def __init__(self, name):
        self.name = name
        self.messages: list[tuple[float, mido.Message]] = []
        self._dump = subprocess.Popen(["stdbuf", "-oL", "jack_midi_dump", name], stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 5
        while f"{name}:input" not in subprocess.run(["jack_lsp"], capture_output=True, text=True).stdout:
            assert time.monotonic() < deadline, f"jack_midi_dump {name} did not start"
            time.sleep(0.02)

    def _read(self):
        for line in self._dump.stdout:  # "   0: 90 3c 64 note on  (channel  0): ..."
            arrived = time.perf_counter()
            head, _, rest = line.partition(":")
            if not head.strip().isdigit():
                continue
            data = []
            for word in rest.split():
                if len(word) != 2:
                    break
                data.append(int(word, 16))
            try:
                self.messages.append((arrived, mido.Message.from_bytes(data)))
            except ValueError:
                pass  # sysex or a partial line: not what these tests send

    def notes(self):
        return [m for _, m in self.messages if m.type in ("note_on", "note_off")]

    def close(self):
        if self._dump.poll() is None:
            self._dump.terminate()
            self._dump.wait(timeout=5)
        self._reader.join(timeout=2)


def connect_livecrepre_to(port: str) -> None:
    """jack_connect the engine's virtual MIDI output (`midi:virtual`) to the port named `port`."""
    ports = subprocess.run(["jack_lsp"], capture_output=True, text=True).stdout.split("\n")
    source = next(p for p in ports if p.endswith(":livecrepre"))
    target = next(p for p in ports if p.endswith(f":{port}") or p == f"{port}:input")
    subprocess.run(["jack_connect", source, target], check=True)


def assert_every_note_on_is_released(messages):
    """Note-ons and note-offs pair up: none left sounding, and no note-off without a note sounding."""
    sounding, spurious = {}, []
    for m in messages:
        key = (m.channel, m.note)
        if m.type == "note_on" and m.velocity > 0:
            sounding[key] = sounding.get(key, 0) + 1
        elif m.type == "note_off" or (m.type == "note_on" and m.velocity == 0):
            if not sounding.get(key):
                spurious.append(key)
            sounding[key] = max(0, sounding.get(key, 0) - 1)
    stuck = [k for k, v in sounding.items() if v]
    assert not stuck, f"stuck notes: {stuck}: " + " ".join(
        f"{m.type[5:]}{m.note}" for m in messages if (m.channel, m.note) in stuck)
    assert not spurious, f"note-offs with no note sounding: {spurious}"


def wait_for_sounding(seen: Collector, at_least: float, timeout: float = 10.0):
    """An event of `seen` sounding now with at least `at_least` seconds of it left."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        t = time.perf_counter()
        for _, e in list(seen.events):
            if e.time <= t and e.end_time - t > at_least:
                return e
        time.sleep(0.002)
    raise AssertionError("no long note sounded")


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
        engine.voice("lead", constant_model(65), to=["midi:virtual:2"])
        connect_livecrepre_to("crepre-patchbay")  # before the first note: none is cut in half
        time.sleep(0.1)  # JACK passes MIDI on a new connection from a later cycle
        engine.start()
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


WHOLE_BARS = "def transform(note):\n    return note.but(end=note.start + 16) if note.step == 0 else None\n"


@pytest.mark.parametrize("leave", ["voice_off", "route"])
def test_a_voice_leaving_mid_note_releases_it_at_once(jack, engine, leave):
    """A sketch makes the voice play one note a bar, held the whole bar: wait until one sounds with
    time left, make the voice leave the port, and its note-off comes at once, before the note would
    have ended; the other voice on the port plays on; every note-on and note-off pair up."""
    receiver = MidiReceiver(f"crepre-leave-{leave}")
    seen, other = Collector(), Collector()
    try:
        engine.voice("lead", constant_model(60), to=[f"midi:crepre-leave-{leave}:1", seen])
        engine.voice("bass", constant_model(40), to=[f"midi:crepre-leave-{leave}:2", other])
        engine.sketch("whole_bars", voice="lead", source=WHOLE_BARS)
        engine.start()
        note = wait_for_sounding(seen, at_least=0.5)  # a bar is 1 s at 240 bpm
        left = time.perf_counter()
        engine.voice_off("lead") if leave == "voice_off" else engine.route("lead", "print")
        time.sleep(0.5)
        messages = [(t, m) for t, m in receiver.messages if m.type in ("note_on", "note_off")]
        offs = [t for t, m in messages if m.channel == 0 and m.note == 60 and t > note.time
                and (m.type == "note_off" or m.velocity == 0)]
        assert offs and offs[0] - left < 0.25 and offs[0] < note.end_time - 0.25, \
            "the sounding note was not released at once"
        assert not [m for t, m in messages if m.channel == 0 and t > offs[0] + 0.01], "it played on"
        assert [m for t, m in messages if m.channel == 1 and t > left + 0.3], "the other voice stopped"
        engine.stop()
        time.sleep(0.1)
        assert_every_note_on_is_released(receiver.notes())
    finally:
        receiver.close()
