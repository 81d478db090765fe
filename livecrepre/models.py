"""Models: the Flax NNX networks, checkpoints (safetensors + JSON metadata) and loading by name.

A checkpoint is one safetensors file of float32 weights whose header carries the JSON metadata
(kind, architecture, encoding, corpus, training settings, held-out figures). `save_checkpoint` also
writes the same metadata beside it as `PATH.json` for people to read; loading needs only the
weights file. Nothing here is pickle.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from .encodings import VOCAB_SIZE
from .errors import LivecrepreError
from .mdn import mixture_outputs

SHIPPED_DIR = Path(__file__).parent / "shipped"
CHECKPOINT_SUFFIX = ".ckpt"
SHIPPED_ALIASES = {"folk": "melody"}  # other names people use for a shipped model


def run_cells(cells, state, x):
    """One step through a stack of LSTM cells: (new state per layer, the top layer's output)."""
    new_state = []
    for cell, carry in zip(cells, state):
        carry, x = cell(carry, x)
        new_state.append(carry)
    return tuple(new_state), x


def teacher_forced(step, state, inputs, resets, positions):
    """`step` over inputs [batch, time, ...] in one scan; returns (final state, outputs [batch, time, ...]).

    `resets` [batch, time] (optional) zeroes the state before the inputs where it is true: a piece
    starting there is learned from the same zero state a new voice starts from."""
    if resets is None:
        resets = jnp.zeros(inputs.shape[:2], bool)

    def body(carry, xs):
        x, reset, position = xs
        keep = 1.0 - reset.astype(jnp.float32)[..., None]
        carry = jax.tree.map(lambda leaf: leaf * keep, carry)
        return step(carry, x, position)

    state, outputs = jax.lax.scan(body, state, (jnp.swapaxes(inputs, 0, 1), jnp.swapaxes(resets, 0, 1),
                                                jnp.swapaxes(positions, 0, 1)))
    return state, jnp.swapaxes(outputs, 0, 1)


class TokenRNN(nnx.Module):
    """Embedding(vocab, embed) -> layers x LSTM(units) -> Dense(vocab): a next-token model.

    With `positions` > 0 the model is also told where in the bar the token it predicts falls
    (a learned embedding of position mod `positions`, added to the token's): melodies keep to
    the metre instead of drifting off the beat."""

    def __init__(self, vocab: int = VOCAB_SIZE, embed: int = 256, units: int = 256,
                 layers: int = 2, positions: int = 0, *, rngs: nnx.Rngs):
        self.vocab, self.units, self.layers, self.positions = vocab, units, layers, positions
        self.embed = nnx.Embed(vocab, embed, rngs=rngs)
        self.position = nnx.Embed(positions, embed, rngs=rngs) if positions else None
        sizes = [embed] + [units] * layers
        self.cells = nnx.List([nnx.OptimizedLSTMCell(sizes[i], units, rngs=rngs)
                               for i in range(layers)])
        self.out = nnx.Linear(units, vocab, rngs=rngs)

    def initial_state(self, batch_shape: tuple[int, ...] = ()):
        zeros = jnp.zeros(batch_shape + (self.units,), jnp.float32)
        return tuple((zeros, zeros) for _ in range(self.layers))

    def step(self, state, token, position=None):
        """Feed one token (and the bar position of the next); return the new recurrent state
        and the logits for the next token."""
        x = self.embed(token)
        if self.position is not None:
            x = x + self.position(position % self.positions)
        state, x = run_cells(self.cells, state, x)
        return state, self.out(x)

    def input_tables(self):
        """The first layer's input product for every token and every bar position (rows of
        embedding @ kernel): generating, a step looks two rows up instead of multiplying, about a
        quarter of its arithmetic."""
        kernel = self.cells[0].dense_i.kernel.get_value()
        tokens = self.embed.embedding.get_value() @ kernel
        positions = (self.position.embedding.get_value() @ kernel if self.position is not None
                     else jnp.zeros((1, kernel.shape[1]), kernel.dtype))
        return tokens, positions

    def step_from_tables(self, tables, state, token, position):
        """`step`, with the first layer's input product taken from `input_tables()`."""
        tokens, positions = tables
        first = self.cells[0]
        c, h = state[0]
        gates = tokens[token] + positions[position % positions.shape[0]] + first.dense_h(h)
        i, f, g, o = jnp.split(gates, 4, axis=-1)  # the gate order of nnx.OptimizedLSTMCell
        c = first.gate_fn(f) * c + first.gate_fn(i) * first.activation_fn(g)
        h = first.gate_fn(o) * first.activation_fn(c)
        rest, x = run_cells(list(self.cells)[1:], state[1:], h)
        return ((c, h),) + rest, self.out(x)

    def __call__(self, state, tokens, resets=None, positions=None):
        """Teacher-forced run over tokens [batch, time]; returns (final state, logits [batch, time, vocab]).

        `resets` [batch, time] (optional) zeroes the state before the tokens where it is true: a
        piece starting there is learned from the same zero state a new voice starts from.
        `positions` [batch, time]: the bar position each token's successor falls on.
        (A layer-by-layer pass, with each layer's input projection as one large product, measured
        slower here than this step-by-step scan: see benchmarks/train_throughput.py.)"""
        if positions is None:
            positions = jnp.zeros(tokens.shape, jnp.int32)
        return teacher_forced(self.step, state, tokens, resets, positions)


class MelodyRNN(TokenRNN):
    """The 130-token melody encoding, one token per tick (16th)."""


class CharRNN(TokenRNN):
    """Next character over any text; the alphabet is in the checkpoint's metadata."""


class MDRNN(nnx.Module):
    """layers x LSTM(units) -> a mixture of `mixtures` diagonal Gaussians over the next
    (dt, x1..xn) vector, as in IMPS/IMPSY (see mdn.py for the mixture maths)."""

    def __init__(self, dims: int = 3, units: int = 64, layers: int = 2, mixtures: int = 5, *,
                 rngs: nnx.Rngs):
        self.dims, self.units, self.layers, self.mixtures = dims, units, layers, mixtures
        sizes = [dims] + [units] * layers
        self.cells = nnx.List([nnx.OptimizedLSTMCell(sizes[i], units, rngs=rngs)
                               for i in range(layers)])
        self.out = nnx.Linear(units, mixture_outputs(mixtures, dims), rngs=rngs)

    initial_state = TokenRNN.initial_state

    def step(self, state, x, position=None):
        """Feed one vector; return the new state and the raw mixture outputs for the next one.
        (Gestures have no bar: `position` is accepted for one training loop and ignored.)"""
        state, x = run_cells(self.cells, state, x)
        return state, self.out(x)

    def __call__(self, state, inputs, resets=None, positions=None):
        """Teacher-forced run over inputs [batch, time, dims]; returns (state, outputs [batch, time, K])."""
        return teacher_forced(self.step, state, inputs, resets, jnp.zeros(inputs.shape[:2], jnp.int32))


MODEL_CLASSES = {"melody": MelodyRNN, "char": CharRNN, "mdrnn": MDRNN}


@dataclass
class Model:
    """A loaded model: its network split into structure and parameters, plus its metadata."""

    name: str
    kind: str
    config: dict
    graphdef: object
    params: nnx.State
    meta: dict = field(default_factory=dict)
    checksum: str = ""
    _initial_state: object = field(default=None, repr=False)
    _input_tables: object = field(default=None, repr=False)
    _param_leaves: tuple | None = field(default=None, repr=False)

    @property
    def family(self) -> str:
        """What a voice playing it plays: melody, abc (a char model of ABC tunes, played as
        notes), text, or gesture. A voice only swaps between models of one family."""
        if self.kind == "char":
            return "abc" if self.meta.get("plays") == "abc" else "text"
        return {"mdrnn": "gesture"}.get(self.kind, self.kind)

    @property
    def alphabet(self) -> str:
        """A char model's characters, by token index."""
        return self.meta.get("alphabet", "")

    @property
    def structure(self) -> tuple:
        """Models with the same structure share one compiled step."""
        return (self.kind,) + tuple(sorted(self.config.items()))

    def network(self) -> nnx.Module:
        return nnx.merge(self.graphdef, self.params)

    def input_tables(self):
        """A token model's TokenRNN.input_tables(), as host arrays (computed once)."""
        if self._input_tables is None:
            self._input_tables = jax.device_get(self.network().input_tables())
        return self._input_tables

    @property
    def param_leaves(self) -> tuple:
        """The parameters as a flat tuple of arrays (in jax.tree order), computed once."""
        if self._param_leaves is None:
            self._param_leaves = tuple(jax.tree.leaves(self.params))
        return self._param_leaves

    def initial_state(self):
        """The recurrent state to start from, as host arrays (computed once: cheap to reuse)."""
        if self._initial_state is None:
            self._initial_state = jax.device_get(self.network().initial_state())
        return self._initial_state

    @classmethod
    def from_network(cls, network: nnx.Module, name: str = "untitled", meta: dict | None = None):
        kind = next((k for k, c in MODEL_CLASSES.items() if isinstance(network, c)), None)
        if kind is None:
            raise LivecrepreError(f"{name}: not a livecrepre model ({type(network).__name__})")
        config = network_config(network)
        graphdef, params = nnx.split(network, nnx.Param)
        return cls(name, kind, config, graphdef, params, dict(meta or {}))


def network_config(network: nnx.Module) -> dict:
    if isinstance(network, TokenRNN):
        config = {"vocab": network.vocab, "embed": network.embed.features,
                  "units": network.units, "layers": network.layers}
        return {**config, "positions": network.positions} if network.positions else config
    if isinstance(network, MDRNN):
        return {"dims": network.dims, "units": network.units, "layers": network.layers,
                "mixtures": network.mixtures}
    raise LivecrepreError(f"unknown network type {type(network).__name__}")


def build_network(kind: str, config: dict, seed: int = 0) -> nnx.Module:
    try:
        return MODEL_CLASSES[kind](**config, rngs=nnx.Rngs(seed))
    except KeyError:
        raise LivecrepreError(f"unknown model kind {kind!r} (known: {', '.join(MODEL_CLASSES)})")


def _flat_params(params: nnx.State) -> dict[str, np.ndarray]:
    return {"/".join(str(k) for k in path): np.asarray(var.get_value())
            for path, var in nnx.to_flat_state(params)}


def save_checkpoint(path: str | Path, network_or_model, meta: dict) -> Path:
    from safetensors.numpy import save_file

    model = (network_or_model if isinstance(network_or_model, Model)
             else Model.from_network(network_or_model))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    full_meta = {**meta, "kind": model.kind, "config": model.config, "format": "livecrepre/1"}
    text = json.dumps(full_meta, indent=1, sort_keys=True, default=float)
    try:
        save_file(_flat_params(model.params), str(path), metadata={"livecrepre": text})
        path.with_name(path.name + ".json").write_text(text + "\n")
    except Exception as exc:  # noqa: BLE001 - a folder in the way, a full disk: one line
        raise LivecrepreError(f"cannot write checkpoint {path}: {str(exc).splitlines()[0][:120]}") from None
    return path


def load_checkpoint(path: str | Path, name: str | None = None) -> Model:
    """Load a checkpoint; any problem with the file is one LivecrepreError line."""
    from safetensors import safe_open

    path = Path(path)
    label = name or path.name
    if not path.is_file():
        raise LivecrepreError(f"{label}: no such checkpoint file ({path})")
    try:
        raw = path.read_bytes()
        with safe_open(str(path), framework="numpy") as f:
            header = f.metadata() or {}
            weights = {k: f.get_tensor(k) for k in f.keys()}
        meta = json.loads(header["livecrepre"])
        kind, config = meta["kind"], meta["config"]
    except LivecrepreError:
        raise
    except Exception as exc:  # noqa: BLE001 - every way a file can be broken reads the same
        raise LivecrepreError(f"{label}: corrupt or not a livecrepre checkpoint "
                              f"({type(exc).__name__}: {str(exc).splitlines()[0][:80] if str(exc) else ''})")
    # Only the structure is needed (its weights come from the file): eval_shape skips the
    # random initialisation, which cost seconds of cold start.
    network = nnx.eval_shape(lambda: build_network(kind, config))
    graphdef, params = nnx.split(network, nnx.Param)
    flat = nnx.to_flat_state(params)
    expected = {"/".join(str(k) for k in p) for p, _ in flat}
    if expected != set(weights):
        missing = sorted(expected - set(weights))[:3]
        raise LivecrepreError(f"{label}: weights do not match a {kind} model of {config} "
                              f"(missing {missing})")
    for p, var in flat:
        key = "/".join(str(k) for k in p)
        expected_shape = var.get_value().shape
        if weights[key].shape != expected_shape:
            raise LivecrepreError(f"{label}: weight {key} has shape {weights[key].shape}, "
                                  f"expected {expected_shape}")
        var.set_value(jnp.asarray(weights[key], jnp.float32))
    params = nnx.from_flat_state(flat)
    checksum = hashlib.sha256(raw).hexdigest()[:16]
    return Model(name or path.stem, kind, config, graphdef, params, meta, checksum)


def shipped_models() -> list[str]:
    return sorted(p.stem for p in SHIPPED_DIR.glob("*" + CHECKPOINT_SUFFIX))


def load_model(spec, name: str | None = None) -> Model:
    """A shipped model name, a checkpoint path, a Model, or a livecrepre network object."""
    if isinstance(spec, Model):
        return spec
    if isinstance(spec, nnx.Module):
        return Model.from_network(spec, name or type(spec).__name__)
    if not isinstance(spec, (str, Path)):
        raise LivecrepreError(f"{spec!r} is not a model (give a shipped name, a checkpoint path "
                              f"or a model object)")
    path = checkpoint_file(spec)
    if path is None:
        raise LivecrepreError(f"unknown model {str(spec)!r}: not a shipped model "
                              f"({', '.join(shipped_models()) or 'none'}) and no such file")
    return load_checkpoint(path, name)


def checkpoint_file(spec) -> Path | None:
    """The checkpoint file a shipped model name (or alias) or a path names; None if there is none."""
    if not isinstance(spec, (str, Path)):
        return None
    spec = SHIPPED_ALIASES.get(spec, spec) if isinstance(spec, str) else spec
    shipped = SHIPPED_DIR / f"{spec}{CHECKPOINT_SUFFIX}"
    if isinstance(spec, str) and "/" not in spec and shipped.is_file():
        return shipped
    path = Path(spec).expanduser()
    return path if path.is_file() else None
