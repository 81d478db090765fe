"""How a magic's line becomes its arguments: words quoted as in a POSIX shell (so paths may have
spaces), the --at option the timed magics share, route words, and parse errors as one line."""
from __future__ import annotations

import argparse
import shlex

from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument

from .checks import AT_CHOICES

ROUTE_PREFIXES = ("osc://", "midi:", "file:")


def split_line(line: str, magic: str) -> list[str]:
    """A magic's line as words, quoted as in a POSIX shell: "my take.mid", 'my take.mid' and
    my\\ take.mid are each one word (as `livecrepre train` gets them). A bad quote is one line."""
    try:
        return shlex.split(line, posix=True)
    except ValueError as exc:  # shlex: "No closing quotation" or "No escaped character"
        said = f"%{magic} {line.strip()}".replace("\n", " ")
        if "quotation" in str(exc):
            raise UsageError(f"unclosed quote in {said} (close it; a quote that is part of a "
                             f"name takes a backslash before it)") from None
        raise UsageError(f"a backslash ends {said} (nothing after it to escape)") from None


def parse_line(magic, line: str):
    """A magic's arguments: its line split by `split_line`, then read by its @magic_arguments
    parser (whose errors are UsageError lines)."""
    return magic.parser.parse_args(split_line(line, magic.__name__))


class UsageErrorParser(argparse.ArgumentParser):
    """A plain argparse parser whose errors are one UsageError line, `PROG: message` (for %train,
    which takes the options of `livecrepre train`)."""

    def error(self, message):
        raise UsageError(f"{self.prog}: {message}")


def _at_value(text: str) -> str:
    if text in AT_CHOICES or (text.isdigit() and int(text) >= 1):
        return text
    raise ValueError(text)


_at_value.__name__ = "--at (now, beat, bar or a number of bars)"  # how argparse names it in errors


def at_argument():
    return argument("--at", default="now", type=_at_value, metavar="now|beat|bar|N",
                    help="when it lands: the next tick (now, default), beat, bar, or the Nth bar line")


def is_route_word(word: str) -> bool:
    """A word naming a route itself (print, osc://..., midi:..., file:...), never a callable of the
    same name in the user's namespace."""
    return word == "print" or word.startswith(ROUTE_PREFIXES)
