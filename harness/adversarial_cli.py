"""Command-line parts of adversarial suites: `derive`, `robustness`, and `run --mutate` (argparse only here, so
`pactjury --help` stays fast; the work is imported when a command runs)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Callable

COMMANDS = ("derive", "robustness")


def add_parsers(sub: Any, run: argparse.ArgumentParser, db_help: str) -> None:
    run.add_argument("--mutate", metavar="NAME,...",
                     help="also run every case attacked by these comma-separated mutators (the originals run too; "
                          "an unknown name lists the valid ones)")
    run.add_argument("--mutate-seed", type=int, default=None,
                     help="seed of the --mutate attacks (default 0)")

    der = sub.add_parser("derive", help="write a skeleton suite of probes for every clause of a pact")
    der.add_argument("suite_dir", type=Path, help="suite directory holding pact.yaml (and optionally suite.yaml)")
    der.add_argument("-o", "--output", type=Path, help="file to write (default: SUITE_DIR/derived.yaml)")
    der.add_argument("--force", action="store_true", help="overwrite the output file if it exists")
    der.add_argument("--per-clause", type=_positive_int, default=4,
                     help="template probes per clause, and proposals asked of the attacker per clause (default 4)")
    der.add_argument("--attacker", metavar="MODEL", help="also ask this litellm model to propose cases per clause")
    der.add_argument("--attacker-base-url", metavar="URL", help="OpenAI-compatible server of the attacker model")
    der.add_argument("--attacker-api-key-env", metavar="VAR", help="environment variable holding the attacker's key")
    der.add_argument("--seed", type=int, default=None,
                     help="seed of the templates' choices and the attacker's sampling")
    der.add_argument("--json", action="store_true", help="print the summary as JSON")

    rob = sub.add_parser("robustness", help="pass rate under attack vs on the original cases, per clause and mutator")
    rob.add_argument("run_id")
    rob.add_argument("--compare", metavar="OTHER_RUN", help="compare with another run (RUN is the base)")
    rob.add_argument("--targeted", action="store_true",
                     help="count only the attacks aimed at each clause (by the suite's adversarial block)")
    rob.add_argument("--clause", help="only this clause")
    rob.add_argument("--db", type=Path, help=db_help)
    rob.add_argument("--json", action="store_true")


def handler(command: str) -> Callable[[argparse.Namespace], int]:
    if command == "derive":
        from harness.derive import cmd_derive

        return cmd_derive
    from harness.robustness import cmd_robustness

    return cmd_robustness


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value
