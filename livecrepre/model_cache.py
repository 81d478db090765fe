"""The session's models, loaded on the caller's thread (never the clock's): one object per
checkpoint, so that the voices playing it are batched; each checkpoint file read once (read again
when it is written again); compiled and warmed up for the batch sizes its voices will need."""
from __future__ import annotations

import gc
from typing import Callable

from .models import Model, checkpoint_file, load_model
from .performance_log import model_checksum
from .sampling import warm_up_batches
from .voices import prepare, voices_batch


class ModelCache:
    def __init__(self):
        self._models: dict[tuple, Model] = {}  # (checksum, name, meta) -> the one object
        self._checkpoints: dict[tuple, Model] = {}  # (file, mtime, size) -> its model: never read twice

    def load(self, spec, sharing: Callable[[Model], int], batch: bool) -> Model:
        """The model for `spec` (a shipped name, a path or a Model), ready to play; with `batch`,
        compiled for the `sharing(model)` voices that will play it at once."""
        file = checkpoint_file(spec)
        stat = file.stat() if file is not None else None
        on_disk = (str(file.resolve()), stat.st_mtime_ns, stat.st_size) if file is not None else None
        model = self._checkpoints.get(on_disk) if on_disk else None
        if model is None:
            model = load_model(spec)
            same = (model_checksum(model), model.name, repr(sorted(model.meta.items())))  # a checkpoint's
            model = self._models.setdefault(same, model)  # checksum covers its metadata; Python's may not
            if on_disk:
                self._checkpoints[on_disk] = model
        prepare(model)
        if batch and voices_batch(model):
            warm_up_batches(model, sharing(model))
        freeze_what_lives()
        return model


def freeze_what_lives() -> None:
    """What is loaded so far lives all session: frozen, the cyclic garbage collector no longer
    walks it. A full collection over jax, the models and music21 held the interpreter lock for
    60-130 ms (measured), making every thread late; after freezing, ~nothing. Garbage waiting
    in cycles is collected first (it would otherwise be frozen for good: +1.3 GB over 300 swaps,
    measured); that collection walks only what the last freeze left, a few ms."""
    gc.collect()
    gc.freeze()
