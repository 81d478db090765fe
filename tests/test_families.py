"""Char RNNs (text and ABC) and MDRNNs (gestures): from raw data to a voice on the clock."""
import time

import mido
import numpy as np
import pytest

import livecrepre as lc
from livecrepre.errors import LivecrepreError
from livecrepre.gesture_data import build_gesture_dataset, read_gesture_log, synthetic_gesture_log
from livecrepre.models import load_checkpoint
from livecrepre.text_data import build_text_dataset
from livecrepre.training import TrainConfig, save_trained, train_model
from livecrepre.voices.abc import abc_line_notes

from .conftest import Collector

WORDS = ["the", "fiddle", "plays", "a", "reel", "and", "jig", "while", "dancers", "turn", "slow", "fast"]


@pytest.fixture
def text_file(tmp_path):
    rng = np.random.default_rng(0)
    paragraphs = [" ".join(rng.choice(WORDS, size=int(rng.integers(8, 20)))) + "." for _ in range(60)]
    path = tmp_path / "words.txt"
    path.write_text("\n\n".join(paragraphs) + "\n")
    return path


def tiny(kind, dataset, epochs=3, **sizes):
    config = TrainConfig(epochs=epochs, units=32, embed=16, layers=1, seq_len=32, batch=8, lr=0.01,
                         **sizes)
    return train_model(kind, dataset, config, report=lambda line: None)


def test_a_char_model_learns_a_text_and_a_text_voice_sends_its_words(text_file, tmp_path, engine,
                                                                     osc_receiver):
    dataset = build_text_dataset(text_file, report=lambda line: None)
    assert dataset.kind == "char" and set("fiddle") <= set(dataset.meta["alphabet"])
    assert len(dataset.split(True)) >= 1  # split by paragraph
    model, summary = tiny("char", dataset, epochs=6)
    history = summary["history"]
    assert history[-1]["valid_nll"] < history[0]["valid_nll"] - 0.3  # it learned something
    path = save_trained(tmp_path / "words.ckpt", model, summary, dataset, "words")
    again = load_checkpoint(path)
    assert again.family == "text" and again.alphabet == dataset.meta["alphabet"]

    words = Collector()
    engine.voice("poet", str(path), temperature=0.5,  # before start: from tick 0, the same words each run
                 to=[words, f"osc://127.0.0.1:{osc_receiver.port}/poet"])
    engine.start()
    words.wait_for(12)
    engine.stop()
    said = [e.text for _, e in words.events]
    assert all(e.kind == "text" and e.pitch is None for _, e in words.events)
    real = [w.strip(".") in WORDS for w in said[:12]]
    assert sum(real) >= 6, said[:12]  # mostly real words (the same 12 words every run)
    time.sleep(0.2)
    got = [m.args for m in osc_receiver.received if m.address == "/poet"]
    assert got and all(len(a) == 1 and isinstance(a[0], str) for a in got)
    assert [a[0] for a in got][:5] == said[:5]


def test_a_text_shorter_than_one_window_is_one_line(tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("la la la\n")
    dataset = build_text_dataset(short, report=lambda line: None)
    with pytest.raises(LivecrepreError, match="fewer than one window of --seq-len 100"):
        train_model("char", dataset, TrainConfig(seq_len=100, epochs=1), report=lambda line: None)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(LivecrepreError, match="no text to train on"):
        build_text_dataset(empty, report=lambda line: None)
    binary = tmp_path / "noise.txt"
    binary.write_bytes(b"\xff\xfe\x00abc")
    with pytest.raises(LivecrepreError, match="not UTF-8 text"):
        build_text_dataset(binary, report=lambda line: None)


def test_a_line_of_abc_becomes_notes_on_the_tick_grid():
    notes, length = abc_line_notes({"M": "6/8", "L": "1/8", "K": "G"}, "GAB d2B|(3cBA G2 z2|", 4)
    assert [n.pitch for n in notes] == [67, 69, 71, 74, 71, 72, 71, 69, 67]
    assert [n.start for n in notes][:5] == [0, 2, 4, 6, 10]
    triplet = [n.start for n in notes][5:8]
    assert triplet == pytest.approx([12, 12 + 4 / 3, 12 + 8 / 3])  # off the grid, kept exact
    assert length == pytest.approx(24)


def test_the_shipped_abc_model_writes_tunes_that_play_as_notes(engine, tmp_path):
    notes = Collector()
    take = tmp_path / "abc.mid"
    engine.voice("tune", "abc", temperature=0.8, to=[notes, f"file:{take}"])  # from tick 0: the same tune each run
    engine.start()
    notes.wait_for(24, timeout=20)
    voice = engine.voices["tune"]
    lines = list(voice.lines)
    engine.stop()
    assert lines and voice.lines_skipped <= len(lines)  # most lines it writes are readable ABC
    events = [e for _, e in notes.events]
    assert all(e.kind == "note" and 0 <= e.pitch <= 127 and e.duration_ticks > 0 for e in events)
    assert len({e.pitch for e in events}) >= 4
    onsets = [e.start_tick for e in events]
    assert onsets == sorted(onsets) and onsets[0] % 16 == 0  # the tune starts on a bar line
    recorded = [m for m in mido.MidiFile(str(take)) if m.type == "note_on"]
    assert [m.note for m in recorded][:10] == [e.pitch for e in events][:10]


GOOD_ROWS = [f"2024-05-01T10:00:{i // 10:02d}.{i % 10}00000,interface,{i / 40:.3f},{1 - i / 40:.3f}"
             for i in range(40)]


def test_a_gesture_log_with_ragged_rows_is_read_and_the_rows_reported(tmp_path):
    log = tmp_path / "log.csv"
    rows = GOOD_ROWS[:10] + ["2024-05-01T10:00:01.050000,interface,0.5"] + GOOD_ROWS[10:] \
        + ["not a time,interface,0.1,0.2", "2024-05-01T10:00:05,rnn,0.3,0.3"]
    log.write_text("\n".join(rows) + "\n")
    said = []
    phrases = read_gesture_log(log, report=said.append)
    assert sum(len(p) for p in phrases) == 40  # the rnn row is another source, left out
    assert len(said) == 1 and "skipped 2 ragged or unreadable row(s)" in said[0] and "line 11" in said[0]
    assert phrases[0][1, 0] == pytest.approx(0.1)  # dt in seconds from ISO timestamps
    all_bad = tmp_path / "bad.csv"
    all_bad.write_text("a,b\nc\n")
    with pytest.raises(LivecrepreError, match="no gesture rows from source 'interface'"):
        read_gesture_log(all_bad, report=lambda line: None)


def test_an_mdrnn_learns_gestures_and_its_voice_plays_them_at_their_predicted_times(
        tmp_path, engine, osc_receiver, shell):
    log = synthetic_gesture_log(tmp_path / "perf.csv", minutes=3, seed=1)
    dataset = build_gesture_dataset(log, report=lambda line: None)
    assert dataset.kind == "gesture" and dataset.meta["dims"] == 3
    model, summary = tiny("mdrnn", dataset, epochs=4, mixtures=3)
    history = summary["history"]
    assert history[-1]["valid_nll"] < history[0]["valid_nll"]
    path = save_trained(tmp_path / "hand.ckpt", model, summary, dataset, "hand")
    assert load_checkpoint(path).family == "gesture"

    moves = Collector()
    engine.start()
    engine.voice("hand", str(path), temperature=1.0, sigma=0.5,
                 to=[moves, f"osc://127.0.0.1:{osc_receiver.port}/hand"])
    moves.wait_for(40, timeout=15)
    engine.stop()
    time.sleep(0.2)
    events = [e for _, e in moves.events]
    assert all(e.kind == "gesture" and len(e.values) == 2 for e in events)
    # each gesture is played dt after the one before, off the tick grid
    gaps = np.diff([e.time for e in events])
    assert np.allclose(gaps, [e.dt for e in events[1:]], atol=1e-6)
    assert np.mean([e.offset > 0 for e in events]) > 0.5
    lateness = sorted(called - e.time for called, e in moves.events)
    assert lateness[len(lateness) // 2] < 0.005  # the dispatcher plays them on time (loosely)
    received = {round(m.timetag, 4): m for m in osc_receiver.received if m.address == "/hand"}
    matched = [e for e in events if round(e.timetag, 4) in received]
    assert len(matched) >= len(events) - 2
    for e in matched:
        assert received[round(e.timetag, 4)].args == pytest.approx(e.values, abs=1e-6)


def test_sigma_and_wrong_family_swaps_are_one_line_and_the_voice_keeps_its_model(engine, tmp_path):
    engine.start()
    engine.voice("lead", "melody", to=[Collector()])
    with pytest.raises(LivecrepreError, match="--sigma is for gesture"):
        engine.temp("lead", 1.0, sigma=0.3)
    with pytest.raises(LivecrepreError, match="abc plays abc; voice lead plays melody and keeps melody"):
        engine.swap("lead", "abc")
    engine.voice("hand", "gesture", to=[Collector(), f"file:{tmp_path / 'take.mid'}"])
    assert any(f"route file:{tmp_path / 'take.mid'} takes notes; voice hand plays gestures" in m for _, m in engine.errors)
    with pytest.raises(LivecrepreError, match="melody plays melody; voice hand plays gesture and keeps gesture"):
        engine.swap("hand", "melody")
    with pytest.raises(LivecrepreError, match="--fade is for melody, text and gesture voices"):
        engine.voice("tune", "abc", to=[Collector()])
        engine.swap("tune", "abc", fade=2)
    with pytest.raises(LivecrepreError, match="sigma must be 0 or more"):
        engine.temp("hand", sigma=-1)
    assert engine.voices["lead"].model.name == "melody" and engine.voices["hand"].model.name == "gesture"
    engine.stop()
    assert not (tmp_path / "take.mid").exists()  # a route refused is not written


def test_a_gesture_voice_through_the_magics(shell, capsys):
    from livecrepre.magics import engine_of

    moves = Collector()
    shell.user_ns["moves"] = moves
    for line in ["crepre start --bpm 240", "voice hand gesture --sigma 0.3 --to moves",
                 "temp hand 1.2 --sigma 0.1", "crepre status"]:
        name, _, rest = line.partition(" ")
        shell.run_line_magic(name, rest)
    moves.wait_for(10)
    voice = engine_of(shell).voices["hand"]
    assert voice.temperature == 1.2 and voice.sigma == 0.1
    out = capsys.readouterr().out
    assert "hand: temp 1.2, sigma 0.1" in out and "temp 1.2   sigma 0.1 -> Collector()" in out and "hand: gesture at temp 1, sigma 0.3" in out
    assert all(e.kind == "gesture" for _, e in moves.events)
    shell.run_line_magic("crepre", "stop")


def certain_gesture_model(x: float):
    """An MDRNN whose one narrow Gaussian puts every gesture at (0.05 s, x, x)."""
    from flax import nnx
    import jax.numpy as jnp

    from livecrepre.models import MDRNN, Model

    net = MDRNN(dims=3, units=8, layers=1, mixtures=1, rngs=nnx.Rngs(0))
    net.out.kernel.set_value(jnp.zeros_like(net.out.kernel.get_value()))
    net.out.bias.set_value(jnp.array([0.0, 0.05, x, x, -7.0, -7.0, -7.0]))
    return Model.from_network(net, f"at{x}")


def certain_char_model(char: str, alphabet: str = "ab \n"):
    """A char RNN that always writes `char`."""
    from flax import nnx
    import jax.numpy as jnp

    from livecrepre.models import CharRNN, Model

    net = CharRNN(vocab=len(alphabet), embed=8, units=8, layers=1, rngs=nnx.Rngs(0))
    net.out.kernel.set_value(jnp.zeros_like(net.out.kernel.get_value()))
    net.out.bias.set_value(jnp.full((len(alphabet),), -1e4).at[alphabet.index(char)].set(0.0))
    return Model.from_network(net, f"writes-{char}", {"alphabet": alphabet})


def fade_offline(model, into, ticks=96):
    """A voice from tick 0, swapped at the second bar line with a two-bar fade, stepped offline."""
    engine = lc.Engine(bpm=120, seed=3, log=False, echo_errors=False)
    engine.voice("v", model, to=[Collector()])
    engine.play_offline()
    for tick in range(ticks):
        if tick == 16:
            engine.swap("v", into, fade=2)
        engine.step(tick)
    voice = engine.voices["v"]
    engine.stop()
    return voice


def test_gesture_and_text_voices_crossfade_from_one_model_to_the_other():
    voice = fade_offline(certain_gesture_model(0.1), certain_gesture_model(0.9))
    by_tick = [(p.start, p.values[0]) for p in voice.history]
    assert all(x == pytest.approx(0.1, abs=0.01) for t, x in by_tick if t < 16)
    assert all(x == pytest.approx(0.9, abs=0.01) for t, x in by_tick if t >= 48)
    first, second = ([x > 0.5 for t, x in by_tick if lo <= t < hi] for lo, hi in ((16, 32), (32, 48)))
    assert 0 < np.mean(first) < np.mean(second) < 1  # the new model's share rises over the fade

    voice = fade_offline(certain_char_model("a"), certain_char_model("b"))
    written = voice.text  # one character per tick from tick 0
    assert len(written) == 96 and set(written[:16]) == {"a"} and set(written[48:]) == {"b"}
    # log-linear mixing of two certain distributions hands over at the fade's midpoint (tick 31)
    assert set(written[16:31]) == {"a"} and set(written[32:48]) == {"b"}


def test_a_text_fade_between_alphabets_is_one_line(engine):
    engine.voice("words", certain_char_model("a"), to=[Collector()])
    with pytest.raises(LivecrepreError, match="writes other characters than writes-a; swap without --fade"):
        engine.swap("words", certain_char_model("x", alphabet="xy \n"), fade=1)
    assert engine.voices["words"].model.name == "writes-a"
