"""Recording notes at their tick times into a standard MIDI file (type 0, tempo changes kept)."""
from __future__ import annotations

import os
import threading
from pathlib import Path

import mido

FILE_TICKS_PER_BEAT = 480


class MidiFileRecorder:
    def __init__(self, path: str | Path, ticks_per_beat: int, start_tick: int, bpm: float):
        self.path = Path(path)
        self.scale = FILE_TICKS_PER_BEAT / ticks_per_beat
        self.start_tick = start_tick
        self._notes: list[list[int]] = []  # [on_tick, off_tick, pitch, velocity, channel]
        self._tempi: list[tuple[int, float]] = [(start_tick, bpm)]
        self._lock = threading.Lock()

    def add_note(self, on_tick: float, off_tick: float, pitch: int, velocity: int, channel: int = 0):
        """Ticks may be fractional (notes off the 16th grid, e.g. triplets)."""
        with self._lock:
            self._notes.append([on_tick, off_tick, pitch, velocity, channel])

    def tempo(self, tick: int, bpm: float) -> None:
        with self._lock:
            self._tempi.append((tick, bpm))

    def cut(self, tick: int) -> None:
        """End every note at `tick`: later notes are dropped, sounding ones are shortened."""
        with self._lock:
            self._notes = [[on, min(off, tick), *rest] for on, off, *rest in self._notes if on < tick]

    @property
    def note_count(self) -> int:
        return len(self._notes)

    def midi_file(self) -> mido.MidiFile:
        with self._lock:
            timed: list[tuple[int, int, mido.Message | mido.MetaMessage]] = []
            for tick, bpm in self._tempi:
                timed.append((tick, 0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm))))
            for on, off, pitch, velocity, channel in self._notes:
                timed.append((on, 2, mido.Message("note_on", note=pitch, velocity=velocity, channel=channel)))
                timed.append((off, 1, mido.Message("note_off", note=pitch, velocity=0, channel=channel)))
        timed.sort(key=lambda item: (item[0], item[1]))  # tempo, then offs, then ons at a tick
        track = mido.MidiTrack()
        last = 0
        for tick, _, message in timed:
            file_tick = round((max(tick, self.start_tick) - self.start_tick) * self.scale)
            track.append(message.copy(time=file_tick - last))
            last = file_tick
        track.append(mido.MetaMessage("end_of_track", time=0))
        midi = mido.MidiFile(type=0, ticks_per_beat=FILE_TICKS_PER_BEAT)
        midi.tracks.append(track)
        return midi

    def write(self) -> Path:
        """Write the whole take (atomically: a reader never sees half a file)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".part")
        self.midi_file().save(str(tmp))
        os.replace(tmp, self.path)
        return self.path
