"""A real OSC peer: Pure Data's [netreceive -u -b] -> [oscparse] -> [print] receives the notes."""
import shutil
import socket
import subprocess
import time

import pytest

from .conftest import Collector

PATCH = """#N canvas 0 0 450 300 12;
#X obj 10 10 netreceive -u -b {port};
#X obj 10 40 oscparse;
#X obj 10 70 print OSC;
#X connect 0 0 1 0;
#X connect 1 0 2 0;
"""


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_pure_data_receives_pitch_velocity_duration(engine, tmp_path):
    assert shutil.which("pd"), "Pure Data is missing: apt-get install -y puredata-core (see README)"
    port = free_udp_port()
    patch = tmp_path / "receive.pd"
    patch.write_text(PATCH.format(port=port))
    pd = subprocess.Popen(["pd", "-nogui", "-nosound", "-stderr", "-open", str(patch)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(1.5)  # let Pd open its socket
        sent = Collector()
        engine.start()
        engine.voice("lead", "melody", to=[f"osc://127.0.0.1:{port}/lead/note", sent])
        sent.wait_for(6)
        engine.stop()
        time.sleep(0.5)
    finally:
        pd.terminate()
        output = pd.communicate(timeout=5)[0]
    lines = [l.split() for l in output.splitlines() if l.startswith("OSC: list lead note")]
    assert len(lines) >= 6
    expected = [(e.pitch, e.velocity, e.duration) for _, e in sent.events]
    for line, (pitch, velocity, duration) in zip(lines, expected):
        assert int(line[4]) == pitch and int(line[5]) == velocity
        assert float(line[6]) == pytest.approx(duration, rel=1e-3)
