"""The time freshness is judged at: now, or `PACTJURY_NOW` (ISO 8601 or Unix seconds) for tests and what-ifs.

Run events keep the real wall clock (their order is the run's status); only ages, due dates, decisions and
trust scores are computed at this clock.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from harness.errors import ConfigError

ENV = "PACTJURY_NOW"


def parse_instant(text: str) -> datetime:
    text = text.strip()
    try:
        return datetime.fromtimestamp(float(text), tz=UTC)
    except ValueError:
        pass
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{ENV}={text!r}: expected an ISO 8601 time (2025-01-31T12:00:00Z) or Unix seconds") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def now() -> datetime:
    fixed = os.environ.get(ENV)
    return parse_instant(fixed) if fixed else datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
