"""Tab completion for the magics: what each word of a command can be, from what is there now.

    %voice NAME MODEL --to ROUTE ...     voices; shipped models, checkpoints here, models in your
                                         namespace; route prefixes and callables in your namespace
    %swap NAME MODEL / %temp NAME / %route NAME ROUTE ... / %listen NAME SOURCE / %pianoroll VOICE
    %sketch NAME [--voice VOICE]         sketches/*.py
    %crepre start|stop|panic|status
    %clock internal|link|send ROUTE      clock sources; a clock's routes (midi:, osc://)

IPython asks `matcher(context)` with the line so far; it returns the candidates for the word under
the cursor that start with what is typed.
"""
from __future__ import annotations

from pathlib import Path

ROUTES = ["osc://127.0.0.1:57120/", "midi:", "midi:virtual", "file:takes/", "print"]
SOURCES = ["osc://127.0.0.1:5000/interface", "midi:", "midi:virtual", "file:"]
MODES = ["callresponse", "polyphony", "battle", "useronly"]
OPTIONS = {"voice": ["--temp", "--to", "--velocity", "--sigma", "--off", "--at"],
           "swap": ["--at", "--fade"], "temp": ["--at", "--sigma"], "route": ["--at"],
           "listen": ["--mode", "--idle", "--cc", "--log", "--off"], "sketch": ["--voice", "--off"],
           "pianoroll": ["--bars", "--out"], "crepre": ["--bpm", "--seed"], "bpm": ["--at"],
           "clock": ["--quantum", "--nudge", "--off"]}
CLOCKS = ["internal", "link", "send"]
CLOCK_ROUTES = ["midi:virtual", "midi:", "osc://127.0.0.1:9000/clock"]


class MagicCompleter:
    def __init__(self, engine, namespace: dict, hidden=()):
        self.engine, self.namespace, self.hidden = engine, namespace, hidden  # hidden: IPython's own names

    def voices(self) -> list[str]:
        return list(self.engine.voices)

    def models(self) -> list[str]:
        from flax import nnx

        from .models import Model, shipped_models

        here = sorted(str(p) for p in Path(".").glob("**/*.ckpt") if ".venv" not in p.parts)[:50]
        yours = [name for name, obj in list(self.namespace.items())
                 if not name.startswith("_") and isinstance(obj, (Model, nnx.Module))]
        return shipped_models() + yours + here

    def callables(self) -> list[str]:
        import types

        return [name for name, obj in list(self.namespace.items())
                if not name.startswith("_") and name not in self.hidden and callable(obj)
                and not isinstance(obj, (type, types.ModuleType))]

    def candidates(self, line: str) -> list[str]:
        """What the last word of `line` (a magic's line so far) can be."""
        words = line.split()
        command = words[0].lstrip("%") if words else ""
        typing = not line.endswith(" ")  # the last word is being typed
        before = words[1:-1] if typing else words[1:]  # the words already complete
        position = len([w for w in before if not w.startswith("--")])
        last_option = next((w for w in reversed(before) if w.startswith("--")), None)
        if typing and words[-1].startswith("--"):
            return OPTIONS.get(command, [])
        if last_option == "--to":
            return ROUTES + self.callables()
        if last_option == "--mode":
            return MODES
        if last_option in ("--at",):
            return ["now", "beat", "bar", "2", "4"]
        if last_option == "--voice":
            return self.voices()
        if command == "clock":
            return CLOCKS if position == 0 else CLOCK_ROUTES if position == 1 and before[:1] == ["send"] else []
        if command == "crepre":
            return ["start", "stop", "panic", "status"] if position == 0 else []
        if command == "sketch":
            return sorted(p.stem for p in Path("sketches").glob("*.py")) if position == 0 else []
        if command == "pianoroll":
            return self.voices() + sorted(str(p) for p in Path(".").glob("takes/*.mid")) if position == 0 else []
        if position == 0 and command in ("voice", "swap", "temp", "route", "listen"):
            return self.voices()
        if position == 1 and command in ("voice", "swap"):
            return self.models()
        if command == "route" and position >= 1:
            return ROUTES + self.callables()
        if command == "listen" and position == 1:
            return SOURCES
        return []

    def matcher(self, context) -> dict:
        """An IPython matcher: our candidates for the word at the cursor, and only ours (no Python
        keywords after `--mode `) when we have any."""
        line = context.line_with_cursor
        if not line.lstrip().startswith(tuple(f"%{command}" for command in OPTIONS)):
            return {"completions": []}
        word, token = line.split(" ")[-1], context.token  # IPython's token may stop at ':' or '/'
        from IPython.core.completer import SimpleCompletion

        found = [SimpleCompletion(text=c[len(word) - len(token):], type="livecrepre")
                 for c in dict.fromkeys(self.candidates(line)) if c.startswith(word)]
        return {"completions": found, "suppress": bool(found)}


def install(shell, engine):
    """Add the matcher to the shell's completer; returns it (`uninstall` takes it out)."""
    from IPython.core.completer import context_matcher

    completer = MagicCompleter(engine, shell.user_ns, shell.user_ns_hidden)

    def livecrepre_magics(context):  # (a plain function: IPython marks it with attributes)
        return completer.matcher(context)

    shell.Completer.custom_matchers.append(context_matcher()(livecrepre_magics))
    return livecrepre_magics


def uninstall(shell, matcher) -> None:
    if matcher in shell.Completer.custom_matchers:
        shell.Completer.custom_matchers.remove(matcher)
