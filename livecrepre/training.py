"""Training with optax: stateful truncated BPTT over shuffled pieces, one loop for every family.

    melody  token cross-entropy; each piece transposed by a random shift every epoch
    char    token cross-entropy over the dataset's alphabet
    mdrnn   mixture-density negative log-likelihood of the next (dt, x1..xn)

The recurrent state is carried from one window to the next (as it is when the engine generates for
minutes), pieces are joined end to end, each starting with its start symbol. Held-out figures carry
the state through each whole validation piece, from the zero state a voice starts from.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np
import optax
from flax import nnx

from .data import BAR_TICKS, Dataset
from .encodings import NO_EVENT, NOTE_OFF, transpose_tokens
from .errors import LivecrepreError
from .loss_curves import plot_loss_curve
from .mdn import mixture_nll
from .models import Model, build_network, save_checkpoint

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
    mixtures: int = 5  # MDRNN only


# sizes that suit each family on a laptop CPU, where they differ from TrainConfig's
KIND_DEFAULTS = {"char": {"seq_len": 100},
                 "mdrnn": {"units": 64, "seq_len": 32, "batch": 32, "lr": 5e-3}}
KIND_FOR_DATA = {"melody": "melody", "char": "char", "gesture": "mdrnn"}  # dataset kind -> model kind
DATA_COMMAND = {"melody": "data folk|chorales|essen|from-midi", "char": "data text FILE|abc",
                "mdrnn": "data gestures LOG.csv"}


def network_config_of(kind: str, config: TrainConfig, meta: dict) -> dict:
    if kind == "mdrnn":
        return {"dims": int(meta["dims"]), "units": config.units, "layers": config.layers,
                "mixtures": config.mixtures}
    if kind == "melody":  # told the bar position of each token it predicts
        return {"vocab": 130, "embed": config.embed, "units": config.units, "layers": config.layers,
                "positions": BAR_TICKS}
    return {"vocab": len(meta["alphabet"]), "embed": config.embed, "units": config.units,
            "layers": config.layers}


def step_loss(kind: str, network_config: dict):
    """(outputs [B, T, ...], targets [B, T(, D)]) -> loss per step [B, T]."""
    if kind == "mdrnn":
        mixtures, dims = network_config["mixtures"], network_config["dims"]
        return lambda outputs, targets: mixture_nll(outputs, targets, mixtures, dims)
    return optax.softmax_cross_entropy_with_integer_labels


def random_transpose(piece: np.ndarray, rng: np.random.Generator, max_shift: int) -> np.ndarray:
    pitches = piece[piece < NOTE_OFF]
    if len(pitches) == 0:
        return piece
    low = max(-max_shift, LOWEST_PITCH - int(pitches.min()))
    high = min(max_shift, HIGHEST_PITCH - int(pitches.max()))
    return transpose_tokens(piece, int(rng.integers(low, high + 1))) if low <= high else piece


def epoch_streams(pieces, batch: int, rng, max_shift: int, reset_share: float = 0.5,
                  kind: str = "melody"):
    """Shuffled pieces joined end to end and cut into `batch` parallel streams.

    Melodies are transposed, and each (START + whole bars) is preceded by a bar of silence
    ending in its START, so the bar phase holds across the stream. At a random `reset_share` of
    the pieces the state is zeroed before the start symbol: that is how a new voice starts;
    elsewhere the model learns to go on from one piece into the next, as a voice playing for
    minutes does."""
    melody = kind == "melody"
    lead_in = np.full(BAR_TICKS - 1 if melody else 0, NO_EVENT, dtype=pieces[0].dtype)
    chunks, resets = [], []
    for i in rng.permutation(len(pieces)):
        piece = random_transpose(pieces[i], rng, max_shift) if melody else pieces[i]
        if melody:
            chunks.append(lead_in)
        chunks.append(piece)
        reset = np.zeros(len(lead_in) * melody + len(piece), bool)
        reset[len(lead_in) * melody] = rng.random() < reset_share
        resets.append(reset)
    stream, reset_stream = np.concatenate(chunks), np.concatenate(resets)
    per_stream = len(stream) // batch
    shape = (batch, per_stream) + stream.shape[1:]
    stream = stream[: per_stream * batch].reshape(shape)
    # every melody chunk (lead-in + piece) is whole bars, so the token at stream index g + 1,
    # which the input at g predicts, falls on bar position (g + 1) mod BAR_TICKS
    positions = (np.arange(per_stream * batch).reshape(shape[:2]) + 1) % BAR_TICKS
    return (stream.astype(np.float32 if kind == "mdrnn" else np.int32),
            reset_stream[: per_stream * batch].reshape(shape[:2]), positions.astype(np.int32))


def make_train_step(graphdef, tx, loss_per_step):
    @jax.jit
    def train_step(params, opt_state, state, window, resets, positions):
        def loss_fn(params):
            network = nnx.merge(graphdef, params)
            new_state, outputs = network(state, window[:, :-1], resets[:, :-1], positions[:, :-1])
            loss = loss_per_step(outputs, window[:, 1:]).mean()
            return loss, new_state

        (loss, new_state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, new_state, loss

    return train_step


def heldout_nll(model: Model, pieces, chunk: int = 512) -> float:
    """Mean negative log-likelihood per token or per gesture (nats), each piece from the zero
    state a voice starts from, the state carried through the whole piece."""
    if not pieces:
        return float("nan")
    graphdef, loss_per_step = model.graphdef, step_loss(model.kind, model.config)

    @jax.jit
    def score(params, state, inputs, targets, mask, positions):
        network = nnx.merge(graphdef, params)
        state, outputs = network(state, inputs, None, positions)
        return state, (loss_per_step(outputs, targets) * mask).sum()

    length = max(len(p) for p in pieces) - 1
    length = math.ceil(length / chunk) * chunk
    inputs = np.zeros((len(pieces), length + 1) + pieces[0].shape[1:],
                      np.float32 if model.kind == "mdrnn" else np.int32)
    mask = np.zeros((len(pieces), length), np.float32)
    for i, p in enumerate(pieces):
        inputs[i, : len(p)] = p
        mask[i, : len(p) - 1] = 1
    state = model.network().initial_state((len(pieces),))
    # each piece starts with its start symbol on a bar line (chunk is whole bars)
    positions = np.broadcast_to(np.arange(chunk, dtype=np.int32) % BAR_TICKS, (len(pieces), chunk))
    total = 0.0
    for start in range(0, length, chunk):
        window = inputs[:, start: start + chunk + 1]
        state, s = score(model.params, state, window[:, :-1], window[:, 1:],
                         mask[:, start: start + chunk], positions)
        total += float(s)
    return float(total / mask.sum())


UNITS = {"melody": "token", "char": "character", "mdrnn": "gesture"}


def tokens_per_second(steps: int, tokens_per_step: int, since: float) -> float:
    """The training rate since `since` (a perf_counter reading), of steps whose results are ready."""
    return steps * tokens_per_step / (time.perf_counter() - since)


def check_trainable(kind: str, dataset: Dataset, init: Model | None) -> None:
    """One clear line for a dataset or starting model of the wrong family."""
    if KIND_FOR_DATA.get(dataset.kind) != kind:
        right = KIND_FOR_DATA.get(dataset.kind, "?")
        raise LivecrepreError(f"this is a {dataset.kind} dataset: train {right} on it, or make a "
                              f"{kind} dataset with `livecrepre {DATA_COMMAND[kind]}`")
    if init is None:
        return
    if init.kind != kind:
        raise LivecrepreError(f"{init.name} is a {init.kind} model; it cannot start a {kind} training")
    if kind == "char" and init.alphabet != dataset.meta["alphabet"]:
        missing = sorted(set(dataset.meta["alphabet"]) - set(init.alphabet))
        if missing:
            raise LivecrepreError(f"{init.name} does not know the characters {''.join(missing[:10])!r} "
                                  f"of this text; train a new char model instead")
    if kind == "mdrnn" and init.config["dims"] != dataset.meta["dims"]:
        raise LivecrepreError(f"{init.name} models {init.config['dims'] - 1} values per gesture, "
                              f"the log has {dataset.meta['dims'] - 1}")


def _remap_to_alphabet(pieces, dataset_alphabet: str, model_alphabet: str):
    """Fine-tuning a char model on a text using a subset of its characters: its indices."""
    table = np.array([model_alphabet.index(c) for c in dataset_alphabet], np.int64)
    return [table[p] for p in pieces]


def train_model(kind: str, dataset: Dataset, config: TrainConfig, report=print, init: Model | None = None,
                patience: int | None = None, progress: bool = False,
                stop: threading.Event | None = None, on_epoch=None, on_step=None) -> tuple[Model, dict]:
    """Train (or, from `init`, fine-tune / resume) a model of `kind`; returns the best epoch's model.

    Stops early when validation loss has not improved for `patience` epochs, at a NaN loss, on
    Ctrl-C, or when `stop` is set: the best model so far is returned and the summary says why.
    `on_epoch(history)` is called after each epoch (loss_curves.LiveLossCurve() draws it in a notebook),
    `on_step(epoch, epochs, step, steps)` after each step (epoch and step counted from 1)."""
    from tqdm import tqdm

    check_trainable(kind, dataset, init)
    rng = np.random.default_rng(config.seed)
    meta = dict(dataset.meta)
    train, valid = dataset.split(False), dataset.split(True)
    if init is not None:
        sizes = ("units", "layers") + (("mixtures",) if kind == "mdrnn" else ("embed",))
        config = TrainConfig(**{**config.__dict__, **{k: init.config[k] for k in sizes}})
        graphdef, params = init.graphdef, init.params
        if kind == "char" and init.alphabet != meta["alphabet"]:
            train = _remap_to_alphabet(train, meta["alphabet"], init.alphabet)
            valid = _remap_to_alphabet(valid, meta["alphabet"], init.alphabet)
            meta["alphabet"] = init.alphabet
        net_config = dict(init.config)
    else:
        net_config = network_config_of(kind, config, meta)
        network = build_network(kind, net_config, seed=config.seed)
        graphdef, params = nnx.split(network, nnx.Param)
    network = nnx.merge(graphdef, params)
    if not train:
        raise LivecrepreError("the dataset has no training pieces")
    lead_in = BAR_TICKS - 1 if kind == "melody" else 0
    tokens_per_epoch = sum(len(p) + lead_in for p in train)
    if tokens_per_epoch < config.seq_len + 2:
        raise LivecrepreError(f"the training pieces hold {tokens_per_epoch:,} {UNITS[kind]}s, fewer than "
                              f"one window of --seq-len {config.seq_len}: give more data or a shorter --seq-len")
    # a small dataset (a few riffs) trains in fewer parallel streams rather than not at all
    batch = max(1, min(config.batch, tokens_per_epoch // (2 * (config.seq_len + 1))))
    steps_per_epoch = max(1, tokens_per_epoch // batch // config.seq_len - 1)
    total_steps = max(2, steps_per_epoch * config.epochs)
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, config.lr, min(200, total_steps // 10), total_steps, end_value=config.lr * 0.05)
    tx = optax.chain(optax.clip_by_global_norm(config.clip), optax.adam(schedule))
    opt_state = tx.init(params)
    train_step = make_train_step(graphdef, tx, step_loss(kind, net_config))
    started = time.perf_counter()
    history: list[dict] = []
    best_params, best_nll, best_epoch, stopped = params, float("inf"), None, "all epochs done"
    unit = UNITS[kind]
    try:
        for epoch in range(config.epochs):
            epoch_started = time.perf_counter()
            streams, resets, positions = epoch_streams(train, batch, rng, config.max_shift, kind=kind)
            state = network.initial_state((batch,))
            losses = []
            starts = range(0, streams.shape[1] - config.seq_len, config.seq_len)
            bar = tqdm(starts, desc=f"epoch {epoch + 1}/{config.epochs}", unit="step",
                       disable=not progress, leave=False)
            for step, start in enumerate(bar, 1):
                if stop is not None and stop.is_set():
                    raise KeyboardInterrupt
                window = np.s_[:, start: start + config.seq_len + 1]
                params, opt_state, state, loss = train_step(params, opt_state, state, streams[window],
                                                            resets[window], positions[window])
                losses.append(loss)
                if on_step is not None:
                    on_step(epoch + 1, config.epochs, step, len(starts))
                if progress and step % 10 == 0:
                    # JAX returns before a step is computed: wait for it before timing the steps
                    shown_loss = float(loss)
                    rate = tokens_per_second(step, batch * config.seq_len, epoch_started)
                    bar.set_postfix({"loss": f"{shown_loss:.3f}", f"{unit}s/s": f"{rate:,.0f}"})
            train_loss = float(np.mean([float(x) for x in losses])) if losses else float("nan")
            # the rate of the steps alone (all done: their losses are read), as the bar shows it
            rate = tokens_per_second(len(losses), batch * config.seq_len, epoch_started)
            if not math.isfinite(train_loss):
                stopped = f"loss became {train_loss} in epoch {epoch + 1}"
                break
            elapsed = time.perf_counter() - started
            val = heldout_nll(Model("training", kind, net_config, graphdef, params), valid)
            if valid and not math.isfinite(val):
                stopped = f"held-out loss became {val} in epoch {epoch + 1}"
                break
            history.append({"epoch": epoch + 1, "train_nll": train_loss, "valid_nll": val,
                            "seconds": round(elapsed, 1)})
            if val < best_nll or not valid:  # kept before report and on_epoch, which a Ctrl-C may interrupt
                best_params, best_nll, best_epoch = params, val, epoch + 1
            report(f"epoch {epoch + 1}/{config.epochs}: train {train_loss:.3f} valid {val:.3f} "
                   f"nats/{unit} ({rate:,.0f} {unit}s/s, {elapsed:.0f} s)")  # EPOCH_LINE reads it back
            if on_epoch is not None:
                on_epoch(history)
            if patience and epoch + 1 - best_epoch >= patience:
                stopped = f"validation loss did not improve for {patience} epochs"
                break
    except KeyboardInterrupt:
        stopped = "interrupted"
    if not history:
        raise LivecrepreError(f"training stopped before one epoch finished ({stopped}); nothing saved")
    if stopped != "all epochs done":
        report(f"stopped: {stopped}; keeping the best epoch")
    best = history[best_epoch - 1]  # the epoch best_params are from
    summary = {"epochs_run": len(history), "train_seconds": round(time.perf_counter() - started, 1),
               "heldout_nll": best["valid_nll"], "best_epoch": best["epoch"], "stopped": stopped,
               "history": history, "config": {**config.__dict__, "batch": batch},
               "train_tokens_per_epoch": tokens_per_epoch,
               "initialised_from": init.name if init is not None else None}
    return Model(kind, kind, net_config, graphdef, best_params, meta_for(kind, meta)), summary


def meta_for(kind: str, data_meta: dict) -> dict:
    """What a voice needs from the data to play the model."""
    if kind == "char":
        return {"alphabet": data_meta["alphabet"], "plays": data_meta.get("plays"),
                "encoding": "characters: token i is alphabet[i]; a line starts after a newline"}
    if kind == "mdrnn":
        return {"value_min": data_meta["value_min"], "value_max": data_meta["value_max"],
                "encoding": "(dt seconds, x1..xn) per gesture; a phrase starts from zeros"}
    return {"encoding": "melody130: 0-127 note-on, 128 note-off, 129 no event; one token per 16th",
            "ticks_per_beat": 4}


def save_trained(path, model: Model, summary: dict, dataset: Dataset, name: str) -> Path:
    """The checkpoint with its metadata, and the loss curve as PATH.png beside it."""
    meta = {
        **model.meta,
        "name": name,
        "corpus": dataset.meta.get("corpus"),
        "split": f"by piece, {dataset.meta.get('validation_fraction')} held out "
                 f"({int(np.sum(dataset.is_validation))} of {len(dataset.pieces)} pieces)",
        "training": {k: v for k, v in summary.items() if k != "history"},
        "history": summary["history"],
        "trained_at": time.strftime("%Y-%m-%d"),
    }
    path = save_checkpoint(path, model, meta)
    plot_loss_curve(summary["history"], path.with_name(path.name + ".png"), name)
    return path
