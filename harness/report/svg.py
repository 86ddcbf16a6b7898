"""Inline SVG charts, generated in Python: no script, no external resource.

Every piece of text that reaches the markup goes through `escape`; numbers are formatted here. The
functions return `Markup`, which the report template inserts as is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from markupsafe import Markup, escape

STATUS_COLOURS = {
    "met": "#1a7f4b",
    "breached": "#c62828",
    "inconclusive": "#b26a00",
    "pending-jury": "#5b4bc4",
    "no-evidence": "#6b7280",
}
INK, MUTED, GRID, TRACK = "#1f2933", "#6b7280", "#e5e7eb", "#eef0f3"


def _f(x: float) -> str:
    return f"{x:.1f}"


def _colour(status: str | None) -> str:
    return STATUS_COLOURS.get(status or "", MUTED)


def ci_bar(
    rate: float | None,
    low: float | None,
    high: float | None,
    threshold: float,
    status: str,
    width: int = 200,
    height: int = 26,
) -> Markup:
    """A 0-100% track with the 95% interval as a band, the pass rate as a dot and the threshold as a tick."""
    pad = 6
    span = width - 2 * pad

    def x(v: float) -> float:
        return pad + max(0.0, min(1.0, v)) * span

    mid = height / 2
    colour = _colour(status)
    parts = [
        f'<svg class="ci-bar" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(_ci_label(rate, low, high, threshold))}">',
        f'<rect x="{pad}" y="{_f(mid - 3)}" width="{span}" height="6" rx="3" fill="{TRACK}"/>',
    ]
    if low is not None and high is not None:
        parts.append(
            f'<rect x="{_f(x(low))}" y="{_f(mid - 5)}" width="{_f(max(1.5, x(high) - x(low)))}" height="10" '
            f'rx="4" fill="{colour}" fill-opacity="0.25"/>'
        )
    parts.append(
        f'<line x1="{_f(x(threshold))}" x2="{_f(x(threshold))}" y1="2" y2="{height - 2}" stroke="{INK}" '
        'stroke-width="2"/>'
    )
    if rate is not None:
        parts.append(
            f'<circle cx="{_f(x(rate))}" cy="{_f(mid)}" r="5" fill="{colour}" stroke="#fff" stroke-width="1.5"/>'
        )
    parts.append(f"<title>{escape(_ci_label(rate, low, high, threshold))}</title></svg>")
    return Markup("".join(parts))


def _ci_label(rate: float | None, low: float | None, high: float | None, threshold: float) -> str:
    if rate is None:
        return f"no decided verdicts; threshold {threshold:.0%}"
    ci = f" (95% CI {low:.0%}-{high:.0%})" if low is not None and high is not None else ""
    return f"pass rate {rate:.0%}{ci}; threshold {threshold:.0%}"


def trend_chart(
    points: Sequence[dict[str, Any]], threshold: float | None, current_run: str, width: int = 520, height: int = 180
) -> Markup:
    """Pass rate of one clause across runs (oldest left): CI whiskers, threshold line, version changes marked.

    Each point: run_id, agent_version, rate, ci_low, ci_high, status, started_at.
    """
    left, right, top, bottom = 36, 40, 26, 24
    w, h = width - left - right, height - top - bottom
    n = len(points)
    # the y axis runs from just below the lowest interval (or the threshold) to 100%, in steps of 10%
    values = [v for p in points for v in (p.get("ci_low"), p.get("rate")) if v is not None]
    floor = min(values + ([threshold] if threshold is not None else []), default=0.0)
    lo = max(0.0, math.floor((floor - 0.05) * 10) / 10)

    def x(i: int) -> float:
        return left + (w / 2 if n == 1 else i * w / (n - 1))

    def y(v: float) -> float:
        return top + (1 - (max(lo, min(1.0, v)) - lo) / (1 - lo)) * h

    out = [
        f'<svg class="trend-chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'data-runs="{n}" aria-label="pass rate over {n} run{"s" if n != 1 else ""}">'
    ]
    for v in (lo, (lo + 1) / 2, 1.0):
        out.append(
            f'<line x1="{left}" x2="{left + w}" y1="{_f(y(v))}" y2="{_f(y(v))}" stroke="{GRID}"/>'
            f'<text x="{left - 6}" y="{_f(y(v) + 4)}" text-anchor="end" class="axis">{v:.0%}</text>'
        )
    previous: Any = object()
    for i, p in enumerate(points):
        if p.get("agent_version") != previous:
            edge = x(i) - (w / (2 * (n - 1)) if n > 1 and i else 0)  # halfway from the previous run
            if i:
                out.append(
                    f'<line x1="{_f(edge)}" x2="{_f(edge)}" y1="{top - 12}" y2="{top + h}" '
                    f'stroke="{MUTED}" stroke-dasharray="2 3"/>'
                )
            label = escape(p.get("agent_version") or "-")
            anchor = "end" if edge > left + w - 40 else "start"
            tx = edge - 3 if anchor == "end" else max(left, edge) + 3
            out.append(f'<text x="{_f(tx)}" y="{top - 12}" text-anchor="{anchor}" class="ver">v{label}</text>')
            previous = p.get("agent_version")
    if threshold is not None:
        out.append(
            f'<line x1="{left}" x2="{left + w}" y1="{_f(y(threshold))}" y2="{_f(y(threshold))}" '
            f'stroke="{INK}" stroke-width="1.2" stroke-dasharray="5 4"/>'
            f'<text x="{left + w + 9}" y="{_f(y(threshold) + 4)}" class="axis thr">{threshold:.0%}</text>'
        )
    path = [(x(i), y(p["rate"])) for i, p in enumerate(points) if p.get("rate") is not None]
    if len(path) > 1:
        out.append(
            '<polyline fill="none" stroke="#334155" stroke-width="1.6" points="'
            + " ".join(f"{_f(a)},{_f(b)}" for a, b in path)
            + '"/>'
        )
    for i, p in enumerate(points):
        rate = p.get("rate")
        if rate is None:
            continue
        if p.get("ci_low") is not None:
            out.append(
                f'<line x1="{_f(x(i))}" x2="{_f(x(i))}" y1="{_f(y(p["ci_low"]))}" y2="{_f(y(p["ci_high"]))}" '
                f'stroke="{_colour(p.get("status"))}" stroke-opacity="0.45" stroke-width="3"/>'
            )
        current = p["run_id"] == current_run
        when = p.get("started_at")
        tip = (
            f"run {p['run_id']}"
            + (f", v{p['agent_version']}" if p.get("agent_version") else "")
            + (f", {when:%Y-%m-%d %H:%M}" if when is not None else "")
            + f": {rate:.0%} ({p.get('status')})"
            + (f", after human review (revision {p['revision']})" if p.get("revision") else "")
        )
        out.append(
            f'<circle class="pt{" current" if current else ""}" data-run="{escape(p["run_id"])}" '
            f'data-revision="{int(p.get("revision") or 0)}" data-rate="{rate:.4f}" cx="{_f(x(i))}" cy="{_f(y(rate))}" r="{5.5 if current else 4}" '
            f'fill="{_colour(p.get("status"))}" stroke="{INK if current else "#fff"}" '
            f'stroke-width="{2 if current else 1.2}"><title>{escape(tip)}</title></circle>'
        )
    if n:
        first, last = points[0].get("started_at"), points[-1].get("started_at")
        if first is not None:
            out.append(f'<text x="{left}" y="{height - 6}" class="axis">{first:%b %d %H:%M}</text>')
        if last is not None and n > 1:
            out.append(
                f'<text x="{left + w}" y="{height - 6}" text-anchor="end" class="axis">{last:%b %d %H:%M}</text>'
            )
    out.append("</svg>")
    return Markup("".join(out))


def kappa_colour(k: float | None) -> str:
    """Diverging scale: teal for agreement beyond chance, red for worse than chance, grey for unknown."""
    if k is None:
        return "#f3f4f6"
    k = max(-1.0, min(1.0, k))
    if k >= 0:
        base, strength = (13, 148, 136), k
    else:
        base, strength = (198, 40, 40), -k
    r, g, b = (round(255 + (c - 255) * strength) for c in base)
    return f"rgb({r},{g},{b})"


def kappa_heatmap(names: Sequence[str], kappa: dict[str, dict[str, float | None]], cell: int = 58) -> Markup:
    """Pairwise Cohen's kappa matrix, one cell per pair of judges, value printed in the cell."""
    n = len(names)
    label_w = max(60, 7 * max((len(a) for a in names), default=0) + 12)
    top = 28
    width, height = label_w + n * cell + 4, top + n * cell + 4
    out = [
        f'<svg class="heatmap" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="pairwise Cohen\'s kappa">'
    ]
    for j, b in enumerate(names):
        out.append(
            f'<text x="{_f(label_w + j * cell + cell / 2)}" y="{top - 10}" text-anchor="middle" '
            f'class="hm-label">{escape(_clip(b, 9))}<title>{escape(b)}</title></text>'
        )
    for i, a in enumerate(names):
        out.append(
            f'<text x="{label_w - 8}" y="{_f(top + i * cell + cell / 2 + 4)}" text-anchor="end" '
            f'class="hm-label">{escape(a)}</text>'
        )
        for j, b in enumerate(names):
            k = 1.0 if a == b else (kappa.get(a) or {}).get(b)
            if k is None and a != b:
                k = (kappa.get(b) or {}).get(a)
            fill = "#f3f4f6" if a == b else kappa_colour(k)  # the diagonal is 1 by definition: kept quiet
            dark = a != b and k is not None and abs(k) > 0.55
            text = "-" if k is None else f"{k:.2f}"
            out.append(
                f'<g class="hm-cell" data-a="{escape(a)}" data-b="{escape(b)}" '
                f'data-kappa="{"" if k is None else f"{k:.4f}"}">'
                f'<rect x="{label_w + j * cell + 1}" y="{top + i * cell + 1}" width="{cell - 2}" height="{cell - 2}" '
                f'rx="4" fill="{fill}" stroke="#d9dde3"/>'
                f'<text x="{_f(label_w + j * cell + cell / 2)}" y="{_f(top + i * cell + cell / 2 + 4)}" '
                f'text-anchor="middle" class="hm-value" fill="{"#fff" if dark else INK}">{text}</text>'
                f"<title>{escape(a)} vs {escape(b)}: kappa {text}</title></g>"
            )
    out.append("</svg>")
    return Markup("".join(out))


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
