"""Pictures of a training's loss per epoch: a matplotlib Figure, a PNG beside the checkpoint, and
one picture in a notebook redrawn as each epoch ends."""
from __future__ import annotations

from pathlib import Path


def loss_curve(history: list[dict], title: str):
    """The loss per epoch, training and held out, as a matplotlib Figure. (The Figure API, not
    pyplot: switching pyplot's backend to draw a file stopped a notebook's plots showing inline.)"""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    epochs = [h["epoch"] for h in history]
    ax.plot(epochs, [h["train_nll"] for h in history], "o-", label="training")
    ax.plot(epochs, [h["valid_nll"] for h in history], "o-", label="held out")
    ax.set(xlabel="epoch", ylabel="nats / token", title=f"{title}: loss")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_loss_curve(history: list[dict], path: Path, title: str) -> Path:
    loss_curve(history, title).savefig(path)
    return path


class LiveLossCurve:
    """train_model(..., on_epoch=LiveLossCurve()): in a notebook, one picture of the loss that is
    redrawn as each epoch ends. `start()` puts a placeholder where the picture will be, so a
    training running in the background (%train) draws into the cell that started it."""

    def __init__(self, title: str = "training"):
        self.title, self._handle = title, None

    def start(self, waiting: str) -> None:
        from IPython.display import display

        self._handle = display({"text/plain": waiting}, raw=True, display_id=True)

    def __call__(self, history: list[dict]) -> None:
        import io

        from IPython.display import Image, display

        png = io.BytesIO()
        loss_curve(history, self.title).savefig(png, format="png")
        if self._handle is None:
            self._handle = display(Image(data=png.getvalue()), display_id=True)
        else:
            self._handle.update(Image(data=png.getvalue()))
