"""Suite files: `validate` (pact, suite and panel files, nothing run) and `derive` (a skeleton suite of probes)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness.cli.common import EXIT_OK, EXIT_USAGE, emit_json, positive_int, warn
from harness.errors import ConfigError


def add_parsers(sub: Any) -> None:
    val = sub.add_parser("validate", help="check pact, suite and panel files without running anything")
    val.add_argument("suite_dirs", nargs="+", type=Path, metavar="SUITE_DIR")
    val.add_argument("--strict", action="store_true", help="treat warnings (e.g. an untested clause) as errors")
    val.add_argument(
        "--panel",
        action="append",
        default=[],
        help="also validate this panel (every panel in judges/panels/ is validated anyway)",
    )
    val.add_argument("--json", action="store_true")
    val.set_defaults(handler=cmd_validate)

    der = sub.add_parser("derive", help="write a skeleton suite of probes for every clause of a pact")
    der.add_argument("suite_dir", type=Path, help="suite directory holding pact.yaml (and optionally suite.yaml)")
    der.add_argument("-o", "--output", type=Path, help="file to write (default: SUITE_DIR/derived.yaml)")
    der.add_argument("--force", action="store_true", help="overwrite the output file if it exists")
    der.add_argument(
        "--per-clause",
        type=positive_int,
        default=4,
        help="template probes per clause, and proposals asked of the attacker per clause (default 4)",
    )
    der.add_argument("--attacker", metavar="MODEL", help="also ask this litellm model to propose cases per clause")
    der.add_argument("--attacker-base-url", metavar="URL", help="OpenAI-compatible server of the attacker model")
    der.add_argument("--attacker-api-key-env", metavar="VAR", help="environment variable holding the attacker's key")
    der.add_argument(
        "--seed", type=int, default=None, help="seed of the templates' choices and the attacker's sampling"
    )
    der.add_argument("--json", action="store_true", help="print the summary as JSON")
    der.set_defaults(handler=cmd_derive)


def cmd_validate(args: argparse.Namespace) -> int:
    from harness.bindings import SCHEDULE_FILE, load_schedule
    from harness.jury.panel import PANELS_DIR, load_panel
    from harness.suite import load_plan

    reports: list[dict[str, Any]] = []
    warnings: list[str] = []
    for suite_dir in args.suite_dirs:
        plan = load_plan(suite_dir)
        schedule = Path(suite_dir) / SCHEDULE_FILE
        if schedule.is_file():  # the suite's schedule.yaml, read as `run --due` reads it
            load_schedule(schedule)
        warnings.extend(plan.warnings)
        reports.append(_plan_summary(plan))
    panel_files = sorted(PANELS_DIR.glob("*.yaml")) if PANELS_DIR.is_dir() else []
    panels = []
    for ref in [*panel_files, *args.panel]:
        spec, _ = load_panel(ref)  # renders every rubric once
        panels.append(
            dict(panel_id=spec.id, panel_hash=spec.hash, judges=[j.name for j in spec.judges], method=spec.method)
        )
    if args.json:
        emit_json({"ok": not (args.strict and warnings), "suites": reports, "panels": panels, "warnings": warnings})
    else:
        for r in reports:
            print(
                f"ok  {r['suite_dir']}: pact {r['pact_id']} v{r['pact_version']} ({r['pact_hash'][:12]}), "
                f"{r['clauses']} clauses; suite {r['suite_id']}: {r['cases']} cases"
                + (f" ({r['adversarial']} adversarial)" if r["adversarial"] else "")
                + f", {r['checks']} bound checks"
            )
        for p in panels:
            print(f"ok  panel {p['panel_id']} ({p['panel_hash'][:12]}): {p['method']} over {', '.join(p['judges'])}")
        for w in warnings:
            warn(w)
    if args.strict and warnings:
        return EXIT_USAGE
    return EXIT_OK


def _plan_summary(plan: Any) -> dict[str, Any]:
    return dict(
        suite_dir=str(plan.suite_dir),
        pact_id=plan.pact.id,
        pact_version=plan.pact.version,
        pact_hash=plan.pact.hash,
        clauses=len(plan.pact.clauses),
        suite_id=plan.suite.id,
        suite_hash=plan.suite.hash,
        cases=len(plan.suite.cases),
        adversarial=sum(1 for c in plan.suite.cases if c.mutator),
        checks=sum(len(v) for v in plan.checks.values()),
    )


def cmd_derive(args: argparse.Namespace) -> int:
    import asyncio

    from harness.derive import Probe, Stats, attacker_probes, derive, read_source, render
    from harness.suite import load_plan

    suite_dir = Path(args.suite_dir)
    out = Path(args.output) if args.output else suite_dir / "derived.yaml"
    if out.exists() and not args.force:
        raise ConfigError(f"{out} already exists; pass --force to overwrite it")
    if args.attacker_base_url and not args.attacker:
        raise ConfigError("--attacker-base-url needs --attacker MODEL")
    source = read_source(suite_dir)
    stats = Stats()
    proposals: list[Probe] = []
    if args.attacker:
        api_key = _attacker_key(args)
        from harness.llm import preload

        preload()
        proposals = asyncio.run(
            attacker_probes(
                source.pact,
                list(source.pact.clauses),
                source.cases,
                source.system,
                args.per_clause,
                args.attacker,
                args.attacker_base_url,
                api_key,
                args.seed,
                stats,
            )
        )
        for line in stats.warnings:
            warn(line)
    entries, stats = derive(source, args.per_clause, args.seed or 0, proposals, stats)
    command = "pactjury derive " + " ".join(_shown_args(args))
    text = render(source, entries, out, stats, command)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    try:
        plan = load_plan(tmp)  # what we write must load, like any hand-written suite
    except Exception:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(out)
    per_clause = {c.id: sum(1 for e in entries if e["clauses"] == [c.id]) for c in source.pact.clauses}
    summary = dict(
        output=str(out),
        cases=len(entries),
        per_clause=per_clause,
        templates=stats.templates,
        attacker_proposed=stats.proposed,
        attacker_accepted=stats.accepted,
        malformed=stats.malformed,
        duplicates=stats.duplicates,
        attacker_errors=stats.attacker_errors,
        unfilled_expectations=len([w for w in plan.warnings if "unfilled expectation" in w]),
    )
    if args.json:
        emit_json(summary)
    else:
        print(
            f"wrote {out}: {len(entries)} cases for {len(per_clause)} clauses "
            f"({stats.templates} from templates, {stats.accepted} from the attacker; {stats.duplicates} duplicates "
            f"and {stats.malformed} malformed proposals skipped)"
        )
        print(
            f"{summary['unfilled_expectations']} unfilled expectations to fill in; check with: pactjury validate {out}"
        )
    return EXIT_OK


def _attacker_key(args: argparse.Namespace) -> str | None:
    from harness.target import api_key_from_env

    return api_key_from_env(args.attacker_api_key_env, args.attacker_base_url, "--attacker-api-key-env")


def _shown_args(args: argparse.Namespace) -> list[str]:
    from harness.secrets import redact_url

    shown = [str(args.suite_dir), f"--per-clause {args.per_clause}"]
    if args.attacker:
        shown += [f"--attacker {args.attacker}"]
        if args.attacker_base_url:
            shown += [f"--attacker-base-url {redact_url(args.attacker_base_url)}"]
    if args.seed is not None:
        shown += [f"--seed {args.seed}"]
    return shown
