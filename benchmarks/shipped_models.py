"""Wall time to train each shipped model, as measured by scripts/train_shipped.py on this machine
and recorded in each checkpoint's metadata (livecrepre/shipped/NAME.ckpt.json).

    python benchmarks/shipped_models.py
"""
import json

import numpy as np

from livecrepre.models import SHIPPED_DIR, load_model


def parameters(model) -> int:
    import jax

    return int(sum(np.size(leaf) for leaf in jax.tree.leaves(model.params)))


if __name__ == "__main__":
    print("| model | family | parameters | training data | epochs run | wall time | per epoch | "
          "held-out NLL | started from |")
    print("|---|---|---:|---|---:|---:|---:|---:|---|")
    for path in sorted(SHIPPED_DIR.glob("*.ckpt")):
        model = load_model(path.stem)
        meta = json.loads(path.with_name(path.name + ".json").read_text())
        training = meta["training"]
        unit = {"mdrnn": "gesture", "char": "character"}.get(model.kind, "token")
        minutes = training["train_seconds"] / 60
        print(f"| `{path.stem}` | {model.family} | {parameters(model):,} | {meta.get('corpus', '?')} "
              f"| {training['epochs_run']} | {minutes:.1f} min | {training['train_seconds'] / training['epochs_run']:.0f} s "
              f"| {training['heldout_nll']:.3f} nats/{unit} | {training.get('initialised_from') or 'scratch'} |")
