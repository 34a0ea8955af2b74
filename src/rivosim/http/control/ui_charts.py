"""The inspector's pictures, drawn server-side as inline SVG (no JavaScript, no chart library): a customer's
points balance over time and a timeline of webhook deliveries with their retries. Both take the control API's
JSON (``balance`` of ``/customers/<id>/history``, ``/webhooks/deliveries``), so a picture shows nothing the API
does not give."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from markupsafe import Markup, escape

__all__ = ["balance_chart", "deliveries_timeline"]

OK_COLOUR, FAIL_COLOUR, PENDING_COLOUR, AXIS_COLOUR = "#1a7f37", "#cf222e", "#9a6700", "#57606a"


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _span(times: Sequence[datetime]) -> tuple[datetime, float]:
    start = min(times)
    seconds = (max(times) - start).total_seconds()
    return start, seconds if seconds > 0 else 1.0


def _label(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M")


def balance_chart(series: Sequence[dict[str, Any]], *, width: int = 720, height: int = 220) -> Markup:
    """A step line of ``[{"at", "points"}]``: the balance holds between ledger entries."""
    if not series:
        return Markup('<p class="empty">No ledger entries.</p>')
    left, right, top, bottom = 64, 16, 14, 28
    times = [_instant(p["at"]) for p in series]
    values = [int(p["points"]) for p in series]
    start, seconds = _span(times)
    low, high = min(0, *values), max(1, *values)
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(at: datetime) -> float:
        return left + plot_w * (at - start).total_seconds() / seconds

    def y(value: int) -> float:
        return top + plot_h * (high - value) / (high - low)

    points: list[str] = []
    for i, (at, value) in enumerate(zip(times, values, strict=True)):
        if i:
            points.append(f"{x(at):.1f},{y(values[i - 1]):.1f}")  # hold the previous balance until now
        points.append(f"{x(at):.1f},{y(value):.1f}")
    dots = "".join(
        f'<circle cx="{x(at):.1f}" cy="{y(v):.1f}" r="3"><title>{escape(_label(at))}: {v} points</title></circle>'
        for at, v in zip(times[1:-1], values[1:-1], strict=True))
    return Markup(
        f'<svg class="chart balance" role="img" aria-label="points balance over time" viewBox="0 0 {width} {height}"'
        f' width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="{AXIS_COLOUR}"/>'
        f'<line x1="{left}" y1="{y(0):.1f}" x2="{left + plot_w}" y2="{y(0):.1f}" stroke="{AXIS_COLOUR}"/>'
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end">{high}</text>'
        f'<text x="{left - 6}" y="{y(low) + 4:.1f}" text-anchor="end">{low}</text>'
        f'<text x="{left}" y="{height - 8}">{escape(_label(times[0]))}</text>'
        f'<text x="{left + plot_w}" y="{height - 8}" text-anchor="end">{escape(_label(times[-1]))}</text>'
        f'<polyline fill="none" stroke="#0969da" stroke-width="2" points="{" ".join(points)}"/>'
        f'<g fill="#0969da">{dots}</g></svg>')


def deliveries_timeline(deliveries: Sequence[dict[str, Any]], *, width: int = 900, row: int = 22,
                        limit: int = 40) -> Markup:
    """One row per delivery (the newest ``limit``): each attempt a dot (green 2xx, red otherwise, hover for the
    status and error), the retries joined by a line, a hollow dot for the next attempt still due."""
    shown = list(deliveries)[-limit:]
    if not shown:
        return Markup('<p class="empty">No deliveries yet.</p>')
    left, right, top = 230, 20, 10
    instants = []
    for d in shown:
        instants.append(_instant(d["created_at"]))
        instants.extend(_instant(a["at"]) for a in d["attempts"])
        if d.get("next_attempt_at"):
            instants.append(_instant(d["next_attempt_at"]))
    start, seconds = _span(instants)
    plot_w = width - left - right
    height = top + row * len(shown) + 24

    def x(text: str) -> float:
        return left + plot_w * (_instant(text) - start).total_seconds() / seconds

    parts: list[str] = []
    for i, d in enumerate(shown):
        cy = top + row * i + row / 2
        marks = [x(d["created_at"])] + [x(a["at"]) for a in d["attempts"]]
        if d.get("next_attempt_at"):
            marks.append(x(d["next_attempt_at"]))
        parts.append(f'<text x="{left - 8}" y="{cy + 4:.1f}" text-anchor="end">{escape(d["topic"])} '
                     f'<tspan class="muted">{escape(d["status"])}</tspan></text>')
        parts.append(f'<line x1="{min(marks):.1f}" y1="{cy:.1f}" x2="{max(marks):.1f}" y2="{cy:.1f}" '
                     f'stroke="{AXIS_COLOUR}" stroke-dasharray="3 2"/>')
        for a in d["attempts"]:
            status = a["status_code"]
            ok = status is not None and 200 <= status < 300
            why = f"HTTP {status}" if status is not None else "no response"
            if a.get("error"):
                why += f": {a['error']}"
            parts.append(f'<circle cx="{x(a["at"]):.1f}" cy="{cy:.1f}" r="5" fill="{OK_COLOUR if ok else FAIL_COLOUR}">'
                         f'<title>{escape(d["id"])} attempt {a["number"]} at {escape(a["at"])}: {escape(why)}'
                         f'</title></circle>')
        if d.get("next_attempt_at"):
            parts.append(f'<circle cx="{x(d["next_attempt_at"]):.1f}" cy="{cy:.1f}" r="5" fill="none" '
                         f'stroke="{PENDING_COLOUR}" stroke-width="2"><title>next attempt due '
                         f'{escape(d["next_attempt_at"])}</title></circle>')
    parts.append(f'<text x="{left}" y="{height - 6}">{escape(_label(start))}</text>')
    parts.append(f'<text x="{left + plot_w}" y="{height - 6}" text-anchor="end">'
                 f'{escape(_label(max(instants)))}</text>')
    return Markup(f'<svg class="chart timeline" role="img" aria-label="webhook deliveries and retries" '
                  f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
                  f'xmlns="http://www.w3.org/2000/svg">{"".join(parts)}</svg>')
