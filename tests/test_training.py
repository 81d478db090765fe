"""From the user's MIDI files to a model playing in a running voice: the hackathon afternoon."""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import jax
import numpy as np
import pytest

from livecrepre.data import Dataset, build_midi_dataset
from livecrepre.encodings import VOCAB_SIZE
from livecrepre.magics import engine_of
from livecrepre.models import load_checkpoint
from livecrepre.training import TrainConfig, heldout_nll, save_trained, train_model

from .conftest import Collector, assert_kept_playing
from .test_data import RIFF, write_midi

CLI = [sys.executable, "-m", "livecrepre.cli"]
SMALL = ["--units", "32", "--embed", "16", "--seq-len", "32"]


@pytest.fixture
def riffs(tmp_path):
    folder = tmp_path / "riffs"
    folder.mkdir()
    for i in range(8):
        write_midi(folder / f"riff{i}.mid", [(s + 16 * k, l, p + i % 3) for k in range(6) for s, l, p in RIFF])
    return folder


def run(args, cwd, timeout=240):
    return subprocess.run(CLI + args, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def assert_kept_the_best_epoch(model, summary, dataset):
    """The model is the epoch with the lowest held-out loss, and the summary says which."""
    held_out = [h["valid_nll"] for h in summary["history"]]
    assert summary["best_epoch"] == 1 + held_out.index(min(held_out))
    assert summary["heldout_nll"] == min(held_out)
    assert heldout_nll(model, dataset.split(True)) == pytest.approx(min(held_out), rel=1e-6)


def assert_saved_the_best_epoch(checkpoint, data):
    model = load_checkpoint(checkpoint)
    summary = {**model.meta["training"], "history": model.meta["history"]}
    assert_kept_the_best_epoch(model, summary, Dataset.load(data))


def test_data_train_demo_from_the_command_line(riffs, tmp_path):
    made = run(["data", "from-midi", str(riffs), "--out", "riffs.data"], tmp_path)
    assert made.returncode == 0, made.stderr
    assert "8 pieces encoded, 0 skipped" in made.stdout and (tmp_path / "riffs.data").exists()
    trained = run(["train", "melody", "--data", "riffs.data", "--out", "riffs.ckpt", "--epochs", "6",
                   "--lr", "0.01"] + SMALL, tmp_path)
    assert trained.returncode == 0, trained.stderr
    meta = json.loads((tmp_path / "riffs.ckpt.json").read_text())
    history = [h["valid_nll"] for h in meta["history"]]
    assert history[-1] < history[0] - 0.5  # the loss falls, on held-out riffs
    assert (tmp_path / "riffs.ckpt.png").read_bytes()[:4] == b"\x89PNG"
    played = run(["demo", "--model", "riffs.ckpt", "--bars", "1", "--bpm", "480", "--quiet"], tmp_path)
    assert played.returncode == 0 and "first note" in played.stdout
    scored = run(["eval", "riffs.ckpt", "--data", "riffs.data", "--max-order", "8"], tmp_path)
    assert scored.returncode == 0, scored.stderr
    model_line, ngram_line = scored.stdout.splitlines()[:2]
    assert model_line.startswith("riffs: held-out NLL") and float(model_line.split()[3]) > 0
    assert ngram_line.startswith("best Kneser-Ney n-gram (order ")
    assert "| held-out pieces |" in scored.stdout and "| model samples |" in scored.stdout


def test_bad_data_and_training_inputs_are_one_line(tmp_path):
    for args, message in [
        (["data", "from-midi", str(tmp_path / "nowhere"), "--out", "x.data"], "no such folder"),
        (["data", "from-midi", str(tmp_path), "--out", "x.data"], "no .mid or .midi files"),
        (["train", "melody", "--data", "missing.data", "--out", "x.ckpt"], "no such dataset"),
    ]:
        result = run(args, tmp_path)
        assert result.returncode == 2 and message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    (tmp_path / "junk.data").write_bytes(b"junk")
    result = run(["train", "melody", "--data", "junk.data", "--out", "x.ckpt"], tmp_path)
    assert result.returncode == 2 and "corrupt or not a livecrepre dataset" in result.stderr



def test_text_and_gesture_datasets_from_the_command_line_and_a_wrong_kind(riffs, tmp_path):
    (tmp_path / "song.txt").write_text("\n\n".join(f"verse {i}: la la la, the river runs" for i in range(30)))
    made = run(["data", "text", "song.txt", "--out", "song.data"], tmp_path)
    assert made.returncode == 0 and "a char dataset" in made.stdout, made.stderr
    wrong = run(["train", "melody", "--data", "song.data", "--out", "x.ckpt"], tmp_path)
    assert wrong.returncode == 2 and len(wrong.stderr.strip().splitlines()) == 1
    assert "this is a char dataset: train char on it" in wrong.stderr
    from_melody = run(["train", "char", "--data", "song.data", "--out", "x.ckpt", "--from", "melody"], tmp_path)
    assert from_melody.returncode == 2 and "melody is a melody model" in from_melody.stderr
    log = tmp_path / "hand.csv"
    log.write_text("".join(f"{i * 0.03:.2f},interface,{i % 7 / 7:.3f}\n" for i in range(300))
                   + "9.5,interface,0.1,0.2\n")
    made = run(["data", "gestures", str(log), "--out", "hand.data"], tmp_path)
    assert made.returncode == 0 and "a gesture dataset" in made.stdout, made.stderr
    assert "skipped 1 ragged or unreadable row(s) (first: line 301" in made.stdout
    trained = run(["train", "mdrnn", "--data", "hand.data", "--out", "hand.ckpt", "--epochs", "2",
                   "--units", "16", "--mixtures", "2", "--seq-len", "16"], tmp_path)
    assert trained.returncode == 0, trained.stderr
    assert "nats/gesture" in trained.stdout
    scored = run(["eval", "hand.ckpt", "--data", "hand.data"], tmp_path)
    assert scored.returncode == 0 and "nats/gesture" in scored.stdout, scored.stderr


def test_checkpoint_round_trips_exactly_and_fine_tunes(riffs, tmp_path):
    dataset = build_midi_dataset(riffs, report=lambda line: None)
    model, summary = train_model("melody", dataset, TrainConfig(epochs=1, units=32, embed=16, seq_len=32),
                                  report=lambda line: None)
    path = save_trained(tmp_path / "r.ckpt", model, summary, dataset, "r")
    again = load_checkpoint(path)
    for a, b in zip(jax.tree.leaves(model.params), jax.tree.leaves(again.params)):
        assert np.array_equal(np.asarray(a), np.asarray(b))
    seen = []  # what a live loss curve is given: the history so far, after each epoch
    tuned, tuned_summary = train_model("melody", dataset, TrainConfig(epochs=2), init=again,
                                        report=lambda line: None, on_epoch=lambda h: seen.append(list(h)))
    assert tuned.config == again.config and tuned_summary["initialised_from"] == "r"
    assert [len(h) for h in seen] == [1, 2] and seen[-1] == tuned_summary["history"]


def test_ctrl_c_keeps_the_best_epoch(riffs, tmp_path):
    run(["data", "from-midi", str(riffs), "--out", "riffs.data"], tmp_path)
    stderr = open(tmp_path / "stderr.txt", "w")
    proc = subprocess.Popen(CLI + ["train", "melody", "--data", "riffs.data", "--out", "r.ckpt",
                                   "--epochs", "500", "--patience", "500"] + SMALL,
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=stderr, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("epoch 2/"):
            proc.send_signal(signal.SIGINT)
            break
    out = "".join(lines) + proc.communicate(timeout=60)[0]
    stderr.close()
    assert proc.returncode == 0, out + (tmp_path / "stderr.txt").read_text()
    assert "stopped: interrupted; keeping the best epoch" in out
    meta = json.loads((tmp_path / "r.ckpt.json").read_text())
    assert meta["training"]["stopped"] == "interrupted" and meta["training"]["epochs_run"] >= 2
    assert_saved_the_best_epoch(tmp_path / "r.ckpt", tmp_path / "riffs.data")


def test_stopping_mid_epoch_or_ctrl_c_after_an_epoch_keeps_the_best_epoch(riffs):
    dataset = build_midi_dataset(riffs, report=lambda line: None)
    config = TrainConfig(epochs=50, units=32, embed=16, seq_len=16, batch=2, lr=0.01)
    stop = threading.Event()

    def stop_in_epoch_3(epoch, epochs, step, steps):  # as the command's Ctrl-C does: between steps
        if epoch == 3 and step == 5:
            stop.set()

    model, summary = train_model("melody", dataset, config, report=lambda line: None, stop=stop,
                                 on_step=stop_in_epoch_3)
    assert summary["stopped"] == "interrupted" and summary["epochs_run"] == 2
    assert_kept_the_best_epoch(model, summary, dataset)

    def ctrl_c_while_epoch_2_is_drawn(history):  # in a notebook, Ctrl-C can land in the loss curve
        if len(history) == 2:
            raise KeyboardInterrupt

    model, summary = train_model("melody", dataset, config, report=lambda line: None,
                                 on_epoch=ctrl_c_while_epoch_2_is_drawn)
    assert summary["stopped"] == "interrupted" and summary["epochs_run"] == 2
    assert summary["best_epoch"] == 2  # the epoch being drawn is the best: it must be the one kept
    assert_kept_the_best_epoch(model, summary, dataset)


def test_a_nan_loss_in_a_later_epoch_keeps_the_best_epoch(riffs):
    dataset = build_midi_dataset(riffs, report=lambda line: None)
    lines = []

    def corrupt_the_data_after_epoch_2(history):  # a token outside the vocabulary embeds as NaN
        if len(history) == 2:
            for piece in dataset.split(False):
                piece[::5] = VOCAB_SIZE

    config = TrainConfig(epochs=5, units=32, embed=16, seq_len=16, lr=0.01)
    model, summary = train_model("melody", dataset, config, report=lines.append,
                                 on_epoch=corrupt_the_data_after_epoch_2)
    assert summary["stopped"] == "loss became nan in epoch 3" and summary["epochs_run"] == 2
    assert lines[-1] == "stopped: loss became nan in epoch 3; keeping the best epoch"
    assert_kept_the_best_epoch(model, summary, dataset)


def test_the_progress_bar_shows_the_rate_the_epoch_line_reports(riffs, capsys):
    dataset = build_midi_dataset(riffs, report=lambda line: None)
    lines = []
    # 23 steps an epoch: the bar shows a rate at steps 10 and 20
    train_model("melody", dataset, TrainConfig(epochs=3, seq_len=16, batch=2), report=lines.append, progress=True)
    bar = capsys.readouterr().err  # tqdm's
    for epoch in (2, 3):  # the first epoch's rate counts compiling
        reported = float(re.search(r"\(([\d,]+) tokens/s", lines[epoch - 1])[1].replace(",", ""))
        shown = [float(rate.replace(",", ""))
                 for rate in re.findall(rf"epoch {epoch}/3:[^\r\n]*tokens/s=([\d,]+)", bar)]
        assert shown and all(reported / 3 < rate < reported * 3 for rate in shown), (epoch, reported, shown)


def test_a_freshly_trained_model_swaps_into_a_running_voice(riffs, tmp_path, shell):
    dataset = build_midi_dataset(riffs, report=lambda line: None)
    model, summary = train_model("melody", dataset, TrainConfig(epochs=2, units=32, embed=16, seq_len=32, lr=0.01),
                                  report=lambda line: None)
    path = save_trained(tmp_path / "fresh.ckpt", model, summary, dataset, "fresh")
    notes = Collector()
    shell.user_ns["notes"] = notes
    shell.run_line_magic("crepre", "start --bpm 480 --seed 1")
    shell.run_line_magic("voice", "lead melody --to notes")
    notes.wait_for(3)
    shell.run_line_magic("swap", f"lead {path}")
    engine = engine_of(shell)
    assert engine.voices["lead"].model.name == "fresh"
    count = len(notes.events)
    time.sleep(1.0)
    assert len(notes.events) > count  # it plays
    shell.user_ns["tuned"] = model  # a model object in the namespace swaps in by name too
    shell.run_line_magic("swap", "lead tuned")
    assert engine.voices["lead"].model is model


def test_train_magic_learns_in_the_background_while_the_music_plays(riffs, tmp_path, shell, playing):
    from IPython.core.error import UsageError

    build_midi_dataset(riffs, report=lambda line: None).save(tmp_path / "riffs.data")
    since = time.perf_counter()
    shell.run_line_magic("train", f"melody --data {tmp_path / 'riffs.data'} --out {tmp_path / 'bg.ckpt'} "
                                  "--epochs 3 --units 32 --embed 16 --seq-len 32")
    magics = shell.magics_manager.registry["CrepreMagics"]
    job = magics.jobs[-1]
    assert job.wait(timeout=180), "training did not finish"
    assert job.result == tmp_path / "bg.ckpt" and job.error is None
    assert_kept_playing(playing, since, window=time.perf_counter() - since)  # all through the training
    # what the loss curve and the toolbar are drawn from: the epochs as the checkpoint keeps them,
    # and the step count up to the last step of the last epoch
    saved = load_checkpoint(job.result).meta["history"]
    assert [(h["epoch"], round(h["train_nll"], 3), round(h["valid_nll"], 3)) for h in saved] == \
        [(h["epoch"], h["train_nll"], h["valid_nll"]) for h in job.history] and len(saved) == 3
    epoch, epochs, step, steps = job.progress
    assert (epoch, epochs) == (3, 3) and step == steps > 1
    shell.run_line_magic("swap", f"keep {job.result}")
    assert engine_of(shell).voices["keep"].model.name == "bg"
    with pytest.raises(UsageError, match="the following arguments are required: --data"):
        shell.run_line_magic("train", "melody --out x.ckpt")
    with pytest.raises(UsageError, match="no such dataset"):
        shell.run_line_magic("train", "melody --data nowhere.data --out x.ckpt")


def test_train_stop_keeps_the_best_epoch_and_a_failing_training_is_one_line(riffs, tmp_path, shell, capsys):
    build_midi_dataset(riffs, report=lambda line: None).save(tmp_path / "riffs.data")
    magics = shell.magics_manager.registry["CrepreMagics"]
    shell.run_line_magic("train", f"melody --data {tmp_path / 'riffs.data'} --out {tmp_path / 'long.ckpt'} "
                                  "--epochs 500 --patience 500 --units 32 --embed 16 --seq-len 32")
    job = magics.jobs[-1]
    deadline = time.monotonic() + 120
    while not any(line.startswith("epoch 2/") for line in job.lines) and time.monotonic() < deadline:
        time.sleep(0.1)
    shown = re.fullmatch(r"train long epoch (\d+)/500 (\d+)%", job.progress_text())
    assert shown and int(shown[1]) >= 2 and 0 <= int(shown[2]) <= 100, job.progress_text()
    shell.run_line_magic("crepre", "status")
    assert re.search(r"^  training long -> .*long\.ckpt: running \(train long epoch", capsys.readouterr().out, re.M)
    shell.run_line_magic("train", "stop")
    assert job.wait(timeout=60), "training did not stop"
    assert job.result == tmp_path / "long.ckpt" and job.result.is_file() and job.error is None
    assert any(line.startswith("stopped:") for line in job.lines)
    assert_saved_the_best_epoch(job.result, tmp_path / "riffs.data")
    assert "long -> " in capsys.readouterr().out  # %train stop shows each job's status

    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x.ckpt").mkdir()  # the checkpoint path is a folder: cannot be written
    shell.run_line_magic("train", f"melody --data {tmp_path / 'riffs.data'} --out {tmp_path / 'taken' / 'x.ckpt'} "
                                  "--epochs 1 --units 16 --embed 8 --seq-len 16")
    job = magics.jobs[-1]
    assert job.wait(timeout=120)
    assert job.result is None and job.error.startswith(f"cannot write checkpoint {tmp_path / 'taken' / 'x.ckpt'}")
    assert job.lines[-1] == f"failed: {job.error}"


def test_nan_loss_stops_training_with_one_line(riffs):
    from livecrepre.errors import LivecrepreError

    from .helpers import constant_model

    broken = constant_model(60)
    broken.params = jax.tree.map(lambda leaf: leaf * np.nan, broken.params)
    dataset = build_midi_dataset(riffs, report=lambda line: None)
    with pytest.raises(LivecrepreError, match="loss became nan in epoch 1"):
        train_model("melody", dataset, TrainConfig(epochs=2, seq_len=32), init=broken, report=lambda line: None)
