"""README's examples run as written."""
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).parent.parent / "README.md"


def test_the_python_api_example_runs(tmp_path):
    block = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    result = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "livecrepre running" in result.stdout and "lead" in result.stdout
    assert (tmp_path / "takes" / "api.mid").exists()


def test_the_ipython_session_in_the_readme_runs(tmp_path):
    """The session under 'Playing', minus lines needing a synth or a checkpoint of your own."""
    session = re.search(r"\$ \.venv/bin/livecrepre.*?\n(.*?)```", README.read_text(), re.S).group(1)
    lines = [re.sub(r"^In \[\d+\]: ", "", l).split("  #")[0].strip() for l in session.splitlines()]
    lines = [l.replace("my_reels.ckpt", "melody").replace("midi:Synth:1", "print")
             .replace("osc://127.0.0.1:57120/lead", "osc://127.0.0.1:9/lead") for l in lines if l]
    script = tmp_path / "session.ipy"
    script.write_text("\n".join(lines[:7] + ["import time; time.sleep(1)"] + lines[7:]) + "\n")
    result = subprocess.run([sys.executable, "-m", "livecrepre.cli", str(script)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert "UsageError" not in result.stdout + result.stderr
    assert "panic:" in result.stdout and "stopped" in result.stdout
    assert (tmp_path / "takes" / "set.mid").exists()


def test_the_three_families_session_in_the_readme_runs(tmp_path):
    """The session under 'Three kinds of model': an abc voice, a gesture voice, a refused swap."""
    block = README.read_text().split("### Three kinds of model")[1].split("```\n", 1)[1].split("```")[0]
    lines = [re.sub(r"^In \[\d+\]: ", "", l).split("  #")[0].strip() for l in block.splitlines()]
    lines = [l.replace("osc://127.0.0.1:5002/impsy", "osc://127.0.0.1:9/impsy") for l in lines if l]
    script = tmp_path / "families.ipy"
    script.write_text("\n".join(lines[:4] + ["import time; time.sleep(2)"] + lines[4:]) + "\n")
    result = subprocess.run([sys.executable, "-m", "livecrepre.cli", str(script)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=180)
    out = result.stdout + result.stderr
    status = out.split("livecrepre running")[1]
    assert "tune     abc" in status and "hand     gesture" in status and "sigma 0.1" in status
    assert "melody plays melody; voice tune plays abc and keeps abc" in out


def test_the_listening_example_runs(tmp_path):
    """The Python example under 'Play with it' (on a free port instead of IMPSY's 5000)."""
    from .test_examples import free_udp_port

    section = README.read_text().split("### Play with it")[1]
    block = re.search(r"```python\n(.*?)```", section, re.S).group(1).replace("5000", str(free_udp_port()))
    result = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "50 answers" in result.stdout and "(polyphony)" in result.stdout
    assert sum(",interface," in line for line in (tmp_path / "logs" / "hand.csv").read_text().splitlines()) == 50
