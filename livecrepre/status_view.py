"""`%crepre status` as a picture of the session: what it holds as data (`session_info`), as aligned
text for a terminal (`status_text`, Engine.status) and as an HTML table in a notebook (StatusView),
all from the one dict, so that they say the same thing."""
from __future__ import annotations

from html import escape

import numpy as np


def session_info(engine) -> dict:
    """What status shows, as data (the toolbar, the notebook table and tests read it)."""
    lateness = engine.dispatcher.lateness[-2000:]
    return {
        "running": engine.running, "bpm": engine.bpm, "tick": engine.tick, "seed": engine.seed,
        "position": engine.position(engine.tick), "lookahead": engine.lookahead,
        "clock": {"source": engine.clock.label() if engine.clock else engine.clock_spec,
                  **(engine.clock.info() if engine.clock else {}), "sent to": list(engine.clock_outs)},
        "voices": {name: {"model": v.model.name, "family": v.family, "temperature": v.temperature,
                          "sigma": getattr(v, "sigma", None),
                          "routes": [r.spec + (" (muted)" if r.muted else "") for r in v.routes],
                          "muted": v.muted, "notes": v.notes_played}
                   for name, v in engine.voices.items()},
        "late_p99_ms": (float(np.percentile(lateness, 99)) * 1000 if lateness else None),
        "dispatcher": engine.dispatcher.priority,
        "sketches": {name: {"voices": sorted(sk.voices) if sk.voices is not None else None,
                            "version": sk.version, "working": sk.namespace is not None,
                            "file": str(sk.path) if sk.path else None}
                     for name, sk in engine.sketches.items()},
        "listening": engine.listening.info(),
        "log": str(engine.log.path) if engine.log.path else None,
        "errors": list(engine.errors)[-5:],
    }


def clock_text(clock: dict) -> str:
    """The clock source, and how well it is followed: `link 2 peers (phase error 0.01 ms)`."""
    said = [f"phase error {abs(clock['phase_error_ms']):.2f} ms"] if clock.get("locked") else []
    said += [f"sent to {', '.join(clock['sent to'])}"] if clock.get("sent to") else []
    return clock["source"] + (f" ({', '.join(said)})" if said else "")


def status_text(info: dict) -> str:
    """Engine.status: aligned text for a terminal."""
    state = "running" if info["running"] else "stopped"
    lines = [f"livecrepre {state}: {info['bpm']:g} bpm, bar {info['position']} "
             f"(tick {info['tick']}), seed {info['seed']}, clock {clock_text(info['clock'])}, "
             f"lookahead {info['lookahead'] * 1000:.0f} ms"
             + (f", p99 late {info['late_p99_ms']:.2f} ms ({info['dispatcher']} dispatcher)"
                if info["late_p99_ms"] is not None else "")]
    if not info["voices"]:
        lines.append("  no voices (add one: %voice lead melody --to print)")
    for name, v in info["voices"].items():
        routes = ", ".join(v["routes"]) or "no routes"
        temps = f"temp {v['temperature']:<5g}" + (f" sigma {v['sigma']:g}" if v["sigma"] is not None else "")
        counted = {"gesture": "gestures", "text": "words"}.get(v["family"], "notes")
        lines.append(f"  {name:<8} {v['model']:<12} {temps} -> {routes}"
                     + ("  [muted]" if v["muted"] else "") + f"  ({v['notes']} {counted})")
    for name, sk in info["sketches"].items():
        lines.append(f"  sketch {name} -> {', '.join(sk['voices']) if sk['voices'] else 'every voice'}"
                     f" (version {sk['version']}{'' if sk['working'] else ', passing notes unchanged'}"
                     f"{', ' + sk['file'] if sk['file'] else ''})")
    for name, heard in info["listening"].items():
        counts = heard["counts"]
        said = ", ".join(f"{counts[k]} {k}" for k in ("heard", "fed", "echoes", "dropped", "malformed",
                                                      "bad", "wrong", "refused", "failed", "ignored",
                                                      "vanished") if counts.get(k))
        lines.append(f"  {name} listens to {heard['source']} ({heard['mode']}"
                     + (f", idle {heard['idle']:g} s" if heard["mode"] == "callresponse" else "")
                     + (", paused" if heard["paused"] else "") + (", input ended" if heard["ended"] else "")
                     + f"): {said or 'nothing heard yet'}; log {heard['log']}")
    if info["log"]:
        lines.append(f"  performance log: {info['log']}")
    if info["errors"]:
        lines.append("recent errors:")
        lines += [f"  {when} {message}" for when, message in info["errors"]]
    return "\n".join(lines)


class StatusView:
    """Displayed by IPython: `_repr_html_` in a notebook, the engine's text anywhere else."""

    def __init__(self, info: dict, text: str):
        self.info, self.text = info, text

    def __repr__(self) -> str:
        return self.text

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(self.text)

    def _repr_html_(self) -> str:
        info = self.info
        head = (f"<b>livecrepre {'running' if info['running'] else 'stopped'}</b>: {info['bpm']:g} bpm, "
                f"bar {escape(info['position'])} (tick {info['tick']}), seed {info['seed']}"
                + (f", p99 late {info['late_p99_ms']:.2f} ms" if info["late_p99_ms"] is not None else ""))
        rows = []
        for name, v in info["voices"].items():
            listening = info["listening"].get(name)
            heard = (f"{escape(listening['source'])} ({listening['mode']}): "
                     + ", ".join(f"{n} {k}" for k, n in listening["counts"].items()) if listening else "")
            temps = f"{v['temperature']:g}" + (f" / σ {v['sigma']:g}" if v["sigma"] is not None else "")
            rows.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in (
                f"<b>{escape(name)}</b>" + (" (muted)" if v["muted"] else ""), escape(v["model"]),
                escape(v["family"]), temps, "<br>".join(escape(r) for r in v["routes"]) or "—",
                heard or "—", v["notes"])) + "</tr>")
        table = ("<table><tr><th>voice</th><th>model</th><th>plays</th><th>temperature</th><th>routes</th>"
                 "<th>listens to</th><th>events</th></tr>" + "".join(rows) + "</table>") if rows else \
            "<p>no voices (add one: <code>%voice lead melody --to print</code>)</p>"
        sketches = "".join(f"<li>sketch {escape(n)} → {escape(', '.join(s['voices'] or ['every voice']))} "
                           f"(version {s['version']})</li>" for n, s in info["sketches"].items())
        errors = "".join(f"<li><code>{escape(when)}</code> <span style='color:#c00'>{escape(message)}</span></li>"
                         for when, message in info["errors"])
        return (f"<div>{head}{table}" + (f"<ul>{sketches}</ul>" if sketches else "")
                + (f"<p>recent errors:</p><ul>{errors}</ul>" if errors else "") + "</div>")
