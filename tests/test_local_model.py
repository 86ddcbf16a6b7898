"""The embedded model local/gemma-3-270m, for real: through the LLM door, log-prob verdicts, serve-model over
HTTP, and an event loop that keeps running while the model works. Slow-marked, but part of every run."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from harness.jury.judge import VOTE_SCHEMA, RubricLibrary, prepare
from harness.llm import LLMRequest, complete
from harness.local import provider as local_model
from harness.types import Case, Clause, ContextDoc, JudgeSpec, PanelSpec, Transcript

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]  # real model calls; generous for a busy machine
ROOT = Path(__file__).resolve().parents[1]
MODEL = "local/gemma-3-270m"


@pytest.fixture(scope="module", autouse=True)
def loaded() -> None:
    """Load the model (and litellm) once for the module, outside any timed test."""
    from harness.llm import preload

    local_model.load()
    preload()


def judge_messages(scale: str = "binary", output: str | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A real judge prompt (the default rubric, fenced material) and its response_format."""
    panel = PanelSpec(id="p", scale=scale, judges=(JudgeSpec(name="j", model=MODEL),))
    case = Case(
        id="refund",
        suite_id="s",
        clause_ids=("refund-days",),
        input="How long does a refund take?",
        system="You are the service desk assistant of ACME. Answer from the documents.",
        context=(ContextDoc(id="kb-1", title="Refunds", text="Refunds reach the card in 5 business days."),),
    )
    clause = Clause(
        id="refund-days",
        claim="The agent states the refund period from the documents.",
        verify="jury",
        threshold=0.8,
        severity="major",
    )
    transcript = Transcript(
        run_id="r", case_id="refund", output=output or "Refunds reach your original card within 5 business days."
    )
    call = prepare(
        panel.judges[0], panel, case, clause, transcript, 0, RubricLibrary(ROOT / "judges" / "rubrics"), context_seed=1
    )
    return call.messages, call.response_format


def ask(messages: list[dict[str, Any]], **kwargs: Any) -> Any:
    return asyncio.run(complete(LLMRequest(messages=messages, **{"model": MODEL, "timeout_s": 120, **kwargs})))


def test_judge_reply_is_schema_valid_json_with_usage_and_repeatable():
    messages, response_format = judge_messages()
    assert response_format["type"] == "json_schema"
    first = ask(messages, temperature=0.0, seed=7, max_tokens=96, response_format=response_format)
    assert first.ok, first.error
    jsonschema.validate(json.loads(first.text), VOTE_SCHEMA("binary"))
    assert first.tokens_in > 300 and first.tokens_out > 0
    assert first.cost_usd == 0.0  # free and known: never None for the local model
    second = ask(messages, temperature=0.0, seed=7, max_tokens=96, response_format=response_format)
    assert second.text == first.text


def test_sampling_with_a_fixed_seed_repeats_and_a_tiny_budget_still_closes_the_json():
    messages = [{"role": "user", "content": "Reply with a JSON object giving a verdict on: the sky is green."}]
    schema = {"type": "json_schema", "json_schema": {"name": "vote", "schema": VOTE_SCHEMA("ordinal")}}
    runs = [ask(messages, temperature=1.0, seed=11, max_tokens=40, response_format=schema) for _ in range(2)]
    assert runs[0].ok and runs[0].text == runs[1].text
    jsonschema.validate(json.loads(runs[0].text), VOTE_SCHEMA("ordinal"))  # the string cap kept it inside 40
    assert runs[0].tokens_out <= 40


def test_logprob_verdict_is_a_calibrated_deterministic_judge_reply():
    messages, response_format = judge_messages(scale="ordinal")
    results = [local_model.score_verdict(messages, response_format=response_format) for _ in range(2)]
    p = results[0].p_pass
    assert p is not None and 0.0 <= p <= 1.0 and results[1].p_pass == p
    assert sum(results[0].label_probs.values()) == pytest.approx(1.0)
    assert results[0].completion_tokens == 0 and results[0].prompt_tokens > 300

    via_door = ask(messages, model=MODEL + ":logprob", response_format=response_format)
    assert via_door.ok and via_door.text == results[0].text and via_door.cost_usd == 0.0
    reply = json.loads(via_door.text)
    jsonschema.validate(reply, VOTE_SCHEMA("ordinal"))
    assert reply["verdict"] == ("pass" if p >= 0.5 else "fail")
    assert (reply["score"] >= 4) == (reply["verdict"] == "pass")  # consistent at the default pass mark
    assert re.search(r"P\(pass\)=\d\.\d{3}", reply["rationale"])
    assert float(re.search(r"P\(pass\)=(\d\.\d+)", reply["rationale"])[1]) == pytest.approx(p, abs=1e-3)


def test_logprob_scoring_of_multi_token_labels_matches_the_single_pass_path():
    prompt = "Question: is water wet? Answer:"
    single, _, _ = local_model.score_continuations(prompt, [" yes", " no"])
    multi, _, _ = local_model.score_continuations(prompt, [" yes indeed", " no"])
    assert sum(multi.values()) == pytest.approx(1.0)
    assert multi[" yes indeed"] < single[" yes"]  # a longer continuation is never likelier than its prefix


def test_a_cached_message_prefix_gives_exactly_the_cold_result_and_is_evicted_by_budget():
    few_shot = (ROOT / "suites" / "itsm" / "local-agent.txt").read_text()
    schema = json.loads((ROOT / "suites" / "itsm" / "reply.schema.json").read_text())
    fmt = {"type": "json_schema", "json_schema": {"name": "reply", "schema": schema}}

    def ticket(text: str) -> list[dict[str, Any]]:
        return [{"role": "system", "content": few_shot}, {"role": "user", "content": text}]

    cache = local_model.PREFIXES
    cache.clear()
    hits = cache.hits
    first = [
        local_model.generate(
            ticket("Subject: printer jammed\n\nThe printer on floor 2 is jammed."),
            temperature=0,
            max_tokens=100,
            response_format=fmt,
        ),
        local_model.score_verdict(ticket("Subject: no sound\n\nMy headset makes no sound.")),
    ]
    assert cache.hits == hits + 1 and cache.size > 0  # the second call reused the few-shot system prompt
    warm = [
        local_model.generate(
            ticket("Subject: printer jammed\n\nThe printer on floor 2 is jammed."),
            temperature=0,
            max_tokens=100,
            response_format=fmt,
        ),
        local_model.score_verdict(ticket("Subject: no sound\n\nMy headset makes no sound.")),
    ]
    assert cache.hits == hits + 3
    assert first[0].cached_tokens == 0 and warm[0].cached_tokens == first[1].cached_tokens > 300  # the few-shot
    assert warm[1].cached_tokens == warm[0].cached_tokens and warm[0].prompt_tokens == first[0].prompt_tokens
    assert [r.text for r in warm] == [r.text for r in first]  # the same tokens, bit for bit
    assert warm[1].label_probs == first[1].label_probs  # the same floats, not approximately
    jsonschema.validate(json.loads(warm[0].text), schema)

    budget = cache.budget
    try:
        cache.budget = cache.size + 1  # room for one snapshot only: a new system prompt evicts the old one
        local_model.score_verdict(
            [{"role": "system", "content": "Another prompt. " * 40}, {"role": "user", "content": "hi"}]
        )
        misses = cache.misses
        local_model.score_verdict(ticket("Subject: no sound\n\nMy headset makes no sound."))
        assert cache.misses == misses + 1 and cache.size <= cache.budget
    finally:
        cache.budget = budget


def test_flat_schemas_take_the_field_writer_and_others_the_grammar():
    from harness.local.fields import flat_fields

    schema = json.loads((ROOT / "suites" / "itsm" / "reply.schema.json").read_text())
    fields = flat_fields(schema)
    assert [f.name for f in fields] == list(schema["properties"])
    assert fields[3].options == (True, False) and fields[4].max_length == 220 and not fields[4].options
    assert flat_fields(VOTE_SCHEMA("ordinal")) is not None  # integer enums are choices too
    assert flat_fields({"type": "object", "properties": {"n": {"type": "integer"}}}) is None
    assert flat_fields({"type": "object", "properties": {"s": {"type": "string", "pattern": "x"}}}) is None
    assert flat_fields({"type": "array", "items": {"type": "string"}}) is None


def test_calibrated_classifier_writes_schema_valid_json_repeatably():
    few_shot = (ROOT / "suites" / "itsm" / "local-agent.txt").read_text()
    schema = json.loads((ROOT / "suites" / "itsm" / "reply.schema.json").read_text())
    fmt = {"type": "json_schema", "json_schema": {"name": "reply", "schema": schema}}
    messages = [
        {"role": "system", "content": few_shot},
        {"role": "user", "content": "Subject: VPN down\n\nThe VPN has been down for the whole Oslo office."},
    ]
    runs = [
        ask(messages, model=MODEL + ":calibrated", temperature=0.0, max_tokens=120, response_format=fmt)
        for _ in range(2)
    ]
    assert runs[0].ok, runs[0].error
    reply = json.loads(runs[0].text)
    jsonschema.validate(reply, schema)
    assert list(reply) == list(schema["properties"]) and len(reply["reply"]) <= 220
    assert runs[1].text == runs[0].text and runs[0].tokens_out > 10
    tiny = ask(messages, model=MODEL, temperature=1.0, seed=5, max_tokens=12, response_format=fmt)
    assert tiny.ok and jsonschema.validate(json.loads(tiny.text), schema) is None  # the budget cuts the reply short


def test_bad_requests_fail_as_client_errors_and_a_timeout_as_a_timeout():
    hello = [{"role": "user", "content": "hello"}]
    unknown = ask(hello, model="local/gpt-5")
    assert unknown.error_kind == "client" and "local/gemma-3-270m" in unknown.error
    bad_format = ask(hello, response_format={"type": "xml"})
    assert bad_format.error_kind == "client"
    too_long = ask([{"role": "user", "content": "word " * 6000}], max_tokens=8)
    assert too_long.error_kind == "client" and "PACTJURY_LOCAL_CTX" in too_long.error
    timed_out = ask(hello, max_tokens=64, timeout_s=0.001)
    assert timed_out.error_kind == "timeout"


def test_the_event_loop_keeps_running_while_the_model_works():
    messages, _ = judge_messages()

    async def scenario() -> tuple[list[float], float, list[Any]]:
        ticks: list[float] = []
        done = asyncio.Event()

        async def ticker() -> None:
            while not done.is_set():
                ticks.append(time.perf_counter())
                await asyncio.sleep(0.02)

        task = asyncio.create_task(ticker())
        start = time.perf_counter()
        # Three calls at once: they queue for the one model and all come back.
        results = await asyncio.gather(
            *(
                complete(LLMRequest(model=MODEL, messages=messages, temperature=0.0, max_tokens=8, timeout_s=120))
                for _ in range(3)
            )
        )
        elapsed = time.perf_counter() - start
        done.set()
        await task
        return ticks, elapsed, results

    ticks, elapsed, results = asyncio.run(scenario())
    assert all(r.ok for r in results), [r.error for r in results]
    assert len({r.text for r in results}) == 1  # greedy: the same prompt gives the same reply in the queue too
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    # A blocked loop would show a gap as long as a whole call (a third of `elapsed`); a busy machine may
    # stretch single ticks, hence the slack.
    assert elapsed > 1.0 and len(ticks) > elapsed / 0.02 / 10
    assert max(gaps) < min(1.0, elapsed / 6), f"the loop stalled {max(gaps):.2f} s while the model ran {elapsed:.1f} s"


def test_a_cancelled_call_leaves_the_queue_and_stops_generating():
    long = [{"role": "user", "content": "Write the numbers from 1 to 500, separated by commas."}]
    short = [{"role": "user", "content": "Say hi."}]

    async def scenario() -> tuple[float, Any]:
        running = asyncio.create_task(local_model.acomplete(long, temperature=0.0, max_tokens=2000))
        queued = asyncio.create_task(local_model.acomplete(long, temperature=0.0, max_tokens=2000))
        await asyncio.sleep(1.0)  # the first is generating, the second waits behind it
        running.cancel()
        queued.cancel()
        start = time.perf_counter()
        after = await local_model.acomplete(short, temperature=0.0, max_tokens=4)
        return time.perf_counter() - start, after

    waited, after = asyncio.run(scenario())
    assert after.completion_tokens > 0
    assert waited < 10.0, f"the next call waited {waited:.1f} s behind cancelled ones"


def _read_lines(stream: Any, lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line)


def test_serve_model_answers_litellm_over_http_and_stops_cleanly_on_sigint():
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "serve-model", MODEL, "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_read_lines, args=(proc.stdout, lines), daemon=True).start()
    try:
        line = lines.get(timeout=90)
        match = re.fullmatch(r"serving local/gemma-3-270m at (http://127\.0\.0\.1:\d+/v1)\n", line)
        assert match, line
        messages = [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Reply with a JSON verdict: is the sky blue?"},
        ]
        schema = {"type": "json_schema", "json_schema": {"name": "vote", "schema": VOTE_SCHEMA("binary")}}
        resp = ask(
            messages,
            model="openai/gemma-3-270m",
            api_base=match[1],
            api_key="none",
            temperature=0.0,
            seed=1,
            max_tokens=48,
            response_format=schema,
        )
        assert resp.ok, resp.error
        jsonschema.validate(json.loads(resp.text), VOTE_SCHEMA("binary"))
        assert resp.tokens_in and resp.tokens_in > 10 and resp.tokens_out and resp.tokens_out > 0
        scored = ask(messages, model="openai/gemma-3-270m:logprob", api_base=match[1], api_key="none")
        assert scored.ok and json.loads(scored.text)["verdict"] in ("pass", "fail")
        raw = httpx.post(
            match[1] + "/chat/completions",
            timeout=120,
            json={"model": "gemma-3-270m", "messages": messages, "max_tokens": 4, "temperature": 0},
        ).json()
        assert raw["usage"]["prompt_tokens_details"]["cached_tokens"] > 5  # the system message was read once
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        stderr = proc.stderr.read() if proc.stderr else ""
    assert code == 0, stderr
    assert "Traceback" not in stderr and "SWA" not in stderr
