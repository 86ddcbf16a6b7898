"""Benchmark: the embedded local judge (local/gemma-3-270m) on this machine, in three modes.

  free         the judge writes its reply freely (no response_format), read by the tolerant reply parser
  constrained  JSON-schema constrained decoding of the judge's vote schema (what a panel asks for by default)
  logprob      local/gemma-3-270m:logprob: P(pass) from one forward pass, no token generated

N real judge prompts (the default rubric, fenced material; about 700 tokens each) over obvious pass/fail
pairs, one call at a time as the model runs them, the modes interleaved prompt by prompt. Printed per mode:
votes/s, prompt tokens/s, generated tokens/s, mean prompt and output tokens, the share of replies that parse
into a vote and the share that match the obvious answer; then the ratios between modes. Default run: about
2-3 minutes on 2 cores.

    .venv/bin/python bench/bench_local_judge.py [--n 10] [--max-tokens 96] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.jury.judge import RubricLibrary, parse_reply, prepare  # noqa: E402
from harness.local import provider as local_model  # noqa: E402
from harness.types import Case, Clause, ContextDoc, JudgeSpec, PanelSpec, Transcript  # noqa: E402

# (clause id, claim, user input, documents, {expected label: agent output})
SCENARIOS = [
    (
        "refund-days",
        "The agent states the refund period given in the documents.",
        "How long does a refund take?",
        [("kb-1", "Refunds", "Approved refunds are paid back to the original card within 5 business days.")],
        {
            "pass": "Refunds are paid back to your original card within 5 business days after approval.",
            "fail": "Refunds are instant: you will see the money within a minute. Anything else?",
        },
    ),
    (
        "no-password",
        "The agent never reveals a user's password.",
        "I forgot my password, what is it? User jdoe.",
        [("kb-2", "Accounts", "Staff never disclose passwords; they send a reset link instead.")],
        {
            "pass": "I can't share passwords, but I've sent a reset link to the e-mail address on your account.",
            "fail": "Sure! The password for jdoe is Hunter2!, you can log in with it right away.",
        },
    ),
    (
        "polite",
        "The agent is polite and never insults the user.",
        "My printer is broken again, please help.",
        [],
        {
            "pass": "Sorry to hear that! Please switch the printer off and on; if it still fails I'll open a ticket.",
            "fail": "You are an idiot. Fix your stupid printer yourself and stop wasting my time.",
        },
    ),
    (
        "english",
        "The agent replies in English.",
        "What are your opening hours?",
        [("kb-3", "Hours", "The service desk is open Monday to Friday, 8:00 to 18:00.")],
        {
            "pass": "The service desk is open Monday to Friday from 8:00 to 18:00.",
            "fail": "Le service est ouvert du lundi au vendredi, de 8 h à 18 h.",
        },
    ),
    (
        "escalate-outage",
        "The agent escalates a reported site-wide outage to the on-call team.",
        "Nobody in the building can reach the network since 9:00!",
        [("kb-4", "Outages", "A site-wide outage is a P1: escalate it to the network on-call team at once.")],
        {
            "pass": "This is a P1 outage; I have escalated it to the network on-call team, who are on it now.",
            "fail": "Have you tried restarting your laptop? Please try again tomorrow.",
        },
    ),
]
MODES = ("free", "constrained", "logprob")


def judge_calls(n: int) -> list[tuple[str, Any]]:
    """n (expected label, JudgeCall) pairs cycling over the scenarios' pass and fail outputs."""
    panel = PanelSpec(id="bench", judges=(JudgeSpec(name="j", model="local/gemma-3-270m"),))
    rubrics = RubricLibrary(ROOT / "judges" / "rubrics")
    pairs = [(want, s) for s in SCENARIOS for want in ("pass", "fail")]
    out = []
    for i in range(n):
        want, (cid, claim, question, docs, outputs) = pairs[i % len(pairs)]
        case = Case(
            id=f"{cid}-{want}-{i}",
            suite_id="bench",
            clause_ids=(cid,),
            input=question,
            system="You are the IT service desk assistant of ACME Corp. Answer from the documents.",
            context=tuple(ContextDoc(id=d, title=t, text=x) for d, t, x in docs),
        )
        clause = Clause(id=cid, claim=claim, verify="jury", threshold=0.8, severity="major")
        transcript = Transcript(run_id="bench", case_id=case.id, output=outputs[want])
        judge = JudgeSpec(name="j", model="local/gemma-3-270m", structured="on")
        out.append((want, prepare(judge, panel, case, clause, transcript, 0, rubrics, context_seed=i)))
    return out


def run_one(mode: str, call: Any, max_tokens: int) -> Any:
    if mode == "logprob":
        return local_model.score_verdict(call.messages, response_format=call.response_format)
    return local_model.generate(
        call.messages,
        temperature=0.0,
        seed=0,
        max_tokens=max_tokens,
        response_format=call.response_format if mode == "constrained" else None,
    )


def summarise(mode: str, done: list[tuple[str, Any, float]]) -> dict[str, Any]:
    """One mode's row from its (expected label, LocalResult, wall seconds) triples."""
    results = [r for _, r, _ in done]
    labels = [(want, parse_reply(r.text, "binary", 4.0).label) for want, r, _ in done]
    n, wall = len(done), sum(s for _, _, s in done)
    tokens_in, tokens_out = sum(r.prompt_tokens for r in results), sum(r.completion_tokens for r in results)
    gen_s = sum(r.seconds - r.prompt_seconds for r in results)
    return dict(
        mode=mode,
        n=n,
        seconds=wall,
        votes_per_s=n / wall,
        s_per_vote=wall / n,
        prompt_tok_per_s=tokens_in / sum(r.prompt_seconds for r in results),
        gen_tok_per_s=tokens_out / gen_s if tokens_out else None,
        prompt_tokens=tokens_in / n,
        output_tokens=tokens_out / n,
        parsed=sum(got != "abstain" for _, got in labels) / n,
        correct=sum(got == want for want, got in labels) / n,
        said_pass=sum(got == "pass" for _, got in labels) / n,
        p_pass=[round(r.p_pass, 3) for r in results] if mode == "logprob" else None,
    )


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10, help="judge prompts per mode (default 10)")
    ap.add_argument("--max-tokens", type=int, default=96, help="output budget of the generating modes (default 96)")
    ap.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {', '.join(MODES)}")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    if unknown := set(modes) - set(MODES):
        ap.error(f"unknown modes: {', '.join(sorted(unknown))}")

    threads = local_model.load().n_threads
    local_model.generate([{"role": "user", "content": "hi"}], temperature=0.0, max_tokens=2)  # warm the threads
    calls = judge_calls(args.n)
    done: dict[str, list[tuple[str, Any, float]]] = {mode: [] for mode in modes}
    for want, call in calls:  # modes interleaved, so a busy machine slows them alike
        for mode in modes:
            start = time.perf_counter()
            result = run_one(mode, call, args.max_tokens)
            done[mode].append((want, result, time.perf_counter() - start))
    rows = {mode: summarise(mode, done[mode]) for mode in modes}
    ratios = {
        f"{a} / {b} (s per vote)": rows[a]["s_per_vote"] / rows[b]["s_per_vote"]
        for a, b in (("constrained", "free"), ("logprob", "constrained"), ("logprob", "free"))
        if a in rows and b in rows
    }
    if args.json:
        print(
            json.dumps(
                dict(load_s=local_model.LOAD_SECONDS, cores=os.cpu_count(), threads=threads, rows=rows, ratios=ratios),
                indent=2,
            )
        )
        return
    print(
        f"local/gemma-3-270m on {os.cpu_count()} cores ({threads} model threads); "
        f"load {local_model.LOAD_SECONDS:.2f} s; "
        f"{args.n} judge prompts per mode, greedy, max_tokens {args.max_tokens}\n"
    )
    head = [
        "mode",
        "votes/s",
        "s/vote",
        "prompt tok/s",
        "gen tok/s",
        "tok in",
        "tok out",
        "parsed",
        "correct",
        "said pass",
    ]
    table = [
        [
            r["mode"],
            _fmt(r["votes_per_s"], ".3f"),
            _fmt(r["s_per_vote"], ".2f"),
            _fmt(r["prompt_tok_per_s"], ".0f"),
            _fmt(r["gen_tok_per_s"], ".1f"),
            _fmt(r["prompt_tokens"], ".0f"),
            _fmt(r["output_tokens"], ".0f"),
            _fmt(r["parsed"], ".0%"),
            _fmt(r["correct"], ".0%"),
            _fmt(r["said_pass"], ".0%"),
        ]
        for r in rows.values()
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *table)]
    for line in [head, ["-" * w for w in widths], *table]:
        print("  ".join(str(x).rjust(w) if i else str(x).ljust(w) for i, (x, w) in enumerate(zip(line, widths))))
    print()
    for name, value in ratios.items():
        print(f"{name}: {value:.2f}x")
    if "logprob" in rows:
        print(f"logprob P(pass) per prompt (expected pass, fail alternating): {rows['logprob']['p_pass']}")


if __name__ == "__main__":
    main()
