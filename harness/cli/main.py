"""The `pactjury` parser and dispatch: each command family adds its parsers and names its handler."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from harness import __version__
from harness.cli import attacks, decisions, evidence, importer, local, review, suites, view
from harness.cli import run as run_family
from harness.cli.common import EXIT_ABORTED, EXIT_OK, EXIT_USAGE
from harness.errors import PactjuryError

# Command families in the order of `pactjury --help`. Their modules import only argparse at the top, so
# building the parser stays fast; what a command needs is imported when it runs.
FAMILIES = (run_family, suites, importer, evidence, decisions, review, view, attacks, local)


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one line and a pointer to --help (not the whole usage block)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="pactjury",
        description="Turn an AI agent's behavioral pact into stored, queryable evidence.",
        epilog="Exit status: 0 completed with no clause breached, 1 a clause breached, 2 bad input or usage "
        "(or another run holds the store's lock), 3 aborted.",
    )
    p.add_argument("--version", action="version", version=f"pactjury {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    for family in FAMILIES:
        family.add_parsers(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handler: Any = args.handler
    try:
        return int(handler(args))
    except PactjuryError as exc:
        print(f"pactjury: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("pactjury: aborted", file=sys.stderr)
        return EXIT_ABORTED
    except BrokenPipeError:
        return EXIT_OK


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()
