"""A voice's routes, from the command that names them to the file written at the end: opened on the
caller's thread (kept by spec, refused in one line, one take per file shared by the voices naming
it), fed each event, released at the tick a voice leaves them, muted when they fail, closed and
written off the clock's threads. Owns the dispatcher that plays the MIDI and print routes' actions."""
from __future__ import annotations

from functools import partial

from .chores import Chores
from .dispatcher import Dispatcher
from .errors import LivecrepreError
from .events import Event
from .io.midi import MidiPorts
from .io.routes import FileRoute, Route, parse_route


def routes_of(voices) -> list[Route]:
    """Every route of these voices, once (voices may share a route object)."""
    seen: dict[int, Route] = {}
    for voice in voices:
        for route in voice.routes:
            seen.setdefault(id(route), route)
    return list(seen.values())


class Routing:
    def __init__(self, chores: Chores, report, realtime: bool = True):
        self.chores, self.report = chores, report
        self.dispatcher = Dispatcher(on_error=self.failed, realtime=realtime)
        self.midi_ports = MidiPorts()
        self.files: dict = {}  # file routes by resolved path, shared by the voices recording there
        self.nudge = 0.0  # seconds every route plays later than the clock (the rig's latency)

    # -- on the caller's thread ---------------------------------------------------------------
    def make(self, voice: str, specs, current: list[Route], plays: str, *, ticks_per_beat: int,
             start_tick: int, bpm: float, print_stream=None) -> list[Route]:
        """The routes for `specs`: those in `current` kept by spec, the others opened here. One that
        fails is reported in one line and left out; when every one fails, nothing changes: the
        command is refused (a typo never leaves a voice silent)."""
        if isinstance(specs, str) or callable(specs):
            specs = [specs]
        routes: list[Route] = []
        failures: list[str] = []
        for spec in specs:
            same = [r for r in current if (r.spec == spec if isinstance(spec, str)
                                           else getattr(r, "fn", None) is spec)]
            route = same[0] if same else None
            if route is None:
                try:
                    route = self.open(spec, voice, ticks_per_beat=ticks_per_beat, start_tick=start_tick,
                                      bpm=bpm, print_stream=print_stream)
                except LivecrepreError as exc:
                    failures.append(str(exc))
                    continue
            if plays not in route.accepts:
                hint = (" (midi:PORT?cc=1,2 plays gestures as controllers, ?notes as notes)"
                        if plays == "gestures" and route.spec.startswith("midi:") else "")
                failures.append(f"route {route.spec} takes {' or '.join(route.accepts)}; "
                                f"voice {voice} plays {plays}{hint}")
                if not same and not isinstance(route, FileRoute):  # (closing a file route writes it)
                    self.chores.submit(self.close, route)
                continue
            if isinstance(route, FileRoute):  # voices naming one file record into one take
                route = self.files.setdefault(route.recorder.path.resolve(), route)
            routes.append(route)
        if failures and not routes:
            kept = (f"voice {voice} keeps {', '.join(map(repr, current))}" if current
                    else f"voice {voice} not added")
            raise LivecrepreError(f"{'; '.join(failures)} (nothing changed: {kept})")
        for failure in failures:
            self.report(f"{failure} (voice {voice} keeps {', '.join(map(repr, routes))})")
        return routes

    def open(self, spec, voice: str, *, ticks_per_beat: int, start_tick: int, bpm: float,
             print_stream=None) -> Route:
        """One route, opened here (its port shared with the other routes naming it); a spec that
        cannot be opened is one LivecrepreError line."""
        return parse_route(spec, voice=voice, midi_ports=self.midi_ports, ticks_per_beat=ticks_per_beat,
                           start_tick=start_tick, bpm=bpm, print_stream=print_stream, on_error=self.failed,
                           report=self.report)

    # -- on the generator thread, at a tick ------------------------------------------------------
    def send(self, routes: list[Route], event: Event) -> None:
        for route in routes:
            if route.muted:
                continue
            shift = route.nudge + self.nudge
            try:
                route.send(event.shifted(shift) if shift else event, self.dispatcher)
            except Exception as exc:  # noqa: BLE001 - one bad route, the others go on
                self.failed(route, exc)

    def lead(self, routes: list[Route]) -> float:
        """How much earlier than the lookahead ticks must be produced for the earliest route."""
        return max(0.0, max((-(r.nudge + self.nudge) for r in routes), default=0.0))

    def begin_takes(self, routes: list[Route], tick: int, bpm: float) -> None:
        """A file route's take starts where a voice first sends to it (not when it was parsed)."""
        for route in routes:
            if isinstance(route, FileRoute):
                route.recorder.begin(tick, bpm)

    def tempo(self, routes: list[Route], tick: int, bpm: float) -> None:
        """The takes record a tempo change at `tick`."""
        for route in routes:
            if isinstance(route, FileRoute):
                route.tempo(tick, bpm)

    def release(self, voice: str, routes: list[Route], tick: int, time_of_tick: float | None) -> None:
        """Routes leaving a voice at `tick` (which sounds at `time_of_tick`, None off the clock):
        their notes end there; then they are closed."""
        for route in routes:
            route.cut(tick, voice)
            if route.uses_dispatcher:  # what it plays before `tick` still plays
                leave = partial(self._flush_and_close, route, self.dispatcher.watermark())
                if time_of_tick is not None:
                    self.dispatcher.at(time_of_tick, leave, owner=self)
                    continue
                leave()
            else:
                self.chores.submit(self.close, route)

    def _flush_and_close(self, route: Route, mark: int) -> None:
        """A dispatcher route leaving: what it queued before `mark` ends now; then it is closed."""
        self.dispatcher.flush(route, mark)
        self.chores.submit(self.close, route)

    def cut_all(self, routes: list[Route], tick: int) -> None:
        """Panic or stop: after the dispatcher's flush, every route silenced and its notes ended at `tick`."""
        for route in routes:
            try:
                route.silence()
            except Exception:  # noqa: BLE001 - silencing a vanished port is best effort
                pass
            route.cut(tick)

    def failed(self, route, exc: BaseException) -> None:
        """A route that raised is muted (said once); the voice keeps its other routes."""
        if isinstance(route, Route) and not route.muted:
            route.muted = True
            self.report(f"route {route.spec} failed ({type(exc).__name__}: {exc}); route muted, "
                        f"the voice keeps its other routes")
        elif not isinstance(route, Route):
            self.report(f"{type(exc).__name__}: {exc}")

    # -- off the clock --------------------------------------------------------------------------
    def close(self, route: Route) -> None:
        try:
            route.close()
        except Exception as exc:  # noqa: BLE001
            self.report(f"route {route.spec}: {type(exc).__name__}: {exc}")

    def close_all(self, routes: list[Route]) -> tuple[list[str], list[str]]:
        """The clock stopped (routes already cut): takes written, the other routes and the ports
        closed. Returns the files written, and one line for each take that could not be."""
        self.chores.drain()  # earlier closes (file writes) finish first
        written, unwritten = [], []
        for route in routes:
            if not isinstance(route, FileRoute):
                self.close(route)
                continue
            try:
                written.append(str(route.recorder.write()))
            except Exception as exc:  # noqa: BLE001 - said in one line; the other takes are written
                unwritten.append(f"could not write {route.recorder.path} ({type(exc).__name__}: {exc})")
                self.report(unwritten[-1], echo=False)
        self.dispatcher.stop()
        self.midi_ports.close_all()
        self.files.clear()
        return written, unwritten
