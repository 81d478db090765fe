"""Train the shipped `melody` model on the O'Neill + Ryan folk tunes (CPU, ~23 minutes here).

    python scripts/build_folk_dataset.py data/folk.npz
    python scripts/train_shipped_melody.py data/folk.npz livecrepre/shipped/melody.ckpt
"""
import json
import sys

from livecrepre.data import Dataset
from livecrepre.training import TrainConfig, save_trained, train_melody

if __name__ == "__main__":
    data_path = sys.argv[1] if len(sys.argv) > 1 else "data/folk.npz"
    out = sys.argv[2] if len(sys.argv) > 2 else "livecrepre/shipped/melody.ckpt"
    epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 30
    dataset = Dataset.load(data_path)
    config = TrainConfig(epochs=epochs, batch=64, seq_len=64, lr=2e-3, seed=0)
    print(f"{len(dataset.split(False))} training tunes, {len(dataset.split(True))} held out")
    model, summary = train_melody(dataset, config)
    save_trained(out, model, summary, dataset, name="melody")
    print(json.dumps({k: summary[k] for k in ("heldout_nll", "train_seconds", "epochs_run")}))
    print(f"wrote {out}")
