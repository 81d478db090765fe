"""Input-to-response latency: an OSC message in, the conditioned prediction out, on loopback.

A performer (a separate process, as a controller or a patch would be) sends `/interface x y` every
INTERVAL seconds to a gesture voice listening in polyphony mode (IMPSY's "user -> rnn -> sound"): each
input is fed to the MDRNN and its prediction of the next gesture is sent at once as an OSC bundle
(timetagged for when it should sound). The performer's receiving socket stamps each answer's arrival;
latency = arrival - send, both on the performer's clock.

Side by side, in interleaved rounds of one run, for a 2-layer MDRNN of 64 and of 512 units
(5 mixtures, 3 dims, random weights: the size is what costs):
- livecrepre: the real path (UDP server thread -> listener queue and thread -> engine lock ->
  jitted step + sample -> routes), the engine running its clock beside it;
- PyTorch: a minimal responder in the same shape as IMPSY's (one thread: recv, parse with python-osc,
  `nn.LSTM` step + mixture sample, build the bundle, send), one torch thread.
Targets (issue 6): p99 <= 1 ms at 64 units, <= 3 ms at 512 units.

    .venv/bin/python benchmarks/input_latency.py      (needs torch==2.13.0: make bench installs it)
"""
import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import json
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import torch
from flax import nnx
from pythonosc import osc_packet
from pythonosc.osc_bundle_builder import OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder

import livecrepre as lc
from livecrepre.clock import now
from livecrepre.models import MDRNN, Model

ROUNDS, PER_ROUND, INTERVAL = 4, 150, 0.012  # 600 inputs per condition
DIMS, MIXTURES = 3, 5
torch.set_num_threads(1)


def message(*values) -> bytes:
    built = OscMessageBuilder("/interface")
    for v in values:
        built.add_arg(float(v), "f")
    return built.build().dgram


class Performer:
    """This file run as `--performer` in a child process: it sends the inputs and stamps the answers."""

    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, __file__, "--performer"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)

    def ask(self, line: str):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def new_receiver(self) -> int:
        return self.ask("receiver")

    def measure(self, target_port: int, receiver_port: int, n: int, seed: int) -> list[float]:
        latencies = self.ask(f"measure {target_port} {receiver_port} {n} {seed}")
        assert len(latencies) == n, f"{len(latencies)} answers to {n} inputs"
        return latencies

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=5)


def performer_main() -> None:
    """Ping-pong on one thread: send an input, block on the answer, wait for the next send time."""
    receivers: dict[int, socket.socket] = {}

    def measure(target: int, receiver: int, n: int, seed: int) -> list[float]:
        rng, listen = np.random.default_rng(seed), receivers[receiver]
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        latencies, next_at = [], now()
        for _ in range(n):
            next_at += INTERVAL
            while now() < next_at - 0.001:
                time.sleep(0.0005)
            data = message(*rng.uniform(0, 1, DIMS - 1))
            sent = now()
            sock.sendto(data, ("127.0.0.1", target))
            try:
                listen.recv(65536)
            except socket.timeout:
                continue
            latencies.append(now() - sent)
        return latencies

    for line in sys.stdin:
        words = line.split()
        if words[0] == "receiver":
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
            sock.settimeout(1.0)
            receivers[sock.getsockname()[1]] = sock
            print(json.dumps(sock.getsockname()[1]), flush=True)
        else:
            print(json.dumps(measure(*map(int, words[1:]))), flush=True)


# -- livecrepre -------------------------------------------------------------------------------
def livecrepre_responder(model: Model, receiver_port: int):
    engine = lc.Engine(bpm=120, seed=1, echo_errors=True, log=False)
    engine.voice("hand", model, to=[f"osc://127.0.0.1:{receiver_port}/impsy"])
    engine.start()
    engine.listen("hand", "osc://127.0.0.1:0/interface", mode="polyphony", log=os.devnull)
    return engine, engine.listeners["hand"].source.port


# -- PyTorch ----------------------------------------------------------------------------------
class TorchMDRNN(torch.nn.Module):
    def __init__(self, units: int):
        super().__init__()
        self.lstm = torch.nn.LSTM(DIMS, units, num_layers=2)
        self.out = torch.nn.Linear(units, MIXTURES * (1 + 2 * DIMS))

    @torch.no_grad()
    def step(self, state, x, pi_temp=1.0, sigma_temp=1.0):
        y, state = self.lstm(x.view(1, 1, DIMS), state)
        raw = self.out(y.view(-1))
        logits, rest = raw[:MIXTURES], raw[MIXTURES:].view(MIXTURES, 2 * DIMS)
        k = torch.multinomial(torch.softmax(logits / pi_temp, 0), 1)[0]
        sigma = torch.exp(rest[k, DIMS:].clamp(-7, 3))
        return state, rest[k, :DIMS] + sigma * sigma_temp * torch.randn(DIMS)


def torch_responder(units: int, receiver_port: int) -> int:
    """IMPSY's shape: one thread receives, steps the model and answers."""
    model = TorchMDRNN(units).eval()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    wall = time.time() - now()

    def run():
        state, last = None, None
        while True:
            data = sock.recv(65536)
            arrived = now()
            values = osc_packet.OscPacket(data).messages[0].message.params
            dt = 0.0 if last is None else arrived - last
            last = arrived
            x = torch.tensor([dt] + list(values), dtype=torch.float32)
            state, y = model.step(state, x)
            answer = OscMessageBuilder("/impsy")
            for v in y[1:].tolist():
                answer.add_arg(v, "f")
            bundle = OscBundleBuilder(arrived + wall + max(0.005, float(y[0])))
            bundle.add_content(answer.build())
            out.sendto(bundle.build().dgram, ("127.0.0.1", receiver_port))

    threading.Thread(target=run, daemon=True).start()
    return sock.getsockname()[1]


def echo_responder(receiver_port: int) -> int:
    """The transport alone: parse the input, answer with a bundle, no model (the floor)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def run():
        while True:
            values = osc_packet.OscPacket(sock.recv(65536)).messages[0].message.params
            answer = OscMessageBuilder("/impsy")
            for v in values:
                answer.add_arg(v, "f")
            bundle = OscBundleBuilder(time.time())
            bundle.add_content(answer.build())
            out.sendto(bundle.build().dgram, ("127.0.0.1", receiver_port))

    threading.Thread(target=run, daemon=True).start()
    return sock.getsockname()[1]


def stats(values) -> str:
    ms = np.array(values) * 1000
    return f"p50 {np.percentile(ms, 50):6.3f}  p99 {np.percentile(ms, 99):6.3f}  max {ms.max():6.2f}"


def main() -> None:
    print(f"input -> answer latency on loopback, {ROUNDS} interleaved rounds x {PER_ROUND} inputs "
          f"every {INTERVAL * 1000:.0f} ms (2-layer MDRNN, {MIXTURES} mixtures, {DIMS} dims)")
    results, performer = {}, Performer()
    for units in (64, 512):
        model = Model.from_network(MDRNN(dims=DIMS, units=units, layers=2, mixtures=MIXTURES,
                                         rngs=nnx.Rngs(0)), name=f"mdrnn{units}")
        rx_lc, rx_torch, rx_echo = (performer.new_receiver() for _ in range(3))
        engine, lc_port = livecrepre_responder(model, rx_lc)
        torch_port = torch_responder(units, rx_torch)
        echo_port = echo_responder(rx_echo)
        performer.measure(lc_port, rx_lc, 50, 99)  # warm-up
        performer.measure(torch_port, rx_torch, 50, 99)
        ours, theirs, floor = [], [], []
        for round_ in range(ROUNDS):
            ours += performer.measure(lc_port, rx_lc, PER_ROUND, round_)
            theirs += performer.measure(torch_port, rx_torch, PER_ROUND, round_)
            floor += performer.measure(echo_port, rx_echo, PER_ROUND, round_)
        late = engine.late_ticks
        engine.stop()
        results[units] = (ours, theirs)
        print(f"\n{units:>4} units  livecrepre  {stats(ours)} ms   (engine clock: {late} late ticks)")
        print(f"{'':>4}        PyTorch     {stats(theirs)} ms")
        print(f"{'':>4}        no model    {stats(floor)} ms   (OSC in, parse, bundle out: the floor)")
        print(f"{'':>4}        ratio p50 {np.median(ours) / np.median(theirs):.2f}x, "
              f"p99 {np.percentile(ours, 99) / np.percentile(theirs, 99):.2f}x (livecrepre / PyTorch)")
    performer.close()
    for units, target in ((64, 1.0), (512, 3.0)):
        p99 = np.percentile(results[units][0], 99) * 1000
        print(f"target p99 <= {target:g} ms at {units} units: {p99:.3f} ms, {'met' if p99 <= target else 'MISSED'}")


if __name__ == "__main__":
    performer_main() if sys.argv[1:] == ["--performer"] else main()
