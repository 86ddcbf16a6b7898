"""The exception tree; each carries a message a user can act on.

    PactjuryError            base; the CLI prints its one-line message and exits with .exit_code
    ├── ConfigError          bad pact, suite, panel or command-line input (exit 2)
    │   └── LoadError        a file that is missing, unreadable or not valid YAML (exit 2)
    ├── StoreError           the DuckDB file cannot be opened, is locked or is from a newer schema (exit 2)
    └── RunNotFound          a run id that is not in the store (exit 2)

Failures *inside* a run (a target that errors, a check that raises, a judge that cannot be parsed)
are never exceptions: they are recorded as data on the transcript, check result or vote.
"""

from __future__ import annotations

# Every character str.splitlines() breaks at: a YAML key or a path may hold any of them.
_LINE_BREAKS: dict[int, str] = {ord(c): repr(c)[1:-1] for c in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"}


class PactjuryError(Exception):
    exit_code = 2

    def __str__(self) -> str:
        # The CLI prints this as one line, so a line break from user input is shown escaped, never obeyed.
        return super().__str__().translate(_LINE_BREAKS)


class ConfigError(PactjuryError):
    """Invalid configuration; `where` names the file and, when known, the line and field."""

    def __init__(self, message: str, *, where: str | None = None):
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class LoadError(ConfigError):
    pass


class StoreError(PactjuryError):
    pass


class RunNotFound(PactjuryError):
    pass
