"""Jitted generation: one compiled function per model structure.

Token models (melody, char) generate blocks of tokens; an MDRNN generates one gesture per call.

The hot path is a pure function of arrays (parameters, recurrent state, previous token, PRNG key,
first tick, temperature), compiled once per structure with `jax.jit` over `nnx.merge` of the
model's graph definition. Temperature is a traced float32, so changing it never recompiles; new
weights of the same shapes reuse the same compiled function. Each tick's key is
`fold_in(voice_key, tick)`, derived inside the jitted call, so a token depends only on the voice's
key and the tick, never on when or how often the engine called.
"""
from __future__ import annotations

import os
import threading

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from .encodings import NO_EVENT, START_TOKEN
from .mdn import sample_mixture
from .models import Model

BLOCK_TICKS = 16  # ticks generated per call; a lax.scan is far cheaper per step than one call each
BATCH_SIZES = (2, 4, 8, 16, 32, 64)  # voices of one model are stepped together, padded to one of these
PRIME_STEPS = 64  # recent tokens (or gestures) a swapped-in model is fed before it takes over


def _use_persistent_compile_cache() -> None:
    """Keep compiled steps on disk: a voice's first warm-up drops from ~0.6 s to ~0.2 s on the
    next run. Left alone when the user has configured a cache already."""
    if jax.config.jax_compilation_cache_dir:
        return
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    jax.config.update("jax_compilation_cache_dir", os.path.join(base, "livecrepre", "jax"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)


_use_persistent_compile_cache()

_compiled: dict[tuple, object] = {}
_lock = threading.Lock()


def _sample_token(logits, key, tick, temperature, barred, hold_token: int | None):
    if hold_token is not None:  # at `barred` a held note must end: no "hold" token there
        logits = jnp.where(tick == barred, logits.at[hold_token].set(-jnp.inf), logits)
    return jax.random.categorical(jax.random.fold_in(key, tick), logits / temperature).astype(jnp.int32)


def _block_generator(graphdef, hold_token: int | None):
    """One voice's next BLOCK_TICKS tokens (not yet compiled: jitted alone or batched)."""
    def generate(params, tables, state, prev_token, key, start_tick, temperature, origin, barred):
        network = nnx.merge(graphdef, params)

        def body(carry, tick):
            state, prev = carry
            new_state, logits = network.step_from_tables(tables, state, prev, tick - origin)
            token = _sample_token(logits, key, tick, temperature, barred, hold_token)
            return (new_state, token), (state, token)

        ticks = start_tick + jnp.arange(BLOCK_TICKS, dtype=jnp.int32)
        (state, _), (states_before, tokens) = jax.lax.scan(body, (state, prev_token), ticks)
        return state, tokens, states_before

    return generate


def _make_block_fn(graphdef, hold_token: int | None):
    return jax.jit(_block_generator(graphdef, hold_token))


def _make_batch_block_fn(graphdef, hold_token: int | None):
    """Several voices of one model in one call: the weights are shared, every other argument has a
    leading voice axis. One matrix-matrix product per step instead of one matrix-vector product
    per voice."""
    return jax.jit(jax.vmap(_block_generator(graphdef, hold_token), in_axes=(None, None, 0, 0, 0, 0, 0, 0, 0)))


def _make_fade_block_fn(graphdef_old, graphdef_new, hold_token: int | None):
    """Both models stepped on the same line; their next-token distributions mixed log-linearly,
    the new one's weight rising from 1/length at `fade_start` to 1 at fade_start + length - 1."""
    def generate(params_old, params_new, states, prev_token, key, start_tick, temperature, origin,
                 barred, fade_start, fade_length):
        old, new = nnx.merge(graphdef_old, params_old), nnx.merge(graphdef_new, params_new)

        def body(carry, tick):
            (state_old, state_new), prev = carry
            next_old, logits_old = old.step(state_old, prev, tick - origin)
            next_new, logits_new = new.step(state_new, prev, tick - origin)
            weight = jnp.clip((tick - fade_start + 1) / fade_length, 0.0, 1.0)
            logits = ((1 - weight) * jax.nn.log_softmax(logits_old)
                      + weight * jax.nn.log_softmax(logits_new))
            token = _sample_token(logits, key, tick, temperature, barred, hold_token)
            return ((next_old, next_new), token), ((state_old, state_new), token)

        ticks = start_tick + jnp.arange(BLOCK_TICKS, dtype=jnp.int32)
        (states, _), (states_before, tokens) = jax.lax.scan(body, (states, prev_token), ticks)
        return states, tokens, states_before

    return jax.jit(generate)


def _make_gesture_fn(graphdef, params_tree, mixtures: int, dims: int):
    # The parameters come as a flat tuple (Model.param_leaves): flattening an nnx.State is Python
    # work on every call, and a listening voice's answer waits for this call (measured: 0.65 -> 0.5 ms
    # per step when the thread wakes up cold).
    def step(param_leaves, state, prev, key, index, pi_temp, sigma_temp):
        network = nnx.merge(graphdef, jax.tree.unflatten(params_tree, param_leaves))
        state, raw = network.step(state, prev)
        return state, sample_mixture(raw, jax.random.fold_in(key, index), pi_temp, sigma_temp,
                                     mixtures, dims)

    return jax.jit(step)


def _make_prime_fn(graphdef):
    def prime(params, state, inputs, first_tick, origin):
        network = nnx.merge(graphdef, params)

        def body(state, xs):
            x, tick = xs  # the input at `tick` predicts tick + 1
            return network.step(state, x, tick + 1 - origin)[0], None

        ticks = first_tick + jnp.arange(inputs.shape[0], dtype=jnp.int32)
        return jax.lax.scan(body, state, (inputs, ticks))[0]

    return jax.jit(prime)


def _cached(key: tuple, make, compile_if_missing: bool = True):
    """The compiled function stored under `key`, made (once, shared) by `make()` when missing."""
    with _lock:
        fn = _compiled.get(key)
        if fn is None and compile_if_missing:
            fn = _compiled[key] = make()
        return fn


def prime_fn(model: Model):
    return _cached(model.structure + ("prime",), lambda: _make_prime_fn(model.graphdef))


def prime(model: Model, history, first_tick: int = 0, origin: int = 0):
    """The model's state after it was fed `history` from its initial state: PRIME_STEPS - 1 tokens
    (or gestures) ending just before the one that will be its first input. On the host."""
    inputs = np.asarray(history, np.float32 if model.kind == "mdrnn" else np.int32)
    return jax.device_get(prime_fn(model)(model.params, model.initial_state(), inputs,
                                          np.int32(first_tick), np.int32(origin)))


def _hold_token(model: Model) -> int | None:
    return NO_EVENT if model.kind == "melody" else None


def fade_fn(old: Model, new: Model, compile_if_missing: bool = True):
    """The compiled crossfade generator for this pair of structures (None if not compiled yet and
    `compile_if_missing` is false: the generator thread never compiles)."""
    return _cached(old.structure + new.structure + ("fade",),
                   lambda: _make_fade_block_fn(old.graphdef, new.graphdef, _hold_token(old)),
                   compile_if_missing)


def generate_fade_block(old: Model, new: Model, states, prev_token: int, key, start_tick: int,
                        temperature: float, origin: int, barred: int, fade_start: int, fade_length: int):
    """Like generate_block, with two models crossfading; states are (old's, new's)."""
    new_states, tokens, states_before = fade_fn(old, new)(
        old.params, new.params, states, np.int32(prev_token), as_key(key), np.int32(start_tick),
        np.float32(temperature), np.int32(origin), np.int32(barred), np.int32(fade_start),
        np.int32(fade_length))
    return jax.device_get((new_states, tokens, states_before))


def warm_up_fade(old: Model, new: Model) -> None:
    """Compile and run the crossfade of this pair once, on the caller's thread."""
    generate_fade_block(old, new, (old.initial_state(), new.initial_state()), start_token(old),
                        jax.random.PRNGKey(0), 0, 1.0, 0, -1, 0, 16)


def block_fn(model: Model):
    """The compiled generator for this model's structure (created once, shared)."""
    if model.kind == "mdrnn":
        return _cached(model.structure, lambda: _make_gesture_fn(
            model.graphdef, jax.tree.structure(model.params), model.config["mixtures"], model.config["dims"]))
    return _cached(model.structure, lambda: _make_block_fn(model.graphdef, _hold_token(model)))


def as_key(key) -> np.ndarray:
    return np.asarray(key, dtype=np.uint32)


def generate_block(model: Model, state, prev_token: int, key, start_tick: int, temperature: float,
                   origin: int = 0, barred: int = -1):
    """Generate BLOCK_TICKS tokens; returns (state after, tokens, state before each tick), on the host.
    `origin` is a tick on a bar line: models that know the metre count bar positions from it.
    At tick `barred` a melody model may not sample "no event" (a note promised to end there ends).

    Every argument is passed with one fixed type so the cache never misses (see DESIGN.md)."""
    new_state, tokens, states_before = block_fn(model)(
        model.params, model.input_tables(), state, np.int32(prev_token), as_key(key), np.int32(start_tick),
        np.float32(temperature), np.int32(origin), np.int32(barred))
    return jax.device_get((new_state, tokens, states_before))


def batch_size_for(voices: int) -> int | None:
    """The compiled batch size that holds this many voices (None above the largest)."""
    return next((size for size in BATCH_SIZES if size >= voices), None)


def batch_block_fn(model: Model, size: int, compile_if_missing: bool = True):
    """The compiled generator for `size` voices of this structure (None if not compiled yet and
    `compile_if_missing` is false: the generator thread never compiles)."""
    return _cached(model.structure + ("batch", size),
                   lambda: _make_batch_block_fn(model.graphdef, _hold_token(model)), compile_if_missing)


def warm_up_batches(model: Model, voices: int) -> None:
    """Compile and run once, on the caller's thread, every batch size up to the one `voices`
    voices of this model need."""
    largest = batch_size_for(voices) or BATCH_SIZES[-1]
    for size in BATCH_SIZES:
        if size > largest:
            break
        if batch_block_fn(model, size, compile_if_missing=False) is None:
            one = (model.initial_state(), start_token(model), jax.random.PRNGKey(0), 0, 1.0, 0, -1)
            generate_blocks(model, [one] * size, compile_if_missing=True)


def generate_blocks(model: Model, inputs: list[tuple], compile_if_missing: bool = False):
    """generate_block for several voices of one model in one call. `inputs` holds, per voice,
    (state, prev_token, key, start_tick, temperature, origin, barred); returns, per voice,
    (state after, tokens, state before each tick) on the host, or None when no compiled batch size
    fits (the voices then generate one by one)."""
    size = batch_size_for(len(inputs))
    fn = batch_block_fn(model, size, compile_if_missing) if size else None
    if fn is None:
        return None
    padded = list(inputs) + [inputs[0]] * (size - len(inputs))  # padding rows are thrown away
    states, prev, keys, starts, temperatures, origins, barred = zip(*padded)
    new_states, tokens, states_before = jax.device_get(fn(
        model.params, model.input_tables(), jax.tree.map(lambda *leaves: np.stack(leaves), *states),
        np.asarray(prev, np.int32), np.stack([as_key(k) for k in keys]), np.asarray(starts, np.int32),
        np.asarray(temperatures, np.float32), np.asarray(origins, np.int32), np.asarray(barred, np.int32)))
    return [(jax.tree.map(lambda leaf: leaf[i], new_states), tokens[i],
             jax.tree.map(lambda leaf: leaf[i], states_before)) for i in range(len(inputs))]


def generate_gesture(model: Model, state, prev, key, index: int, pi_temp: float, sigma_temp: float):
    """One (dt, x1..xn) vector from an MDRNN; returns (state after, vector). The vector comes to the
    host; the state stays where jax keeps it (fetching it too doubled the cost of a step, which is
    the time a listening voice takes to answer)."""
    new_state, vector = block_fn(model)(
        model.param_leaves, state, np.asarray(prev, np.float32), as_key(key), np.int32(index),
        np.float32(pi_temp), np.float32(sigma_temp))
    return new_state, np.asarray(vector)


def start_token(model: Model) -> int:
    """The token a token model's line starts from: START for melodies, a newline for text."""
    return model.alphabet.index("\n") if model.kind == "char" else START_TOKEN


def warm_up(model: Model) -> None:
    """Compile (if needed) and run once: call on the caller's thread, never on the clock's."""
    key = jax.random.PRNGKey(0)
    if model.kind == "mdrnn":  # from a state on the host (a start, a swap) and from one kept by jax
        state, _ = generate_gesture(model, model.initial_state(), np.zeros(model.config["dims"]), key, 0, 1.0, 1.0)
        generate_gesture(model, state, np.zeros(model.config["dims"]), key, 1, 1.0, 1.0)
        prime(model, np.zeros((PRIME_STEPS - 1, model.config["dims"])))
    else:
        generate_block(model, model.initial_state(), start_token(model), key, 0, 1.0)
        prime(model, np.full(PRIME_STEPS - 1, start_token(model)))


def compiled_count(model: Model) -> int:
    """How many times this structure's block function has been compiled (for tests)."""
    return block_fn(model)._cache_size()
