"""Per-route latency: ?nudge=MS shifts a route's OSC timetags and MIDI send times by the amount (the
lookahead grows to send a route nudged earlier in time), and %clock --nudge shifts every route."""
import time

import numpy as np
import pytest

import livecrepre as lc
from livecrepre.errors import LivecrepreError

from .helpers import constant_model
from .test_midi import MidiReceiver, connect_livecrepre_to


def by_address(received, address):
    return {round(m.timetag, 2): m for m in received if m.address == address}


def test_a_nudged_osc_route_is_timetagged_earlier_and_still_sent_ahead(osc_receiver):
    engine = lc.Engine(bpm=240, seed=1, echo_errors=False, log=False)
    base = f"osc://127.0.0.1:{osc_receiver.port}"
    engine.voice("lead", constant_model(60), to=[f"{base}/plain", f"{base}/early?nudge=-300",
                                                 f"{base}/late?nudge=45.5"])
    engine.start()
    time.sleep(2.0)
    engine.stop()
    time.sleep(0.2)
    got = osc_receiver.received
    plain = sorted(m.timetag for m in got if m.address == "/plain")
    early = sorted(m.timetag for m in got if m.address == "/early")
    late = sorted(m.timetag for m in got if m.address == "/late")
    n = min(len(plain), len(early), len(late))
    assert n >= 20
    assert np.allclose(np.array(early[:n]) - plain[:n], -0.300, atol=1e-5)
    assert np.allclose(np.array(late[:n]) - plain[:n], 0.0455, atol=1e-5)
    assert all(m.arrived < m.timetag for m in got if m.address == "/early")  # 300 ms ahead of 100 ms lookahead
    assert engine.late_ticks == 0


def test_every_route_nudged_at_once(osc_receiver):
    engine = lc.Engine(bpm=240, seed=1, echo_errors=False, log=False)
    engine.voice("lead", constant_model(60), to=[f"osc://127.0.0.1:{osc_receiver.port}/lead"])
    engine.start()
    time.sleep(0.8)
    assert engine.nudge(-30) == "every route nudged -30 ms"
    time.sleep(0.8)
    engine.stop()
    times = np.array(sorted(m.timetag for m in osc_receiver.received))
    tick = 60 / 240 / 4
    phase = (times - times[0]) / tick
    offsets = (phase - np.round(phase)) * tick  # against the first note's grid
    assert np.abs(offsets[:5]).max() < 1e-5 and np.any(np.abs(offsets + 0.030) < 1e-5)
    assert set(np.round(offsets * 1000).astype(int)) <= {0, -30}


def test_a_nudged_midi_route_sends_later_by_the_amount(jack):
    receiver = MidiReceiver("crepre-nudge")
    engine = lc.Engine(bpm=200, seed=1, echo_errors=False, log=False)
    try:
        engine.voice("lead", constant_model(60), to=["midi:virtual:1", "midi:virtual:2?nudge=60"])
        connect_livecrepre_to("crepre-nudge")
        engine.start()
        time.sleep(2.0)
    finally:
        engine.stop()
        time.sleep(0.3)
        receiver.close()
    ons = {1: [], 2: []}
    for arrived, m in receiver.messages:
        if m.type == "note_on" and m.velocity > 0:
            ons[m.channel + 1].append(arrived)
    n = min(len(ons[1]), len(ons[2]))
    assert n >= 10
    gaps = np.array(ons[2][:n]) - np.array(ons[1][:n])
    assert np.median(gaps) == pytest.approx(0.060, abs=0.008)  # JACK moves MIDI once a period (5.3 ms)


@pytest.mark.parametrize("route, said", [
    ("print?nudge=abc", "takes milliseconds from -500 to 500"),
    ("print?nudge=900", "takes milliseconds from -500 to 500"),
    ("osc://127.0.0.1:9/x?nudge=", "takes milliseconds"),
    ("file:takes/nudged.mid?nudge=10", "a take records ticks"),
])
def test_a_bad_nudge_is_one_line_and_the_voice_keeps_its_routes(route, said, collector):
    engine = lc.Engine(log=False, echo_errors=False)
    engine.voice("lead", constant_model(60), to=[collector])
    with pytest.raises(LivecrepreError, match=said):
        engine.route("lead", route)
    assert engine.voices["lead"].routes[0].fn is collector
    for bad in ("soon", 501, float("nan")):
        with pytest.raises(LivecrepreError, match="--nudge takes milliseconds"):
            engine.nudge(bad)
    assert engine.routing.nudge == 0


def test_route_options_beside_a_nudge(jack):
    engine = lc.Engine(log=False, echo_errors=False)
    engine.voice("hand", "gesture", to=["midi:virtual?cc=1,74&nudge=-12"])
    route = engine.voices["hand"].routes[0]
    engine.stop()  # its virtual port closed: the next test's connections find their own
    assert route.cc == [1, 74] and route.nudge == pytest.approx(-0.012)
    assert route.spec == "midi:virtual?cc=1,74&nudge=-12"
