"""The terminal as a stage, driven for real: the `livecrepre` REPL in tmux, keys sent, the screen read."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

LIVECREPRE = Path(sys.executable).parent / "livecrepre"


class Tmux:
    def __init__(self, cwd: Path, width: int = 110, height: int = 24):
        assert shutil.which("tmux"), "tmux is missing: apt-get install -y tmux (see README)"
        self.name = f"livecrepre-test-{os.getpid()}"
        # A fresh IPython profile: no history, so no suggestions from earlier sessions on the line
        subprocess.run(["tmux", "new-session", "-d", "-s", self.name, "-x", str(width), "-y", str(height),
                        "-c", str(cwd), "-e", f"IPYTHONDIR={cwd / 'ipython'}", str(LIVECREPRE)], check=True)

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def screen(self) -> list[str]:
        out = subprocess.run(["tmux", "capture-pane", "-p", "-t", self.name], capture_output=True, text=True).stdout
        return out.rstrip("\n").split("\n")

    def frame(self, timeout: float = 3) -> list[str]:
        """A whole frame: the screen with the toolbar drawn on its bottom line (a capture can fall
        between prompt-toolkit erasing the prompt to print an event line above it and redrawing)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if re.match(r"^ (bar|stopped)", screen[-1]):
                return screen
            time.sleep(0.02)
        raise AssertionError("no toolbar on the bottom line:\n" + "\n".join(self.screen()))

    def wait_for(self, pattern: str, timeout: float = 60) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if any(re.search(pattern, line) for line in screen):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{pattern!r} never showed:\n" + "\n".join(self.screen()))

    def resize(self, width: int) -> None:
        subprocess.run(["tmux", "resize-window", "-t", self.name, "-x", str(width)], check=True)

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


def bar_beat(toolbar: str) -> tuple[int, int]:
    bar, beat = re.search(r"bar +(\d+) beat (\d)", toolbar).groups()
    return int(bar), int(beat)


def test_the_toolbar_counts_the_beat_tab_completes_and_events_never_garble_the_typed_line(tmp_path):
    term = Tmux(tmp_path)
    try:
        term.wait_for(r"^In \[1\]:")
        assert "stopped (%crepre start)" in term.frame()[-1]
        term.keys("%crepre start --bpm 240", "Enter")
        term.keys("%voice lead melody --to print", "Enter")
        term.wait_for(r"^lead +\d+\.\d\.\d")  # event lines are printing
        term.keys("# typing while it plays")
        term.wait_for(r"^In \[3\]: # typing while it plays$")
        first = term.frame()
        time.sleep(1.0)
        second = term.frame()
        for screen in (first, second):  # the typed line intact; the toolbar on the bottom line
            prompt = max(i for i, line in enumerate(screen) if line.startswith("In ["))
            assert screen[prompt] == "In [3]: # typing while it plays", screen
            assert re.match(r"^lead +\d+\.\d\.\d", screen[prompt - 1])  # events land above the prompt
            assert not any(line.strip() for line in screen[prompt + 1:-1])
            assert re.match(r"^ bar +\d+ beat \d  240 bpm  \|  lead: melody 1$", screen[-1]), screen[-1]
        assert bar_beat(second[-1]) > bar_beat(first[-1])  # the toolbar counts while we type
        term.keys("C-u", "%voice x nosuchmodel", "Enter")
        term.wait_for(r"UsageError")
        term.wait_for(r"\|  ! unknown model")  # the last error, in the toolbar
        term.keys("%swap le", "Tab")  # Tab completes a voice name (completions come in a moment)
        term.wait_for(r"^In \[\d+\]: %swap lead\s*$")
        term.keys(" cho", "Tab")  # and a shipped model
        term.wait_for(r"^In \[\d+\]: %swap lead chorale\s*$")
        term.keys("C-u")
        term.resize(40)
        time.sleep(0.5)
        narrow = term.frame()
        assert len(narrow[-1]) <= 40 and narrow[-1].endswith("…"), narrow[-1]  # shortened, not wrapped
        assert "bpm" not in narrow[-2]
        term.keys("%crepre stop", "Enter")
        term.wait_for(r"stopped")
        term.keys("exit", "Enter")
    finally:
        term.close()


def test_a_training_shows_its_progress_in_the_toolbar_and_its_lines_above_the_prompt(tmp_path):
    from livecrepre.data import build_midi_dataset

    from .test_data import RIFF, write_midi

    (tmp_path / "riffs").mkdir()
    for i in range(8):
        write_midi(tmp_path / "riffs" / f"riff{i}.mid", [(s + 16 * k, l, p + i) for k in range(6) for s, l, p in RIFF])
    build_midi_dataset(tmp_path / "riffs", report=lambda line: None).save(tmp_path / "riffs.data")
    term = Tmux(tmp_path)
    try:
        term.wait_for(r"^In \[1\]:")
        term.keys("%train melody --data riffs.data --out r.ckpt --epochs 400 --patience 400 "
                  "--units 16 --embed 8 --seq-len 16", "Enter")
        term.wait_for(r"training r in the background")
        term.keys("# typing while it trains")
        term.wait_for(r"^\[train r\] epoch 2/400: train [\d.]+ valid [\d.]+", timeout=120)
        screen = term.frame()
        assert re.search(r"\|  train r epoch \d+/400 \d+%$", screen[-1]), screen[-1]
        prompt = max(i for i, line in enumerate(screen) if line.startswith("In ["))
        assert screen[prompt] == "In [2]: # typing while it trains", screen  # epoch lines land above it
        term.keys("C-u", "%train stop", "Enter")
        term.wait_for(r"^\[train r\] done: swap it in with %swap VOICE r\.ckpt", timeout=60)
        assert "train r" not in term.frame()[-1]  # a finished training leaves the toolbar
        term.keys("exit", "Enter")
    finally:
        term.close()
    assert (tmp_path / "r.ckpt").is_file()
