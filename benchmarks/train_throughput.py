"""Training throughput (tokens/s) of the melody model: JAX with the repo's own training step, and the
same-size PyTorch model, measured side by side in one run.

Both train embed 256 -> 2 x LSTM(256) -> Dense(130) from scratch on the same windows of real data
(`data/folk.npz`, training pieces cut into BATCH parallel streams by `epoch_streams`), BATCH x SEQ_LEN
= 4,096 predicted tokens per step, with the state carried from one window to the next, cross-entropy,
grad-norm clipping 1.0 and Adam 2e-3.

- JAX: `make_train_step` from `livecrepre.training` (one jitted step: forward `lax.scan`, backward,
  optimizer update); it also zeroes the state where the stream's `resets` say so. `jax.block_until_ready`
  on each step's loss, so no step is left running when the clock stops. XLA uses all cores.
- JAX, layer by layer: the same step, but the teacher-forced pass runs each LSTM layer over all time
  steps before the next, with its input projection as one large matrix product (what cuDNN does). Kept
  here because it was measured slower than the step-by-step scan the repo uses.
- PyTorch: nn.Embedding -> nn.LSTM(num_layers=2, batch_first=True) -> nn.Linear, the hidden state
  detached between windows; it ignores `resets` (nn.LSTM cannot zero the state mid-window), which
  spares it a little work. Run with 2 threads and with 1 (`torch.set_num_threads`).

After WARMUP steps each (JAX compiles there), the implementations take turns in ROUNDS rounds of
STEPS steps, so the noise of a shared machine falls on all of them alike. tokens/s is the median of
the rounds' tokens/s (one round slowed by another process does not move it), ms per step follows from
it, and the per-round figures show the spread.

    .venv/bin/python benchmarks/train_throughput.py
"""
import os
import time

import jax
import numpy as np
import optax
from flax import nnx

from livecrepre.data import Dataset
import jax.numpy as jnp

from livecrepre.models import MelodyRNN, build_network
from livecrepre.training import epoch_streams, make_train_step, step_loss

CONFIG = {"vocab": 130, "embed": 256, "units": 256, "layers": 2}
BATCH, SEQ_LEN, LR, CLIP = 64, 64, 2e-3, 1.0
WARMUP, ROUNDS, STEPS = 3, 8, 5  # 40 timed steps per implementation
clock = time.perf_counter


def data_windows():
    """An endless cycle of [BATCH, SEQ_LEN + 1] (tokens, resets) windows of the training streams."""
    path = "data/folk.npz"
    if os.path.exists(path):
        ds = Dataset.load(path)
    else:
        from livecrepre.data import build_folk_dataset
        ds = build_folk_dataset(limit=300)
    streams, resets, positions = epoch_streams(ds.split(False), BATCH, np.random.default_rng(0), 6)
    starts = range(0, streams.shape[1] - SEQ_LEN, SEQ_LEN)
    windows = [tuple(a[:, s: s + SEQ_LEN + 1] for a in (streams, resets, positions)) for s in starts]
    return windows, f"`{path}`" if os.path.exists(path) else "a 300-tune folk dataset"


class LayerByLayerRNN(MelodyRNN):
    def __call__(self, state, tokens, resets=None, positions=None):
        x = self.embed(tokens)
        keep = jnp.swapaxes(1.0 - resets.astype(jnp.float32), 0, 1)[..., None]
        new_state = []
        for cell, carry in zip(self.cells, state):
            projected = jnp.swapaxes(cell.dense_i(x), 0, 1)  # one [batch x time, 4 units] product

            def body(carry, inputs, cell=cell):
                y_input, keep_t = inputs
                c, h = (leaf * keep_t for leaf in carry)
                i, f, g, o = jnp.split(y_input + cell.dense_h(h), 4, axis=-1)
                c = cell.gate_fn(f) * c + cell.gate_fn(i) * cell.activation_fn(g)
                h = cell.gate_fn(o) * cell.activation_fn(c)
                return (c, h), h

            carry, hs = jax.lax.scan(body, carry, (projected, keep))
            new_state.append(carry)
            x = jnp.swapaxes(hs, 0, 1)
        return tuple(new_state), self.out(x)


def jax_runner(windows, layer_by_layer=False):
    net = LayerByLayerRNN(**CONFIG, rngs=nnx.Rngs(0)) if layer_by_layer else build_network("melody", CONFIG, seed=0)
    graphdef, params = nnx.split(net, nnx.Param)
    tx = optax.chain(optax.clip_by_global_norm(CLIP), optax.adam(LR))
    train_step = make_train_step(graphdef, tx, step_loss("melody", CONFIG))
    carry = {"params": params, "opt_state": tx.init(params), "state": net.initial_state((BATCH,)), "i": 0}

    def run(n):
        params, opt_state, state, i = carry["params"], carry["opt_state"], carry["state"], carry["i"]
        t0 = clock()
        for _ in range(n):
            window, resets, positions = windows[i % len(windows)]
            params, opt_state, state, loss = train_step(params, opt_state, state, window, resets, positions)
            loss = float(jax.block_until_ready(loss))
            i += 1
        elapsed = clock() - t0
        carry.update(params=params, opt_state=opt_state, state=state, i=i)
        return elapsed, loss
    return run


def torch_runner(windows, threads):
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.ModuleDict({"embed": nn.Embedding(CONFIG["vocab"], CONFIG["embed"]),
                           "lstm": nn.LSTM(CONFIG["embed"], CONFIG["units"], num_layers=CONFIG["layers"],
                                           batch_first=True),
                           "out": nn.Linear(CONFIG["units"], CONFIG["vocab"])})
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    zeros = torch.zeros(CONFIG["layers"], BATCH, CONFIG["units"])
    carry = {"state": (zeros, zeros.clone()), "i": 0}

    def run(n):
        torch.set_num_threads(threads)
        state, i = carry["state"], carry["i"]
        t0 = clock()
        for _ in range(n):
            window = torch.from_numpy(windows[i % len(windows)][0]).long()
            y, state = model["lstm"](model["embed"](window[:, :-1]), state)
            logits = model["out"](y)
            loss = nn.functional.cross_entropy(logits.reshape(-1, CONFIG["vocab"]), window[:, 1:].reshape(-1))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), CLIP)
            opt.step()
            state = tuple(s.detach() for s in state)
            loss = loss.item()
            i += 1
        elapsed = clock() - t0
        carry.update(state=state, i=i)
        return elapsed, loss
    return run


def main():
    load_before = os.getloadavg()[0]
    windows, source = data_windows()
    runners = {"JAX, `make_train_step` (jitted), XLA on all cores": ("JAX", jax_runner(windows)),
               "JAX, layer by layer (tried, not used)": ("JAX layers", jax_runner(windows, True))}
    torch_version = None
    try:
        import torch
        torch_version = torch.__version__.split("+")[0]
        for threads in (2, 1):
            runners[f"PyTorch {torch_version}, nn.LSTM, {threads} thread{'s' * (threads > 1)}"] = \
                (f"PyTorch {threads}T", torch_runner(windows, threads))
    except ImportError:
        pass

    warmup = {short: run(WARMUP) for short, run in runners.values()}  # JAX compiles in its first step
    rounds = {name: [] for name in runners}
    for _ in range(ROUNDS):
        for name, (_, run) in runners.items():
            rounds[name].append(run(STEPS))

    tokens = BATCH * SEQ_LEN
    rate = {name: float(np.median([STEPS * tokens / t for t, _ in r])) for name, r in rounds.items()}
    torch_rate = rate.get(f"PyTorch {torch_version}, nn.LSTM, 2 threads")
    print(f"Melody model: embed {CONFIG['embed']}, {CONFIG['layers']} x LSTM({CONFIG['units']}), vocab "
          f"{CONFIG['vocab']}; batch {BATCH} x {SEQ_LEN} steps = {tokens:,} tokens per training step, "
          f"windows of {source}; {ROUNDS} x {STEPS} timed steps each after {WARMUP} warm-up steps; "
          f"jax {jax.__version__}; {os.cpu_count()} CPUs, 1-min load average {load_before:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after.\n")
    print("| implementation | tokens/s | ms per step | ratio vs PyTorch (2 threads) | tokens/s per round | loss after |")
    print("|---|---:|---:|---:|---|---:|")
    for name, r in rounds.items():
        ratio = f"{rate[name] / torch_rate:.2f}x" if torch_rate else "n/a"
        per_round = ", ".join(f"{STEPS * tokens / t:,.0f}" for t, _ in r)
        print(f"| {name} | {rate[name]:,.0f} | {tokens / rate[name] * 1e3:.0f} | {ratio} | {per_round} "
              f"| {r[-1][1]:.3f} |")
    if torch_version is None:
        print("| PyTorch | not installed (`make bench` installs torch==2.13.0) | | | | |")
    print(f"\ntokens/s = median over the rounds; ratio vs PyTorch = this tokens/s / PyTorch's with 2 threads "
          f"(above 1: JAX trains faster). "
          f"Warm-up ({WARMUP} steps, JAX's including compilation): "
          + ", ".join(f"{short} {t:.1f} s" for short, (t, _) in warmup.items())
          + f" (T = PyTorch threads). Loss after = training loss (nats/token) of the last timed step, "
          f"{(WARMUP + ROUNDS * STEPS) * tokens:,} tokens into training from scratch.")


if __name__ == "__main__":
    main()
