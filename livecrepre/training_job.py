"""Training in a child process while the music plays: `livecrepre train ... --progress lines`
started and followed, and the progress lines it prints and reads back."""
from __future__ import annotations

import atexit
import os
import re
import threading
import time
from pathlib import Path


# What `livecrepre train --progress lines` prints, read back by TrainingJob: train_model's epoch
# line and the step count.
EPOCH_LINE = re.compile(r"^epoch (\d+)/(\d+): train (\S+) valid (\S+) ")
PROGRESS_LINE = re.compile(r"^progress (\d+)/(\d+) (\d+)/(\d+)$")


def progress_lines(every: float = 0.25):
    """An on_step for train_model that prints a PROGRESS_LINE at most every `every` seconds."""
    last = [0.0]

    def on_step(epoch: int, epochs: int, step: int, steps: int) -> None:
        now = time.monotonic()
        if now - last[0] >= every or step == steps:
            last[0] = now
            print(f"progress {epoch}/{epochs} {step}/{steps}", flush=True)

    return on_step


class TrainingJob:
    """`livecrepre train ARGS` in a child process, so the music keeps playing while a model learns.

    A process rather than a thread: compiling and running the training step in the performer's
    interpreter held its lock for ~100 ms at a time (measured: notes 50-130 ms late while a
    background training compiled). The child prints an epoch line as each epoch ends; they are
    reported as they come, and kept as `history` for `on_epoch(history)` (a LiveLossCurve in a
    notebook). Its step counts make `progress` (the terminal's toolbar shows it). Stopping sends
    it Ctrl-C: it stops after the current step and writes the best epoch so far. Swapping the
    model in is the performer's move."""

    def __init__(self, argv: list[str], out: str | Path, name: str, report=print, on_epoch=None):
        import subprocess
        import sys

        self.out, self.name = Path(out), name
        self.lines: list[str] = []
        self.history: list[dict] = []
        self.progress: tuple[int, int, int, int] | None = None  # epoch, epochs, step, steps
        self.result: Path | None = None
        self.error: str | None = None
        self._report, self._on_epoch = report, on_epoch
        self._process = subprocess.Popen(
            [sys.executable, "-m", "livecrepre.cli", "train", *argv, "--progress", "lines"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True)  # the performer's Ctrl-C in the REPL is not meant for it
        atexit.register(self.stop)  # leaving the session stops it, keeping the best epoch
        self._thread = threading.Thread(target=self._follow, name=f"livecrepre-train-{name}", daemon=True)
        self._thread.start()

    def _log(self, line: str) -> None:
        self.lines.append(line)
        self._report(f"[train {self.name}] {line}")

    def _heard_epoch(self, match: re.Match) -> None:
        epoch, _, train_nll, valid_nll = match.groups()
        self.history.append({"epoch": int(epoch), "train_nll": float(train_nll), "valid_nll": float(valid_nll)})
        if self._on_epoch is not None:
            try:
                self._on_epoch(self.history)
            except Exception as exc:  # a picture that cannot be drawn does not stop the training
                self._log(f"loss curve not drawn: {type(exc).__name__}: {exc}")
                self._on_epoch = None

    def _follow(self) -> None:
        errors: list[str] = []
        stderr = threading.Thread(target=lambda: errors.extend(self._process.stderr), daemon=True)
        stderr.start()
        for line in self._process.stdout:
            if progress := PROGRESS_LINE.match(line.strip()):
                epoch, epochs, step, steps = map(int, progress.groups())
                self.progress = (epoch, epochs, step, steps)
                continue
            if line.startswith(("epoch ", "stopped", "wrote ")):
                self._log(line.strip())
            if epoch_line := EPOCH_LINE.match(line):
                self._heard_epoch(epoch_line)
        code = self._process.wait()
        stderr.join()
        if code == 0 and self.out.is_file():
            self.result = self.out
            self._log(f"done: swap it in with %swap VOICE {self.result}")
        else:
            said = [e.strip() for e in errors if e.strip() and not e.startswith(("Ctrl-C", "Traceback"))]
            self.error = (said[-1].removeprefix("livecrepre: ") if said else f"exited with code {code}")
            self._log(f"failed: {self.error}")

    def progress_text(self) -> str:
        """`train NAME epoch 2/20 45%` while it runs (for the terminal's toolbar)."""
        if self.progress is None:
            return f"train {self.name} starting"
        epoch, epochs, step, steps = self.progress
        return f"train {self.name} epoch {epoch}/{epochs} {100 * step // max(1, steps)}%"

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        """Stop after the current step; the best epoch so far is still written."""
        import signal

        if self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self.running

    def status(self) -> str:
        state = "running" if self.running else ("failed" if self.error else "done")
        now = f" ({self.progress_text()})" if self.running else ""
        return f"{self.name} -> {self.out}: {state}{now}; " + (self.lines[-1] if self.lines else "starting")
