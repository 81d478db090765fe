"""Clocks sent to other gear: MIDI clock to a JACK port read by another process (jack_midi_dump),
and an OSC beat to a real UDP server; both follow the tick grid through a tempo change."""
import time

import numpy as np
import pytest

import livecrepre as lc
from livecrepre.errors import LivecrepreError

from .test_midi import MidiReceiver, connect_livecrepre_to


def pulse_interval(times: list[float]) -> float:
    """Seconds between pulses over a run of them (arrivals move by JACK periods; the span does not)."""
    return (times[-1] - times[0]) / (len(times) - 1)


def test_midi_clock_out_is_24_pulses_a_beat_through_a_tempo_change(jack):
    receiver = MidiReceiver("crepre-clock-in")
    engine = lc.Engine(bpm=150, seed=1, echo_errors=False, log=False)
    try:
        assert "next bar line" in engine.send_clock("midi:virtual")
        connect_livecrepre_to("crepre-clock-in")
        time.sleep(0.1)  # JACK passes MIDI on a new connection from a later cycle
        engine.start()
        time.sleep(2.5)
        change = engine.set_bpm(100)
        time.sleep(3.0)
        said = engine.status()
    finally:
        engine.stop()
        time.sleep(0.3)
        receiver.close()
    kinds = [m.type for _, m in receiver.messages]
    assert kinds[0] == "start" and kinds[-1] == "stop" and set(kinds) == {"start", "clock", "stop"}
    pulses = [t for t, m in receiver.messages if m.type == "clock"]
    assert engine.late_ticks == 0 and "sent to midi:virtual" in said
    seconds = 60 / 150 * change / 4  # the tempo change lands at tick `change`
    start = receiver.messages[0][0]
    before = [t for t in pulses if start + 0.3 < t < start + seconds - 0.2]
    after = [t for t in pulses if t > start + seconds + 0.5]
    assert pulse_interval(before) == pytest.approx(60 / 150 / 24, rel=0.03)
    assert pulse_interval(after) == pytest.approx(60 / 100 / 24, rel=0.03)
    # every pulse, none lost or doubled: 6 a 16th before the change, then one every 1/24 beat at 100 bpm
    expected = 6 * change + (pulses[-1] - (start + seconds)) / (60 / 100 / 24) + 1
    assert abs(len(pulses) - expected) <= 3, (len(pulses), expected)


def test_midi_clock_sent_while_playing_starts_at_a_bar_line_with_its_song_position(jack):
    receiver = MidiReceiver("crepre-clock-late")
    engine = lc.Engine(bpm=240, seed=1, echo_errors=False, log=False)
    try:
        engine.start()
        time.sleep(0.3)
        engine.routing.midi_ports.open("virtual")
        connect_livecrepre_to("crepre-clock-late")
        engine.send_clock("midi:virtual")
        time.sleep(1.5)
        engine.send_clock("midi:virtual", off=True)
        time.sleep(0.5)
        assert "midi:virtual" not in engine.clock_outs
    finally:
        engine.stop()
        time.sleep(0.3)
        receiver.close()
    messages = [m for _, m in receiver.messages]
    assert messages[0].type == "songpos" and messages[1].type == "continue"
    assert messages[0].pos % 16 == 0 and messages[0].pos >= 16  # a bar line after the first
    assert messages[-1].type == "stop" and sum(m.type == "stop" for m in messages) == 1


def test_osc_clock_out_is_a_timetagged_bundle_a_beat(osc_receiver):
    engine = lc.Engine(bpm=240, seed=1, echo_errors=False, log=False)
    address = f"osc://127.0.0.1:{osc_receiver.port}/clock"
    engine.send_clock(address)
    engine.start()
    time.sleep(1.3)
    change = engine.set_bpm(120, at="bar")
    time.sleep(2.5)
    engine.stop()
    got = [m for m in osc_receiver.received if m.address == "/clock"]
    assert len(got) >= 8
    bars_beats = [m.args[:2] for m in got]
    assert bars_beats[:6] == [(1, 1), (1, 2), (1, 3), (1, 4), (2, 1), (2, 2)]
    times = np.array([m.timetag for m in got])
    beat_of = [(b - 1) * 4 + (n - 1) for b, n in bars_beats]
    change_beat = change // 4
    for i in range(1, len(got)):
        bpm = 240 if beat_of[i] <= change_beat else 120
        assert times[i] - times[i - 1] == pytest.approx(60 / bpm, abs=1e-4)
        assert got[i].args[2] == pytest.approx(240 if beat_of[i] < change_beat else 120)
    assert all(m.arrived < m.timetag for m in got[1:])  # sent ahead


@pytest.mark.parametrize("route, said", [("print", "a clock goes to midi:PORT or osc://"),
                                         ("osc://nowhere", "osc://nowhere"),
                                         ("file:take.mid", "a clock goes to midi:PORT or osc://")])
def test_a_bad_clock_route_is_one_line(route, said):
    engine = lc.Engine(log=False, echo_errors=False)
    with pytest.raises(LivecrepreError, match=said):
        engine.send_clock(route)
    with pytest.raises(LivecrepreError, match="no clock is sent to midi:x"):
        engine.send_clock("midi:x", off=True)
    assert not engine.clock_outs
