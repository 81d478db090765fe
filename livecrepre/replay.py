"""Replay: a performance log re-rendered, offline and faster than real time, to the same events.

The engine is stepped tick by tick instead of by the clock. Before each tick the controls the log
says took effect there are given through the engine's own API (voice, swap, temp, route, bpm,
sketch versions from their kept sources), so the voices meet them at the same ticks, with the same
PRNG keys (from the logged seed), and play the same notes. Sketches' every_bar hooks are not run:
what they changed went through the engine and is in the log. Transforms run without a deadline;
the ticks the live session skipped (logged) are skipped again.

Routes: without `to`, each file route of the session is rendered again into `out`, under its own
file name; the other routes (OSC, MIDI, print) are left out. With `to`, every voice plays into that
one route; a route that plays live (osc://, midi:, print) makes the replay run in real time.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from .clock import now, sleep_until
from .engine import Engine
from .errors import LivecrepreError
from .models import Model, load_model
from .performance_log import MODEL_SUFFIX, model_checksum, weights_checksum

HEADER = re.compile(r"# livecrepre performance log, .*, seed (\d+), ([\d.]+) bpm, "
                    r"(\d+) ticks per beat, (\d+) beats per bar")
TAIL_BARS = 4  # how far a log without a stop line (a session that crashed) is played past its end


@dataclass
class Control:
    tick: int
    words: list[str]
    checksum: str  # the last checksum of the line's comment ('' when none)
    line: int  # in the log, for messages


@dataclass
class Run:
    """One start-to-stop of a session."""
    seed: int
    bpm: float
    ticks_per_beat: int
    beats_per_bar: int
    controls: list[Control] = field(default_factory=list)


@dataclass
class Replayed:
    ticks: int
    seconds: float  # of music
    wall: float  # seconds the replay took
    written: list[str]
    left_out: list[str]
    paced: bool


def read_log(path: str | Path) -> list[Run]:
    path = Path(path)
    if not path.is_file():
        raise LivecrepreError(f"no performance log {path}")
    runs: list[Run] = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        header = HEADER.match(line)
        if header:
            seed, bpm, per_beat, per_bar = header.groups()
            runs.append(Run(int(seed), float(bpm), int(per_beat), int(per_bar)))
            continue
        if line.startswith("#"):
            continue
        if not runs:
            raise LivecrepreError(f"{path.name}: not a livecrepre performance log (line {number} "
                                  f"comes before a header line)")
        command, _, comment = line.partition("  # ")
        try:
            tick, _position, rest = command.split(None, 2)
            words = shlex.split(rest)
            control = Control(int(tick), words, comment.split()[-1] if comment.strip() else "", number)
        except ValueError:
            raise LivecrepreError(f"{path.name} line {number}: not a control line: {line.strip()[:60]!r}")
        runs[-1].controls.append(control)
    if not runs:
        raise LivecrepreError(f"{path.name}: not a livecrepre performance log (no header line)")
    return runs


class _Replay:
    def __init__(self, log: Path, run: Run, to, out: Path):
        self.log, self.run, self.to, self.out = log, run, to, out
        self.files = log.with_name(log.stem + ".files")
        self.left_out: list[str] = []
        self.written: set[str] = set()  # files the replay records into
        self._models: dict[str, Model] = {}
        self.paced = to is not None and not (isinstance(to, str) and to.startswith("file:"))
        self.engine = Engine(run.bpm, run.seed, run.ticks_per_beat, run.beats_per_bar, log=False)

    # -- what a logged line names ---------------------------------------------------------------
    def routes(self, specs: str) -> list:
        if specs == "-":
            return []
        if self.to is not None:
            kept = [self.to]
        else:
            kept = [f"file:{self.out / Path(spec[len('file:'):]).name}"
                    for spec in specs.split(",") if spec.startswith("file:")]
            self.left_out += [spec for spec in specs.split(",")
                              if not spec.startswith("file:") and spec not in self.left_out]
        self.written.update(spec[len("file:"):] for spec in kept
                            if isinstance(spec, str) and spec.startswith("file:"))
        return kept

    def model(self, ref: str, control: Control) -> Model:
        if ref not in self._models:
            kept = ref.startswith("@")  # made in Python: kept beside the log, named by its weights
            path = self.files / f"{ref[1:]}{MODEL_SUFFIX}"
            if kept and not path.is_file():
                raise LivecrepreError(f"the model {ref} kept beside the log is not in {self.files}")
            model = load_model(path if kept else ref)
            checksum, logged = ((weights_checksum(model), ref[1:]) if kept
                                else (model_checksum(model), control.checksum))
            if logged and checksum != logged:
                raise LivecrepreError(f"model {ref} has changed since the session (checksum "
                                      f"{checksum}, the log has {logged}): "
                                      f"a replay would not play the same notes")
            self._models[ref] = model
        return self._models[ref]

    def sketch_source(self, checksum: str) -> str:
        path = self.files / f"{checksum}.py"
        if not path.is_file():
            raise LivecrepreError(f"the sketch source {checksum} is not in {self.files}")
        return path.read_text()

    # -- one control ----------------------------------------------------------------------------
    def apply(self, control: Control) -> int | None:
        """Give the control to the engine; returns the cut tick when it is the run's stop."""
        engine, words = self.engine, control.words
        verb, args = words[0], words[1:]
        options = dict(word.split("=", 1) for word in args if "=" in word)
        plain = [word for word in args if "=" not in word]
        if verb == "voice" and plain[1:] == ["--off"]:
            engine.voice_off(plain[0])
        elif verb == "voice":
            sigma = float(options["sigma"]) if "sigma" in options else None
            engine.voice(plain[0], self.model(plain[1], control), float(options["temp"]),
                         to=self.routes(options["to"]), velocity=int(options["velocity"]), sigma=sigma)
        elif verb == "swap":
            fade = float(options["fade"]) if "fade" in options else None
            engine.swap(plain[0], self.model(plain[1], control), fade=fade)
        elif verb == "temp":
            engine.temp(plain[0], float(plain[1]) if len(plain) > 1 else None,
                        sigma=float(options["sigma"]) if "sigma" in options else None)
        elif verb == "route":
            engine.route(plain[0], self.routes(plain[1]))
        elif verb == "bpm":  # the performer's, or one a clock source brought (from=link)
            engine.set_bpm(float(plain[0]))
        elif verb in ("clock", "nudge"):  # replayed on the internal clock (the tempi it brought are
            pass  # bpm lines); clocks sent and nudges are live timing, not what was played
        elif verb == "sketch":
            self.sketch(plain, options, control.tick)
        elif verb == "listen":  # live input is not replayed: the voice plays its own line
            heard = f"the input voice {plain[0]} listened to"
            if heard not in self.left_out:
                self.left_out.append(heard)
        elif verb == "reset":
            engine.reset(plain[0])
        elif verb == "pause":
            engine.pause(plain[0], plain[1] == "1")
        elif verb == "timescale":
            engine.timescale(plain[0], float(plain[1]))
        elif verb == "panic":
            engine.panic(cut_tick=int(options["cut"]))
        elif verb == "unmute":
            engine.unmute()
        elif verb == "stop":
            return int(options["cut"])
        else:
            raise LivecrepreError(f"unknown command {verb!r}")
        return None

    def sketch(self, plain: list[str], options: dict, tick: int) -> None:
        engine, name = self.engine, plain[0]
        if plain[1:] == ["--off"]:
            engine.sketch(name, off=True)
        elif plain[1:2] == ["skipped"]:
            engine.sketchbook.replay_skips.add((tick, f"sketch {name} skipped {plain[2]}"))
        else:
            voice = None if options["voice"] == "*" else options["voice"]
            source = self.sketch_source(options["source"])
            if "version" not in options and name in engine.sketches:  # attached anew: at once
                engine.sketch(name, off=True)
            engine.sketch(name, voice=voice, source=source)  # a version: taken at this bar line

    # -- the run ------------------------------------------------------------------------------
    def play(self) -> tuple[int, float]:
        """Step every tick of the run; returns (ticks, seconds of music)."""
        engine = self.engine
        by_tick: dict[int, list[Control]] = {}
        for control in self.run.controls:
            by_tick.setdefault(control.tick, []).append(control)
        cut = None
        last = max(by_tick, default=0)
        end = last + TAIL_BARS * engine.ticks_per_beat * engine.beats_per_bar  # no stop line: a crash
        engine.play_offline(paced=self.paced)
        tick = 0
        while tick < end and cut is None:
            for control in by_tick.get(tick, []):
                try:
                    stopped_at = self.apply(control)
                except (LivecrepreError, KeyError, IndexError, ValueError) as exc:
                    engine.stop(cut_tick=tick)
                    problem = exc if isinstance(exc, LivecrepreError) else f"cannot read {' '.join(control.words)!r}"
                    raise LivecrepreError(f"{self.log.name} line {control.line}: {problem}") from None
                cut = stopped_at if stopped_at is not None else cut
            if cut is None:
                if self.paced:
                    sleep_until(engine.clock.time_of(tick) - engine.lookahead)
                engine.step(tick)
                tick += 1
        cut = tick if cut is None else cut
        seconds = engine.clock.time_of(cut) - engine.clock.time_of(0)
        if self.paced:  # let the last notes sound before the routes close
            sleep_until(engine.clock.time_of(cut))
        return cut, seconds


def replay(log: str | Path, to=None, out: str | Path | None = None) -> Replayed:
    """Re-render a performance log (every run in it, in order); see the module's doc."""
    log = Path(log)
    runs = read_log(log)
    out = Path(out) if out is not None else log.with_name(log.stem + ".replay")
    started = now()
    ticks, seconds, written, left_out, paced = 0, 0.0, [], [], False
    for run in runs:
        job = _Replay(log, run, to, out)
        run_ticks, run_seconds = job.play()
        job.engine.stop(cut_tick=run_ticks)
        written += sorted(path for path in job.written if Path(path).is_file())
        left_out += [spec for spec in job.left_out if spec not in left_out]
        ticks, seconds, paced = ticks + run_ticks, seconds + run_seconds, paced or job.paced
    return Replayed(ticks, seconds, now() - started, list(dict.fromkeys(written)), left_out, paced)


def describe(result: Replayed) -> str:
    speed = ("in real time" if result.paced else
             f"in {result.wall:.1f} s ({result.seconds / max(result.wall, 1e-9):.0f}x real time)")
    lines = [f"replayed {result.ticks} ticks ({result.seconds:.1f} s of music) {speed}"]
    if result.written:
        lines.append(f"wrote {', '.join(result.written)}")
    if result.left_out:
        lines.append(f"left out {', '.join(result.left_out)} (replay to them with --to ROUTE)")
    return "\n".join(lines)
