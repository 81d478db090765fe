"""Piano rolls checked from the image data: the notes drawn are the notes played."""
from __future__ import annotations

import numpy as np
import pytest
from IPython.core.error import UsageError
from matplotlib.colors import to_rgb

import livecrepre as lc
from livecrepre.magics import engine_of
from livecrepre.pianoroll import VOICE_COLOURS, notes_of_take


def pixels(fig) -> tuple[np.ndarray, object]:
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3] / 255.0, fig.axes[0]


def colour_at(image, ax, beat: float, pitch: float) -> np.ndarray:
    """The colour drawn at (beat, pitch) in data coordinates."""
    x, y = ax.transData.transform((beat, pitch))
    return image[int(round(image.shape[0] - y)), int(round(x))]


def test_the_roll_of_a_take_draws_every_note_in_its_voices_colour(tmp_path):
    take = tmp_path / "take.mid"
    engine = lc.Engine(bpm=240, seed=4, echo_errors=False, log=False)
    engine.voice("lead", "melody", to=[f"file:{take}"])
    engine.voice("bass", "chorale", to=[f"file:{take}"])
    engine.play_offline()
    for tick in range(64):
        engine.step(tick)
    engine.stop()
    voices = notes_of_take(take)
    assert set(voices) == {"lead", "bass"} and all(len(ns) > 4 for ns in voices.values())
    image, ax = pixels(engine.pianoroll(take=take))
    for i, (voice, notes) in enumerate(voices.items()):
        want = np.array(to_rgb(VOICE_COLOURS[i]))
        for note in notes:
            centre = colour_at(image, ax, (note.start + note.end) / 2, note.pitch)
            assert np.abs(centre - want).max() < 0.05 or any(  # or the other voice's note on top
                np.abs(centre - np.array(to_rgb(c))).max() < 0.05 for c in VOICE_COLOURS[:2])
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    empty = [(beat, pitch) for beat in np.arange(x0 + 0.125, x1, 0.25) for pitch in range(int(y0) + 1, int(y1))
             if all(not (n.start - 0.1 <= beat <= n.end + 0.1 and abs(n.pitch - pitch) < 1.5)
                    for ns in voices.values() for n in ns) and beat % 4 > 0.2]  # (not on a bar line)
    assert len(empty) > 20
    for beat, pitch in empty[:: len(empty) // 20]:
        assert np.abs(colour_at(image, ax, beat, pitch) - 1.0).max() < 0.05, "no note there: background"


def test_the_roll_of_live_voices_and_the_magic(shell, tmp_path, capsys):
    engine = engine_of(shell)
    for line, message in [("", "no voice has played a note yet: nothing to draw"),  # no voice
                          ("lead", "unknown voice 'lead'")]:
        with pytest.raises(UsageError) as err:
            shell.run_line_magic("pianoroll", line)
        assert message in str(err.value)
    shell.run_line_magic("voice", "lead melody --to print")  # the clock stopped: not a note yet
    for line, message in [("lead", "voice lead has not played a note yet: nothing to draw"),
                          ("", "no voice has played a note yet: nothing to draw")]:
        with pytest.raises(UsageError) as err:
            shell.run_line_magic("pianoroll", line)
        assert str(err.value) == message
    shell.run_line_magic("crepre", "start --bpm 480 --seed 2")
    import time

    deadline = time.monotonic() + 10
    while engine.voices["lead"].notes_played < 12 and time.monotonic() < deadline:
        time.sleep(0.05)
    out = tmp_path / "roll.png"
    shell.run_line_magic("pianoroll", f"lead --bars 2 --out {out}")
    assert out.is_file() and out.stat().st_size > 5000
    assert f"piano roll: {out}" in capsys.readouterr().out
    fig = engine.pianoroll("lead", bars=2)
    image, ax = pixels(fig)
    low, high = ax.get_xlim()  # the voice plays on meanwhile: the notes the picture covers
    played = [p for p in list(engine.voices["lead"].history)
              if p.pitch is not None and low <= p.start / 4 and p.end / 4 <= high]
    assert len(played) >= 3
    for note in played:
        centre = colour_at(image, ax, (note.start + note.end) / 8, note.pitch)
        assert np.abs(centre - np.array(to_rgb(VOICE_COLOURS[0]))).max() < 0.05
    for line, message in [("nobody", "unknown voice"), ("lead --bars 0", "--bars takes"),
                          ("missing.mid", "no such MIDI file")]:
        with pytest.raises(UsageError, match=message):
            shell.run_line_magic("pianoroll", line)
    shell.run_line_magic("crepre", "stop")
