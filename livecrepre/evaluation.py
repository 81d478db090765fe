"""Musical measures a listener notices, for comparing generated lines with real tunes."""
from __future__ import annotations

import jax
import numpy as np

from .encodings import START_TOKEN, tokens_to_notes
from .models import Model
from .sampling import BLOCK_TICKS, generate_block

MAJOR_SCALE = {0, 2, 4, 5, 7, 9, 11}


def melody_measures(tokens) -> dict:
    """Share of onsets on the 8th grid, share in the best-fitting diatonic key (any mode),
    share of stepwise motion (≤ 2 semitones) and mean leap size (semitones) between notes."""
    notes = tokens_to_notes(tokens)
    if len(notes) < 2:
        return {"notes": len(notes)}
    pitches = np.array([n.pitch for n in notes])
    onsets = np.array([n.start for n in notes])
    intervals = np.abs(np.diff(pitches))
    classes = np.bincount(pitches % 12, minlength=12)
    in_key = max(sum(classes[(root + d) % 12] for d in MAJOR_SCALE) for root in range(12))
    return {"notes": len(notes),
            "on_8th_grid": float(np.mean(onsets % 2 == 0)),
            "in_key": float(in_key / len(pitches)),
            "stepwise": float(np.mean(intervals <= 2)),
            "mean_leap": float(intervals.mean())}


def sample_tokens(model: Model, ticks: int, seed: int = 0, temperature: float = 1.0) -> np.ndarray:
    """`ticks` tokens from the model, starting from silence, the way a voice generates them."""
    state, prev, out = model.initial_state(), START_TOKEN, []
    key = jax.random.PRNGKey(seed)
    for start in range(0, ticks, BLOCK_TICKS):
        state, tokens, _ = generate_block(model, state, prev, key, start, temperature)
        out.extend(int(t) for t in tokens)
        prev = out[-1]
    return np.array(out[:ticks])


def average_measures(pieces) -> dict:
    rows = [melody_measures(p) for p in pieces]
    rows = [r for r in rows if r.get("notes", 0) >= 2]
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]} if rows else {}


def evaluate(model: Model, dataset, max_order: int = 64, samples: int = 12, ticks: int = 512) -> dict:
    """Held-out NLL of the model against the best Kneser-Ney n-gram on the same split (its order
    chosen on the held-out pieces, which favours the baseline), and musical measures of samples."""
    from .ngram import KneserNey
    from .training import heldout_nll

    held_out, train = dataset.split(True), dataset.split(False)
    if not held_out or not train:
        from .errors import LivecrepreError

        raise LivecrepreError("the dataset needs both training and held-out pieces to evaluate")
    by_order = KneserNey(max_order).fit(train).nll_by_order(held_out)
    best = int(np.argmin(by_order))
    model_nll = heldout_nll(model, held_out)
    generated = [sample_tokens(model, ticks, seed=s) for s in range(samples)]
    return {"model_nll": model_nll, "ngram_nll": by_order[best], "ngram_order": best + 1,
            "improvement": 1 - model_nll / by_order[best],
            "held_out_pieces": len(held_out), "held_out_tokens": int(sum(len(p) - 1 for p in held_out)),
            "measures": {"held-out pieces": average_measures([p[1:] for p in held_out]),
                         "model samples": average_measures(generated)}}


def format_report(name: str, result: dict) -> str:
    lines = [f"{name}: held-out NLL {result['model_nll']:.3f} nats/token over "
             f"{result['held_out_pieces']} pieces ({result['held_out_tokens']:,} tokens)",
             f"best Kneser-Ney n-gram (order {result['ngram_order']}): {result['ngram_nll']:.3f} nats/token "
             f"-> the model's is {abs(result['improvement']):.1%} "
             f"{'lower (better)' if result['improvement'] > 0 else 'higher (worse)'}",
             "",
             "| source | notes on the 8th grid | in key | stepwise | mean interval |",
             "|---|---:|---:|---:|---:|"]
    for source, m in result["measures"].items():
        lines.append(f"| {source} | {m['on_8th_grid']:.0%} | {m['in_key']:.0%} | {m['stepwise']:.0%} "
                     f"| {m['mean_leap']:.1f} |")
    return "\n".join(lines)
