"""The performer's arguments checked before anything changes: each check returns the value to use,
or raises one LivecrepreError line saying what was expected (the music never hears a bad value)."""
from __future__ import annotations

import math
import re

from .clock import MAX_BPM, MIN_BPM
from .errors import LivecrepreError

AT_CHOICES = ("now", "beat", "bar")


def as_number(value) -> float:
    """float(value), or NaN when it is not a number (for checks that say what they expected)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def check_bpm(bpm) -> float:
    try:
        value = float(bpm)
    except (TypeError, ValueError):
        raise LivecrepreError(f"tempo must be a number of beats per minute, not {bpm!r}")
    if not math.isfinite(value) or not MIN_BPM <= value <= MAX_BPM:
        raise LivecrepreError(f"tempo must be between {MIN_BPM:g} and {MAX_BPM:g} bpm, not {bpm!r}")
    return value


def check_temperature(value) -> float:
    try:
        t = float(value)
    except (TypeError, ValueError):
        raise LivecrepreError(f"temperature must be a number, not {value!r}")
    if not math.isfinite(t) or t <= 0:
        raise LivecrepreError(f"temperature must be above 0 (0.5 calm, 1 as trained, 1.5 wild), "
                              f"not {value!r}")
    return t


def check_voice_name(name) -> str:
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][\w.-]*", name):
        raise LivecrepreError(f"bad voice name {name!r}: use letters, digits and _ (e.g. lead)")
    return name


def check_at(at) -> str:
    """now, beat, bar, or a number of bars N (the Nth bar line from now; 1 is the same as bar)."""
    at = "now" if at in (None, "tick", "next") else at
    if isinstance(at, int) and not isinstance(at, bool):
        at = str(at)
    if isinstance(at, str) and at.isdigit() and int(at) >= 1:
        return "bar" if int(at) == 1 else at
    if at not in AT_CHOICES:
        raise LivecrepreError(f"bad --at {at!r}: expected now, beat, bar or a number of bars (e.g. 4)")
    return at


def check_velocity(velocity) -> int:
    if not (isinstance(velocity, int) and 1 <= velocity <= 127):
        raise LivecrepreError(f"velocity must be a whole number 1-127, not {velocity!r}")
    return velocity


def check_sigma(sigma, family: str, name: str) -> float:
    """A gesture voice's sigma-temperature."""
    if family != "gesture":
        raise LivecrepreError(f"voice {name} plays {family}: --sigma is for gesture (MDRNN) voices")
    value = as_number(sigma)
    if not math.isfinite(value) or value < 0:
        raise LivecrepreError(f"sigma must be 0 or more (0 the mixture's mean, 1 as trained), not {sigma!r}")
    return value


def check_fade(fade, voice, bar_ticks: int) -> int:
    """A crossfade's length in bars -> ticks; one line when the value or the voice cannot fade."""
    bars = as_number(fade)
    if not math.isfinite(bars) or bars <= 0 or bars > 64:
        raise LivecrepreError(f"--fade takes a number of bars above 0 (at most 64), not {fade!r}")
    if not voice.can_fade:
        raise LivecrepreError(f"voice {voice.name} plays {voice.family}: --fade is for melody, text "
                              f"and gesture voices; swap without it")
    return max(1, round(bars * bar_ticks))


def check_timescale(scale, family: str, name: str) -> float:
    """A gesture voice's time between gestures, as a multiple of the model's."""
    value = as_number(scale)
    if family != "gesture":
        raise LivecrepreError(f"voice {name} plays {family}: timescale is for gesture voices")
    if not 0.05 <= value <= 20:
        raise LivecrepreError(f"timescale must be 0.05-20 (2 plays half as fast), not {scale!r}")
    return value


def check_bars(bars) -> int | None:
    """A number of bars to show (None: all that is kept)."""
    if bars is not None and (not isinstance(bars, int) or bars < 1):
        raise LivecrepreError(f"--bars takes a whole number of bars, 1 or more, not {bars!r}")
    return bars


def check_quantum(quantum) -> float | None:
    """Link's quantum: the beats between the bar lines peers agree on (None: the beats per bar)."""
    if quantum is None:
        return None
    value = as_number(quantum)
    if not (math.isfinite(value) and 1 <= value <= 64 and value == int(value)):
        raise LivecrepreError(f"--quantum takes a whole number of beats, 1-64 (4: bar lines every 4 beats), "
                              f"not {quantum!r}")
    return value


def check_nudge(ms) -> float:
    """Milliseconds every route plays later than the clock (negative: earlier)."""
    value = as_number(ms)
    if not (math.isfinite(value) and -500 <= value <= 500):
        raise LivecrepreError(f"--nudge takes milliseconds from -500 to 500 (-25 plays 25 ms earlier), not {ms!r}")
    return value
