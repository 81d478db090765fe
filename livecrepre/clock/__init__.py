"""Musical time: where ticks fall in wall time (a clock source, `source.py`; the internal one is a
tempo map, `internal.py` and `tempo_map.py`), and precise waiting on the monotonic clock (`timing.py`)."""
from .internal import InternalClock
from .source import MAX_BPM, MIN_BPM, ClockSource
from .tempo_map import Segment, TempoMap
from .timing import SPIN, ask_realtime_priority, now, sleep_until

__all__ = ["ClockSource", "InternalClock", "MAX_BPM", "MIN_BPM", "SPIN", "Segment", "TempoMap",
           "ask_realtime_priority", "now", "sleep_until"]
