"""Hardening of file loading: alias bombs, huge and deeply nested files, impossible quorums, and values a `#` cut."""

from __future__ import annotations

import time

import pytest
import yaml
from suitefiles import BASIC_PACT, basic_suite, write_panel, write_suite

from harness.cli import main
from harness.errors import LoadError
from harness.yamlio import MAX_ALIAS_NODES, MAX_YAML_BYTES, load_yaml

pytestmark = pytest.mark.timeout(60)


def billion_laughs(levels: int = 9) -> str:
    """Nine references per level: 9**9 (~387 million) strings once expanded, a few hundred bytes written."""
    lines = ['lol0: &lol0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        lines.append(f"lol{i}: &lol{i} [" + ", ".join([f"*lol{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pactjury: error: ") and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("which", ["suite.yaml", "pact.yaml"])
def test_an_alias_bomb_is_refused_fast_without_expanding(tmp_path, monkeypatch, capsys, which):
    monkeypatch.chdir(tmp_path)
    root = write_suite(tmp_path / "s", suite=basic_suite(1))
    (root / which).write_text(billion_laughs())
    start = time.perf_counter()
    assert main(["validate", str(root)]) == 2
    assert time.perf_counter() - start < 5
    line = one_error_line(capsys.readouterr().err)
    assert str(root / which) in line and f"more than {MAX_ALIAS_NODES} nodes" in line


def test_a_bomb_in_a_panel_and_a_self_referencing_alias_are_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    root = write_suite(tmp_path / "s", suite=basic_suite(1))
    panel = tmp_path / "bomb.yaml"
    panel.write_text("id: bomb\njudges:\n  - {name: a, model: openai/a}\n" + billion_laughs())
    assert main(["validate", str(root), "--panel", str(panel)]) == 2
    assert str(panel) in one_error_line(capsys.readouterr().err)
    loop = tmp_path / "loop.yaml"
    loop.write_text("a: &a [*a]\n")
    with pytest.raises(LoadError, match="nesting deeper"):
        load_yaml(loop)


def test_modest_aliases_still_work(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("base: &base {input: hi, tags: [a, b]}\ncases: [*base, *base, *base]\n")
    assert load_yaml(path).data["cases"] == [{"input": "hi", "tags": ["a", "b"]}] * 3


def test_an_oversized_file_is_refused_before_it_is_read(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    root = write_suite(tmp_path / "s", suite=basic_suite(1))
    with open(root / "suite.yaml", "r+b") as f:
        f.truncate(MAX_YAML_BYTES + 1)  # sparse: instant to make, and reading it would be the bug
    assert main(["validate", str(root)]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert str(root / "suite.yaml") in line and "larger than 16 MiB" in line


def test_deep_nesting_is_an_error_not_a_crash(tmp_path):
    for name, text in (("seq", "[" * 100_000 + "]" * 100_000), ("map", "{a: " * 50_000 + "1" + "}" * 50_000)):
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        with pytest.raises(LoadError, match="nesting deeper than"):
            load_yaml(path)


@pytest.mark.parametrize("quorum,ok", [(3, False), (0, False), (-1, False), (2, True)])
def test_a_quorum_no_ballot_can_reach_is_refused(tmp_path, monkeypatch, capsys, quorum, ok):
    monkeypatch.chdir(tmp_path)
    root = write_suite(tmp_path / "s")
    panel = write_panel(tmp_path / "panels", "http://127.0.0.1:9/v1", [{"name": "a"}, {"name": "b"}], quorum=quorum)
    code = main(["validate", str(root), "--panel", str(panel)])
    err = capsys.readouterr().err
    if ok:
        assert code == 0, err
        return
    assert code == 2
    line = one_error_line(err)
    assert str(panel) in line and "quorum" in line


def test_a_quorum_counts_samples(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    root = write_suite(tmp_path / "s")
    panel = write_panel(tmp_path / "panels", "http://127.0.0.1:9/v1", [{"name": "a", "samples": 3}], quorum=3)
    assert main(["validate", str(root), "--panel", str(panel)]) == 0, capsys.readouterr().err


def test_validate_warns_of_a_value_cut_by_an_unquoted_hash(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    suite_text = yaml.safe_dump(basic_suite(2), sort_keys=False).replace(
        "input: hello number 1", "input: hello number 1 #A123"
    )
    suite_text += "# a comment line is fine\n"
    pact_text = yaml.safe_dump(BASIC_PACT, sort_keys=False).replace(
        "claim: Is courteous.", "claim: Is courteous.  # a real comment"
    )
    root = write_suite(tmp_path / "s", suite_text=suite_text, pact_text=pact_text)
    assert load_yaml(root / "suite.yaml").data["cases"][1]["input"] == "hello number 1"  # the pitfall itself
    assert main(["validate", str(root)]) == 0
    captured = capsys.readouterr()
    out = captured.out + captured.err
    line = next(ln for ln in suite_text.splitlines() if "#A123" in ln)
    lineno = suite_text.splitlines().index(line) + 1
    assert f"{root / 'suite.yaml'}:{lineno}: cases[1].input" in out and "'#A123' is dropped" in out
    assert "a real comment" not in out  # `value  # words` is a comment people mean
    assert main(["validate", "--strict", str(root)]) != 0
    capsys.readouterr()


def test_a_map_where_a_rule_condition_names_a_value_is_one_line(tmp_path, monkeypatch, capsys):
    # found by the fuzz test: `severity: {critical: 1}` made the pact loader raise TypeError (unhashable dict)
    pact = {**BASIC_PACT, "consequences": [{"when": {"severity": {"critical": 1}}, "action": "suspend"}]}
    root = write_suite(tmp_path / "s", pact=pact, suite=basic_suite(2))
    monkeypatch.chdir(tmp_path)
    assert main(["validate", str(root)]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "consequences" in line and "severity" in line


def test_an_expectation_reference_that_is_not_a_name_does_not_crash_the_attacks(tmp_path, monkeypatch, capsys):
    # found by the fuzz test: `equals: {expected: []}` made the adversarial goal finder raise TypeError
    import shutil
    from pathlib import Path

    root = tmp_path / "contract"
    shutil.copytree(Path(__file__).resolve().parents[1] / "suites" / "contract", root)
    pact = root / "pact.yaml"
    pact.write_text(pact.read_text().replace("equals: {expected: asks_advice}", "equals: {expected: []}"))
    monkeypatch.chdir(tmp_path)
    code = main(["validate", str(root)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert code in (0, 2) and (code == 0 or len(err.strip().splitlines()) == 1), err


# ---------------------------------------------------------------- the JSON fast path


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1, "b": [1.5, -2, true, null, "x #y"], "c": {"d": "\\u00e9\\n\\/"}}',  # read by json
        '{"a": 1e5, "b": 1.0e5, "c": 1.0e+5}',  # YAML 1.1 reads the first two as strings
        '{"a": 1, "a": 2}',  # duplicate key: refused, with its line
        '{"<<": {"a": 1}}',  # a merge key: refused
        '{"a": NaN}',
        '{"a": "\u0085ok", "b": "\u0080"}',  # a C1 control character YAML refuses
        '{"a": "\\ud83d\\ude00"}',  # an escaped surrogate pair: JSON joins it, YAML does not
        "[" * 250 + "]" * 250,  # deeper than MAX_DEPTH
    ],
)
def test_json_fast_path_reads_what_yaml_reads_or_leaves_it_to_yaml(tmp_path, text):
    """A suite written as JSON is read by the json module (a 20,000-case suite: 94 MB and 0.5 s instead of
    198 MB and 3.4 s); wherever YAML would read the text otherwise, or refuse it, the YAML loader takes it."""
    path = tmp_path / "doc.yaml"
    path.write_text(text, encoding="utf-8")

    def load(fast: bool) -> object:
        try:
            return load_yaml(path, fast=fast).data
        except LoadError as exc:
            return ("LoadError", str(exc))

    assert load(True) == load(False)


def test_errors_in_a_json_suite_still_name_the_line(tmp_path, capsys):
    import json

    suite = basic_suite(3)
    suite["cases"][2]["clauses"] = ["no-such-clause"]
    root = write_suite(tmp_path / "s", suite=suite)
    (root / "suite.yaml").write_text(json.dumps(suite, indent=2))  # JSON, one value per line
    doc = load_yaml(root / "suite.yaml")
    assert doc.lines is None  # read by the fast path
    line = next(i for i, t in enumerate((root / "suite.yaml").read_text().splitlines(), 1) if "no-such-clause" in t)
    assert main(["validate", str(root)]) == 2
    err = one_error_line(capsys.readouterr().err)
    assert f"suite.yaml:{line}: cases[2].clauses[0]: case 'case-002' names unknown clause" in err
