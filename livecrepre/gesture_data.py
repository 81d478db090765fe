"""Gesture datasets for MDRNNs: IMPSY-shaped CSV logs (`timestamp,source,x1,...,xn`) read into
phrases of (dt, x1..xn), and a generated performer's log for the shipped model and the tests.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .data import Dataset, _collect
from .errors import LivecrepreError

MAX_DT = 4.0  # seconds: a longer pause ends a phrase


def _timestamp(text: str) -> float:
    from datetime import datetime

    try:
        return float(text)
    except ValueError:
        return datetime.fromisoformat(text.strip()).timestamp()


def read_gesture_log(path: str | Path, source: str | None = "interface",
                     report=print) -> list[np.ndarray]:
    """Phrases of (dt, x1..xn) from an IMPSY-shaped CSV log (`timestamp,source,x1,...,xn`;
    timestamps ISO-8601 or seconds). Rows of other sources are left out; ragged or unreadable
    rows are skipped and counted; a pause longer than MAX_DT starts a new phrase."""
    import csv

    path = Path(path)
    if not path.is_file():
        raise LivecrepreError(f"{path}: no such gesture log")
    rows, skipped, first_bad, sources, width = [], 0, None, set(), None
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        for number, row in enumerate(csv.reader(f), start=1):
            if not row or (number == 1 and row[0].strip().lower() in ("timestamp", "time")):
                continue
            try:
                when, who = _timestamp(row[0]), row[1].strip()
                values = [float(v) for v in row[2:]]
                if not values or (width is not None and len(values) != width):
                    raise ValueError(f"{len(values)} values, expected {width}")
                if not all(np.isfinite(values)):
                    raise ValueError("a value is not a finite number")
            except (ValueError, IndexError) as exc:
                skipped += 1
                first_bad = first_bad or f"line {number}: {exc}"
                continue
            sources.add(who)
            if source is None or who == source:
                width = len(values) if width is None else width
                rows.append((when, values))
    if skipped:
        report(f"{path.name}: skipped {skipped} ragged or unreadable row(s) (first: {first_bad})")
    if not rows:
        found = f"sources found: {', '.join(sorted(sources))}" if sources else "no readable rows"
        raise LivecrepreError(f"{path}: no gesture rows from source {source!r} ({found})")
    rows.sort(key=lambda r: r[0])
    phrases, current, last = [], [], None
    for when, values in rows:
        dt = 0.0 if last is None else when - last
        last = when
        if dt > MAX_DT and current:
            phrases.append(current)
            current, dt = [], 0.0
        current.append([dt] + values)
    phrases.append(current)
    return [np.array(p, np.float32) for p in phrases]


def build_gesture_dataset(paths, source: str | None = "interface", validation_fraction: float = 0.1,
                          phrase_events: int = 256, report=print) -> Dataset:
    """A gesture dataset from IMPSY-shaped CSV logs: pieces are phrases (cut at long pauses, and
    into runs of `phrase_events`), each starting from a zero vector, as a voice does."""
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    results = []
    for path in paths:
        for i, phrase in enumerate(read_gesture_log(path, source, report)):
            for j in range(0, len(phrase), phrase_events):
                part = phrase[j: j + phrase_events]
                name = f"{Path(path).name}#{i}.{j // phrase_events}"
                if len(part) < 4:
                    results.append((name, None, f"too short ({len(part)} events)"))
                    continue
                part = part.copy()
                part[0, 0] = 0.0  # no time before a phrase's first event
                results.append((name, np.concatenate([np.zeros((1, part.shape[1]), np.float32), part]), ""))
    dataset = _collect(results, validation_fraction, report, unit="events")
    values = np.concatenate([p[1:, 1:] for p in dataset.pieces])
    dataset.meta.update({"kind": "gesture", "encoding": "(dt seconds, x1..xn)", "dims": int(values.shape[1] + 1),
                         "value_min": values.min(0).tolist(), "value_max": values.max(0).tolist(),
                         "corpus": "gesture logs: " + ", ".join(Path(p).name for p in paths)})
    del dataset.meta["bar_ticks"], dataset.meta["ticks_per_quarter"]
    return dataset


def synthetic_gesture_log(path: str | Path, minutes: float = 20.0, dims: int = 2, seed: int = 0,
                          start: float = 1.7e9) -> Path:
    """Write an IMPSY-shaped log of a made-up touch-screen performer: strokes of 0.3-3 s sampled
    every 20-50 ms along smooth curves (a few sines, a different shape each stroke) in [0, 1],
    with pauses of 0.1-1.5 s between strokes. Data we generate is ours to ship."""
    from datetime import datetime, timezone

    rng = np.random.default_rng(seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    t, end = start, start + minutes * 60
    with open(path, "w") as f:
        while t < end:
            length = rng.uniform(0.3, 3.0)
            freqs = rng.uniform(0.2, 2.0, (dims, 2))
            phases = rng.uniform(0, 2 * np.pi, (dims, 2))
            centre = rng.uniform(0.3, 0.7, dims)
            size = rng.uniform(0.1, 0.3, dims)
            s = 0.0
            while s < length:
                x = centre + size * (np.sin(2 * np.pi * freqs[:, 0] * s + phases[:, 0])
                                     + 0.5 * np.sin(2 * np.pi * freqs[:, 1] * s + phases[:, 1])) / 1.5
                x = np.clip(x + rng.normal(0, 0.005, dims), 0, 1)
                when = datetime.fromtimestamp(t + s, timezone.utc).isoformat()
                f.write(",".join([when, "interface"] + [f"{v:.5f}" for v in x]) + "\n")
                s += rng.uniform(0.02, 0.05)
            t += length + rng.uniform(0.1, 1.5)
    return path
