"""IPython magics: a thin skin over `Engine`. Each magic parses its arguments (magic_lines: quoted
as in a POSIX shell, so paths may have spaces) and calls the API.

Errors the performer can cause are shown as one line (IPython's UsageError); the music goes on.
"""
from __future__ import annotations

import sys

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from .engine import Engine
from .errors import LivecrepreError
from .magic_lines import UsageErrorParser, at_argument, is_route_word, parse_line, split_line
from .models import Model
from .status_view import StatusView, clock_text

@magics_class
class CrepreMagics(Magics):
    def __init__(self, shell, engine: Engine):
        super().__init__(shell)
        self.engine = engine
        self.jobs: list = []  # TrainingJob, in the order started
        self.matcher = None  # the tab-completion matcher installed with the magics

    # -- helpers ------------------------------------------------------------------------
    def _in_notebook(self) -> bool:
        return type(self.shell).__name__ == "ZMQInteractiveShell"

    def _call(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except LivecrepreError as exc:
            self.engine.report(str(exc), echo=False)  # for status and the toolbar; IPython shows it
            raise UsageError(str(exc)) from None

    def _user_object(self, name: str):
        return self.shell.user_ns.get(name) if name.isidentifier() else None

    def _model(self, spec: str):
        """A name in the user's namespace holding a model, else a shipped name or path."""
        obj = self._user_object(spec)
        from flax import nnx

        return obj if isinstance(obj, (Model, nnx.Module)) else spec

    def _routes(self, specs):
        """Route specs; a bare name of a callable in the user's namespace becomes that callable."""
        out = []
        for spec in specs or []:
            obj = self._user_object(spec)
            out.append(obj if callable(obj) and not is_route_word(spec) else spec)
        return out

    def _routes_text(self, name: str, asked: list[str], at: str) -> str:
        """The voice's routes once applied (failed ones left out), else what was asked for."""
        voice = self.engine.voices.get(name)
        routes = voice.routes if voice is not None and at == "now" else asked
        return ", ".join(map(str, routes)) or "no routes"

    def _lands(self, tick: int) -> str:
        if not self.engine.running:
            return " (clock stopped: %crepre start)"
        return f" from bar {self.engine.position(tick)}"

    # -- magics -------------------------------------------------------------------------
    @magic_arguments()
    @argument("action", choices=["start", "stop", "panic", "status"],
              help="start the clock (idempotent; unmutes after panic), stop all (notes off, "
                   "voices removed, recordings written), panic (silence now, clock keeps going), "
                   "status (tempo, position, voices, routes, recent errors)")
    @argument("--bpm", type=float, default=None, help="tempo in beats per minute (start)")
    @argument("--seed", type=int, default=None, help="seed every voice's random key (start)")
    @line_magic
    def crepre(self, line):
        """Start, stop, silence or inspect the livecrepre engine.

        %crepre start [--bpm B] [--seed S]
        %crepre stop | panic | status
        """
        args = parse_line(self.crepre, line)
        engine = self.engine
        if args.action == "start":
            print(self._call(engine.start, bpm=args.bpm, seed=args.seed))
        elif args.action == "stop":
            print(self._call(engine.stop))
        elif args.action == "panic":
            print(self._call(engine.panic))
        else:
            if self._in_notebook():  # a table
                from IPython.display import display

                display(StatusView(engine.status_info(), engine.status()))
            else:
                print(engine.status())
            for job in self.jobs:
                if job.running:
                    print(f"  training {job.status()}")

    @magic_arguments()
    @argument("bpm", help="beats per minute, 20-999")
    @at_argument()
    @line_magic
    def bpm(self, line):
        """Change tempo: %bpm 132 [--at beat|bar]. Lands on a tick boundary, no jump, no drift."""
        args = parse_line(self.bpm, line)
        tick = self._call(self.engine.set_bpm, args.bpm, at=args.at)
        print(f"{float(args.bpm):g} bpm{self._lands(tick)}")  # (checked by set_bpm: a number, 20-999)

    @magic_arguments()
    @argument("source", nargs="?", default=None,
              help="internal, link, or send (none: show the clock)")
    @argument("route", nargs="?", default=None, help="send: midi:PORT or osc://HOST:PORT/ADDRESS")
    @argument("--quantum", default=None, metavar="BEATS",
              help="link: beats between shared bar lines (default: the beats per bar)")
    @argument("--off", action="store_true", help="send: stop sending the clock there")
    @argument("--nudge", default=None, metavar="MS",
              help="every route plays MS ms later (negative: earlier), -500 to 500: the rig's latency")
    @line_magic
    def clock(self, line):
        """Where ticks fall in time, and where a clock is sent:

            %clock                          the source, tempo, position, where a clock goes
            %clock link [--quantum 4]       join the Ableton Link session on this machine's network
            %clock internal                 back to its own clock, at the same tempo and phase
            %clock send midi:Drums          MIDI clock out, from the next bar line (--off stops it)
            %clock send osc://127.0.0.1:9000/clock    a bundle a beat: i:bar i:beat f:bpm
            %clock --nudge -30              every route 30 ms earlier (a route's own: ?nudge=MS)

        With link the tempo is the session's (%bpm changes it for every peer), and bar lines fall
        where the session's phase is 0: the grid moves to the session's at the next bar line."""
        args = parse_line(self.clock, line)
        if args.nudge is not None:
            print(self._call(self.engine.nudge, args.nudge))
            if args.source is None:
                return
        if args.source is None:
            info = self.engine.status_info()
            print(f"clock {clock_text(info['clock'])}: {info['bpm']:g} bpm, bar {info['position']}")
            return
        if args.source == "send":
            if args.route is None:
                raise UsageError("%clock send takes a route: midi:PORT or osc://HOST:PORT/ADDRESS")
            print(self._call(self.engine.send_clock, args.route, off=args.off))
            return
        print(self._call(self.engine.use_clock, args.source, quantum=args.quantum))

    @magic_arguments()
    @argument("name", help="voice name, e.g. lead")
    @argument("model", nargs="?", default="melody",
              help="shipped model name, checkpoint path, or a model in your namespace (default melody)")
    @argument("--temp", type=float, default=1.0, help="sampling temperature, above 0 (default 1)")
    @argument("--to", nargs="+", default=None, metavar="ROUTE",
              help="osc://HOST:PORT/ADDRESS, midi:PORT[:CHANNEL], file:PATH.mid, print, or the "
                   "name of a callable (default print)")
    @argument("--velocity", type=int, default=100, help="MIDI velocity 1-127 (default 100)")
    @argument("--sigma", type=float, default=None,
              help="gesture (MDRNN) voices: sigma-temperature, 0 the mean, 1 as trained (default 1)")
    @argument("--off", action="store_true", help="remove the voice; its notes are released")
    @at_argument()
    @line_magic
    def voice(self, line):
        """Add or replace a voice, or remove one.

        %voice lead melody --temp 0.8 --to midi:Synth:1 osc://127.0.0.1:57120/lead --at bar
        %voice tune abc --to midi:Synth:2      (a char RNN writing ABC, played as notes)
        %voice words my_text.ckpt --to print   (a char RNN: words)
        %voice hand gesture --sigma 0.3 --to osc://127.0.0.1:5002/impsy   (MDRNN gestures)
        %voice lead --off
        """
        args = parse_line(self.voice, line)
        if args.off:
            tick = self._call(self.engine.voice_off, args.name, at=args.at)
            print(f"{args.name}: off{self._lands(tick)}")
            return
        tick = self._call(self.engine.voice, args.name, self._model(args.model),
                          temperature=args.temp, to=self._routes(args.to), at=args.at,
                          velocity=args.velocity, sigma=args.sigma)
        sigma = f", sigma {args.sigma:g}" if args.sigma is not None else ""
        print(f"{args.name}: {args.model} at temp {args.temp:g}{sigma} -> "
              f"{self._routes_text(args.name, args.to or ['print'], args.at)}{self._lands(tick)}")

    @magic_arguments()
    @argument("name", help="voice name")
    @argument("model", help="shipped model name, checkpoint path, or a model in your namespace")
    @argument("--fade", type=float, default=None, metavar="BARS",
              help="melody voices: crossfade, both models playing, the new one taking over in BARS bars")
    @at_argument()
    @line_magic
    def swap(self, line):
        """Hot-swap a voice's model; the clock keeps going: %swap lead my_reels.ckpt --at bar.

        %swap lead chorale --at 2 --fade 4    (from the second bar line, over four bars)

        Loading and compiling happen before the swap; the exchange lands on the tick, beat, bar or
        Nth bar line. The new model is primed with the voice's recent line and continues it.
        """
        args = parse_line(self.swap, line)
        tick = self._call(self.engine.swap, args.name, self._model(args.model), at=args.at, fade=args.fade)
        fade = f", fading in over {args.fade:g} bars" if args.fade else ""
        print(f"{args.name}: {args.model}{self._lands(tick)}{fade}")

    @magic_arguments()
    @argument("name", help="voice name")
    @argument("temperature", nargs="?", default=None,
              help="above 0: 0.5 calm, 1 as trained, 1.5 wild (gesture voices: the pi-temperature)")
    @argument("--sigma", default=None,
              help="gesture (MDRNN) voices: sigma-temperature, 0 the mean, 1 as trained")
    @at_argument()
    @line_magic
    def temp(self, line):
        """Set a voice's sampling temperature: %temp lead 1.3 [--at beat|bar]. Never recompiles.

        %temp hand 0.8 --sigma 0.2    (a gesture voice: pi- and sigma-temperature)
        """
        args = parse_line(self.temp, line)
        tick = self._call(self.engine.temp, args.name, args.temperature, at=args.at, sigma=args.sigma)
        said = ([f"temp {float(args.temperature):g}"] if args.temperature is not None else []) + \
               ([f"sigma {float(args.sigma):g}"] if args.sigma is not None else [])
        print(f"{args.name}: {', '.join(said)}{self._lands(tick)}")

    @magic_arguments()
    @argument("name", help="voice name")
    @argument("routes", nargs="+", metavar="ROUTE",
              help="osc://HOST:PORT/ADDRESS, midi:PORT[:CHANNEL], file:PATH.mid, print, or a callable's name")
    @at_argument()
    @line_magic
    def route(self, line):
        """Replace where a voice's notes go: %route bass midi:Synth:2 file:takes/set.mid.

        Routes you keep carry on (a file keeps recording); routes you drop release their notes.
        """
        args = parse_line(self.route, line)
        tick = self._call(self.engine.route, args.name, *self._routes(args.routes), at=args.at)
        print(f"{args.name} -> {self._routes_text(args.name, args.routes, args.at)}{self._lands(tick)}")


    @magic_arguments()
    @argument("name", help="voice name")
    @argument("source", nargs="?", default=None,
              help="osc://127.0.0.1:PORT/ADDRESS (IMPSY: osc://127.0.0.1:5000/interface), "
                   "midi:PORT[:CHANNEL] (a MIDI input, or virtual), or file:PATH.mid played in real time")
    @argument("--mode", default=None, choices=["callresponse", "polyphony", "battle", "useronly"],
              help="callresponse (default): answers when you pause; polyphony: plays along, "
                   "conditioned on you; battle: its own line; useronly: silent, input only logged")
    @argument("--idle", default=None, help="seconds of silence before a callresponse voice answers (default 0.5)")
    @argument("--cc", default=None, help="gesture voices from MIDI: controllers that are x1..xn, e.g. 1,74")
    @argument("--log", default=None, help="the IMPSY-shaped CSV log (default logs/NAME-DATE.csv)")
    @argument("--off", action="store_true", help="stop listening; the voice plays its own line again")
    @line_magic
    def listen(self, line):
        """Play with the model: a voice listens to an input and answers, conditioned on what you play.

        %listen hand osc://127.0.0.1:5000/interface --mode callresponse --idle 0.3
        %listen lead midi:Keyboard --mode polyphony
        %listen lead file:phrase.mid               (a MIDI file played as if by a performer)
        %listen hand --mode battle                 (change the mode live)
        %listen hand --off

        Every input and every event the voice plays go to an IMPSY-shaped CSV log
        (timestamp,source,x1,...,xn): %train mdrnn --data THAT.csv --out mine.ckpt trains on it.
        """
        args = parse_line(self.listen, line)
        cc = None
        if args.cc is not None:
            try:
                cc = [int(n) for n in args.cc.split(",")]
            except ValueError:
                raise UsageError(f"--cc takes controller numbers separated by commas (e.g. 1,74), "
                                 f"not {args.cc!r}") from None
        print(self._call(self.engine.listen, args.name, args.source, mode=args.mode, idle=args.idle,
                         off=args.off, log=args.log, cc=cc))

    @magic_arguments()
    @argument("what", nargs="?", default=None, help="a voice, or a recorded take (PATH.mid); default every voice")
    @argument("--bars", type=int, default=None, help="only the last N bars")
    @argument("--out", default=None, help="also save it as this PNG (in a terminal: takes/pianoroll-....png)")
    @line_magic
    def pianoroll(self, line):
        """A piano roll of what a voice played (or every voice, or a recorded take), one colour per voice.

        %pianoroll                  every voice, what each played recently
        %pianoroll lead --bars 8    the last 8 bars of lead
        %pianoroll takes/set.mid    a recorded take

        In a notebook it is shown inline; in a terminal it is saved as a PNG and its path printed.
        """
        import io
        import time

        from . import pianoroll

        args = parse_line(self.pianoroll, line)
        is_take = args.what is not None and args.what.lower().endswith((".mid", ".midi"))
        fig = self._call(self.engine.pianoroll, None if is_take else args.what, args.bars,
                         take=args.what if is_take else None)
        in_notebook = self._in_notebook()
        out = args.out or (None if in_notebook else
                           f"takes/pianoroll-{'take' if is_take else args.what or 'all'}-{time.strftime('%H%M%S')}.png")
        if out:
            print(f"piano roll: {pianoroll.save(fig, out)}")
        if in_notebook:
            from IPython.display import Image, display

            png = io.BytesIO()
            fig.savefig(png, format="png")
            display(Image(data=png.getvalue()))

    @magic_arguments()
    @argument("name", help="sketches/NAME.py (or a path to a .py file); in a cell, the sketch's name")
    @argument("--voice", default=None, help="only this voice (default: every voice)")
    @argument("--off", action="store_true", help="detach the sketch")
    @line_cell_magic
    def sketch(self, line, cell=None):
        """Attach a live-edited sketch: saving its file reloads it at the next bar line.

        %sketch octaves --voice lead     (sketches/octaves.py)
        %sketch octaves --off

        As a cell magic, the cell is the sketch; running the cell again replaces it at the next bar:

        %%sketch up --voice lead
        def transform(note):
            return note.but(pitch=note.pitch + 12)

        A sketch defines transform(note) (return a note, a list of notes, or None) and/or
        every_bar(bar, engine). If it fails to compile or raises, one line names the file and line,
        and the previous version keeps playing.
        """
        args = parse_line(self.sketch, line)
        print(self._call(self.engine.sketch, args.name, voice=args.voice, source=cell, off=args.off))

    @line_magic
    def train(self, line):
        """Train a model in a background process while the music keeps playing.

        %train melody|char|mdrnn --data riffs.data --out riffs.ckpt [--epochs 20] [--from MODEL]
               [--units --layers --embed --seq-len --batch --lr --seed --patience --mixtures]
        %train status      what each training is doing
        %train stop        stop after the current step; the best epoch so far is still written

        Progress lines appear as epochs finish; when done, %swap VOICE riffs.ckpt brings it in.
        """
        from .cli import prepare_training, train_parser
        from .loss_curves import LiveLossCurve
        from .training_job import TrainingJob

        words = split_line(line, "train")
        if words in (["status"], ["stop"]):
            if not self.jobs:
                print("no training started (%train melody --data D --out CKPT)")
            for job in self.jobs:
                if words == ["stop"] and job.running:
                    job.stop()
                print(job.status())
            return

        args = train_parser(UsageErrorParser, prog="%train").parse_args(words)
        dataset, _, _, name = self._call(prepare_training, args)
        print(f"training {name} in the background ({len(dataset.split(False))} pieces, "
              f"{len(dataset.split(True))} held out); %train status to follow it")
        curve = None
        if self._in_notebook():  # the loss curve in this cell
            curve = LiveLossCurve(name)
            curve.start(f"{name}: the loss curve appears here as each epoch ends")
        # checked here, trained in a child process; its lines drawn above the prompt in a terminal
        self.jobs.append(TrainingJob(words, args.out, name, report=self._print_line, on_epoch=curve))

    def _print_line(self, line: str) -> None:
        print(line, file=self.engine.print_stream or sys.stdout, flush=True)


_loaded: dict[int, CrepreMagics] = {}


def load_ipython_extension(ipython) -> None:
    if id(ipython) in _loaded:
        return
    engine = Engine()
    magics = CrepreMagics(ipython, engine)
    ipython.register_magics(magics)
    _loaded[id(ipython)] = magics
    from . import completion, stage

    magics.matcher = completion.install(ipython, engine)
    stage.install(ipython, engine, magics.jobs)
    ipython.user_ns.setdefault("engine", engine)


def unload_ipython_extension(ipython) -> None:
    magics = _loaded.pop(id(ipython), None)
    if magics is not None:
        from .completion import uninstall

        uninstall(ipython, magics.matcher)
        magics.engine.stop()


def engine_of(ipython) -> Engine:
    """The engine the extension made for this shell (for scripts and tests)."""
    return _loaded[id(ipython)].engine
