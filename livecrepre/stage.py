"""The terminal as a stage: a bottom toolbar that counts bars and beats while you type (tempo, each
voice's model and temperature, a %train's progress, the last error), and event lines printed above
the prompt instead of through the line being typed. Installed when the extension loads into
IPython's terminal (the `livecrepre` REPL, or `%load_ext livecrepre` in `ipython`); nothing
changes in a notebook.
"""
from __future__ import annotations

REFRESH_SECONDS = 0.1  # the toolbar is redrawn this often while the prompt waits


def toolbar_text(engine, width: int, jobs=()) -> str:
    """One line, at most `width` characters: shortened from the right, never wrapped."""
    if engine.running:
        bar, beat = engine.position(engine.tick).split(".")[:2]
        clock = engine.clock.label() if engine.clock is not None else "internal"
        head = f" bar {bar:>3} beat {beat}  {engine.bpm:g} bpm" + (f" ({clock})" if clock != "internal" else "")
    else:
        head = " stopped (%crepre start)"
    voices = "  ".join(f"{name}: {v.model.name} {v.temperature:g}" + (" (muted)" if v.muted else "")
                       for name, v in list(engine.voices.items()))
    parts = [head] + ([voices] if voices else [])
    parts += [job.progress_text() for job in list(jobs) if job.running]  # %train's jobs
    if engine.errors:
        parts.append(f"! {engine.errors[-1][1]}")
    line = "  |  ".join(parts)
    return line if len(line) <= width else line[: max(0, width - 1)] + "…"


def install(shell, engine, jobs=()) -> bool:
    """The toolbar and the print stream, when `shell` is a prompt-toolkit terminal; `jobs` is the
    list %train adds its TrainingJobs to."""
    session = getattr(shell, "pt_app", None)
    if session is None:
        return False
    from prompt_toolkit.application import get_app_or_none
    from prompt_toolkit.patch_stdout import StdoutProxy

    def toolbar():
        app = get_app_or_none()
        width = app.output.get_size().columns if app is not None else 80
        return toolbar_text(engine, width - 1, jobs)

    session.bottom_toolbar = toolbar
    session.refresh_interval = REFRESH_SECONDS
    session.app.refresh_interval = REFRESH_SECONDS
    # Lines written while the prompt is up are drawn above it (prompt-toolkit's proxy), so an event
    # line or an error never lands in the middle of what is being typed.
    engine.print_stream = StdoutProxy(raw=True)
    return True
