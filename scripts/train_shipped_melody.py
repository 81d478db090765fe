"""Train the shipped `melody` model on the O'Neill + Ryan folk tunes (CPU, ~15 minutes here).

    python scripts/build_folk_dataset.py data/folk.npz
    python scripts/train_shipped_melody.py data/folk.npz livecrepre/shipped/melody.ckpt
"""
import json
import sys
import time

from livecrepre.data import Dataset
from livecrepre.models import save_checkpoint
from livecrepre.training import TrainConfig, train_melody

if __name__ == "__main__":
    data_path = sys.argv[1] if len(sys.argv) > 1 else "data/folk.npz"
    out = sys.argv[2] if len(sys.argv) > 2 else "livecrepre/shipped/melody.ckpt"
    epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 16
    dataset = Dataset.load(data_path)
    config = TrainConfig(epochs=epochs, batch=64, seq_len=64, lr=2e-3, seed=0)
    print(f"{len(dataset.split(False))} training tunes, {len(dataset.split(True))} held out")
    model, summary = train_melody(dataset, config)
    meta = {
        "name": "melody",
        "encoding": "melody130: 0-127 note-on, 128 note-off, 129 no event; one token per 16th",
        "ticks_per_beat": 4,
        "corpus": dataset.meta.get("corpus"),
        "split": f"by tune, {dataset.meta.get('validation_fraction')} held out",
        "training": {k: v for k, v in summary.items() if k != "history"},
        "history": summary["history"],
        "trained_at": time.strftime("%Y-%m-%d"),
    }
    save_checkpoint(out, model, meta)
    print(json.dumps({k: summary[k] for k in ("heldout_nll", "train_seconds", "epochs_run")}))
    print(f"wrote {out}")
