"""The `livecrepre` command, run as a real subprocess."""
import os
import subprocess
import sys

import mido

LIVECREPRE = [sys.executable, "-m", "livecrepre.cli"]


def run(args, timeout=180, **kwargs):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(LIVECREPRE + args, capture_output=True, text=True, timeout=timeout, env=env,
                          **kwargs)


def test_demo_plays_prints_and_records(tmp_path):
    take = tmp_path / "demo.mid"
    result = run(["demo", "--bars", "2", "--bpm", "240", "--seed", "4", "--to", f"file:{take}"])
    assert result.returncode == 0, result.stderr
    lines = [l for l in result.stdout.splitlines() if l.startswith("demo ")]
    assert len(lines) >= 4  # one readable line per note
    assert "first note" in result.stdout and f"wrote {take}" in result.stdout
    notes = [m for m in mido.MidiFile(take).tracks[0] if m.type == "note_on"]
    assert len(notes) >= len(lines) - 1


def test_demo_is_reproducible_with_a_seed(tmp_path):
    def notes(seed):
        result = run(["demo", "--bars", "1", "--bpm", "480", "--seed", str(seed)])
        assert result.returncode == 0, result.stderr
        played = [l.split()[1:3] for l in result.stdout.splitlines() if l.startswith("demo ")][:8]
        assert len(played) == 8, result.stdout  # enough notes to compare: (position, pitch) each
        return played

    first = notes(9)
    assert notes(9) == first
    assert notes(10) != first


def test_demo_bad_model_is_one_line():
    result = run(["demo", "--model", "nosuch"])
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "unknown model 'nosuch'" in result.stderr


def test_demo_bad_tempo_is_one_line():
    result = run(["demo", "--bpm", "0"])
    assert result.returncode == 2 and "tempo must be between" in result.stderr


def test_livecrepre_starts_ipython_with_the_extension(tmp_path):
    script = tmp_path / "session.ipy"
    script.write_text("%crepre start --bpm 240 --seed 1\n%voice lead melody --to print\n"
                      "import time; time.sleep(0.6)\n%crepre status\n%crepre stop\n")
    result = run([str(script)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "started at 240 bpm, seed 1" in result.stdout
    assert "lead     melody" in result.stdout and "stopped" in result.stdout
