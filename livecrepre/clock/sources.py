"""The clock sources by name, as a performer gives them (`%clock link --quantum 4`): each name
checked here and turned into a maker of that source, `(bpm, ticks_per_beat, origin) -> ClockSource`."""
from __future__ import annotations

from functools import partial
from typing import Callable

from ..errors import LivecrepreError
from .internal import InternalClock
from .source import ClockSource

SOURCES = ("internal", "link")


def clock_maker(spec: str, *, beats_per_bar: int, quantum=None) -> tuple[Callable[..., ClockSource], str]:
    """The maker of the source `spec` names, and how the performance log writes it (`quantum`:
    checked by checks.check_quantum)."""
    if spec == "internal":
        if quantum is not None:
            raise LivecrepreError("--quantum is for %clock link")
        return InternalClock, "internal"
    if spec == "link":
        from .link import LinkClock

        return (partial(LinkClock, beats_per_bar=beats_per_bar, quantum=quantum),
                f"link quantum={quantum or beats_per_bar:g}")
    raise LivecrepreError(f"unknown clock {spec!r}: expected {', '.join(SOURCES)}")
