"""Training token models with optax: stateful truncated BPTT over shuffled, transposed pieces.

The recurrent state is carried from one window to the next (as it is when the engine generates for
minutes), pieces are joined by their note-off start/end tokens, and each piece is transposed by a
random shift every epoch. Held-out figures carry the state through each whole validation piece.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from .data import BAR_TICKS, Dataset
from .encodings import NO_EVENT, NOTE_OFF, transpose_tokens
from .models import Model, build_network

LOWEST_PITCH, HIGHEST_PITCH = 36, 96


@dataclass
class TrainConfig:
    embed: int = 256
    units: int = 256
    layers: int = 2
    seq_len: int = 64
    batch: int = 64
    epochs: int = 10
    lr: float = 2e-3
    clip: float = 1.0
    max_shift: int = 6
    seed: int = 0
    time_budget: float | None = None  # seconds; stops after the epoch that passes it


def random_transpose(piece: np.ndarray, rng: np.random.Generator, max_shift: int) -> np.ndarray:
    pitches = piece[piece < NOTE_OFF]
    if len(pitches) == 0:
        return piece
    low = max(-max_shift, LOWEST_PITCH - int(pitches.min()))
    high = min(max_shift, HIGHEST_PITCH - int(pitches.max()))
    return transpose_tokens(piece, int(rng.integers(low, high + 1))) if low <= high else piece


def epoch_streams(pieces, batch: int, rng, max_shift: int, reset_share: float = 0.5):
    """Shuffled, transposed pieces joined end to end and cut into `batch` parallel streams.

    Each piece (START + whole bars) is preceded by a bar of silence ending in its START, so the
    bar phase holds across the stream. At a random `reset_share` of the pieces the state is
    zeroed before START: that is how a new voice starts; elsewhere the model learns to go on
    from one tune into the next, as a voice playing for minutes does."""
    lead_in = np.full(BAR_TICKS - 1, NO_EVENT, dtype=np.uint8)
    tokens, resets = [], []
    for i in rng.permutation(len(pieces)):
        piece = random_transpose(pieces[i], rng, max_shift)
        tokens += [lead_in, piece]
        reset = np.zeros(len(lead_in) + len(piece), bool)
        reset[len(lead_in)] = rng.random() < reset_share
        resets.append(reset)
    stream, reset_stream = np.concatenate(tokens), np.concatenate(resets)
    per_stream = len(stream) // batch
    shape = (batch, per_stream)
    return (stream[: per_stream * batch].reshape(shape).astype(np.int32),
            reset_stream[: per_stream * batch].reshape(shape))


def make_train_step(graphdef, tx):
    @jax.jit
    def train_step(params, opt_state, state, window, resets):
        def loss_fn(params):
            network = nnx.merge(graphdef, params)
            new_state, logits = network(state, window[:, :-1], resets[:, :-1])
            loss = optax.softmax_cross_entropy_with_integer_labels(logits, window[:, 1:]).mean()
            return loss, new_state

        (loss, new_state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, new_state, loss

    return train_step


def heldout_nll(model: Model, pieces, chunk: int = 512) -> float:
    """Mean negative log-likelihood per token (nats), each piece from the zero state a voice
    starts from, the state carried through the whole piece."""
    if not pieces:
        return float("nan")
    graphdef = model.graphdef

    @jax.jit
    def score(params, state, inputs, targets, mask):
        network = nnx.merge(graphdef, params)
        state, logits = network(state, inputs)
        nll = optax.softmax_cross_entropy_with_integer_labels(logits, targets)
        return state, (nll * mask).sum()

    length = max(len(p) for p in pieces) - 1
    length = math.ceil(length / chunk) * chunk
    inputs = np.zeros((len(pieces), length + 1), np.int32)
    mask = np.zeros((len(pieces), length), np.float32)
    for i, p in enumerate(pieces):
        inputs[i, : len(p)] = p
        mask[i, : len(p) - 1] = 1
    state = model.network().initial_state((len(pieces),))
    total = 0.0
    for start in range(0, length, chunk):
        window = inputs[:, start: start + chunk + 1]
        state, s = score(model.params, state, window[:, :-1], window[:, 1:],
                         mask[:, start: start + chunk])
        total += float(s)
    return float(total / mask.sum())


def train_melody(dataset: Dataset, config: TrainConfig, report=print) -> tuple[Model, dict]:
    rng = np.random.default_rng(config.seed)
    network = build_network("melody", {"vocab": 130, "embed": config.embed,
                                       "units": config.units, "layers": config.layers},
                            seed=config.seed)
    graphdef, params = nnx.split(network, nnx.Param)
    train, valid = dataset.split(False), dataset.split(True)
    tokens_per_epoch = sum(len(p) + BAR_TICKS - 1 for p in train)
    steps_per_epoch = tokens_per_epoch // (config.batch * config.seq_len)
    total_steps = max(2, steps_per_epoch * config.epochs)
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, config.lr, min(200, total_steps // 10), total_steps, end_value=config.lr * 0.05)
    tx = optax.chain(optax.clip_by_global_norm(config.clip), optax.adam(schedule))
    opt_state = tx.init(params)
    train_step = make_train_step(graphdef, tx)
    started = time.perf_counter()
    history = []
    for epoch in range(config.epochs):
        streams, resets = epoch_streams(train, config.batch, rng, config.max_shift)
        state = network.initial_state((config.batch,))
        losses = []
        for start in range(0, streams.shape[1] - config.seq_len, config.seq_len):
            window = np.s_[:, start: start + config.seq_len + 1]
            params, opt_state, state, loss = train_step(params, opt_state, state,
                                                        streams[window], resets[window])
            losses.append(loss)
        elapsed = time.perf_counter() - started
        model = Model("training", "melody", network_config_of(config), graphdef, params)
        val = heldout_nll(model, valid)
        train_loss = float(np.mean([float(x) for x in losses]))
        history.append({"epoch": epoch + 1, "train_nll": train_loss, "valid_nll": val,
                        "seconds": round(elapsed, 1)})
        report(f"epoch {epoch + 1}/{config.epochs}: train {train_loss:.3f} valid {val:.3f} nats/token"
               f"  ({(epoch + 1) * steps_per_epoch * config.batch * config.seq_len / elapsed:,.0f}"
               f" tokens/s, {elapsed:.0f} s)")
        if config.time_budget and elapsed > config.time_budget:
            report(f"time budget of {config.time_budget:.0f} s reached")
            break
    best = min(history, key=lambda h: h["valid_nll"])
    summary = {"epochs_run": len(history), "train_seconds": round(time.perf_counter() - started, 1),
               "heldout_nll": history[-1]["valid_nll"], "best_epoch": best["epoch"],
               "history": history, "config": config.__dict__,
               "train_tokens_per_epoch": tokens_per_epoch}
    return Model("melody", "melody", network_config_of(config), graphdef, params), summary


def network_config_of(config: TrainConfig) -> dict:
    return {"vocab": 130, "embed": config.embed, "units": config.units, "layers": config.layers}
