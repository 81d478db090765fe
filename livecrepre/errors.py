"""The one error type a performer sees: its message is the whole story, in one line."""


class LivecrepreError(Exception):
    """A problem with what the performer asked for; shown as one line, never a traceback."""
