"""Magic arguments are quoted as in a POSIX shell: paths with spaces and quotes reach the engine whole.

Each checkpoint here is a constant model (one pitch on every tick) saved under an awkward path, so
the voice's model and what it then plays both tell whether the swap really happened.
"""
import re
import shlex
import time

import pytest
from IPython.core.error import UsageError

from livecrepre.magics import engine_of
from livecrepre.models import load_checkpoint, save_checkpoint
from livecrepre.pianoroll import notes_of_take

from .conftest import Collector
from .helpers import constant_model


def backslashed(path: str) -> str:
    """The path with a backslash before each space, quote and backslash, as typed in a shell."""
    return re.sub(r"""([ '"\\])""", r"\\\1", path)


# (how the path is written on the line, the checkpoint's file name, the pitch its model plays)
QUOTINGS = [
    (lambda path: f'"{path}"', "Bob's chorale.ckpt", 62),
    (lambda path: f"'{path}'", 'the "best" take.ckpt', 64),
    (backslashed, "Bob's \"best\" take.ckpt", 65),
    (shlex.quote, "it's mine.ckpt", 67),
]


@pytest.fixture
def folder(tmp_path):
    """A folder whose name has a space in it."""
    path = tmp_path / "my set"
    path.mkdir()
    return path


def save_constant(path, pitch: int) -> str:
    save_checkpoint(path, constant_model(pitch, f"constant{pitch}"), {})
    return str(path)


def magic(shell, line):
    name, _, rest = line.partition(" ")
    return shell.run_line_magic(name, rest)


def wait_for_pitch(notes: Collector, pitch: int, since: float, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(called >= since and e.pitch == pitch for called, e in list(notes.events)):
            return
        time.sleep(0.02)
    heard = sorted({e.pitch for called, e in list(notes.events) if called >= since})
    raise AssertionError(f"pitch {pitch} never played (heard {heard})")


def test_swap_and_voice_take_quoted_and_escaped_paths(shell, folder):
    engine = engine_of(shell)
    notes, other = Collector(), Collector()
    shell.user_ns.update(notes=notes, other=other)
    magic(shell, "crepre start --bpm 240 --seed 1")
    magic(shell, "voice lead melody --to notes")
    notes.wait_for(1)
    for write, file_name, pitch in QUOTINGS:
        path = save_constant(folder / file_name, pitch)
        since = time.perf_counter()
        magic(shell, f"swap lead {write(path)}")
        model = engine.voices["lead"].model
        assert (model.name, model.checksum) == (file_name[:-len(".ckpt")], load_checkpoint(path).checksum), \
            f"%swap lead {write(path)}"
        wait_for_pitch(notes, pitch, since)

    write, file_name, pitch = QUOTINGS[0]
    since = time.perf_counter()
    magic(shell, f"voice second {write(str(folder / file_name))} --to other")
    assert engine.voices["second"].model.checksum == load_checkpoint(folder / file_name).checksum
    wait_for_pitch(other, pitch, since)
    magic(shell, "crepre stop")


def test_a_file_route_with_a_space_records_to_that_path(shell, folder):
    engine = engine_of(shell)
    notes = Collector()
    shell.user_ns["notes"] = notes
    path = save_constant(folder / "my chorale.ckpt", 60)
    take = folder / "my take.mid"
    magic(shell, "crepre start --bpm 240 --seed 1")
    magic(shell, f'voice lead "{path}" --to notes')
    magic(shell, f'route lead notes "file:{take}"')
    assert [r.spec for r in engine.voices["lead"].routes] == ["Collector()", f"file:{take}"]
    count = len(notes.events)
    notes.wait_for(count + 8)
    magic(shell, "crepre stop")
    recorded = [n for track in notes_of_take(take).values() for n in track]
    assert len(recorded) >= 6 and {n.pitch for n in recorded} == {60}


def test_a_sketch_path_and_a_cell_sketch_name_may_be_quoted(shell, folder):
    engine = engine_of(shell)
    notes = Collector()
    shell.user_ns["notes"] = notes
    model = save_constant(folder / "my chorale.ckpt", 60)
    sketch = folder / "an octave up.py"
    sketch.write_text("def transform(note):\n    return note.but(pitch=note.pitch + 12)\n")
    magic(shell, "crepre start --bpm 240 --seed 1")
    magic(shell, f"voice lead {backslashed(model)} --to notes")
    since = time.perf_counter()
    magic(shell, f"sketch '{sketch}' --voice lead")
    wait_for_pitch(notes, 72, since)
    magic(shell, 'sketch "an octave up" --off')
    assert "an octave up" not in engine.sketches
    since = time.perf_counter()
    shell.run_cell_magic("sketch", '"two octaves up" --voice lead',
                         "def transform(note):\n    return note.but(pitch=note.pitch + 24)\n")
    assert "two octaves up" in engine.sketches
    wait_for_pitch(notes, 84, since)
    magic(shell, "crepre stop")


@pytest.mark.parametrize("line, message", [
    ('swap lead "{folder}/my chorale.ckpt', 'unclosed quote in %swap lead "{folder}/my chorale.ckpt'),
    ("swap lead '{folder}/my chorale.ckpt --at bar", "unclosed quote in %swap lead '{folder}/my chorale.ckpt"),
    ('voice x "melody', 'unclosed quote in %voice x "melody'),
    ("route lead print\\", "a backslash ends %route lead print\\"),
    ('train melody --data "riffs.data --out x.ckpt', 'unclosed quote in %train melody --data "riffs.data'),
    ("swap lead my chorale.ckpt", "unrecognized arguments: chorale.ckpt"),  # the parser's own errors
], ids=["swap double", "swap single", "voice", "route backslash", "train", "unquoted space"])
def test_a_bad_line_is_one_usage_error_line_and_changes_nothing(shell, folder, capsys, line, message):
    engine = engine_of(shell)
    save_constant(folder / "my chorale.ckpt", 60)
    magic(shell, "crepre start --bpm 240 --seed 1")
    magic(shell, "voice lead melody --to print")
    capsys.readouterr()
    line, message = line.format(folder=folder), message.format(folder=folder)
    result = shell.run_cell("%" + line)  # as typed: IPython shows a UsageError as its one line
    shown = capsys.readouterr()
    assert isinstance(result.error_in_exec, UsageError)
    assert str(result.error_in_exec).startswith(message) and "\n" not in str(result.error_in_exec)
    assert "Traceback" not in shown.out + shown.err and f"UsageError: {message}" in shown.err
    assert engine.voices["lead"].model.name == "melody" and engine.running
    magic(shell, "crepre stop")


def test_train_reads_quoted_paths_and_its_checkpoint_swaps_in(shell, folder):
    from livecrepre.data import build_midi_dataset

    from .test_data import RIFF, write_midi

    riffs = folder / "Bob's riffs"
    riffs.mkdir()
    for i in range(4):
        write_midi(riffs / f"riff {i}.mid", [(s + 16 * k, l, p) for k in range(4) for s, l, p in RIFF])
    data = folder / "Bob's riffs.data"
    build_midi_dataset(riffs, report=lambda line: None).save(data)
    out = folder / "Bob's riffs.ckpt"
    with pytest.raises(UsageError, match=re.escape(f"{folder}/no such.data: no such dataset")):
        magic(shell, f'train melody --data "{folder}/no such.data" --out {shlex.quote(str(out))}')
    magic(shell, f'train melody --data "{data}" --out {backslashed(str(out))} '
                 "--epochs 1 --units 16 --embed 8 --seq-len 16")
    job = shell.magics_manager.registry["CrepreMagics"].jobs[-1]
    assert job.wait(timeout=180) and job.error is None, job.lines[-5:]
    assert job.result == out and out.is_file()
    magic(shell, "crepre start --bpm 240 --seed 1")
    magic(shell, "voice lead melody --to print")
    magic(shell, f'swap lead "{out}"')
    assert engine_of(shell).voices["lead"].model.checksum == load_checkpoint(out).checksum
    magic(shell, "crepre stop")
