"""The one clock: every stored timestamp, run id, age, due date, decision and trust score reads `now()`.

`now()` is the real UTC time unless a clock is fixed: by `--as-of TIME` on the read commands (status, due), or
by `$PACTJURY_NOW` for every command (tests, simulations). A fixed clock starts at the given instant and then runs
on with real elapsed time, so the events of one command keep their order.

The store never holds the future: a write while the clock is ahead of the real time is refused (`stamp`,
`check_writable`), because rows dated later than every real run would outrank them for good. A write while the
clock is behind the real time (a backfill, a simulation) is allowed and marked (`marker`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from harness.errors import ConfigError, StoreError

ENV = "PACTJURY_NOW"

_as_of: tuple[datetime, float] | None = None  # from --as-of: the instant and the monotonic time it was set
_env_seen: dict[str, float] = {}  # each $PACTJURY_NOW value -> the monotonic time it was first read


def parse_instant(text: str, source: str = ENV) -> datetime:
    """ISO 8601 (a date, or a time with or without zone; UTC if none) or Unix seconds."""
    text = text.strip()
    try:
        return datetime.fromtimestamp(float(text), tz=UTC)
    except (ValueError, OverflowError, OSError):
        pass
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"{source}={text!r}: expected an ISO 8601 time (2025-01-31T12:00:00Z) or Unix seconds"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def set_as_of(instant: datetime | None) -> None:
    """Fix the clock for this command (`--as-of`), or None to fall back to $PACTJURY_NOW or the real time."""
    global _as_of
    _as_of = None if instant is None else (as_utc(instant), time.monotonic())


@contextmanager
def as_of(instant: datetime | None) -> Iterator[datetime]:
    """The clock fixed at `instant` (None: unchanged) for the block; yields its reading at the start."""
    global _as_of
    saved = _as_of
    if instant is not None:
        set_as_of(instant)
    try:
        yield now()
    finally:
        _as_of = saved


def real_now() -> datetime:
    return datetime.now(UTC)


def _fixed() -> tuple[datetime, str] | None:
    """The fixed clock's reading now and what fixed it, or None on the real clock."""
    if _as_of is not None:
        instant, since = _as_of
        return _advance(instant, since), f"--as-of {instant.isoformat()}"
    text = os.environ.get(ENV)
    if not text:
        return None
    instant = parse_instant(text)
    since = _env_seen.setdefault(text, time.monotonic())
    return _advance(instant, since), f"{ENV}={instant.isoformat()}"


def _advance(instant: datetime, since: float) -> datetime:
    from datetime import timedelta

    return instant + timedelta(seconds=time.monotonic() - since)


def now() -> datetime:
    fixed = _fixed()
    return fixed[0] if fixed else real_now()


def source() -> str | None:
    """What fixed the clock (`PACTJURY_NOW=...` or `--as-of ...`), or None on the real clock."""
    fixed = _fixed()
    return fixed[1] if fixed else None


def check_writable() -> None:
    """Refuse, before anything is written, to store rows while the clock is ahead of the real time."""
    fixed = _fixed()
    if fixed is None:
        return
    ahead = (fixed[0] - real_now()).total_seconds()
    if ahead > 0:
        from harness.trust import fmt_duration

        raise StoreError(
            f"the clock is fixed {fmt_duration(ahead)} ahead of the real time ({fixed[1]}): the store "
            "keeps no rows dated in the future; use the fixed clock only with read commands "
            "(status --as-of, due --as-of), or unset it to record"
        )


def stamp() -> datetime:
    """The time a row is stored at: `now()`, refused when the clock is ahead of the real time."""
    check_writable()
    return now()


def marker() -> dict[str, str]:
    """`{"clock": ...}` for what a run records when its clock is fixed (behind the real time); else nothing."""
    what = source()
    return {"clock": what} if what else {}


def as_utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
