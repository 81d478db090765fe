"""livecrepre: a live-coding instrument for performing with neural networks.

    import livecrepre as lc
    engine = lc.Engine(bpm=120, seed=1)
    engine.start()
    engine.voice("lead", "melody", temperature=0.9, to=["osc://127.0.0.1:57120/lead"])
    engine.stop()

In IPython: `%load_ext livecrepre`, then `%crepre start`, `%voice lead melody --to print`, ...
"""
from .engine import Engine
from .errors import LivecrepreError
from .events import Event
from .models import Model, load_model, shipped_models

__all__ = ["Engine", "Event", "LivecrepreError", "Model", "load_model", "shipped_models",
           "load_ipython_extension", "unload_ipython_extension"]
__version__ = "0.1.0"


def load_ipython_extension(ipython) -> None:
    from .magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython) -> None:
    from .magics import unload_ipython_extension as unload

    unload(ipython)
