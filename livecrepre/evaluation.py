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
