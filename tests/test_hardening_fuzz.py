"""Fuzzing the file loaders through the CLI: whatever the pact, suite or panel holds, the answer is exit 0 or a
one-line `pactjury: error:` with exit 2; never a traceback, never a file written."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from harness.cli import main

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[1]
SUITES = sorted(p for p in (ROOT / "suites").iterdir() if (p / "suite.yaml").exists())
PANELS = sorted((ROOT / "judges" / "panels").glob("*.yaml"))
AGENT = "def respond(case):\n    return {'output': 'Hello! {\"label\": \"even\"}'}\n"
STATS = {
    "tried": 0,
    "clean": 0,
    "refused": 0,
    "valid": 0,
    "runs": 0,
}  # read by whoever runs this with PACTJURY_FUZZ_STATS=<file>

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.sampled_from(["", "TODO", "pass", "jury", "1.0.0", "7d", "*", "~"]),
)
values = st.recursive(
    scalars,
    lambda kids: st.one_of(st.lists(kids, max_size=4), st.dictionaries(st.text(max_size=12), kids, max_size=4)),
    max_leaves=20,
)


def paths_of(data: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path into nested dicts and lists: the places a mutation can strike."""
    out = [prefix] if prefix else []
    if isinstance(data, dict):
        for k, v in data.items():
            out += paths_of(v, prefix + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += paths_of(v, prefix + (i,))
    return out


@st.composite
def mutated(draw: Any, original: str) -> bytes:
    """A real file, broken one of several ways."""
    how = draw(st.sampled_from(["delete", "retype", "delete", "retype", "text", "bytes", "random", "keep"]))
    if how == "bytes":
        return draw(st.binary(max_size=300))
    if how == "random":
        return yaml.safe_dump(draw(values), allow_unicode=True).encode()
    if how == "text":
        text = original
        for _ in range(draw(st.integers(1, 4))):
            at = draw(st.integers(0, len(text)))
            cut = draw(st.integers(0, 20))
            text = (
                text[:at]
                + draw(st.sampled_from(["", ":", "- ", "{", "[", "&a ", "*a", "\t", "#", "'", "\n  "]))
                + text[at + cut :]
            )
        return text.encode()
    data = copy.deepcopy(yaml.safe_load(original))
    for _ in range(draw(st.integers(1, 3)) if how != "keep" else 0):
        places = paths_of(data)
        if not places:
            break
        path = draw(st.sampled_from(places))
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        if how == "delete":
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(values)
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False).encode()


@st.composite
def inputs(draw: Any) -> tuple[Path, dict[str, bytes]]:
    suite = draw(st.sampled_from(SUITES))
    target = draw(st.sampled_from(["pact.yaml", "suite.yaml", "panel.yaml", "all"]))
    files = {name: (suite / name).read_bytes() for name in ("pact.yaml", "suite.yaml")}
    files["panel.yaml"] = draw(st.sampled_from(PANELS)).read_bytes()
    for name in files:
        if target in (name, "all"):
            files[name] = draw(mutated(files[name].decode()))
    return suite, files


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def call(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's own exits
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue(), err.getvalue()


def check(code: int, out: str, err: str, allowed: set[int]) -> None:
    assert code in allowed, (code, err)
    assert "Traceback" not in out + err
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("pactjury: error: "), err


# Locally each run draws new inputs (it found a pact loader crash that way); in CI the draw is fixed, so a red CI
# run is a regression, not a new finding by chance.
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
    derandomize=bool(os.environ.get("CI")),
    phases=(Phase.explicit, Phase.generate),
)  # no shrinking or explaining: each costs minutes here
@given(inputs())
def test_bad_files_give_one_line_errors_and_write_nothing(sample):
    _suite, files = sample
    STATS["tried"] += 1
    work = Path(tempfile.mkdtemp(prefix="pj-fuzz-"))
    cwd = os.getcwd()
    try:
        os.chdir(work)  # validate also reads judges/panels/ under the working directory: there is none here
        suite_dir = work / "s"
        suite_dir.mkdir()
        for name in ("pact.yaml", "suite.yaml"):
            (suite_dir / name).write_bytes(files[name])
        (work / "panel.yaml").write_bytes(files["panel.yaml"])
        (work / "agent.py").write_text(AGENT)
        before = tree(work)

        code, out, err = call(["validate", str(suite_dir), "--panel", str(work / "panel.yaml")])
        check(code, out, err, {0, 2})
        assert tree(work) == before, "validate wrote a file"
        STATS["refused" if code == 2 else "valid"] += 1

        # A run of what validate refused (pact or suite; run takes no panel here, so it would not call a
        # judge model): refused too, before a database exists. Valid inputs are not this test's subject and
        # a whole run of a real suite costs a second, so they stop at validate.
        if code == 2 and "panel.yaml" not in err:
            db = work / "x.duckdb"
            code, out, err = call(
                [
                    "run",
                    str(suite_dir),
                    "--target",
                    f"python:{work / 'agent.py'}:respond",
                    "--db",
                    str(db),
                    "--no-report",
                    "--no-progress",
                    "--quiet",
                ]
            )
            check(code, out, err, {0, 1, 2})
            STATS["runs"] += 1
            if code == 2:
                assert tree(work) == before and not db.exists(), "a refused run wrote a file"
        STATS["clean"] += 1
    finally:
        os.chdir(cwd)
        shutil.rmtree(work, ignore_errors=True)
        if os.environ.get("PACTJURY_FUZZ_STATS"):
            Path(os.environ["PACTJURY_FUZZ_STATS"]).write_text(json.dumps(STATS))
