"""The example notebooks, run top to bottom by a real Jupyter kernel (nbclient), on quick settings."""
from __future__ import annotations

import csv
import re
import socket
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

EXAMPLES = Path(__file__).parent.parent / "examples"


def execute(name: str, workdir: Path):
    """Execute examples/NAME in `workdir` (a cell that raises fails the test); the notebook run."""
    notebook = nbformat.read(EXAMPLES / name, as_version=4)
    NotebookClient(notebook, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(workdir)}}).execute()
    return notebook


def run_notebook(name: str, workdir: Path) -> tuple[str, int]:
    """Execute examples/NAME in `workdir`; returns every cell's text output joined (HTML included),
    and how many pictures it showed."""
    notebook = execute(name, workdir)
    texts, pictures = [], 0
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            pictures += "image/png" in data
            texts.append(output.get("text", "") or output.get("ename", "")
                         or "".join(data.get("text/html", "")) + "".join(data.get("text/plain", "")))
    return "\n".join(texts), pictures


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_record_train_perform_notebook(tmp_path, monkeypatch):
    """Play (a generated performer over OSC), train an MDRNN on the log while the voice answers,
    swap it in, and it answers with the new model."""
    monkeypatch.setenv("LIVECREPRE_QUICK", "1")
    monkeypatch.setenv("LIVECREPRE_PORT", str(free_udp_port()))
    out, pictures = run_notebook("record_train_perform.ipynb", tmp_path)
    # %train's loss curve: a placeholder in its cell, replaced by the picture as epochs end
    assert pictures >= 1 and "the loss curve appears here" not in out
    assert int(re.search(r"(\d+) answers so far", out).group(1)) > 20
    assert "done" in out and "mine" in out
    answered = int(re.search(r"(\d+) answers from the model of your playing", out).group(1))
    assert answered > 0  # a tiny model of seconds of training may answer slowly, but it answers
    assert re.search(r"hand\s+mine\s", out), "status shows the voice playing the new model"
    assert "<td><b>hand</b></td><td>mine</td>" in out, "and as a table in the notebook"
    with open(tmp_path / "takes" / "session.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert sum(r[1] == "interface" for r in rows) > 150 and sum(r[1] == "rnn" for r in rows) > 20
    assert (tmp_path / "takes" / "mine.ckpt").is_file()


# notebook -> (pictures it shows at least, what its output must say: regular expressions)
TUTORIALS = {
    "1_data.ipynb": (4, ["24 pieces encoded", r"drums\.mid: no notes", r"broken\.mid: unreadable"]),
    "2_char_rnn.ipynb": (2, ["--- temperature 0.5", "--- temperature 1.5", "epoch 3/3", "X: ?1"]),
    "3_melody_rnn.ipynb": (5, ["epoch 1/1", r"lead: takes/my_chorale\.ckpt from bar", r"wrote takes/lead\.mid"]),
    "4_gestures.ipynb": (3, ["epoch 3/3", "gestures in 2 s"]),
    "5_on_stage.ipynb": (1, ["<td><b>lead</b></td><td>chorale</td>", "listens to file:", "132 bpm from bar",
                          "ZeroDivisionError", r"still playing: [1-9]\d* more notes",
                          r"a track for each voice \(lead, bass\)"]),
}


@pytest.mark.parametrize("name", sorted(TUTORIALS))
def test_tutorial_notebook_runs_top_to_bottom(name, tmp_path, monkeypatch):
    monkeypatch.setenv("LIVECREPRE_QUICK", "1")
    out, pictures = run_notebook(name, tmp_path)
    least, said = TUTORIALS[name]
    assert pictures >= least
    for pattern in said:
        assert re.search(pattern, out), f"{name} should say {pattern!r}"


def test_a_rehearsal_comes_out_the_same(tmp_path, monkeypatch):
    """A presenter rehearses, then runs the notebook in front of the room: with the same seeds the
    trained network's losses and its samples are the same text."""
    monkeypatch.setenv("LIVECREPRE_QUICK", "1")

    def printed(workdir: Path) -> list[str]:
        """What each cell printed (the kernel may send one print in several pieces)."""
        workdir.mkdir()
        return ["".join(o.get("text", "") for o in cell.get("outputs", []) if o["output_type"] == "stream")
                for cell in execute("2_char_rnn.ipynb", workdir).cells]

    def seeded_parts(cells: list[str]) -> list[str]:
        out = "\n".join(cells)
        losses = re.findall(r"epoch \d+/\d+: train [\d.]+ valid [\d.]+", out)
        samples = re.findall(r"--- temperature [\d.]+\n.*?(?=--- temperature|\Z)", out, re.S)
        return losses + samples

    rehearsal = seeded_parts(printed(tmp_path / "rehearsal"))
    show = seeded_parts(printed(tmp_path / "show"))
    assert len(rehearsal) == 3 + 5 and show == rehearsal
