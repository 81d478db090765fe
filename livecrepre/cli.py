"""The `livecrepre` command: an IPython session with the extension, or a subcommand:

    livecrepre demo ...                      play a model from a cold start
    livecrepre data from-midi DIR --out D    a dataset from your MIDI files (also: folk, chorales,
                                             essen, abc, text FILE, gestures LOG.csv)
    livecrepre train melody|char|mdrnn --data D --out CKPT [...]
    livecrepre eval CKPT --data D            held-out NLL vs a Kneser-Ney n-gram; musical measures
    livecrepre replay LOG [--to ROUTE]       a performance log re-rendered, event for event
"""
from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import time

BANNER = ("livecrepre: the engine is ready. Try\n"
          "  %crepre start --bpm 120 --seed 7\n"
          "  %voice lead melody --temp 0.9 --to print\n"
          "  %crepre status     (%voice? %swap? %temp? %route? for help)\n")


def seconds_since_process_start() -> float | None:
    """Wall seconds since this process started (Linux), so cold start counts Python and imports."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        return time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def demo(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="livecrepre demo",
                                     description="Play a model from a cold start, printing each note.")
    parser.add_argument("--bars", type=float, default=4, help="how long to play (default 4)")
    parser.add_argument("--bpm", default=120, help="tempo (default 120)")
    parser.add_argument("--model", default="melody", help="shipped name or checkpoint (default melody)")
    parser.add_argument("--temp", default=1.0, help="sampling temperature (default 1)")
    parser.add_argument("--to", nargs="+", default=[], metavar="ROUTE",
                        help="extra routes besides print, e.g. file:takes/demo.mid")
    parser.add_argument("--seed", type=int, default=None, help="seed for a reproducible demo")
    parser.add_argument("--quiet", action="store_true", help="do not print each note")
    args = parser.parse_args(argv)
    already = seconds_since_process_start() or 0.0  # interpreter start-up and imports so far
    started = time.perf_counter() - already

    from .engine import Engine

    first_note: list[float] = []
    engine = Engine(bpm=args.bpm, seed=args.seed)
    routes = ([] if args.quiet else ["print"]) + args.to
    routes.append(lambda event: first_note or first_note.append(time.perf_counter()))
    engine.voice("demo", args.model, temperature=args.temp, to=routes)
    print(f"playing {args.model} for {args.bars:g} bars at {engine.bpm:g} bpm, seed {engine.seed}")
    engine.start()
    seconds = args.bars * engine.beats_per_bar * 60.0 / engine.bpm
    try:
        time.sleep(seconds + engine.lookahead + 0.1)
    except KeyboardInterrupt:
        pass
    voice = engine.voices.get("demo")
    notes = voice.notes_played if voice else 0
    print(engine.stop())
    if first_note:
        print(f"{notes} notes; first note {first_note[0] - started:.2f} s after the process started")
    return 0


def data(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="livecrepre data",
                                     description="Make a dataset (split by piece) to train on.")
    sub = parser.add_subparsers(dest="source", required=True)
    midi = sub.add_parser("from-midi", help="melody: a folder of your MIDI files (top line of each)")
    midi.add_argument("folder")
    midi.add_argument("--track", type=int, default=None, help="use only this track (from 1)")
    midi.add_argument("--channel", type=int, default=None, help="use only this channel (1-16)")
    corpora = [sub.add_parser("folk", help="melody: O'Neill's 1850 + Ryan's Mammoth (music21 corpus)"),
               sub.add_parser("chorales", help="melody: Bach chorale soprano lines (music21 corpus)"),
               sub.add_parser("essen", help="melody: the Essen folksong ABC files (music21 corpus)"),
               sub.add_parser("abc", help="char: the ABC text of O'Neill + Ryan, for a model that plays music")]
    text = sub.add_parser("text", help="char: a UTF-8 text file (ABC tunes in it play as music)")
    text.add_argument("file")
    gestures = sub.add_parser("gestures", help="mdrnn: IMPSY-shaped CSV logs (timestamp,source,x1,...,xn)")
    gestures.add_argument("logs", nargs="+")
    gestures.add_argument("--source", dest="source_rows", default="interface",
                          help="rows of this source (default interface; 'all' for every row)")
    for p in [midi, text, gestures] + corpora:
        p.add_argument("--out", required=True, help="dataset file to write, e.g. riffs.data")
        p.add_argument("--validation", type=float, default=None, help="share held out, by piece")
    args = parser.parse_args(argv)

    from . import data as builders, gesture_data, text_data

    split = {} if args.validation is None else {"validation_fraction": args.validation}
    if args.source == "from-midi":
        dataset = builders.build_midi_dataset(args.folder, args.track, args.channel, **split)
    elif args.source == "folk":
        dataset = builders.build_folk_dataset(**split)
    elif args.source == "essen":
        dataset = builders.build_folk_dataset(collections=builders.ESSEN_COLLECTIONS, **split)
    elif args.source == "chorales":
        dataset = builders.build_chorale_dataset(**split)
    elif args.source == "abc":
        dataset = text_data.build_abc_text_dataset(**split)
    elif args.source == "text":
        dataset = text_data.build_text_dataset(args.file, **split)
    else:
        source = None if args.source_rows == "all" else args.source_rows
        dataset = gesture_data.build_gesture_dataset(args.logs, source, **split)
    dataset.save(args.out)
    print(f"wrote {args.out}: a {dataset.kind} dataset, {len(dataset.split(False))} pieces to train on, "
          f"{len(dataset.split(True))} held out")
    return 0


def per_kind(option: str) -> str:
    from .training import KIND_DEFAULTS

    said = [f"{kind} {values[option]}" for kind, values in KIND_DEFAULTS.items() if option in values]
    return f"; {', '.join(said)}" if said else ""


def train_parser(parser_class=argparse.ArgumentParser, prog: str = "livecrepre train"):
    """The options of `livecrepre train` (and of `%train`, which takes the same)."""
    from .training import TrainConfig

    defaults = TrainConfig()
    parser = parser_class(prog=prog, description=(
        "Train a model on a dataset; writes CKPT, CKPT.json (metadata) and CKPT.png (loss curve). "
        "Ctrl-C stops and keeps the best epoch so far."))
    parser.add_argument("kind", choices=["melody", "char", "mdrnn"],
                        help="model family: melody (melody RNN), char (char RNN on text or ABC), "
                             "mdrnn (mixture-density RNN on gestures)")
    parser.add_argument("--data", required=True, help="dataset from `livecrepre data` (mdrnn: or an interaction log, LOG.csv)")
    parser.add_argument("--out", required=True, help="checkpoint to write, e.g. riffs.ckpt")
    parser.add_argument("--from", dest="init", default=None, metavar="MODEL",
                        help="start from this model (shipped name or checkpoint): fine-tune or resume")
    for name, help_ in [("units", "LSTM units"), ("layers", "LSTM layers"), ("embed", "embedding size"),
                        ("seq_len", "window length in steps"), ("batch", "parallel streams"),
                        ("epochs", "passes over the data"), ("seed", "random seed"),
                        ("mixtures", "Gaussian mixtures (mdrnn)")]:
        parser.add_argument("--" + name.replace("_", "-"), type=int, default=None,
                            help=f"{help_} (default {getattr(defaults, name)}{per_kind(name)})")
    parser.add_argument("--lr", type=float, default=None, help=f"learning rate (default {defaults.lr})")
    parser.add_argument("--patience", type=int, default=3,
                        help="stop when held-out loss has not improved for this many epochs (default 3)")
    parser.add_argument("--progress", choices=("bar", "lines", "none"), default="bar",
                        help="a progress bar (default), step counts as lines (what %%train reads), "
                             "or epoch lines only")
    return parser


GESTURE_LOG_PHRASE = 64  # gestures per piece when training straight from a log (a minute makes ~20)


def prepare_training(args):
    """(dataset, config, initial model or None, name) from parsed train options; errors are one line."""
    from .data import Dataset
    from .models import load_model
    from .training import KIND_DEFAULTS, TrainConfig, check_trainable

    if str(args.data).lower().endswith(".csv"):  # an interaction log: its performer's gestures
        from .gesture_data import build_gesture_dataset

        dataset = build_gesture_dataset(args.data, phrase_events=GESTURE_LOG_PHRASE, report=lambda line: None)
    else:
        dataset = Dataset.load(args.data)
    init = load_model(args.init) if args.init else None
    check_trainable(args.kind, dataset, init)
    given = {k: v for k, v in vars(args).items() if k in TrainConfig.__dataclass_fields__ and v is not None}
    config = TrainConfig(**{**KIND_DEFAULTS.get(args.kind, {}), **given})
    return dataset, config, init, os.path.splitext(os.path.basename(args.out))[0]


@contextlib.contextmanager
def stop_on_ctrl_c():
    """The first Ctrl-C sets the event the training loop checks between steps, so it stops
    cleanly (an interrupt raised inside a JAX call could surface as another error); a second
    Ctrl-C interrupts at once."""
    stop = threading.Event()

    def on_ctrl_c(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print("\nCtrl-C: stopping after this step and keeping the best epoch "
              "(Ctrl-C again to abandon)", file=sys.stderr, flush=True)

    previous = signal.signal(signal.SIGINT, on_ctrl_c)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def train(argv: list[str]) -> int:
    args = train_parser().parse_args(argv)

    from .training import UNITS, save_trained, train_model
    from .training_job import progress_lines

    dataset, config, init, name = prepare_training(args)
    print(f"training {args.kind} on {len(dataset.split(False))} pieces, "
          f"{len(dataset.split(True))} held out" + (f", from {init.name}" if init else ""))
    with stop_on_ctrl_c() as stop:
        model, summary = train_model(args.kind, dataset, config, init=init, patience=args.patience,
                                      progress=args.progress == "bar", stop=stop,
                                      on_step=progress_lines() if args.progress == "lines" else None)
    path = save_trained(args.out, model, summary, dataset, name=name)
    print(f"wrote {path} (best epoch {summary['best_epoch']}: held-out {summary['heldout_nll']:.3f} "
          f"nats/{UNITS[args.kind]}, {summary['train_seconds']:.0f} s); loss curve {path}.png")
    return 0


def evaluate(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="livecrepre eval", description=(
        "Held-out NLL of a model against the best Kneser-Ney n-gram on the same split, "
        "and musical measures of its samples against the held-out pieces."))
    parser.add_argument("model", help="checkpoint path or shipped model name")
    parser.add_argument("--data", required=True, help="dataset from `livecrepre data`")
    parser.add_argument("--max-order", type=int, default=64, help="highest n-gram order tried (default 64)")
    args = parser.parse_args(argv)

    from .data import Dataset
    from .evaluation import evaluate as run_evaluation, format_report
    from .models import load_model

    model = load_model(args.model)
    print(format_report(model.name, run_evaluation(model, Dataset.load(args.data), args.max_order)))
    return 0


def replay(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="livecrepre replay", description=(
        "Re-render a performance log (logs/session-*.log) offline, faster than real time: the same "
        "notes at the same ticks as the live session. Its file routes are recorded again into --out; "
        "--to sends every voice to one route instead (osc://, midi: and print play in real time)."))
    parser.add_argument("log", help="a performance log written by a session")
    parser.add_argument("--to", default=None, metavar="ROUTE",
                        help="every voice into this route, e.g. file:takes/again.mid or osc://127.0.0.1:57120/lc")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="where the session's file routes are written again (default LOG.replay/ beside it)")
    args = parser.parse_args(argv)

    from .replay import describe, replay as run_replay

    print(describe(run_replay(args.log, to=args.to, out=args.out)))
    return 0


COMMANDS = {"demo": demo, "data": data, "train": train, "eval": evaluate, "replay": replay}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in COMMANDS:
        from .errors import LivecrepreError

        try:
            return COMMANDS[argv[0]](argv[1:])
        except LivecrepreError as exc:
            print(f"livecrepre: {exc}", file=sys.stderr)
            return 2
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    import IPython

    IPython.start_ipython(argv=["--ext=livecrepre", f"--InteractiveShell.banner2={BANNER}"] + argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
