"""Encode the O'Neill 1850 and Ryan's Mammoth tunes from the music21 corpus into data/folk.npz."""
import sys
import time
from pathlib import Path

from livecrepre.data import build_folk_dataset

if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "data/folk.npz")
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    dataset = build_folk_dataset()
    dataset.save(out)
    print(f"wrote {out} in {time.perf_counter() - started:.0f} s")
