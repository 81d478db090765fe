"""Piano rolls: what voices played (or a recorded take) as a picture, one colour per voice.

Time runs left to right in bars (bar lines drawn), pitch bottom to top; each note is a rectangle
from its start to its end, as tall as a semitone. `notes_of_take` reads a MIDI file written by a
`file:` route (one track per voice); `Engine.pianoroll` draws from the voices' recent history.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import LivecrepreError

VOICE_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


@dataclass(frozen=True)
class RollNote:
    start: float  # in beats
    end: float
    pitch: int
    velocity: int = 100


def notes_of_take(path: str | Path) -> dict[str, list[RollNote]]:
    """The notes of a MIDI file by track (named after its voice), in beats."""
    import mido

    path = Path(path)
    if not path.is_file():
        raise LivecrepreError(f"{path}: no such MIDI file")
    try:
        midi = mido.MidiFile(path)
    except Exception as exc:  # noqa: BLE001 - mido raises several kinds on a broken file
        raise LivecrepreError(f"{path}: not a readable MIDI file ({type(exc).__name__})")
    voices: dict[str, list[RollNote]] = {}
    for number, track in enumerate(midi.tracks):
        name, t, sounding, notes = track.name or f"track {number + 1}", 0, {}, []
        for message in track:
            t += message.time
            if message.type == "note_on" and message.velocity:
                sounding[(message.channel, message.note)] = (t, message.velocity)
            elif message.type in ("note_on", "note_off") and (message.channel, message.note) in sounding:
                start, velocity = sounding.pop((message.channel, message.note))
                notes.append(RollNote(start / midi.ticks_per_beat, t / midi.ticks_per_beat, message.note, velocity))
        if notes:
            voices[name] = notes
    return voices


def draw(voices: dict[str, list[RollNote]], beats_per_bar: int = 4, title: str = "", since: float | None = None):
    """A matplotlib Figure of the notes (beats); `since` starts the picture at that beat."""
    import matplotlib.patches
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure  # no pyplot: nothing global, works without a display

    notes = [n for ns in voices.values() for n in ns]
    if not notes:
        raise LivecrepreError("nothing to draw: no notes")
    first = min(n.start for n in notes) if since is None else since
    first = beats_per_bar * (first // beats_per_bar)
    last = max(n.end for n in notes)
    low, high = min(n.pitch for n in notes) - 2, max(n.pitch for n in notes) + 2
    fig = Figure(figsize=(10, 4), dpi=100)
    FigureCanvasAgg(fig)  # drawn into memory: saved as PNG, shown inline, read back in tests
    ax = fig.add_subplot()
    for i, (voice, ns) in enumerate(voices.items()):
        colour = VOICE_COLOURS[i % len(VOICE_COLOURS)]
        for n in ns:
            if n.end > first:
                ax.add_patch(matplotlib.patches.Rectangle((n.start, n.pitch - 0.45), n.end - n.start, 0.9,
                                                          facecolor=colour, edgecolor="none", label=voice))
    for bar in range(int(first), int(last) + beats_per_bar, beats_per_bar):
        ax.axvline(bar, color="#bbbbbb", linewidth=0.8, zorder=0)
    ax.set_xlim(first, last)
    ax.set_ylim(low, high)
    bars = range(int(first), int(last) + 1, beats_per_bar)
    ax.set_xticks(list(bars), [str(b // beats_per_bar + 1) for b in bars])
    ax.set_xlabel("bar")
    ax.set_ylabel("MIDI pitch")
    handles = [matplotlib.patches.Patch(color=VOICE_COLOURS[i % len(VOICE_COLOURS)], label=voice)
               for i, voice in enumerate(voices)]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")  # beside, never on a note
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def notes_of_tokens(tokens, ticks_per_beat: int = 4) -> list[RollNote]:
    """A melody's tokens (the 130-token encoding, a token per tick) as notes, in beats."""
    from .encodings import tokens_to_notes

    return [RollNote(n.start / ticks_per_beat, n.end / ticks_per_beat, n.pitch) for n in tokens_to_notes(tokens)]


def notes_of_voices(voices: dict, ticks_per_beat: int, only: str | None = None) -> dict[str, list[RollNote]]:
    """The notes voices played (their recent history: the last few hundred events each), in beats.
    A voice asked for by name that has not played a note is one line."""
    chosen = {only: voices[only]} if only is not None else voices
    out = {}
    for name, voice in chosen.items():
        notes = [RollNote(p.start / ticks_per_beat, p.end / ticks_per_beat, p.pitch, p.velocity or voice.velocity)
                 for p in list(voice.history) if p.pitch is not None]
        if notes:
            out[name] = notes
    if not out:
        which = f"voice {only} has not" if only is not None else "no voice has"
        raise LivecrepreError(f"{which} played a note yet: nothing to draw")
    return out


def of_session(voices: dict, ticks_per_beat: int, beats_per_bar: int, voice: str | None = None,
               bars: int | None = None, take=None):
    """Engine.pianoroll: the roll of a recorded `take`, or of what `voice` (or every voice) played,
    its last `bars` bars (None: all that is kept)."""
    if take is not None:
        notes, title = notes_of_take(take), Path(take).name
    else:
        notes = notes_of_voices(voices, ticks_per_beat, voice)
        title = voice or ", ".join(notes)
    since = None
    if bars is not None:
        last = max(n.end for ns in notes.values() for n in ns)
        since = max(0.0, last - bars * beats_per_bar)
    return draw(notes, beats_per_bar, title, since)
