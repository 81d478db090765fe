"""Does a swapped-in model continue the phrase? The shipped melody plays 6 bars; at the bar line a
model takes over, either primed with the voice's last 64 tokens (what `swap` does) or started
afresh (START from the zero state, what swap did before). Measured: the share of the next 4 bars'
notes that lie in the key of the 6 bars before (the best-fitting diatonic scale), over SEEDS seeds.

    .venv/bin/python benchmarks/swap_priming.py
"""
import numpy as np

from livecrepre.evaluation import key_kept_after_swap
from livecrepre.models import load_model
from livecrepre.sampling import PRIME_STEPS

SEEDS = 20


if __name__ == "__main__":
    melody = load_model("melody")
    print(f"| swap at bar 7 | primed with the last {PRIME_STEPS} tokens | started afresh |")
    print("|---|---:|---:|")
    for name in ("melody", "chorale"):
        second = load_model(name)
        primed = np.mean([key_kept_after_swap(melody, second, s, True) for s in range(SEEDS)])
        fresh = np.mean([key_kept_after_swap(melody, second, s, False) for s in range(SEEDS)])
        print(f"| melody -> {name} | {primed:.0%} in key | {fresh:.0%} in key |")
    print(f"\nShare of the 4 bars' notes after the swap in the key of the 6 bars before; {SEEDS} seeds, "
          f"temperature 1.")
