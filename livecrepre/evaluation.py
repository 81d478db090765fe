"""Musical measures a listener notices, for comparing generated lines with real tunes."""
from __future__ import annotations

import jax
import numpy as np

from .encodings import START_TOKEN, tokens_to_notes
from .models import Model
from .sampling import BLOCK_TICKS, generate_block, generate_gesture, start_token

MAJOR_SCALE = {0, 2, 4, 5, 7, 9, 11}


TUNE_GAP = 12  # ticks of silence that end a tune: a voice leaves about a bar between tunes


def split_tunes(notes, gap: int = TUNE_GAP) -> list[list]:
    """Notes grouped into tunes: a silence of `gap` ticks or more starts a new one."""
    tunes: list[list] = []
    for note in notes:
        if not tunes or note.start - tunes[-1][-1].end >= gap:
            tunes.append([])
        tunes[-1].append(note)
    return tunes


def melody_measures(tokens) -> dict:
    """Share of onsets on the 8th grid, share in each tune's best-fitting diatonic key (any
    mode), share of stepwise motion (≤ 2 semitones) and mean leap size (semitones) between the
    notes of a tune. A long sample holds several tunes, each in its own key: measuring the key
    over all of them at once would count a new tune's key as wrong notes."""
    notes = tokens_to_notes(tokens)
    tunes = [t for t in split_tunes(notes) if len(t) >= 2]
    if not tunes:
        return {"notes": len(notes)}
    onsets = np.array([n.start for n in notes])
    intervals, in_key = [], 0
    for tune in tunes:
        pitches = np.array([n.pitch for n in tune])
        intervals.append(np.abs(np.diff(pitches)))
        classes = np.bincount(pitches % 12, minlength=12)
        in_key += max(sum(classes[(root + d) % 12] for d in MAJOR_SCALE) for root in range(12))
    intervals = np.concatenate(intervals)
    return {"notes": len(notes),
            "on_8th_grid": float(np.mean(onsets % 2 == 0)),
            "in_key": float(in_key / sum(len(t) for t in tunes)),
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


def sample_text(model: Model, characters: int, seed: int = 0, temperature: float = 1.0) -> str:
    """`characters` characters from a char model, starting after a newline, as a text voice writes."""
    state, prev, out = model.initial_state(), start_token(model), []
    key = jax.random.PRNGKey(seed)
    for start in range(0, characters, BLOCK_TICKS):
        state, tokens, _ = generate_block(model, state, prev, key, start, temperature)
        out.extend(int(t) for t in tokens)
        prev = out[-1]
    return "".join(model.alphabet[t] for t in out[:characters])


def sample_gestures(model: Model, count: int, seed: int = 0, pi_temp: float = 1.0,
                    sigma_temp: float = 1.0) -> np.ndarray:
    """`count` (dt, x1..xn) gestures from an MDRNN, clipped as a gesture voice clips them."""
    from .voices.gesture import clip_gesture

    state, prev, out = model.initial_state(), np.zeros(model.config["dims"], np.float32), []
    key = jax.random.PRNGKey(seed)
    for i in range(count):
        state, vector = generate_gesture(model, state, prev, key, i, pi_temp, sigma_temp)
        prev = clip_gesture(np.array(vector, np.float32), model.meta)
        out.append(prev)
    return np.array(out)


def gesture_measures(gestures: np.ndarray) -> dict:
    """Timing and motion of a gesture stream: mean dt, the share of pauses (dt > 0.1 s), and the
    mean distance moved between consecutive gestures that are not separated by a pause."""
    dt = gestures[:, 0]
    moves = np.linalg.norm(np.diff(gestures[:, 1:], axis=0), axis=1)[dt[1:] <= 0.1]
    return {"mean_dt": float(dt.mean()), "pauses": float(np.mean(dt > 0.1)),
            "mean_move": float(moves.mean()) if len(moves) else float("nan"),
            "spread": float(gestures[:, 1:].std())}


def average_measures(pieces) -> dict:
    rows = [melody_measures(p) for p in pieces]
    rows = [r for r in rows if r.get("notes", 0) >= 2]
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]} if rows else {}


def evaluate(model: Model, dataset, max_order: int = 64, samples: int = 12, ticks: int = 512) -> dict:
    """Held-out NLL of the model; for token models against the best Kneser-Ney n-gram on the same
    split (its order chosen on the held-out pieces, which favours the baseline); for melody
    models also musical measures of samples against the held-out pieces."""
    from .errors import LivecrepreError
    from .ngram import KneserNey
    from .training import KIND_FOR_DATA, UNITS, heldout_nll

    if KIND_FOR_DATA.get(dataset.kind) != model.kind:
        raise LivecrepreError(f"{model.name} is a {model.kind} model and this is a {dataset.kind} dataset")
    held_out, train = dataset.split(True), dataset.split(False)
    if not held_out or not train:
        raise LivecrepreError("the dataset needs both training and held-out pieces to evaluate")
    if model.kind == "char" and dataset.meta["alphabet"] != model.alphabet:
        from .training import _remap_to_alphabet

        held_out, train = (_remap_to_alphabet(p, dataset.meta["alphabet"], model.alphabet)
                           for p in (held_out, train))
    result = {"unit": UNITS[model.kind], "model_nll": heldout_nll(model, held_out),
              "held_out_pieces": len(held_out), "held_out_steps": int(sum(len(p) - 1 for p in held_out))}
    if model.kind == "mdrnn":
        result["gestures"] = {"held-out phrases": gesture_measures(np.concatenate([p[1:] for p in held_out])),
                              "model samples": gesture_measures(sample_gestures(model, 2000))}
        return result
    by_order = KneserNey(max_order, vocab=model.config["vocab"]).fit(train).nll_by_order(held_out)
    best = int(np.argmin(by_order))
    result.update({"ngram_nll": by_order[best], "ngram_order": best + 1,
                   "improvement": 1 - result["model_nll"] / by_order[best]})
    if model.kind == "melody":
        generated = [sample_tokens(model, ticks, seed=s) for s in range(samples)]
        result["measures"] = {"held-out pieces": average_measures([p[1:] for p in held_out]),
                              "model samples": average_measures(generated)}
    return result


def format_report(name: str, result: dict) -> str:
    unit = result["unit"]
    lines = [f"{name}: held-out NLL {result['model_nll']:.3f} nats/{unit} over "
             f"{result['held_out_pieces']} pieces ({result['held_out_steps']:,} {unit}s)"]
    if "ngram_nll" in result:
        lines.append(f"best Kneser-Ney n-gram (order {result['ngram_order']}): {result['ngram_nll']:.3f} "
                     f"nats/{unit} -> the model's is {abs(result['improvement']):.1%} "
                     f"{'lower (better)' if result['improvement'] > 0 else 'higher (worse)'}")
    tables = {"gestures": (["mean dt", "pauses (dt > 0.1 s)", "mean move between gestures", "spread of values"],
                           lambda m: [f"{m['mean_dt'] * 1000:.0f} ms", f"{m['pauses']:.0%}",
                                      f"{m['mean_move']:.4f}", f"{m['spread']:.3f}"]),
              "measures": (["notes on the 8th grid", "in key", "stepwise", "mean interval"],
                           lambda m: [f"{m['on_8th_grid']:.0%}", f"{m['in_key']:.0%}", f"{m['stepwise']:.0%}",
                                      f"{m['mean_leap']:.1f}"])}
    for key, (columns, cells) in tables.items():
        if key in result:
            lines += ["", "| source | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
            lines += [f"| {source} | " + " | ".join(cells(m)) + " |" for source, m in result[key].items()]
    return "\n".join(lines)


def key_kept_after_swap(first: Model, second: Model, seed: int, primed: bool = True,
                        before: int = 96, after: int = 64) -> float:
    """`first` plays `before` ticks in a melody voice; then `second` takes over, primed with the
    voice's recent tokens (what a swap does) or started afresh (START from the zero state). Returns
    the share of the next `after` ticks' notes that lie in the key of what came before."""
    from .encodings import NO_EVENT
    from .sampling import PRIME_STEPS
    from .voices import MelodyVoice

    voice = MelodyVoice("v", first, temperature=1.0, key=jax.random.PRNGKey(seed), routes=[], start_tick=0)
    heard = [p.pitch for t in range(before) for p in voice.events_at(t, None)]
    if primed:
        voice.swap(second, before)
    else:
        voice.stream.rollback(before)
        voice.stream.restart(second, np.array([NO_EVENT] * (PRIME_STEPS - 1) + [START_TOKEN]))
    played = [p.pitch for t in range(before, before + after) for p in voice.events_at(t, None)]
    classes = np.bincount(np.array(heard) % 12, minlength=12)
    root = max(range(12), key=lambda r: sum(classes[(r + d) % 12] for d in MAJOR_SCALE))
    return float(np.mean([(p - root) % 12 in MAJOR_SCALE for p in played])) if played else 0.0
