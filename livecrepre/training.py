"""Training token models with optax: stateful truncated BPTT over shuffled, transposed pieces.

The recurrent state is carried from one window to the next (as it is when the engine generates for
minutes), pieces are joined by their note-off start/end tokens, and each piece is transposed by a
random shift every epoch. Held-out figures carry the state through each whole validation piece.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from .data import BAR_TICKS, Dataset
from .encodings import NO_EVENT, NOTE_OFF, transpose_tokens
from .errors import LivecrepreError
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


def train_melody(dataset: Dataset, config: TrainConfig, report=print, init: Model | None = None,
                 patience: int | None = None, progress: bool = False,
                 stop: threading.Event | None = None) -> tuple[Model, dict]:
    """Train (or, from `init`, fine-tune / resume) a melody model; returns the best epoch's model.

    Stops early when validation loss has not improved for `patience` epochs, at a NaN loss, on
    Ctrl-C, or when `stop` is set: the best model so far is returned and the summary says why."""
    from tqdm import tqdm

    rng = np.random.default_rng(config.seed)
    if init is not None:
        config = TrainConfig(**{**config.__dict__, **{k: init.config[k] for k in ("embed", "units", "layers")}})
        graphdef, params = init.graphdef, init.params
    else:
        network = build_network("melody", network_config_of(config), seed=config.seed)
        graphdef, params = nnx.split(network, nnx.Param)
    network = nnx.merge(graphdef, params)
    train, valid = dataset.split(False), dataset.split(True)
    if not train:
        raise LivecrepreError("the dataset has no training pieces")
    tokens_per_epoch = sum(len(p) + BAR_TICKS - 1 for p in train)
    # a small dataset (a few riffs) trains in fewer parallel streams rather than not at all
    batch = max(1, min(config.batch, tokens_per_epoch // (2 * (config.seq_len + 1))))
    steps_per_epoch = max(1, tokens_per_epoch // batch // config.seq_len - 1)
    total_steps = max(2, steps_per_epoch * config.epochs)
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, config.lr, min(200, total_steps // 10), total_steps, end_value=config.lr * 0.05)
    tx = optax.chain(optax.clip_by_global_norm(config.clip), optax.adam(schedule))
    opt_state = tx.init(params)
    train_step = make_train_step(graphdef, tx)
    started = time.perf_counter()
    history: list[dict] = []
    best_params, best_nll, stopped = params, float("inf"), "all epochs done"
    try:
        for epoch in range(config.epochs):
            epoch_started = time.perf_counter()
            streams, resets = epoch_streams(train, batch, rng, config.max_shift)
            state = network.initial_state((batch,))
            losses = []
            starts = range(0, streams.shape[1] - config.seq_len, config.seq_len)
            bar = tqdm(starts, desc=f"epoch {epoch + 1}/{config.epochs}", unit="step",
                       disable=not progress, leave=False)
            for start in bar:
                if stop is not None and stop.is_set():
                    raise KeyboardInterrupt
                window = np.s_[:, start: start + config.seq_len + 1]
                params, opt_state, state, loss = train_step(params, opt_state, state,
                                                            streams[window], resets[window])
                losses.append(loss)
                if progress and len(losses) % 10 == 0:
                    rate = len(losses) * batch * config.seq_len / (time.perf_counter() - epoch_started)
                    bar.set_postfix(loss=f"{float(loss):.3f}", tokens_per_s=f"{rate:,.0f}")
            train_loss = float(np.mean([float(x) for x in losses])) if losses else float("nan")
            if not math.isfinite(train_loss):
                stopped = f"loss became {train_loss} in epoch {epoch + 1}"
                break
            elapsed = time.perf_counter() - started
            val = heldout_nll(Model("training", "melody", network_config_of(config), graphdef, params), valid)
            history.append({"epoch": epoch + 1, "train_nll": train_loss, "valid_nll": val,
                            "seconds": round(elapsed, 1)})
            rate = len(losses) * batch * config.seq_len / (time.perf_counter() - epoch_started)
            report(f"epoch {epoch + 1}/{config.epochs}: train {train_loss:.3f} valid {val:.3f} "
                   f"nats/token ({rate:,.0f} tokens/s, {elapsed:.0f} s)")
            if val < best_nll or not valid:
                best_params, best_nll = params, val
            elif patience and epoch + 1 - min(history, key=lambda h: h["valid_nll"])["epoch"] >= patience:
                stopped = f"validation loss did not improve for {patience} epochs"
                break
    except KeyboardInterrupt:
        stopped = "interrupted"
    if not history:
        raise LivecrepreError(f"training stopped before one epoch finished ({stopped}); nothing saved")
    if stopped != "all epochs done":
        report(f"stopped: {stopped}; keeping the best epoch")
    best = min(history, key=lambda h: h["valid_nll"]) if valid else history[-1]
    summary = {"epochs_run": len(history), "train_seconds": round(time.perf_counter() - started, 1),
               "heldout_nll": best["valid_nll"], "best_epoch": best["epoch"], "stopped": stopped,
               "history": history, "config": {**config.__dict__, "batch": batch},
               "train_tokens_per_epoch": tokens_per_epoch,
               "initialised_from": init.name if init is not None else None}
    return Model("melody", "melody", network_config_of(config), graphdef, best_params), summary


def save_trained(path, model: Model, summary: dict, dataset: Dataset, name: str) -> Path:
    """The checkpoint with its metadata, and the loss curve as PATH.png beside it."""
    meta = {
        "name": name,
        "encoding": "melody130: 0-127 note-on, 128 note-off, 129 no event; one token per 16th",
        "ticks_per_beat": 4,
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


def plot_loss_curve(history: list[dict], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    epochs = [h["epoch"] for h in history]
    ax.plot(epochs, [h["train_nll"] for h in history], "o-", label="training")
    ax.plot(epochs, [h["valid_nll"] for h in history], "o-", label="held out")
    ax.set(xlabel="epoch", ylabel="nats / token", title=f"{title}: loss")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def network_config_of(config: TrainConfig) -> dict:
    return {"vocab": 130, "embed": config.embed, "units": config.units, "layers": config.layers}


class TrainingJob:
    """Training on a background thread, so the music keeps playing while a model learns.

    The thread only computes and writes the checkpoint; swapping it in is the performer's move."""

    def __init__(self, dataset: Dataset, config: TrainConfig, out: str | Path, name: str,
                 init: Model | None = None, patience: int | None = 3, report=print):
        self.out, self.name = Path(out), name
        self.lines: list[str] = []
        self.result: Path | None = None
        self.error: str | None = None
        self._stop = threading.Event()
        self._report = report

        def log(line: str) -> None:
            self.lines.append(line)
            report(f"[train {name}] {line}")

        def work() -> None:
            try:
                model, summary = train_melody(dataset, config, report=log, init=init,
                                              patience=patience, stop=self._stop)
                self.result = save_trained(self.out, model, summary, dataset, name)
                log(f"done: wrote {self.result} (held-out {summary['heldout_nll']:.3f} nats/token); "
                    f"swap it in with %swap VOICE {self.result}")
            except Exception as exc:  # noqa: BLE001 - reported once, the session goes on
                self.error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, LivecrepreError) else str(exc)
                log(f"failed: {self.error}")

        self._thread = threading.Thread(target=work, name=f"livecrepre-train-{name}", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        """Stop after the current step; the best epoch so far is still written."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self.running

    def status(self) -> str:
        state = "running" if self.running else ("failed" if self.error else "done")
        return f"{self.name} -> {self.out}: {state}; " + (self.lines[-1] if self.lines else "starting")
