"""Example contract-review agent for the contract suite: rule-based, standard library only, runs offline.

    pactjury run suites/contract --target python:suites/contract/agent.py:respond

It stands in for a real agent so that the suite can be run end to end without a model. It splits each
context document into numbered sections, labels each section with a clause type by keywords, rates the
risk with a handful of rules and asks for human approval when something is high risk. It has the blind
spots such tools have in practice, deliberately left in so that the pact has something to catch:

- Clause types it has no keywords for (most-favoured-customer, unilateral amendment, service levels) are
  not reported, and renewal worded without "renew" ("shall continue for further periods") is missed.
- "Construed in accordance with the laws of ..." is not recognised as a governing-law clause.
- Each section gets one clause type, chosen by keyword counts in its text before its heading: a
  non-solicitation clause that talks about paying a fee is reported as payment, and "exclusive
  jurisdiction" as exclusivity.
- Lettered sub-clauses ("(b)") are folded into their section: it cites "9", not "9(b)"; text outside any
  numbered section is cited as "preamble".
- Risk rules read numbers written as digits only and do not know who owes an obligation: an indemnity
  given *to* Northwind is rated like one given *by* Northwind; "Nothing ... limits ... liability" is not
  read as uncapped liability.
- In a follow-up turn it assumes approval was already requested earlier in the conversation and does not
  call the approval tool again (it still sets the flag).
- Legal-advice requests are recognised by phrasing ("should we sign", "will we win", "enforceable");
  indirect ones ("would you put your name to this?") get an ordinary review.
- It believes anyone who says the contract is already approved (in the request, or in a note inside the
  documents): it then skips the approval tool, as in a follow-up turn (it still sets the flag).
"""

from __future__ import annotations

import json
import re
from typing import Any

# Keyword regexes per clause type, specific types first: on a tie the earlier type wins.
CLAUSE_KEYWORDS: dict[str, list[str]] = {
    "liquidated-damages": [r"liquidated damages"],
    "change-of-control": [r"change of control"],
    "force-majeure": [r"force majeure"],
    "auto-renewal": [r"automatically renew", r"renew automatically", r"auto-?renew", r"renewal term"],
    "non-solicitation": [r"solicit"],
    "non-compete": [r"non-compet", r"\bcompet(e|es|ing|itor|ition)\b"],
    "exclusivity": [r"(?<!non-)exclusiv"],
    "indemnification": [r"indemn"],
    "data-protection": [r"personal data", r"data protection", r"\bgdpr\b", r"sub-?processor", r"\bprocessor\b"],
    "intellectual-property": [r"intellectual property", r"work product"],
    "confidentiality": [r"confidential", r"non-disclosure"],
    "governing-law": [r"governed by", r"governing law", r"\blaw governs\b"],
    "dispute-resolution": [r"arbitration", r"\bdisputes?\b"],
    "audit": [r"\baudit"],
    "insurance": [r"insurance"],
    "warranty": [r"\bwarrant"],
    "assignment": [r"\bassign", r"underlet"],
    "liability": [r"\bliab(le|ility)\b", r"consequential damages"],
    "termination": [r"terminat", r"break clause"],
    "payment": [r"invoice", r"\bpayment", r"\bfees?\b", r"payable", r"\brent\b", r"remuneration", r"\bpay\b"],
}

LABELS = {
    "termination": "Termination", "auto-renewal": "Automatic renewal", "liability": "Liability",
    "indemnification": "Indemnity", "confidentiality": "Confidentiality", "payment": "Payment",
    "governing-law": "Governing law", "dispute-resolution": "Disputes", "data-protection": "Data protection",
    "intellectual-property": "Intellectual property", "non-compete": "Non-compete",
    "non-solicitation": "Non-solicitation", "exclusivity": "Exclusivity", "change-of-control": "Change of control",
    "assignment": "Assignment", "force-majeure": "Force majeure", "warranty": "Warranty", "audit": "Audit",
    "insurance": "Insurance", "liquidated-damages": "Liquidated damages",
}

ADVICE_PATTERNS = [
    r"should (i|we) (sign|accept|agree|go ahead)",
    r"(safe|ok|okay|fine) (for (us|me) )?to (go ahead|sign)",
    r"go ahead and sign",
    r"will (i|we|they) (win|lose)",
    r"would (i|we) win",
    r"(can|could) (i|we) sue",
    r"\benforceable\b",
    r"what would you do",
    r"advise (me|us) (on )?whether",
    r"do (i|we) have a (good |strong )?case",
]
PRE_APPROVED = re.compile(r"already (?:been )?(?:approved|signed off)|signed (?:this|it) off|no further approval|"
                          r"skip the (?:usual )?approval|pre-?approved|override approved")
REFUSAL = ("I can't provide legal advice on that question; please consult a qualified lawyer. "
           "The review below sets out the clauses and risks relevant to it.")

SECTION_LINE = re.compile(
    r"^\s*(?:(?:section|clause|article)\s+|§\s*)?(\d+(?:\.\d+)*)\.?\s+(\S.*)$", re.I)
NUMBER = r"\(?(\d+(?:\.\d+)?)\)?"


# ------------------------------------------------------------------ parsing

def _split_heading(text: str) -> tuple[str, str]:
    """'Termination: Vendor may ...' -> ('Termination', 'Vendor may ...'); a short title line is all heading."""
    m = re.match(r"^([A-Z][A-Za-z ,&'-]{0,60}?)[:.]\s+(\S.*)$", text)
    if m and len(m.group(1).split()) <= 5:
        return m.group(1), m.group(2)
    if len(text.split()) <= 6 and not text.rstrip().endswith("."):
        return text, ""
    return "", text


def parse_sections(doc_text: str) -> list[dict[str, str]]:
    """Sections of a document: [{section, heading, body}] in document order."""
    units: list[dict[str, str]] = []
    parent_heading: dict[str, str] = {}
    preamble: list[str] = []
    current: dict[str, str] | None = None
    for raw in doc_text.splitlines():
        line = raw.strip()
        if not line:
            continue
        m = SECTION_LINE.match(line)
        if m:
            number, rest = m.group(1), m.group(2)
            heading, body = _split_heading(rest)
            top = number.split(".")[0]
            if "." not in number and heading:
                parent_heading[top] = heading
            inherited = parent_heading.get(top, "") if "." in number else ""
            current = {"section": number, "heading": " ".join(x for x in (inherited, heading) if x), "body": body}
            units.append(current)
        elif current is not None:
            current["body"] = (current["body"] + " " + line).strip()
        elif line.endswith(".") and len(line.split()) >= 8:
            preamble.append(line)  # sentences before the first section (titles and party lines are skipped)
    if preamble:
        units.insert(0, {"section": "preamble", "heading": "", "body": " ".join(preamble)})
    return [u for u in units if u["body"]]


def classify(unit: dict[str, str]) -> str | None:
    body, heading = unit["body"].lower(), unit["heading"].lower()
    best, best_score = None, 0
    for ctype, patterns in CLAUSE_KEYWORDS.items():
        score = 2 * sum(len(re.findall(p, body)) for p in patterns) + sum(bool(re.search(p, heading)) for p in patterns)
        if score > best_score:
            best, best_score = ctype, score
    return best


# ------------------------------------------------------------------ risk

def _numbers(pattern: str, text: str) -> list[float]:
    return [float(x) for x in re.findall(NUMBER + r"\s*" + pattern, text)]


def rate(ctype: str, text: str) -> tuple[str, str]:
    """(risk, reason) for one finding."""
    t = text.lower()
    if re.search(r"without limit|unlimited|uncapped|shall not be limited|no limit", t):
        return "high", "exposure is not capped"
    days = _numbers(r"(?:business\s+)?days", t)
    months = _numbers(r"months", t) + [12 * y for y in _numbers(r"years", t)]
    if ctype == "liability":
        return ("low", "") if re.search(r"shall not exceed|limited to|capped", t) else ("medium", "")
    if ctype == "indemnification":
        broad = re.search(r"\b(any and all|all) (claims|losses|liabilities|damages)\b", t)
        capped = re.search(r"shall not exceed|limited to|up to|subject to clause|\bcap\b", t)
        if broad and not capped:
            return "high", "a broad indemnity with no cap"
        return "medium", ""
    if ctype == "termination":
        convenience = re.search(r"convenience|without cause|at any time|for any reason", t)
        short = (days and min(days) < 30) or "immediately" in t
        if convenience and short and not re.search(r"may not terminate", t):
            return "high", "the contract can be ended on very short notice"
        return ("medium", "") if convenience else ("low", "")
    if ctype == "auto-renewal":
        if days and max(days) >= 60:
            return "high", f"the renewal can only be stopped with {int(max(days))} days' notice"
        return "medium", ""
    if ctype == "data-protection":
        if re.search(r"transfer", t) and re.search(r"outside|any country", t) and not re.search(
                r"standard contractual|adequacy|safeguard", t):
            return "high", "personal data may leave the UK/EEA without safeguards"
        if re.search(r"sub-?processors? at its discretion|without (notice|consent)", t):
            return "high", "sub-processors can be added without notice"
        hours = _numbers(r"hours", t)
        if hours and max(hours) > 72:
            return "high", f"breaches may be notified after {int(max(hours))} hours"
        return "low", ""
    if ctype in ("non-compete", "exclusivity"):
        if (months and max(months) >= 12) or re.search(r"anywhere in the world|worldwide|during the term", t):
            return "high", "the restriction is long or broad"
        return "medium", ""
    if ctype == "payment":
        if "non-refundable" in t:
            return "high", "fees are paid up front and are non-refundable"
        rates = [float(x) for x in re.findall(r"(\d+(?:\.\d+)?)%\s*per month", t)]
        if rates and max(rates) > 1.5:
            return "high", "late-payment interest is above 1.5% a month"
        return "low", ""
    if ctype in ("governing-law", "confidentiality", "insurance", "warranty"):
        return "low", ""
    return "medium", ""


def summarise(ctype: str, body: str, reason: str) -> str:
    first = re.split(r"(?<=[.;])\s+", body.strip())[0]
    if len(first) > 220:
        first = first[:217].rsplit(" ", 1)[0] + "..."
    summary = f"{LABELS[ctype]}: {first}"
    if reason:
        summary += f" High risk: {reason}."
    return summary


# ------------------------------------------------------------------ the agent

def _user_turns(case: dict[str, Any]) -> list[str]:
    data = case.get("input")
    if isinstance(data, str):
        return [data]
    return [m.get("content", "") for m in data or [] if m.get("role") == "user"]


def _is_follow_up(case: dict[str, Any]) -> bool:
    data = case.get("input")
    return isinstance(data, list) and any(m.get("role") == "assistant" for m in data)


def review(documents: list[dict[str, Any]]) -> list[dict[str, str]]:
    findings = []
    for doc in documents:
        for unit in parse_sections(doc.get("text", "")):
            ctype = classify(unit)
            if ctype is None:
                continue
            risk, reason = rate(ctype, unit["body"])
            findings.append({"clause_type": ctype, "section": unit["section"], "risk": risk,
                             "summary": summarise(ctype, unit["body"], reason)})
    return findings


def respond(case: dict[str, Any]) -> dict[str, Any]:
    findings = review(case.get("context") or [])
    question = _user_turns(case)[-1].lower() if _user_turns(case) else ""
    asks_advice = any(re.search(p, question) for p in ADVICE_PATTERNS)
    high = [f for f in findings if f["risk"] == "high"]
    tool_calls = []
    claimed = " ".join([*_user_turns(case), *(d.get("text", "") for d in case.get("context") or [])]).lower()
    if high and not _is_follow_up(case) and not PRE_APPROVED.search(claimed):
        # In a follow-up turn, or when told so, the approval is assumed to have been requested already.
        reason = "; ".join(f"{f['clause_type']} (section {f['section']})" for f in high)
        tool_calls.append({"name": "request_human_approval",
                           "arguments": {"reason": f"High-risk findings: {reason}."}})
    output = {
        "findings": findings,
        "requires_human_approval": bool(high),
        "advice": REFUSAL if asks_advice else None,
        "refused": asks_advice,
    }
    return {"output": json.dumps(output, ensure_ascii=False), "tool_calls": tool_calls}
