"""Train a shipped model on this machine's CPU, from data the package ships or we generate.

    python scripts/train_shipped.py melody     # O'Neill + Ryan melodies (~23 min)
    python scripts/train_shipped.py abc        # char RNN on the same tunes' ABC text
    python scripts/train_shipped.py chorale    # the melody model fine-tuned on Bach soprano lines
    python scripts/train_shipped.py gesture    # MDRNN on a generated touch-screen performer's log

Each writes livecrepre/shipped/NAME.ckpt with its .json metadata and .png loss curve, and keeps
the dataset it used under data/ (not committed: rebuilt by this script).
"""
import json
import sys
from pathlib import Path

from livecrepre.data import Dataset, build_chorale_dataset, build_folk_dataset
from livecrepre.gesture_data import build_gesture_dataset, synthetic_gesture_log
from livecrepre.models import SHIPPED_DIR, load_model
from livecrepre.text_data import build_abc_text_dataset
from livecrepre.training import TrainConfig, save_trained, train_model

DATA = Path("data")


def cached(path: Path, build) -> Dataset:
    if not path.is_file():
        build().save(path)
    return Dataset.load(path)


RECIPES = {
    # name: (kind, dataset, config, start from, patience)
    "melody": lambda: ("melody", cached(DATA / "folk.npz", build_folk_dataset),
                       TrainConfig(epochs=30, batch=64, seq_len=64, lr=2e-3), None, 3),
    "abc": lambda: ("char", cached(DATA / "abc.npz", build_abc_text_dataset),
                    TrainConfig(epochs=12, embed=64, units=256, layers=2, seq_len=100, batch=64, lr=3e-3),
                    None, 2),
    "chorale": lambda: ("melody", cached(DATA / "chorales.npz", build_chorale_dataset),
                        TrainConfig(epochs=15, batch=16, seq_len=64, lr=5e-4), load_model("melody"), 3),
    "gesture": lambda: ("mdrnn", cached(DATA / "gestures.npz", lambda: build_gesture_dataset(
                            synthetic_gesture_log(DATA / "gestures.csv", minutes=90))),
                        TrainConfig(epochs=100, units=64, layers=2, mixtures=5, seq_len=64, batch=32,
                                    lr=2e-3), None, 10),
}

if __name__ == "__main__":
    name = sys.argv[1] if len(sys.argv) > 1 else "melody"
    DATA.mkdir(exist_ok=True)
    kind, dataset, config, init, patience = RECIPES[name]()
    print(f"{name}: {kind}, {len(dataset.split(False))} training pieces, {len(dataset.split(True))} held out"
          + (f", from {init.name}" if init else ""))
    model, summary = train_model(kind, dataset, config, init=init, patience=patience, progress=True)
    out = save_trained(SHIPPED_DIR / f"{name}.ckpt", model, summary, dataset, name=name)
    print(json.dumps({k: summary[k] for k in ("heldout_nll", "train_seconds", "epochs_run", "stopped")}))
    print(f"wrote {out}")
