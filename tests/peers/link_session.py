"""A livecrepre session playing on Ableton Link beside another peer (tests/peers/link_peer.py, its own
process): run by tests/test_link.py inside a loopback-only network namespace. Prints one JSON line of
what it measured; the test judges it."""
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import livecrepre as lc  # noqa: E402
from tests.helpers import constant_model  # noqa: E402

TICKS_PER_BEAT, BAR = 4, 16


def main() -> None:
    peer = subprocess.Popen([sys.executable, str(Path(__file__).with_name("link_peer.py")), "100"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(line: str) -> dict:
        peer.stdin.write(line + "\n")
        peer.stdin.flush()
        return json.loads(peer.stdout.readline())

    measured = {}  # event index -> the peer's beat at its time, asked before the next tempo change

    def measure() -> None:
        """The peer's beat at each event played so far (a session's timeline maps past times
        right only until its tempo changes again)."""
        time.sleep(0.2)  # what was in the lookahead has played
        todo = [i for i in range(len(events)) if i not in measured and events[i].time < time.perf_counter()]
        if todo:
            beats = ask("beats 4 " + " ".join(f"{events[i].time:.9f}" for i in todo))["beats"]
            measured.update(zip(todo, beats))

    json.loads(peer.stdout.readline())  # ready
    time.sleep(0.5)  # the peer's session is there first: its tempo wins
    events = []
    engine = lc.Engine(bpm=120, seed=1, echo_errors=False, log=False, clock="link")
    engine.voice("lead", constant_model(60), to=[lambda event: events.append(event)])
    result = {"stopped": engine.status_info()["clock"]["source"]}
    began = time.perf_counter()
    engine.start()
    while engine.clock.peers() < 1 and time.perf_counter() - began < 5:
        time.sleep(0.05)
    result["found_peer_s"] = time.perf_counter() - began
    while not events and time.perf_counter() - began < 10:  # the first bar line of the session
        time.sleep(0.05)
    result["first_note_s"] = time.perf_counter() - began
    time.sleep(2.0)
    result["bpm_joined"] = engine.bpm
    result["label"] = engine.clock.label()

    measure()
    result["peer_change_tick"] = engine.tick
    ask("tempo 140")  # a peer's tempo change, followed from the next tick
    time.sleep(1.5)
    result["bpm_after_peer"] = engine.bpm
    measure()
    result["our_change_tick"] = engine.set_bpm(90)  # ours, for every peer
    time.sleep(1.0)
    result["peer_tempo_after_ours"] = ask("tempo")["tempo"]
    measure()
    swap_tick = engine.swap("lead", constant_model(62), at="bar")
    while engine.tick < swap_tick + 8 and time.perf_counter() - began < 30:
        time.sleep(0.05)
    measure()
    clock = engine.clock
    swap_beat = ask(f"beats 4 {clock.time_of(swap_tick):.9f}")["beats"][0]
    result["swap_tick"] = swap_tick
    result["swap_first_pitch_tick"] = min(e.tick for e in events if e.pitch == 62)
    result["status"] = engine.status().splitlines()[0]
    result["stop"] = engine.stop()
    result["late_ticks"] = engine.late_ticks

    played = [events[i] for i in sorted(measured)]
    beats = [measured[i] for i in sorted(measured)]
    seconds_per_tick = {e.tick: 60 / clock.bpm_at(e.tick) / TICKS_PER_BEAT for e in played}
    # how far each note is from the peer's nearest 16th, and each bar line from the peer's phase 0
    result["grid_error_ms"] = [abs(b * TICKS_PER_BEAT - round(b * TICKS_PER_BEAT)) * seconds_per_tick[e.tick] * 1e3
                               for e, b in zip(played, beats)]
    result["ticks"] = [e.tick for e in played]
    result["bar_phase_beats"] = [((b + 2) % 4) - 2 for e, b in zip(played, beats) if e.tick % BAR == 0]
    result["swap_phase_beats"] = ((swap_beat + 2) % 4) - 2
    result["events"] = len(played)
    peer.stdin.write("quit\n")
    peer.stdin.close()
    result["peer_exit"] = peer.wait(timeout=10)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
