"""The `livecrepre` command: an IPython session with the extension, or `livecrepre demo`."""
from __future__ import annotations

import argparse
import os
import sys
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
    from .errors import LivecrepreError

    first_note: list[float] = []
    try:
        engine = Engine(bpm=args.bpm, seed=args.seed)
        routes = ([] if args.quiet else ["print"]) + args.to
        routes.append(lambda event: first_note or first_note.append(time.perf_counter()))
        engine.voice("demo", args.model, temperature=args.temp, to=routes)
    except LivecrepreError as exc:
        print(f"livecrepre: {exc}", file=sys.stderr)
        return 2
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


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "demo":
        return demo(argv[1:])
    if argv and argv[0] in ("-h", "--help"):
        print("usage: livecrepre            IPython with the livecrepre extension, engine ready\n"
              "       livecrepre demo ...   play a model from a cold start (livecrepre demo -h)")
        return 0
    import IPython

    IPython.start_ipython(argv=["--ext=livecrepre", f"--InteractiveShell.banner2={BANNER}"] + argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
