"""Held-out NLL and musical measures of a melody checkpoint against the held-out folk tunes.

    python scripts/evaluate_melody.py [CHECKPOINT] [data/folk.npz]
"""
import sys

from livecrepre.data import Dataset
from livecrepre.evaluation import average_measures, sample_tokens
from livecrepre.models import load_model
from livecrepre.training import heldout_nll

if __name__ == "__main__":
    model = load_model(sys.argv[1] if len(sys.argv) > 1 else "melody")
    held_out = Dataset.load(sys.argv[2] if len(sys.argv) > 2 else "data/folk.npz").split(True)
    print(f"held-out NLL: {heldout_nll(model, held_out):.3f} nats/token over {len(held_out)} tunes\n")
    rows = [("held-out tunes", average_measures([p[1:] for p in held_out]))]
    for temperature in (0.8, 1.0, 1.2):
        samples = [sample_tokens(model, 512, seed=s, temperature=temperature) for s in range(12)]
        rows.append((f"model, temperature {temperature}", average_measures(samples)))
    print("| source | notes on the 8th grid | in key | stepwise (≤ 2 semitones) | mean interval |")
    print("|---|---:|---:|---:|---:|")
    for name, m in rows:
        print(f"| {name} | {m['on_8th_grid']:.0%} | {m['in_key']:.0%} | {m['stepwise']:.0%} "
              f"| {m['mean_leap']:.1f} semitones |")
