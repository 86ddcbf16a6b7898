"""The cells of terminal text: percentages, numbers with intervals, costs, clipped text, plain tables (on rich)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def agent_label(run: Mapping[str, Any]) -> str:
    return f"{run['agent']}" + (f" {run['agent_version']}" if run.get("agent_version") else "")


def pct(value: Any) -> str:
    return "-" if value is None else f"{value:.0%}"


def pp(value: Any) -> str:
    """A difference of rates in percentage points."""
    return "-" if value is None else f"{value * 100:+.0f} pp"


def more_cases(c: dict[str, Any]) -> str:
    """'12 (31)': cases that decide the clause if the observed rate holds, and those for an 80% chance of it."""
    if c.get("cases_needed") is None:
        return "-"
    power = c.get("cases_needed_power")
    return f"{c['cases_needed']}" + ("" if power is None else f" ({power})")


def format_table(headers: list[str], rows: list[list[Any]]) -> str:
    """A plain-text table (rich measures the cells, so wide characters line up): no colour, no markup, no wrapping,
    a dashed rule under the header, columns two spaces apart, for terminals, pipes and logs alike."""
    import io

    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(
        box=box.Box("    \n    \n -  \n    \n    \n    \n    \n    \n", ascii=True),
        show_edge=False,
        pad_edge=False,
        padding=(0, 1, 0, 0),
        header_style=None,
        highlight=False,
    )
    for h in headers:
        table.add_column(h, no_wrap=True, overflow="ignore")
    for row in rows:
        table.add_row(*[str(c) for c in row])
    out = io.StringIO()
    Console(file=out, width=100_000, color_system=None, markup=False, emoji=False, highlight=False).print(table)
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines())


def fmt_num(value: Any, fmt: str = "{:.2f}") -> str:
    return "-" if value is None else fmt.format(value)


def _cost(total: Any, unpriced: int) -> str:
    if total is None:
        return "unknown"
    return f"${total:.4f}" + (f" (+{unpriced} unpriced)" if unpriced else "")


def fmt_stat(value: Any, ci: Any = None, n: Any = None, min_items: Any = None) -> str:
    """A statistic with its interval and n, `(few items)` when n is below the minimum: 0.45 (0.30 to 0.60; n 38)."""
    if value is None:
        return "-" if n is None else f"- (n {n})"
    inner = [f"{ci[0]:.2f} to {ci[1]:.2f}"] if ci else []
    if n is not None:
        inner.append(f"n {n}")
    text = f"{value:.2f}" + (f" ({'; '.join(inner)})" if inner else "")
    return text + (" (few items)" if min_items is not None and n is not None and n < min_items else "")


def clip(text: str, width: int = 110) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"
