import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from livecrepre.encodings import START_TOKEN, VOCAB_SIZE
from livecrepre.errors import LivecrepreError
from livecrepre.evaluation import average_measures, sample_tokens
from livecrepre.models import SHIPPED_DIR, MelodyRNN, load_checkpoint, load_model, save_checkpoint
from livecrepre.sampling import compiled_count, generate_block, warm_up


@pytest.fixture(scope="module")
def melody():
    return load_model("melody")


def test_shipped_melody_checkpoint_is_data_with_metadata(melody):
    assert melody.kind == "melody"
    assert melody.config == {"vocab": VOCAB_SIZE, "embed": 256, "units": 256, "layers": 2, "positions": 16}
    sidecar = json.loads((SHIPPED_DIR / "melody.ckpt.json").read_text())
    assert sidecar == melody.meta
    assert "oneills1850" in sidecar["corpus"] and "ryansMammoth" in sidecar["corpus"]
    assert sidecar["training"]["heldout_nll"] < 1.5  # nats/token on held-out tunes
    with open(SHIPPED_DIR / "melody.ckpt", "rb") as f:
        assert not f.read(2).startswith(b"\x80")  # not a pickle
    n_params = sum(x.size for x in jax.tree.leaves(melody.params))
    assert 1.0e6 < n_params < 1.3e6


def test_temperature_is_traced_and_never_recompiles(melody):
    warm_up(melody)
    before = compiled_count(melody)
    state = melody.initial_state()
    outputs = set()
    for temperature in [0.1, 0.5, 0.9, 1.0, 1.3, 2.0, 3.7]:
        _, tokens, _ = generate_block(melody, state, START_TOKEN, jax.random.PRNGKey(0), 0, temperature)
        outputs.add(tuple(int(t) for t in tokens))
    assert compiled_count(melody) == before == 1
    assert len(outputs) > 1  # the temperature did change what was sampled


def test_same_key_same_tokens_new_weights_same_compile(melody, tmp_path):
    state = melody.initial_state()
    a = generate_block(melody, state, START_TOKEN, jax.random.PRNGKey(5), 32, 1.0)[1]
    b = generate_block(melody, state, START_TOKEN, jax.random.PRNGKey(5), 32, 1.0)[1]
    c = generate_block(melody, state, START_TOKEN, jax.random.PRNGKey(6), 32, 1.0)[1]
    assert list(a) == list(b)
    assert list(a) != list(c)
    copy = tmp_path / "copy.ckpt"
    shutil.copy(SHIPPED_DIR / "melody.ckpt", copy)
    other = load_checkpoint(copy)  # new weights object, same structure
    before = compiled_count(melody)
    generate_block(other, state, START_TOKEN, jax.random.PRNGKey(5), 32, 1.0)
    assert compiled_count(other) == before


def test_the_shipped_model_plays_folk_like_lines(melody):
    """Samples should look like tunes: on the 8th-note grid, in a key, mostly stepwise, in range.
    (Held-out O'Neill/Ryan tunes: 81 % of notes on the 8th grid, 99 % in key, 61 % stepwise.)"""
    samples = [sample_tokens(melody, 512, seed=s) for s in range(4)]
    measures = average_measures(samples)  # per sample: each may be in its own key
    assert measures["notes"] > 150  # 512 16ths of reels and jigs hold many notes
    assert measures["on_8th_grid"] > 0.6
    assert measures["in_key"] > 0.75
    assert measures["stepwise"] > 0.45
    pitches = [t for sample in samples for t in sample if t < 128]
    assert 55 <= np.median(pitches) <= 85


def test_checkpoint_round_trip(tmp_path):
    from flax import nnx

    net = MelodyRNN(embed=16, units=32, layers=1, rngs=nnx.Rngs(0))
    path = save_checkpoint(tmp_path / "small.ckpt", net, {"corpus": "test"})
    model = load_checkpoint(path)
    assert model.config == {"vocab": 130, "embed": 16, "units": 32, "layers": 1}
    assert model.meta["corpus"] == "test"
    assert (tmp_path / "small.ckpt.json").exists()


def test_unknown_and_missing_models_are_one_line():
    with pytest.raises(LivecrepreError, match="unknown model 'nosuchmodel'"):
        load_model("nosuchmodel")
    with pytest.raises(LivecrepreError, match="unknown model"):
        load_model("/tmp/definitely/not/here.ckpt")


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"\x80\x04\x95pickle"])
def test_corrupt_checkpoint_is_one_line(tmp_path, content):
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(content)
    with pytest.raises(LivecrepreError, match="corrupt or not a livecrepre checkpoint") as err:
        load_model(str(bad))
    assert "\n" not in str(err.value)


def test_truncated_checkpoint_is_one_line(tmp_path):
    bad = tmp_path / "cut.ckpt"
    bad.write_bytes((SHIPPED_DIR / "melody.ckpt").read_bytes()[:100_000])
    with pytest.raises(LivecrepreError, match="corrupt"):
        load_model(str(bad))


def test_teacher_forced_run_matches_step_by_step(melody):
    """Training's scan over a window (with resets) computes exactly what the voice's step computes."""
    network = melody.network()
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 130, (3, 20)).astype(np.int32)
    resets = np.zeros((3, 20), bool)
    resets[1, 7] = resets[2, 0] = True
    positions = (np.arange(20)[None] + np.array([[0], [5], [11]])).astype(np.int32) % 16
    state = network.initial_state((3,))
    final, logits = network(state, tokens, resets, positions)
    carry = state
    for t in range(20):
        keep = (1.0 - resets[:, t])[:, None]
        carry = jax.tree.map(lambda leaf: leaf * keep, carry)
        carry, step_logits = network.step(carry, tokens[:, t], positions[:, t])
        np.testing.assert_allclose(logits[:, t], step_logits, atol=2e-4)
    for a, b in zip(jax.tree.leaves(final), jax.tree.leaves(carry)):
        np.testing.assert_allclose(a, b, atol=2e-4)


def test_a_barred_tick_never_holds_a_note_on():
    """Where a note was promised to end, a regenerated token may not be "no event"."""
    from livecrepre.encodings import NO_EVENT

    from .helpers import constant_model

    holder = constant_model(NO_EVENT, "holder")  # always "no event", unless barred
    state = holder.initial_state()
    tokens = generate_block(holder, state, START_TOKEN, jax.random.PRNGKey(0), 16, 1.0, 16, 21)[1]
    assert [int(t) for t in tokens].count(NO_EVENT) == 15 and int(tokens[5]) != NO_EVENT


def test_generating_from_the_input_tables_is_the_same_step():
    from livecrepre.models import load_model

    for name in ("melody", "abc"):
        network = load_model(name).network()
        tables = network.input_tables()
        state = network.initial_state((3,))
        same = network.initial_state((3,))
        for token, position in [(5, 0), (60, 3), (129, 15), (2, 17)]:
            tokens, positions = jnp.full((3,), token % network.vocab), jnp.full((3,), position)
            state, logits = network.step(state, tokens, positions)
            same, from_tables = network.step_from_tables(tables, same, tokens, positions)
            np.testing.assert_allclose(from_tables, logits, atol=2e-5)
