"""Predictive interaction: voices listening to OSC and MIDI-file inputs, the IMPS modes, the IMPSY
controls, the feedback guard and the interaction log. Real UDP sockets, real OSC servers, real files."""
from __future__ import annotations

import csv
import socket
import time

import mido
import pytest
from IPython.core.error import UsageError
from pythonosc.osc_message_builder import OscMessageBuilder

import livecrepre as lc
from livecrepre.clock import now
from livecrepre.io.inputs import Heard
from livecrepre.magics import engine_of

F_SHARP_MAJOR = {6, 8, 10, 11, 1, 3, 5}  # pitch classes
PHRASE = [66, 68, 70, 71, 73, 71, 70, 68, 66, 70, 73, 78, 77, 73, 70, 66]


def osc_message(address: str, *args):
    """An OSC message (python-osc infers each argument's type)."""
    message = OscMessageBuilder(address)
    for arg in args:
        message.add_arg(arg)
    return message.build()


def osc(port: int, address: str, *args, sock=None) -> float:
    """Send one OSC message to 127.0.0.1:port; returns when (clock.now()) it was sent."""
    sock = sock or socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sent = now()
    sock.sendto(osc_message(address, *args).dgram, ("127.0.0.1", port))
    return sent


def log_rows(path) -> list[list[str]]:
    with open(path, newline="") as f:
        return list(csv.reader(f))


def wait_for_error(engine, text: str, timeout: float = 3.0) -> bool:
    """Whether the engine reported a line containing `text` within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(text in message for _, message in engine.errors):
            return True
        time.sleep(0.02)
    return False


def listening_port(engine, name: str) -> int:
    return engine.listeners[name].source.port


def test_polyphony_answers_every_input_at_once_with_its_prediction(engine, osc_receiver, tmp_path):
    engine.voice("hand", "gesture", to=[f"osc://127.0.0.1:{osc_receiver.port}/impsy"])
    engine.start()
    said = engine.listen("hand", "osc://127.0.0.1:0/interface", mode="polyphony", log=tmp_path / "hand.csv")
    assert "polyphony" in said and "127.0.0.1" in said
    port, sock = listening_port(engine, "hand"), socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sent = []
    for i in range(30):
        values = (round(0.2 + 0.02 * i, 3), 0.5)
        sent.append((osc(port, "/interface", *values, sock=sock), values))
        time.sleep(0.03)
    assert engine.listeners["hand"].idle()
    time.sleep(0.2)
    answers = [r for r in osc_receiver.received if r.address == "/impsy"]
    assert len(answers) == 30  # one prediction per input, none of its own line
    wall = time.time() - now()
    for (at, _), answer in zip(sent, answers):
        assert answer.arrived - (at + wall) < 0.05  # sent as soon as it was predicted
        assert answer.timetag >= at + wall  # to sound at its predicted time, after the input
        assert len(answer.args) == 2 and all(0 <= v <= 1 for v in answer.args)
    engine.stop()
    rows = log_rows(tmp_path / "hand.csv")
    heard = [r for r in rows if r[1] == "interface"]
    assert [tuple(float(v) for v in r[2:]) for r in heard] == [values for _, values in sent]
    assert sum(r[1] == "rnn" for r in rows) == 30


def test_callresponse_is_silent_while_the_performer_plays_and_answers_the_pause(engine, collector):
    engine.voice("hand", "gesture", to=[collector])
    engine.start()
    engine.listen("hand", "osc://127.0.0.1:0/interface", idle=0.3)
    time.sleep(0.4)
    assert collector.events, "before any input, the voice plays its own line"
    port, sock = listening_port(engine, "hand"), socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    first = osc(port, "/interface", 0.5, 0.5, sock=sock)
    while now() < first + 1.5:
        last = osc(port, "/interface", 0.5, (now() - first) / 1.5, sock=sock)
        time.sleep(0.03)
    time.sleep(1.0)
    times = [e.time for _, e in collector.events]
    # the lookahead's worth already sent when the performer began still sounds (a tick is generated
    # whole, and its gestures fall anywhere in it: a lookahead and a tick); then silence
    generated_ahead = engine.lookahead + 60 / engine.bpm / engine.ticks_per_beat
    assert not [t for t in times if first + generated_ahead + 0.01 < t <= last + 0.3]
    answer = [t for t in times if t > last + 0.3]
    assert len(answer) > 5 and answer[0] < last + 0.3 + 0.2  # it answered once they paused
    quiet_from = osc(port, "/interface", 0.1, 0.1, sock=sock)  # playing again stops the answer
    time.sleep(0.25)
    assert not [e for _, e in collector.events if quiet_from + generated_ahead + 0.01 < e.time < quiet_from + 0.25]


@pytest.fixture
def phrase_file(tmp_path):
    """Two bars of a phrase in F# major at 8 notes a second, as a performer's MIDI file."""
    mid = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(120)))
    for pitch in PHRASE:
        track.append(mido.Message("note_on", note=pitch, velocity=90, time=0))
        track.append(mido.Message("note_off", note=pitch, velocity=0, time=120))
    path = tmp_path / "phrase.mid"
    mid.save(path)
    return path


def test_a_midi_file_is_played_in_real_time_and_the_voice_answers_after_it(engine, collector, phrase_file,
                                                                           tmp_path):
    engine.voice("lead", "melody", temperature=0.7, to=[collector])
    engine.start()
    started = now()
    engine.listen("lead", f"file:{phrase_file}", idle=0.4, log=tmp_path / "lead.csv")
    ended = started + 0.05 + 2.0
    time.sleep(4.0)
    listener = engine.listeners["lead"]
    assert listener.counts["heard"] == 32 and listener.info()["ended"]
    times = [e.time for _, e in collector.events]
    assert not [t for t in times if started + engine.lookahead + 0.1 < t < ended]
    assert [t for t in times if t > ended + 0.4], "the voice answered once the phrase ended"
    assert "input ended" in engine.status()
    engine.stop()
    rows = log_rows(tmp_path / "lead.csv")
    ons = [int(float(r[2])) for r in rows if r[1] == "interface" and float(r[3]) > 0]
    assert ons == PHRASE
    assert [r for r in rows if r[1] == "rnn"]


def _notes_in_key(seed: int, mode: str | None, path) -> tuple[int, int]:
    """Offline and seeded: the melody voice hears the phrase in `mode` (or nothing: None) and plays;
    returns (its notes in F# major, its notes), read back from a MIDI file. In callresponse it hears
    two bars and answers for six; in polyphony it hears the phrase all along and plays with it."""
    engine = lc.Engine(bpm=120, seed=seed, echo_errors=False, log=False)
    engine.voice("lead", "melody", temperature=0.6, to=[f"file:{path}"])
    engine.play_offline()
    voice = engine.voices["lead"]
    voice.mode, voice.idle = mode, 0.3
    heard_until = 32 if mode == "callresponse" else 128
    for tick in range(128):
        if mode is not None and tick < heard_until and tick % 2 == 0:
            voice.hear(Heard(engine.tempo.time_of(tick), "note", (float(PHRASE[tick // 2 % 16]), 90.0)),
                       engine.tempo)
        engine.step(tick)
    engine.stop()
    mid = mido.MidiFile(path)
    first = (36 if mode == "callresponse" else 16) * mid.ticks_per_beat // 4
    t, notes = 0, []
    for message in mid.tracks[0]:
        t += message.time
        if message.type == "note_on" and message.velocity and t >= first:
            notes.append(message.note)
    return sum(p % 12 in F_SHARP_MAJOR for p in notes), len(notes)


@pytest.mark.parametrize("mode", ["callresponse", "polyphony"])
def test_the_voice_continues_from_the_performers_phrase(mode, tmp_path):
    """Conditioned on a phrase in F# major, the folk model plays in F# major (its answer, or its line
    alongside); on its own it plays in its usual keys (D and G majors mostly)."""
    heard = [_notes_in_key(seed, mode, tmp_path / f"h{seed}.mid") for seed in range(3)]
    alone = [_notes_in_key(seed, None, tmp_path / f"a{seed}.mid") for seed in range(3)]
    assert all(total >= 10 for _, total in heard + alone)
    share_heard = sum(k for k, _ in heard) / sum(n for _, n in heard)
    share_alone = sum(k for k, _ in alone) / sum(n for _, n in alone)
    assert share_heard >= 0.9 and share_heard > share_alone + 0.15, (heard, alone)


def test_modes_and_listening_through_the_magics(shell, collector, capsys):
    shell.user_ns["hand_out"] = collector
    shell.run_line_magic("crepre", "start --bpm 240 --seed 1")
    shell.run_line_magic("voice", "hand gesture --to hand_out")
    shell.run_line_magic("listen", "hand osc://127.0.0.1:0/interface --mode polyphony --idle 0.2")
    engine = engine_of(shell)
    assert engine.voices["hand"].mode == "polyphony" and engine.voices["hand"].idle == 0.2
    shell.run_line_magic("listen", "hand --mode battle")
    assert engine.voices["hand"].mode == "battle"
    listener = engine.listeners["hand"]  # the same line again, another mode: the input is kept
    shell.run_line_magic("listen", f"hand {listener.spec} --mode useronly")
    assert engine.listeners["hand"] is listener and engine.voices["hand"].mode == "useronly"
    shell.run_line_magic("listen", "hand --mode battle")
    shell.run_line_magic("crepre", "status")
    out = capsys.readouterr().out
    assert "hand listens to osc://127.0.0.1:" in out and "(battle)" in out
    for line, message in [("hand --mode loud", "invalid choice"), ("hand --idle 0", "--idle takes seconds"),
                          ("nobody osc://127.0.0.1:0/x", "unknown voice"),
                          ("hand ftp://x", "bad input"), ("hand", "give --mode or --idle"),
                          ("hand midi:nothing-like-this", "MIDI input"),
                          ("hand file:/no/such.mid", "no such MIDI file")]:
        with pytest.raises(UsageError, match=message):
            shell.run_line_magic("listen", line)
    shell.run_line_magic("voice", "words abc --to hand_out")
    with pytest.raises(UsageError, match="for melody and gesture voices"):
        shell.run_line_magic("listen", "words osc://127.0.0.1:0/interface")
    shell.run_line_magic("listen", "hand --off")
    assert "hand" not in engine.listeners and engine.voices["hand"].mode is None
    played = engine.voices["hand"].notes_played
    time.sleep(0.3)
    assert engine.voices["hand"].notes_played > played  # playing its own line all along
    shell.run_line_magic("crepre", "stop")


def test_impsy_controls_over_osc(engine, collector):
    engine.voice("hand", "gesture", to=[collector])
    engine.start()
    engine.listen("hand", "osc://127.0.0.1:0/interface", mode="battle")
    port = listening_port(engine, "hand")
    voice = engine.voices["hand"]
    osc(port, "/impsy/pitemp", 0.5)
    osc(port, "/impsy/sigmatemp", 0.02)
    osc(port, "/impsy/timescale", 2.0)
    osc(port, "/impsy/mode", "polyphony")
    osc(port, "/impsy/bpm", 180.0)
    assert engine.listeners["hand"].idle(3)
    assert (voice.temperature, voice.timescale, voice.mode) == (0.5, 2.0, "polyphony")
    assert voice.sigma == pytest.approx(0.02)  # OSC floats are 32-bit
    assert engine.bpm == 180
    osc(port, "/impsy/pause", 1)
    osc(port, "/impsy/mode", "battle")
    assert engine.listeners["hand"].idle(3)
    time.sleep(engine.lookahead + 0.1)
    count = len(collector.events)
    time.sleep(0.4)
    assert voice.paused and len(collector.events) == count  # paused: nothing sent
    osc(port, "/impsy/pause", 0)
    osc(port, "/impsy/reset")
    assert engine.listeners["hand"].idle(3)
    time.sleep(0.4)
    assert len(collector.events) > count
    osc(port, "/impsy/pitemp", "hot")
    osc(port, "/impsy/mode", "loud")
    assert wait_for_error(engine, "/impsy/pitemp takes one float")
    assert wait_for_error(engine, "bad mode 'loud'")
    assert voice.temperature == 0.5 and voice.mode == "battle"
    assert [line for line in engine.log.lines if "timescale hand 2" in line]


def test_the_voices_own_output_echoed_back_is_not_fed(engine, tmp_path):
    """A patch that sends the voice's output back to its input: echoes are recognised and left out."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    engine.voice("hand", "gesture", to=[f"osc://127.0.0.1:{port}/interface"])  # its own input
    engine.start()
    engine.listen("hand", f"osc://127.0.0.1:{port}/interface", mode="battle", log=tmp_path / "echo.csv")
    time.sleep(1.0)
    counts = engine.listeners["hand"].counts
    assert counts["echoes"] >= 5 and counts["heard"] == 0
    for i in range(5):  # the performer is still heard
        osc(port, "/interface", 0.123 + i / 100, 0.5)
        time.sleep(0.02)
    assert engine.listeners["hand"].idle()
    assert counts["heard"] == 5
    engine.stop()
    assert sum(r[1] == "interface" for r in log_rows(tmp_path / "echo.csv")) == 5
