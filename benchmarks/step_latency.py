"""Step latency of the melody model at batch 1: JAX (single jitted step, and the engine's block
path), PyTorch and NumPy, measured side by side in one run.

Each implementation does one full step: embedding of the previous token, the LSTM layers, the output
layer and sampling at a temperature, feeding the sampled token and the new state back in. All three
use the same weights (the loaded checkpoint's); PyTorch and NumPy are checked against JAX's logits.
BLAS and PyTorch are limited to one thread. To spread the noise of a shared machine evenly, the
implementations are timed in interleaved rounds (ROUNDS x STEPS steps each, after a warm-up), and
the median and p99 of all single-step times are reported. The engine path (`generate_block`, one
jitted lax.scan over BLOCK_TICKS ticks, returned to the host) is reported per step: block / 16; it runs
the shipped model as a voice does, bar-position input included. The other three run the same weights
without that input (one added embedding vector), so that all of them compute the same maths.

    .venv/bin/python benchmarks/step_latency.py [MODEL]    # MODEL: shipped name or checkpoint path
"""
import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"  # before numpy is imported (by anything)

import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from livecrepre.encodings import START_TOKEN
from livecrepre.models import Model, build_network, load_model
from livecrepre.sampling import BLOCK_TICKS, generate_block

ROUNDS, STEPS, WARMUP = 10, 1000, 300  # 10,000 timed steps per implementation
TEMP = 1.0
clock = time.perf_counter


# -- JAX ---------------------------------------------------------------------------------------
def jax_runner(m):
    @jax.jit
    def step(params, state, tok, key, tick, temp):
        state, logits = nnx.merge(m.graphdef, params).step(state, tok)
        tok = jax.random.categorical(jax.random.fold_in(key, tick), logits / temp)
        return state, tok.astype(jnp.int32)

    key, temp = np.asarray(jax.random.PRNGKey(0), np.uint32), np.float32(TEMP)
    carry = {"state": jax.tree.map(jnp.asarray, m.initial_state()), "tok": jnp.int32(START_TOKEN),
             "tick": 0}

    def run(n):
        times = np.empty(n)
        state, tok, tick = carry["state"], carry["tok"], carry["tick"]
        for i in range(n):
            t0 = clock()
            state, tok = jax.block_until_ready(step(m.params, state, tok, key, np.int32(tick), temp))
            times[i] = clock() - t0
            tick += 1
        carry.update(state=state, tok=tok, tick=tick)
        return times
    return run


def block_runner(m):
    key = np.asarray(jax.random.PRNGKey(0), np.uint32)
    carry = {"state": m.initial_state(), "prev": START_TOKEN, "tick": 0}

    def run(n):  # n steps = n / BLOCK_TICKS blocks; each block's time counts for its 16 steps
        times = []
        for _ in range(n // BLOCK_TICKS):
            t0 = clock()
            state, tokens, _ = generate_block(m, carry["state"], carry["prev"], key, carry["tick"], TEMP)
            times += [(clock() - t0) / BLOCK_TICKS] * BLOCK_TICKS
            carry.update(state=state, prev=int(tokens[-1]), tick=carry["tick"] + BLOCK_TICKS)
        return np.array(times)
    return run


# -- weights as plain arrays -----------------------------------------------------------------
def flat_weights(m):
    w = {"/".join(map(str, p)): np.asarray(v.get_value(), np.float32)
         for p, v in nnx.to_flat_state(m.params)}
    layers = []
    for l in range(m.config["layers"]):
        cell = f"cells/{l}/"
        bias = sum(w.get(cell + d + "/bias", 0) for d in ("dense_i", "dense_h"))  # one of them has it
        layers.append((w[cell + "dense_i/kernel"], w[cell + "dense_h/kernel"], np.asarray(bias, np.float32)))
    return w["embed/embedding"], layers, w["out/kernel"], w["out/bias"]


# -- NumPy -------------------------------------------------------------------------------------
def numpy_step(weights, state, tok, rng, temp):
    embedding, layers, w_out, b_out = weights
    x, new_state = embedding[tok], []
    for (w_i, w_h, b), (c, h) in zip(layers, state):
        i, f, g, o = np.split(x @ w_i + h @ w_h + b, 4)  # flax OptimizedLSTMCell order: i, f, g, o
        c = c / (1 + np.exp(-f)) + np.tanh(g) / (1 + np.exp(-i))
        h = np.tanh(c) / (1 + np.exp(-o))
        new_state.append((c, h))
        x = h
    logits = x @ w_out + b_out
    p = np.exp((logits - logits.max()) / temp)
    cdf = np.cumsum(p)
    return new_state, int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right")), logits


def numpy_runner(m):
    weights = flat_weights(m)
    rng = np.random.default_rng(0)
    carry = {"state": [tuple(np.asarray(a, np.float32) for a in s) for s in m.initial_state()],
             "tok": START_TOKEN}

    def run(n):
        times = np.empty(n)
        state, tok = carry["state"], carry["tok"]
        for i in range(n):
            t0 = clock()
            state, tok, _ = numpy_step(weights, state, tok, rng, TEMP)
            times[i] = clock() - t0
        carry.update(state=state, tok=tok)
        return times
    return run


# -- PyTorch -----------------------------------------------------------------------------------
def torch_runner(m):
    import torch
    from torch import nn

    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg = m.config
    embed = nn.Embedding(cfg["vocab"], cfg["embed"])
    lstm = nn.LSTM(cfg["embed"], cfg["units"], num_layers=cfg["layers"])
    out = nn.Linear(cfg["units"], cfg["vocab"])
    embedding, layers, w_out, b_out = flat_weights(m)
    with torch.no_grad():  # same weights; PyTorch's gate order is also i, f, g, o
        embed.weight.copy_(torch.tensor(embedding))
        for l, (w_i, w_h, b) in enumerate(layers):
            getattr(lstm, f"weight_ih_l{l}").copy_(torch.tensor(w_i.T))
            getattr(lstm, f"weight_hh_l{l}").copy_(torch.tensor(w_h.T))
            getattr(lstm, f"bias_ih_l{l}").copy_(torch.tensor(b))
            getattr(lstm, f"bias_hh_l{l}").zero_()
        out.weight.copy_(torch.tensor(w_out.T))
        out.bias.copy_(torch.tensor(b_out))

    def step(state, tok, temp):
        y, state = lstm(embed(tok).view(1, 1, -1), state)
        logits = out(y[0, 0])
        return state, torch.multinomial(torch.softmax(logits / temp, -1), 1), logits

    zeros = torch.zeros(cfg["layers"], 1, cfg["units"])
    carry = {"state": (zeros, zeros.clone()), "tok": torch.tensor([START_TOKEN])}

    def run(n):
        times = np.empty(n)
        state, tok = carry["state"], carry["tok"]
        with torch.no_grad():
            for i in range(n):
                t0 = clock()
                state, tok, _ = step(state, tok, TEMP)
                times[i] = clock() - t0
        carry.update(state=state, tok=tok)
        return times

    def logits_for(tokens):  # for the check against JAX
        with torch.no_grad():
            state, result = (zeros, zeros.clone()), []
            for t in tokens:
                state, _, logits = step(state, torch.tensor([t]), TEMP)
                result.append(logits.numpy())
        return np.array(result)
    return run, logits_for


def check_same_math(m, torch_logits):
    """Max |logit difference| from JAX over a fixed token sequence, for NumPy and PyTorch."""
    tokens = [START_TOKEN, 60, 129, 62, 128, 64, 129, 129]
    net, state, ref = m.network(), m.initial_state(), []
    for t in tokens:
        state, logits = net.step(state, jnp.int32(t))
        ref.append(np.asarray(logits))
    weights, state, mine = flat_weights(m), [tuple(np.asarray(a) for a in s) for s in m.initial_state()], []
    for t in tokens:
        state, _, logits = numpy_step(weights, state, t, np.random.default_rng(0), TEMP)
        mine.append(logits)
    diffs = {"NumPy": float(np.abs(np.array(mine) - ref).max())}
    if torch_logits:
        diffs["PyTorch"] = float(np.abs(torch_logits(tokens) - ref).max())
    return diffs


def without_bar_position(m: Model) -> Model:
    """The same weights without the bar-position input, so that every implementation here computes
    the same maths (the NumPy and PyTorch steps have no position embedding; adding it is one vector)."""
    if not m.config.get("positions"):
        return m
    config = {k: v for k, v in m.config.items() if k != "positions"}
    net, source = build_network("melody", config), m.network()
    net.embed, net.cells, net.out = source.embed, source.cells, source.out
    return Model.from_network(net, m.name)


def main():
    load_before = os.getloadavg()[0]
    shipped = load_model(sys.argv[1] if len(sys.argv) > 1 else "melody")
    m = without_bar_position(shipped)
    runners = {"JAX, jitted single step": jax_runner(m),
               f"JAX, engine `generate_block` (per step = block / {BLOCK_TICKS})": block_runner(shipped),
               "NumPy, hand-written step": numpy_runner(m)}
    torch_logits, torch_note = None, None
    try:
        import torch
        runners[f"PyTorch {torch.__version__.split('+')[0]}, nn.LSTM, no_grad, 1 thread"], torch_logits = \
            torch_runner(m)
    except ImportError:
        torch_note = "PyTorch | not installed (`make bench` installs torch==2.13.0) | | |"

    for run in runners.values():
        run(WARMUP)  # compiles JAX, warms caches
    times = {name: [] for name in runners}
    for _ in range(ROUNDS):
        for name, run in runners.items():
            times[name].append(run(STEPS))

    diffs = check_same_math(m, torch_logits)
    stats = {name: (np.median(np.concatenate(t)) * 1e3, np.percentile(np.concatenate(t), 99) * 1e3)
             for name, t in times.items()}
    torch_median = next((med for name, (med, _) in stats.items() if name.startswith("PyTorch")), None)
    cfg = m.config
    print(f"Model `{m.name}`: embed {cfg['embed']}, {cfg['layers']} x LSTM({cfg['units']}), vocab {cfg['vocab']}; "
          f"batch 1, {ROUNDS * STEPS} steps each after {WARMUP} warm-up steps; jax {jax.__version__}, "
          f"numpy {np.__version__}; {os.cpu_count()} CPUs, 1-min load average {load_before:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after.\n")
    print("| implementation | median ms | p99 ms | ratio vs PyTorch |")
    print("|---|---:|---:|---:|")
    for name, (med, p99) in stats.items():
        ratio = f"{torch_median / med:.2f}x" if torch_median else "n/a"
        print(f"| {name} | {med:.3f} | {p99:.3f} | {ratio} |")
    if torch_note:
        print(f"| {torch_note}")
    print("\nratio vs PyTorch = PyTorch median / this median (above 1: faster than PyTorch). "
          "Logits vs JAX, max abs difference: "
          + ", ".join(f"{k} {v:.1e}" for k, v in diffs.items()) + ".")


if __name__ == "__main__":
    main()
