"""`%crepre status` as a picture of the session: an HTML table in a notebook, aligned text in a
terminal (Engine.status). Built from Engine.status_info, so both say the same thing."""
from __future__ import annotations

from html import escape


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
