"""An Ableton Link peer that is not livecrepre, for tests (run it only inside a loopback-only
network namespace). Joins at the tempo given, then answers lines on stdin, one JSON line each:

    tempo            -> {"tempo": session tempo, "peers": n}
    tempo BPM        sets the session's tempo -> {"tempo": BPM}
    beats Q T1 T2 .. -> {"beats": [session beat at each time.perf_counter() time, quantum Q]}
    quit
"""
import json
import sys
import time

import link

clock_offset = None


def sync() -> float:
    """Link's clock (microseconds) minus time.perf_counter() (seconds): the shortest of five reads."""
    best = None
    for _ in range(5):
        before = time.perf_counter()
        micros = link_.clock().micros()
        after = time.perf_counter()
        if best is None or after - before < best[0]:
            best = (after - before, micros / 1e6 - (before + after) / 2)
    return best[1]


link_ = link.Link(float(sys.argv[1]))
link_.enabled = True
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    words = line.split()
    state = link_.captureAppSessionState()
    if words == ["tempo"]:
        print(json.dumps({"tempo": state.tempo(), "peers": link_.numPeers()}), flush=True)
    elif words[0] == "tempo":
        state.setTempo(float(words[1]), link_.clock().micros())
        link_.commitAppSessionState(state)
        print(json.dumps({"tempo": float(words[1])}), flush=True)
    elif words[0] == "beats":
        offset, quantum = sync(), float(words[1])
        print(json.dumps({"beats": [state.beatAtTime(int((float(t) + offset) * 1e6), quantum)
                                    for t in words[2:]]}), flush=True)
    elif words == ["quit"]:
        break
link_.enabled = False
