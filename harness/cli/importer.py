"""`import`: a CSV or JSONL dataset, or a promptfoo config, into a suite directory (pact skeleton and suite.yaml)."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path
from typing import Any

from harness.cli.common import EXIT_OK, emit_json
from harness.errors import ConfigError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def add_parsers(sub: Any) -> None:
    imp = sub.add_parser("import", help="turn a CSV or JSONL dataset, or a promptfoo config, into a suite")
    imp.add_argument("format", choices=["csv", "jsonl", "promptfoo"])
    imp.add_argument("file", type=Path, metavar="FILE")
    imp.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="DIR",
        help="suite directory to write (pact.yaml and suite.yaml); its name is the suite and pact id",
    )
    imp.add_argument("--force", action="store_true", help="overwrite pact.yaml and suite.yaml if they exist")
    imp.add_argument("--name", help="suite and pact id (default: the --out directory's name)")
    tab = imp.add_argument_group("csv and jsonl")
    tab.add_argument("--input-col", default="input", metavar="COL", help="column holding the input (default input)")
    tab.add_argument(
        "--expected-col", metavar="COL", help="column holding the expected answer (default expected, when there is one)"
    )
    tab.add_argument("--id-col", metavar="COL", help="column holding the case id (default id, when there is one)")
    tab.add_argument("--context-col", metavar="COL", help="column holding a context document for the case")
    tab.add_argument(
        "--match",
        default="icontains",
        choices=["icontains", "contains", "equals", "starts-with", "regex", "jury"],
        help="how the response is checked against the expected answer (default icontains)",
    )
    imp.add_argument("--json", action="store_true", help="print the summary as JSON")
    imp.set_defaults(handler=cmd_import)


def cmd_import(args: argparse.Namespace) -> int:
    from harness.importers import importer, write_suite

    name = args.name or args.out.resolve().name
    if not _NAME.match(name):
        raise ConfigError(f"--name {name!r}: ids use letters, digits, '_', '.' and '-' (start with a letter or digit)")
    if args.format == "promptfoo" and (args.expected_col or args.id_col or args.context_col):
        raise ConfigError("--expected-col, --id-col and --context-col are for csv and jsonl imports")
    imported = importer(args.format)(
        args.file,
        name,
        input_col=args.input_col,
        expected_col=args.expected_col,
        id_col=args.id_col,
        context_col=args.context_col,
        match=args.match,
    )
    command = f"pactjury import {args.format} {shlex.quote(args.file.name)}"
    written = write_suite(imported, args.out, force=args.force, command=command)
    clauses = imported.pact["clauses"]
    jury = [c["id"] for c in clauses if c["verify"] == "jury"]
    summary: dict[str, Any] = {
        "suite_dir": str(args.out),
        "files": [str(p) for p in written],
        "cases": len(imported.suite["cases"]),
        "clauses": [c["id"] for c in clauses],
        "jury_clauses": jury,
        "notes": list(imported.notes),
        "unmapped": list(imported.unmapped),
    }
    if args.json:
        emit_json(summary)
        return EXIT_OK
    print(f"wrote {args.out}: {summary['cases']} cases, {len(clauses)} clauses ({len(jury)} for the jury)")
    for note in imported.notes:
        print(f"  note: {note}")
    if imported.unmapped:
        print(f"not mapped ({len(imported.unmapped)}, kept as comments at the top of {written[1]}):")
        for item in imported.unmapped:
            print(f"  - {item}")
    else:
        print("everything was mapped")
    print(f"next: pactjury validate {args.out}")
    return EXIT_OK
