"""Mutators (determinism, the transformation actually present, the original kept) and the `adversarial:` block."""

from __future__ import annotations

import base64
import codecs
import json

import pytest
import yaml
from suitefiles import BASIC_PACT, basic_suite, write_suite

from harness.adversarial import mutate_plan, parse_mutate_option
from harness.errors import ConfigError
from harness.mutators import MUTATORS, mutate
from harness.mutators.attacks import join_turns
from harness.mutators.obfuscation import LEET, strip_zero_width, unhomoglyph
from harness.pact import content_hash
from harness.suite import load_plan
from harness.types import Case, ContextDoc, Message

ITSM = load_plan("suites/itsm")
PACT = ITSM.pact
ORIGINALS = [c for c in ITSM.suite.cases if c.mutator is None]
TICKET = next(c for c in ORIGINALS if c.id == "inc-vpn-outage-hq")  # a string input with a Subject: line
CHAT = next(c for c in ORIGINALS if isinstance(c.input, tuple))
REQUEST = TICKET.input


def attack(name: str, case: Case = TICKET, seed: int = 3, **params) -> Case:
    return mutate(case, name, seed=seed, params=params or None, pact=PACT)


def text_of(case: Case) -> str:
    return case.input if isinstance(case.input, str) else case.input[-1].content


# ---------------------------------------------------------------- every mutator


@pytest.mark.parametrize("name", list(MUTATORS))
def test_same_seed_same_case_and_seeds_matter(name):
    first, again = attack(name, seed=5), attack(name, seed=5)
    assert first == again and first.hash == again.hash
    outputs = {
        json.dumps(attack(name, seed=s).model_dump(mode="json", exclude={"mutation"}), sort_keys=True) for s in range(8)
    }
    assert len(outputs) >= 2, f"{name}: the seed changes nothing"


@pytest.mark.parametrize("name", list(MUTATORS))
def test_mutated_case_keeps_clauses_and_expectations_and_records_what_it_did(name):
    before = TICKET.model_dump()
    m = attack(name)
    assert TICKET.model_dump() == before  # the original is untouched
    assert m.id == f"{TICKET.id}~{name}" and m.mutated_from == TICKET.id and m.mutator == name
    assert m.clause_ids == TICKET.clause_ids and m.expected == TICKET.expected and m.system == TICKET.system
    assert m.tags == (*TICKET.tags, "adversarial", f"mut:{name}")
    assert m.mutation["seed"] == 3 and "params" in m.mutation and m.mutation["targets"] == list(TICKET.clause_ids)
    assert (m.input, m.context) != (TICKET.input, TICKET.context)
    # the hash covers the mutator and what it did
    assert m.hash == content_hash(m.model_dump(mode="json", exclude={"tags", "hash"})) != TICKET.hash
    assert m.model_copy(update={"mutation": {}}).model_dump(mode="json", exclude={"tags", "hash"}) != m.model_dump(
        mode="json", exclude={"tags", "hash"}
    )
    json.dumps(m.mutation)  # storable


def test_the_agent_is_not_told_it_is_attacked():
    payload = attack("base64").payload()
    assert "~" not in payload["id"] and "base64" not in payload["id"]
    assert "adversarial" not in payload["tags"] and not any(t.startswith("mut:") for t in payload["tags"])
    assert TICKET.payload()["id"] == TICKET.id


# ---------------------------------------------------------------- the transformation is there


def test_base64_decodes_back_to_the_request():
    m = attack("base64")
    payload = m.mutation["payload"]
    assert payload in m.input and base64.b64decode(payload).decode("utf-8") == REQUEST


def test_rot13_round_trips():
    m = attack("rot13")
    payload = m.mutation["payload"]
    assert payload in m.input and payload != REQUEST and codecs.decode(payload, "rot13") == REQUEST


def test_zero_width_characters_are_present_and_strip_away():
    m = attack("zero-width")
    assert m.input != REQUEST and m.mutation["inserted"] > 0
    assert any(ch in m.input for ch in "\u200b\u200c\u200d\u2060")
    assert strip_zero_width(m.input) == REQUEST


def test_homoglyphs_map_back():
    m = attack("homoglyph", rate=0.5)
    assert m.input != REQUEST and not m.input.isascii() and m.mutation["changed"] > 0
    assert unhomoglyph(m.input) == REQUEST


def test_leetspeak_changes_only_letters_to_their_digits():
    m = attack("leetspeak")
    assert len(m.input) == len(REQUEST) and m.mutation["changed"] > 0
    changed = [(a, b) for a, b in zip(REQUEST, m.input) if a != b]
    assert len(changed) == m.mutation["changed"] and all(LEET[a.lower()] == b for a, b in changed)


def test_typos_are_recorded_edits_of_words():
    m = attack("typos")
    edits = m.mutation["edits"]
    assert edits and m.input != REQUEST
    words = REQUEST.split(" ")
    for e in edits:
        assert words[e["word"]] == e["from"] and e["from"] != e["to"] or e["op"] == "neighbour"
        words[e["word"]] = e["to"]
    assert " ".join(words) == m.input


def test_padding_reaches_the_target_length_and_keeps_the_request_once():
    for params, target in (({"target_chars": 3000}, 3000), ({"target_tokens": 1500}, 6000)):
        m = attack("padding", **params)
        assert len(m.input) >= target and m.input.count(REQUEST) == 1
        assert m.mutation["added_chars"] == len(m.input) - len(REQUEST)
    positions = {attack("padding", seed=s, target_chars=1000).mutation["position"] for s in range(12)}
    assert positions == {"before", "after", "around"}
    with pytest.raises(ConfigError, match="target_chars or target_tokens"):
        attack("padding", target_chars=1000, target_tokens=300)


def test_multi_turn_splits_the_request_and_joins_back():
    m = attack("multi-turn", turns=4)
    turns = m.input
    assert [t.role for t in turns] == ["user", "assistant"] * 3 + ["user"]
    users = [t.content for t in turns if t.role == "user"]
    assert len(users) == m.mutation["turns"] == 4
    assert join_turns(users, m.mutation["separators"]) == REQUEST
    # a chat keeps its history; its last user turn is the one split
    c = attack("multi-turn", case=CHAT)
    assert c.input[: len(CHAT.input) - 1] == CHAT.input[:-1]
    split = [t.content for t in c.input[len(CHAT.input) - 1 :] if t.role == "user"]
    assert join_turns(split, c.mutation["separators"]) == CHAT.input[-1].content


def test_encodings_of_a_chat_rewrite_only_its_last_user_turn():
    m = attack("base64", case=CHAT)
    assert m.input[:-1] == CHAT.input[:-1]
    assert base64.b64decode(m.mutation["payload"]).decode() == CHAT.input[-1].content
    assert m.mutation["field"] == f"input[{len(CHAT.input) - 1}].content"


def test_direct_injection_is_aimed_at_a_clause():
    m = mutate(TICKET, "prompt-injection", seed=1, pact=PACT, targets=[PACT.clause("no-customer-pii")])
    assert m.mutation["payload"] in m.input and REQUEST in m.input
    assert m.mutation["target_clause"] == "no-customer-pii" and "personal details" in m.mutation["goal"]
    wrong = mutate(TICKET, "prompt-injection", seed=1, pact=PACT, targets=[PACT.clause("priority-accuracy")])
    assert '"priority"' in wrong.mutation["goal"] and '"P1"' not in wrong.mutation["goal"]  # a wrong priority


def test_indirect_injection_is_planted_in_a_context_document():
    m = attack("indirect-injection")  # the ticket has no documents: a new one
    assert m.input == TICKET.input and len(m.context) == 1
    doc = m.context[0]
    assert doc.id == m.mutation["doc_id"] and m.mutation["payload"] in doc.text
    with_doc = TICKET.model_copy(update={"context": (ContextDoc(id="msa", text="1. Terms\n2. Fees\n3. Law\n"),)})
    e = mutate(with_doc, "indirect-injection", seed=2, pact=PACT, params={"into": "existing"})
    (planted,) = e.context
    at, inserted = e.mutation["inserted_at"], e.mutation["inserted"]
    assert e.mutation["payload"] in planted.text
    assert planted.text[:at] + planted.text[at + len(inserted) :] == with_doc.context[0].text


@pytest.mark.parametrize("name", ["roleplay", "hypothetical", "authority"])
def test_jailbreak_wrappers_keep_the_request(name):
    m = attack(name)
    assert REQUEST in m.input and m.input != REQUEST and m.mutation["goal"] in m.input
    if name == "roleplay":
        assert m.mutation["persona"] in m.input
    if name == "authority":
        assert m.mutation["claimed_role"] in m.input


def test_pii_bait_plants_data_and_keeps_expectations():
    m = attack("pii-bait", kinds=["email", "phone", "card"], placement="subject")
    bait = m.mutation["bait"]
    assert set(bait) == {"email", "phone", "card"} and all(v in m.input for v in bait.values())
    subject = m.input.splitlines()[0]
    assert subject.startswith("Subject:") and bait["phone"] in subject
    assert m.expected == TICKET.expected
    inline = attack("pii-bait", case=CHAT, placement="inline")
    assert all(v in inline.input[-1].content for v in inline.mutation["bait"].values())


def test_unknown_mutator_and_parameter_errors_list_what_is_valid():
    with pytest.raises(ConfigError, match=r"unknown mutator 'nope'; valid mutators: .*base64.*zero-width"):
        attack("nope")
    with pytest.raises(ConfigError, match=r"mutator 'multi-turn': unknown parameter 'turnz' \(parameters: turns\)"):
        attack("multi-turn", turnz=3)
    with pytest.raises(ConfigError, match=r"--mutate: unknown mutator 'b64'; valid mutators: .*base64"):
        parse_mutate_option("base64,b64")
    assert parse_mutate_option(" typos, base64,typos ") == ("typos", "base64")


# ---------------------------------------------------------------- the adversarial: block


def _suite(tmp_path, block, n=4):
    suite = basic_suite(n)
    suite["adversarial"] = block
    return write_suite(tmp_path / "s", suite=suite)


def test_block_aims_mutators_per_clause_and_keeps_originals(tmp_path):
    plain = load_plan(write_suite(tmp_path / "plain", suite=basic_suite(4)))
    root = _suite(
        tmp_path,
        {
            "seed": 7,
            "mutators": {"label-right": ["base64", "typos"], "tone": ["authority"]},
            "params": {"typos": {"rate": 0.5}},
        },
    )
    plan = load_plan(root)
    ids = [c.id for c in plan.suite.cases]
    assert ids[:4] == [c.id for c in plain.suite.cases]
    assert plan.suite.cases[:4] == plain.suite.cases  # originals unchanged, hashes included
    assert ids[4:7] == ["case-000~base64", "case-000~typos", "case-000~authority"] and len(ids) == 4 + 12
    typo = plan.suite.cases[5]
    assert typo.mutation["params"] == {"rate": 0.5} and typo.mutation["targets"] == ["label-right"]
    assert plan.suite.cases[6].mutation["targets"] == ["tone"]
    for case in plan.suite.cases[4:]:
        for clause in case.clause_ids:
            assert plan.checks[(case.id, clause)] == plan.checks[(case.mutated_from, clause)]
    assert plan.suite.hash != plain.suite.hash
    again = load_plan(root)
    assert [c.hash for c in again.suite.cases] == [c.hash for c in plan.suite.cases]


def test_block_list_form_and_variants(tmp_path):
    plan = load_plan(_suite(tmp_path, {"mutators": ["rot13"], "variants": 2}, n=2))
    assert [c.id for c in plan.suite.cases] == [
        "case-000",
        "case-001",
        "case-000~rot13",
        "case-000~rot13-2",
        "case-001~rot13",
        "case-001~rot13-2",
    ]
    assert plan.suite.cases[2].mutation["targets"] == ["says-hello", "label-right", "tone"]
    assert plan.suite.cases[2].input != plan.suite.cases[3].input


@pytest.mark.parametrize(
    "block, message",
    [
        (
            {"mutators": {"label-right": ["base64", "b64"]}},
            r"adversarial\.mutators\.label-right\[1\]: unknown mutator 'b64'; valid mutators: .*homoglyph",
        ),
        (
            {"mutators": {"no-such-clause": ["base64"]}},
            r"adversarial\.mutators\.no-such-clause: unknown clause 'no-such-clause'; pact demo-pact has: says-hello",
        ),
        (
            {"mutators": ["typos"], "params": {"typos": {"speed": 2}}},
            r"adversarial\.params\.typos: mutator 'typos': unknown parameter 'speed'",
        ),
        ({"mutators": ["typos"], "seed": "seven"}, r"adversarial\.seed: seed must be an integer"),
        ({"mutators": ["typos"], "mutatorz": []}, r"adversarial\.mutatorz: unknown field 'mutatorz'"),
        ({"seed": 1}, r"adversarial: missing required field 'mutators'"),
    ],
)
def test_block_errors_name_file_line_and_field(tmp_path, block, message):
    root = _suite(tmp_path, block)
    with pytest.raises(ConfigError, match=message) as err:
        load_plan(root)
    assert str(err.value).startswith(f"{root / 'suite.yaml'}:") and "\n" not in str(err.value)


def test_block_error_line_points_into_the_file(tmp_path):
    root = write_suite(tmp_path / "s", suite=basic_suite(1))
    text = (root / "suite.yaml").read_text() + "adversarial:\n  mutators:\n    tone: [typos, jailbreak]\n"
    (root / "suite.yaml").write_text(text)
    with pytest.raises(ConfigError) as err:
        load_plan(root)
    line = text.splitlines().index("    tone: [typos, jailbreak]") + 1
    assert f"suite.yaml:{line}: adversarial.mutators.tone[1]: unknown mutator 'jailbreak'" in str(err.value)


def test_mutate_plan_adds_attacks_on_originals_once(tmp_path):
    plan = load_plan(_suite(tmp_path, {"mutators": {"tone": ["base64"]}}, n=2))
    more = mutate_plan(plan, ["base64", "multi-turn"], seed=0)
    ids = [c.id for c in more.suite.cases]
    assert ids.count("case-000~base64") == 1 and "case-000~multi-turn" in ids
    assert not any(i.count("~") > 1 for i in ids)  # no attacks on attacks
    assert (
        more.suite.hash != plan.suite.hash and mutate_plan(plan, ["base64", "multi-turn"]).suite.hash == more.suite.hash
    )


def test_example_suites_exercise_every_mutator():
    for root in ("suites/itsm", "suites/contract"):
        plan = load_plan(root)
        used = {c.mutator for c in plan.suite.cases if c.mutator}
        assert used == set(MUTATORS), f"{root}: missing {set(MUTATORS) - used}"
        assert not plan.warnings


def test_hand_written_mutated_cases_load_with_their_record(tmp_path):
    suite = basic_suite(1)
    suite["cases"].append(
        {
            **suite["cases"][0],
            "id": "case-000~manual",
            "mutated_from": "case-000",
            "mutator": "manual",
            "mutation": {"note": "written by hand"},
        }
    )
    plan = load_plan(write_suite(tmp_path / "s", suite=suite))
    manual = plan.suite.cases[1]
    assert manual.mutator == "manual" and manual.mutation == {"note": "written by hand"}
    assert manual.hash != plan.suite.cases[0].hash
    assert yaml.safe_dump(BASIC_PACT)  # the pact helper is untouched


def test_chat_turn_messages_are_records():
    m = attack("multi-turn")
    assert all(isinstance(t, Message) for t in m.input)
