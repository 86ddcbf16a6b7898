"""Model-graded metric presets (judges/rubrics/): each renders with a case and a transcript, on both scales, and a
scripted judge reply over real HTTP parses into a vote; a panel file selects them by its judges' rubric field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from harness.jury.judge import RubricLibrary, execute, prepare
from harness.jury.panel import load_panel
from harness.testing.openai_server import Reply
from harness.types import Case, Clause, ContextDoc, JudgeSpec, PanelSpec, ToolCall, Transcript

pytestmark = pytest.mark.timeout(30)

ROOT = Path(__file__).resolve().parents[1]
RUBRICS = RubricLibrary(ROOT / "judges" / "rubrics")
PRESETS = {  # preset -> a phrase of its source's definition that the template must carry
    "geval": "G-Eval: NLG Evaluation using GPT-4 with",
    "answer-relevancy": "should address the\n    actual question",
    "faithfulness": "can be inferred from the context",
    "hallucination": "nonsensical or\n    unfaithful to the provided source content",
    "toxicity": "rude, disrespectful, or unreasonable",
}
CASE = Case(
    id="c1",
    suite_id="s",
    clause_ids=("grounded",),
    input="When does order A1 ship?",
    system="You are a support agent.",
    context=(ContextDoc(id="kb-1", title="Shipping", text="Orders ship in 2 days."),),
    expected={"must_mention": ["2 days"]},
)
TRANSCRIPT = Transcript(
    run_id="r1",
    case_id="c1",
    output="Order A1 ships in 2 days.",
    tool_calls=(ToolCall(name="lookup_order", arguments={"id": "A1"}),),
)
CLAUSE = Clause(
    id="grounded", claim="Answers only from the shipping documents.", verify="jury", threshold=0.8, severity="major"
)


def judge(model: str, fake=None) -> JudgeSpec:
    return JudgeSpec(
        name=model,
        model=f"openai/{model}",
        api_base=fake.url if fake else None,
        rubric=model.split(".")[0],
        structured="off",
        retries=0,
        timeout_s=5.0,
    )


@pytest.mark.parametrize("scale", ["binary", "ordinal"])
@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_preset_renders_the_case_and_transcript_fenced(preset, scale):
    assert PRESETS[preset] in RUBRICS.path(preset).read_text()  # the source's definition, in a template comment
    panel = PanelSpec(id="p", judges=(judge(preset),), scale=scale)
    call = prepare(judge(preset), panel, CASE, CLAUSE, TRANSCRIPT, 0, RUBRICS, context_seed=None)
    text = call.messages[1]["content"]
    assert CLAUSE.claim in text and "{#" not in text and "Source:" not in text  # the comment stays out of the prompt
    fenced = dict(re.findall(rf"<<<BEGIN (.+?) {call.boundary}>>>\n(.*?)\n<<<END \1 {call.boundary}>>>", text, re.S))
    assert "Order A1 ships in 2 days." in fenced["OUTPUT"] and "When does order A1 ship?" in fenced["INPUT"]
    if preset in ("faithfulness", "hallucination", "geval"):
        assert "Orders ship in 2 days." in fenced["DOCUMENT KB-1"]
    assert '"verdict": "<pass or fail>"' in text and ('"score": <1-5>' in text) == (scale == "ordinal")
    RUBRICS.validate(preset)  # the bare sample too: no documents, no tool calls, no system prompt


@pytest.mark.asyncio
@pytest.mark.parametrize("preset", sorted(PRESETS))
async def test_scripted_reply_to_a_preset_parses_into_a_vote(fake_llm, preset):
    model = f"{preset}.judge"
    fake_llm.script(
        model,
        Reply(
            "Following the steps: all claims are supported.\n"
            '{"rationale": "Both claims are in kb-1.", "score": 5, "verdict": "pass"}'
        ),
    )
    spec = judge(model, fake_llm)
    panel = PanelSpec(id="p", judges=(spec,), scale="ordinal")
    vote = await execute(
        prepare(spec, panel, CASE, CLAUSE, TRANSCRIPT, 0, RUBRICS, context_seed=None), api_key="sk-test-not-real"
    )
    assert (vote.label, vote.score, vote.rationale, vote.abstain_reason) == (
        "pass",
        5.0,
        "Both claims are in kb-1.",
        None,
    )
    (sent,) = fake_llm.requests
    assert CLAUSE.claim in sent["messages"][1]["content"]


def test_a_panel_selects_presets_by_rubric_name(tmp_path):
    path = tmp_path / "judges" / "panels" / "metrics.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(
        yaml.safe_dump(
            {
                "id": "metrics",
                "scale": "binary",
                "judges": [{"name": p, "model": "openai/gpt-4.1-mini", "rubric": p} for p in sorted(PRESETS)],
            }
        )
    )
    spec, rubrics = load_panel(path)
    assert [j.rubric for j in spec.judges] == sorted(PRESETS)
    assert Path(rubrics.directory).resolve() == (ROOT / "judges" / "rubrics").resolve()
