"""Recording notes at their tick times into a standard MIDI file, tempo changes kept.

One voice makes a type 0 file; several voices sharing the file make a type 1 file with a track per
voice (named after it), after a tempo track."""
from __future__ import annotations

import os
import threading
from pathlib import Path

import mido

FILE_TICKS_PER_BEAT = 480
MAX_TEMPO = 0xFFFFFF  # microseconds per beat: the largest a MIDI file's tempo field holds (3.6 bpm)
CHARSET = "utf-8"  # of track names (mido's default, latin-1, cannot hold every voice name)


class MidiFileRecorder:
    def __init__(self, path: str | Path, ticks_per_beat: int, start_tick: int, bpm: float):
        self.path = Path(path)
        self.scale = FILE_TICKS_PER_BEAT / ticks_per_beat
        self.start_tick = start_tick
        self._notes: list[list] = []  # [on_tick, off_tick, pitch, velocity, channel, voice]
        self._tempi: list[tuple[int, float]] = [(start_tick, bpm)]
        self._lock = threading.Lock()
        self._begun = False

    def begin(self, tick: int, bpm: float) -> None:
        """The take starts at `tick`, where its first voice starts sending to it (once; the file's
        time 0 is there)."""
        with self._lock:
            if not self._begun:
                self._begun = True
                self.start_tick, self._tempi = tick, [(tick, bpm)]

    def add_note(self, on_tick: float, off_tick: float, pitch: int, velocity: int, channel: int = 0,
                 voice: str = ""):
        """Ticks may be fractional (notes off the 16th grid, e.g. triplets)."""
        with self._lock:
            self._notes.append([on_tick, off_tick, pitch, velocity, channel, voice])

    def tempo(self, tick: int, bpm: float) -> None:
        with self._lock:
            self._tempi.append((tick, bpm))

    def cut(self, tick: int, voice: str | None = None) -> None:
        """End every note (of `voice`, or of every voice) at `tick`: later ones are dropped,
        sounding ones are shortened."""
        with self._lock:
            kept = []
            for note in self._notes:
                if voice is not None and note[5] != voice:
                    kept.append(note)
                elif note[0] < tick:
                    kept.append([note[0], min(note[1], tick), *note[2:]])
            self._notes = kept

    @property
    def note_count(self) -> int:
        return len(self._notes)

    def midi_file(self) -> mido.MidiFile:
        """The take as a MIDI file. Whatever was recorded, the file can be written: tempi are kept
        in the MIDI tempo field's range, a note that is not a MIDI note is left out, and track
        names are UTF-8 (a voice may be called `bж`)."""
        with self._lock:
            tempi = [(tick, 0, mido.MetaMessage("set_tempo", tempo=min(MAX_TEMPO, mido.bpm2tempo(bpm))))
                     for tick, bpm in self._tempi]
            by_voice: dict[str, list] = {}
            for on, off, pitch, velocity, channel, voice in self._notes:
                try:
                    note_on = mido.Message("note_on", note=pitch, velocity=velocity, channel=channel)
                    note_off = mido.Message("note_off", note=pitch, velocity=0, channel=channel)
                except (TypeError, ValueError):
                    continue
                timed = by_voice.setdefault(voice, [])
                timed += [(on, 2, note_on), (off, 1, note_off)]
        if len(by_voice) <= 1:
            midi = mido.MidiFile(type=0, ticks_per_beat=FILE_TICKS_PER_BEAT, charset=CHARSET)
            midi.tracks.append(self._track(tempi + next(iter(by_voice.values()), [])))
            return midi
        midi = mido.MidiFile(type=1, ticks_per_beat=FILE_TICKS_PER_BEAT, charset=CHARSET)
        midi.tracks.append(self._track(tempi))
        for voice, timed in by_voice.items():
            midi.tracks.append(self._track([(self.start_tick, -1, mido.MetaMessage("track_name", name=voice))]
                                           + timed))
        return midi

    def _track(self, timed: list) -> mido.MidiTrack:
        timed.sort(key=lambda item: (item[0], item[1]))  # name, tempo, then offs, then ons at a tick
        track = mido.MidiTrack()
        last = 0
        for tick, _, message in timed:
            file_tick = round((max(tick, self.start_tick) - self.start_tick) * self.scale)
            track.append(message.copy(time=file_tick - last))
            last = file_tick
        track.append(mido.MetaMessage("end_of_track", time=0))
        return track

    def write(self) -> Path:
        """Write the whole take (atomically: a reader never sees half a file)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".part")
        try:
            self.midi_file().save(str(tmp))
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)
        return self.path
