"""Ableton Link for real: a Link peer in its own process (tests/peers/link_peer.py, not livecrepre)
and a livecrepre session, both inside a network namespace with nothing but loopback (Link multicasts
on every interface: it never runs on this machine's own network)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import livecrepre as lc
from livecrepre.errors import LivecrepreError

PEERS = Path(__file__).resolve().parent / "peers"


def in_loopback_namespace(*command: str, timeout: float = 90) -> subprocess.CompletedProcess:
    unshare = ["unshare", "-n"] if os.geteuid() == 0 else ["unshare", "-rn"]
    script = "ip link set lo up && exec " + " ".join(command)
    return subprocess.run(unshare + ["sh", "-c", script], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def session() -> dict:
    run = in_loopback_namespace(sys.executable, str(PEERS / "link_session.py"))
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_joins_the_session_and_takes_its_tempo(session):
    assert session["stopped"] == "link quantum=4"
    assert session["found_peer_s"] < 3
    assert session["bpm_joined"] == pytest.approx(100, abs=0.01)  # the peer was there first
    assert session["label"] == "link 1 peer" and "clock link 1 peer" in session["status"]


def test_tempo_follows_a_peer_and_moves_the_peer(session):
    assert session["bpm_after_peer"] == pytest.approx(140, abs=0.01)
    assert session["peer_tempo_after_ours"] == pytest.approx(90, abs=0.01)


def test_notes_fall_on_the_peers_grid_and_bar_lines_on_its_phase_zero(session):
    errors = np.array(session["grid_error_ms"])
    assert session["events"] >= 40 and session["late_ticks"] == 0
    # a tempo change moves the ticks already in the lookahead (one tick each here): at most those are off
    assert np.sum(errors > 1.0) <= 4 and np.percentile(errors, 50) < 0.1, errors
    assert len(session["bar_phase_beats"]) >= 3
    assert np.abs(session["bar_phase_beats"]).max() < 0.01


def test_a_swap_at_bar_lands_on_a_shared_bar_line(session):
    assert session["swap_tick"] % 16 == 0 and session["swap_first_pitch_tick"] == session["swap_tick"]
    assert abs(session["swap_phase_beats"]) < 0.001


def test_stop_leaves_the_session_and_both_exit_cleanly(session):
    assert session["stop"].startswith("stopped") and session["peer_exit"] == 0


def test_the_interpreter_exits_cleanly_with_link_joined():
    """No stop: the engine is stopped at exit, and Link is left without an abort or a hang."""
    code = ("import time, livecrepre as lc; e = lc.Engine(clock='link', log=False, echo_errors=False); "
            "e.voice('lead', 'melody', to=[lambda ev: None]); e.start(); time.sleep(1.0)")
    for _ in range(3):
        run = in_loopback_namespace(sys.executable, "-c", json.dumps(code), timeout=60)
        assert run.returncode == 0, run.stderr[-2000:]


def test_bad_clock_arguments_are_one_line_and_change_nothing():
    engine = lc.Engine(log=False, echo_errors=False)
    for source, quantum, said in [("nonsense", None, "unknown clock 'nonsense'"),
                                  ("link", 0, "--quantum takes a whole number of beats"),
                                  ("link", "four", "--quantum takes a whole number of beats"),
                                  ("internal", 4, "--quantum is for %clock link")]:
        with pytest.raises(LivecrepreError, match=said):
            engine.use_clock(source, quantum=quantum)
    assert engine.clock_spec == "internal"


def test_a_missing_link_library_is_one_line_and_the_music_goes_on(monkeypatch, collector):
    engine = lc.Engine(bpm=480, log=False, echo_errors=False)
    engine.voice("lead", "melody", to=[collector])
    engine.start()
    monkeypatch.setitem(sys.modules, "link", None)  # as if LinkPython-extern were not installed
    try:
        with pytest.raises(LivecrepreError, match="needs the LinkPython-extern package"):
            engine.use_clock("link")
        before = len(collector.events)
        collector.wait_for(before + 4)
        assert engine.clock.name == "internal" and engine.clock_spec == "internal"
    finally:
        engine.stop()
