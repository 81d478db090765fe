"""Ableton Link: ticks on the session's beat timeline, shared with every peer on the network (the
binding Sardine, isobar and Renardo use: LinkPython-extern, module `link`).

Tick k is session beat k / ticks_per_beat + offset; the offset is chosen once, at the first bar line
after joining, so that our bar lines fall where the session's phase for the quantum is 0 (before that
bar line the ticks keep their own phase at the session's tempo: never a jump mid-bar). Each tick is
placed from the session's timeline just before it is produced, so a tempo set by a peer is followed
from the next tick, without a jump (Link keeps beat continuity across a change). Link's clock is its
own (CLOCK_MONOTONIC_RAW here), mapped to `timing.now()` by sampling both, again every second.
"""
from __future__ import annotations

import math

from ..errors import LivecrepreError
from .source import MAX_BPM, MIN_BPM, ClockSource
from .tempo_map import TempoMap
from .timing import now

RESYNC = 1.0  # seconds between samplings of Link's clock against timing.now()


class LinkClock(TempoMap, ClockSource):
    name = "link"

    def __init__(self, bpm: float, ticks_per_beat: int, origin: float, *, beats_per_bar: int = 4,
                 quantum: float | None = None):
        super().__init__(bpm, ticks_per_beat, origin)
        try:
            import link
        except ImportError:
            raise LivecrepreError("Ableton Link needs the LinkPython-extern package "
                                  "(pip install LinkPython-extern)") from None
        self.quantum = float(quantum) if quantum is not None else float(beats_per_bar)
        self.bar_ticks = ticks_per_beat * beats_per_bar
        try:
            self._link = link.Link(float(bpm))
            self._link.enabled = True
        except Exception as exc:  # noqa: BLE001 - said in one line; the internal clock plays on
            raise LivecrepreError(f"Ableton Link could not start ({type(exc).__name__}: {exc})") from None
        self._offset = 0.0  # Link seconds minus timing.now() seconds
        self._synced_at = -math.inf
        self._beat_of_tick0: float | None = None  # set at the bar line where the grid locks
        self._lock_tick: int | None = None
        self.phase_error = 0.0  # seconds: the last produced tick's time against the session's now
        self.clamped: float | None = None  # a session tempo outside 20-999, said once by the engine
        self._outside: float | None = None

    # -- Link's clock and timeline --------------------------------------------------------------
    def _sync(self) -> None:
        """Link's clock against timing.now(): the sample with the shortest read of three."""
        clock, best = self._link.clock(), None
        for _ in range(3):
            before = now()
            micros = clock.micros()
            after = now()
            if best is None or after - before < best[0]:
                best = (after - before, micros / 1e6 - (before + after) / 2)
        self._offset, self._synced_at = best[1], now()

    def _micros(self, t: float) -> int:
        return int(round((t + self._offset) * 1e6))

    def _time(self, micros: int) -> float:
        return micros / 1e6 - self._offset

    def _tempo(self, state) -> float:
        tempo = state.tempo()
        if MIN_BPM <= tempo <= MAX_BPM:
            self._outside = None
            return tempo
        if tempo != self._outside:  # said once per tempo
            self.clamped = self._outside = tempo
        return min(MAX_BPM, max(MIN_BPM, tempo))

    def beat_of(self, tick: float) -> float:
        """The session beat a tick falls on (once the grid is locked)."""
        return tick / self.ticks_per_beat + self._beat_of_tick0

    # -- the ClockSource -----------------------------------------------------------------------
    def take_over(self, previous: ClockSource, at_tick: int) -> None:
        if isinstance(previous, TempoMap):
            self.continue_from(previous, at_tick)
        self._beat_of_tick0 = self._lock_tick = None

    def follow(self, next_tick: int) -> None:
        if now() - self._synced_at > RESYNC:
            self._sync()
        state = self._link.captureAppSessionState()
        tempo = self._tempo(state)
        if self._beat_of_tick0 is None:
            if self._lock_tick is None:  # the first bar line from here
                self._lock_tick = -(-next_tick // self.bar_ticks) * self.bar_ticks
            if next_tick < self._lock_tick:  # our own phase until then, at the session's tempo
                self.move(next_tick, self.time_of(next_tick), tempo)
                return
            self._lock(state, next_tick)
        start = self._time(state.timeAtBeat(self.beat_of(next_tick), self.quantum))
        self.move(next_tick, start, tempo)
        if next_tick > 0:
            last = next_tick - 1
            self.phase_error = self.time_of(last) - self._time(state.timeAtBeat(self.beat_of(last), self.quantum))

    def _lock(self, state, tick: int) -> None:
        """Tick `tick` (a bar line) goes to the session beat of phase 0 nearest to where it would
        fall, or the one after when that is too soon (before the tick before it, or already past)."""
        predicted = self.time_of(tick)
        beat = state.beatAtTime(self._micros(predicted), self.quantum)
        target = round(beat / self.quantum) * self.quantum
        earliest = max(now(), self.time_of(tick - 1) + 0.5 * 60 / self.bpm_at(tick) / self.ticks_per_beat
                       if tick > 0 else now())
        while self._time(state.timeAtBeat(target, self.quantum)) < earliest:
            target += self.quantum
        self._beat_of_tick0 = target - tick / self.ticks_per_beat

    def set_bpm(self, bpm: float, at_tick: int, earliest: float | None = None) -> None:
        """The session's tempo, for every peer, from now (ticks follow from the next one)."""
        state = self._link.captureAppSessionState()
        state.setTempo(float(bpm), self._micros(now()))
        self._link.commitAppSessionState(state)
        self.move(at_tick, self.time_of(at_tick), bpm)

    def peers(self) -> int:
        return self._link.numPeers() if self._link is not None else 0

    def label(self) -> str:
        peers = self.peers()
        return f"link {peers} peer{'' if peers == 1 else 's'}"

    def info(self) -> dict:
        return {"peers": self.peers(), "quantum": self.quantum, "locked": self._beat_of_tick0 is not None,
                "phase_error_ms": self.phase_error * 1000}

    def close(self) -> None:
        """Leave the session (no callbacks were set: the binding exits cleanly without them)."""
        link, self._link = self._link, None
        if link is not None:
            link.enabled = False
