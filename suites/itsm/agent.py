"""Example incident-triage agent for the itsm suite: rule-based, standard library only, runs offline.

    pactjury run suites/itsm --target python:suites/itsm/agent.py:respond

It stands in for a real agent so that the suite can be run end to end without a model. It is a plain
keyword classifier with the blind spots such classifiers have in practice, and it is deliberately left
that way: the pact is supposed to catch them.

- Priority comes from phrases about scope ("everyone", "whole team") and urgency words: it takes shouting
  ("URGENT!!!") at face value, reads "nobody on the ground floor" as a site-wide outage, and misses scope
  said in other words ("for anyone in the company").
- Category is the category with the most keyword hits, so security incidents described in everyday words
  land in the wrong queue: a phishing victim who typed a password goes to the identity team, a laptop left
  on a train to desktop support, customer data e-mailed to the wrong address to the mail team.
- Escalation is triggered only by surface signs: no category recognised, two categories equally strong,
  a ticket that lists problems ("also", "a few things"), or hedging ("not sure", "or maybe"). A vague
  ticket that happens to contain one keyword ("since the update") is classified with false confidence.
- The reply quotes the ticket's subject line after scrubbing e-mail addresses, North American phone
  numbers and card numbers; other phone formats and employee ids go through untouched. Its template for
  low-priority tickets promises a resolution time.
- A VIP rule takes the sender's word for who they are: a ticket from someone who says they are an
  administrator, a head of department, a director or a chief officer is raised one priority level and never
  handed to an analyst (VIPs want an answer, not a hand-off), so impersonated authority moves both.
- Keywords are matched on the raw text: encoded, misspelt or look-alike-letter tickets match nothing and
  are escalated as unclassifiable. (The adversarial block of suite.yaml measures all of this per clause.)
"""

from __future__ import annotations

import json
import re
from typing import Any

ROUTES = {
    "network": "network-ops",
    "access": "identity-team",
    "hardware": "desktop-support",
    "software": "app-support",
    "security": "security-ops",
    "email": "messaging",
}

# Keyword lists per category (lower-case regexes). Order matters on ties: earlier wins.
KEYWORDS: dict[str, list[str]] = {
    "security": [r"phish", r"malware", r"virus", r"ransom", r"\.locked\b", r"suspicious", r"hack",
                 r"stolen", r"breach", r"bitcoin"],
    "network": [r"\bvpn\b", r"wi-?fi", r"\bnetwork\b", r"internet", r"\bdns", r"intranet", r"\bswitch\b",
                r"router", r"connect", r"offline", r"ethernet", r"network ports?"],
    "access": [r"password", r"locked\b", r"lock(ed)?[- ]out", r"\blog ?in\b", r"sign in", r"\bmfa\b",
               r"authenticator", r"account", r"permission", r"access to", r"access request", r"read-only access"],
    "hardware": [r"laptop", r"monitor", r"screen", r"keyboard", r"mouse", r"printer", r"\bprint", r"dock",
                 r"power on", r"charger", r"battery", r"fan\b", r"badge"],
    "software": [r"\bexcel\b", r"\bword\b", r"\bteams\b", r"\bsap\b", r"\berp\b", r"\bcrm\b", r"install",
                 r"crash", r"freez", r"update", r"licen[cs]", r"portal", r"application", r"\bapp\b",
                 r"visio", r"software", r"release", r"backend", r"times? out"],
    "email": [r"e-?mail", r"outlook", r"mailbox", r"inbox", r"calendar", r"\bmail\b", r"bounce",
              r"distribution list"],
}

P1_SCOPE = [r"\beveryone\b", r"\bnobody\b", r"\ball users\b", r"whole (company|building|office|site|department)",
            r"entire (company|building|office|site)", r"company-wide", r"\bbranch\b.*\b(offline|down)\b",
            r"down for everyone", r"ransom", r"still spreading"]
P2_SCOPE = [r"whole (team|floor)", r"\bmany users\b", r"\bseveral\b", r"\bmultiple users\b",
            r"at least \d+ people", r"\d+ people", r"\bteam\b.*\b(affected|can't|cannot)\b",
            r"phish", r"clicked", r"lost", r"stolen", r"wrong (address|recipient)"]
URGENT = [r"\burgent\b", r"\basap\b", r"!!!"]
LIST_MARKERS = [r"\balso\b", r"\ba (few|couple of) (things|issues|problems)\b", r"\banother (thing|issue)\b"]
HEDGES = [r"\bnot sure\b", r"\bor maybe\b", r"\bno idea what\b", r"\bsame as last time\b"]
VIP = re.compile(r"\b(?:i am|i'm|this is|message from)\b[^\n]{0,60}?\b(?:administrator|head of|director|chief)\b")
LOW = [r"\bno rush\b", r"not urgent", r"whenever", r"how do i", r"\brequest\b", r"for now",
       r"in the meantime", r"would be nice", r"not a big deal"]

SUBJECT = re.compile(r"^\s*subject:\s*(.+)$", re.I | re.M)
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
US_PHONE = re.compile(r"(\+?1[\s.-]?)?\(?\b\d{3}\)?[\s.-]?\d{3}[\s.-]\d{4}\b")
CARD = re.compile(r"\b\d(?:[ -]?\d){12,18}\b")

FRIENDLY_TEAM = {
    "network-ops": "our network team",
    "identity-team": "our accounts and access team",
    "desktop-support": "our desktop support engineers",
    "app-support": "our applications team",
    "security-ops": "our security team",
    "messaging": "our e-mail team",
}
ISSUE = {
    "network": "the connection problem",
    "access": "the problem signing in",
    "hardware": "the problem with your equipment",
    "software": "the problem with the application",
    "security": "what happened",
    "email": "the e-mail problem",
}


def _ticket_text(case: dict[str, Any]) -> str:
    """Everything the customer wrote: the ticket, or every user turn of a chat."""
    data = case.get("input")
    if isinstance(data, str):
        return data
    return "\n".join(m.get("content", "") for m in data or [] if m.get("role") == "user")


def _hits(patterns: list[str], text: str) -> int:
    return sum(len(re.findall(p, text)) for p in patterns)


def _any(patterns: list[str], text: str) -> bool:
    return any(re.search(p, text) for p in patterns)


def classify_category(text: str) -> tuple[str, dict[str, int]]:
    low = text.lower()
    scores = {cat: _hits(words, low) for cat, words in KEYWORDS.items()}
    best = max(scores, key=lambda c: scores[c])  # first on ties (dict order)
    return best, scores


def classify_priority(text: str) -> str:
    low = text.lower()
    if _any(P1_SCOPE, low):
        return "P1"
    if _any(P2_SCOPE, low):
        return "P3" if _any(LOW, low) else "P2"
    if _any(LOW, low):
        return "P4"
    if _any(URGENT, low):
        return "P2"
    return "P3"


def is_ambiguous(text: str, scores: dict[str, int]) -> str | None:
    """A reason to hand the ticket to a human, or None."""
    ranked = sorted(scores.values(), reverse=True)
    if ranked[0] == 0:
        return "No recognisable service or device is mentioned; the ticket needs clarification."
    if ranked[0] >= 2 and ranked[1] == ranked[0]:
        return "The ticket points equally at two different areas; it needs a human to decide."
    if ranked[1] >= 1 and _any(LIST_MARKERS, text.lower()):
        return "The ticket lists several problems in different areas."
    if _any(HEDGES, text.lower()):
        return "The customer is unsure what is affected; the ticket needs clarification."
    if len(text.split()) < 8:
        return "The ticket is too short to classify with confidence."
    return None


def scrub(text: str) -> str:
    text = EMAIL.sub("[e-mail removed]", text)
    text = CARD.sub("[card removed]", text)
    text = US_PHONE.sub("[phone removed]", text)
    return text


def next_step(priority: str, team: str) -> str:
    if priority == "P1":
        return (f"This has been raised as a major incident and {team} are working on it now; "
                "we will send updates every 30 minutes until service is restored.")
    if priority == "P2":
        return f"I've passed it to {team}, who will pick it up within the hour and contact you."
    if priority == "P3":
        return f"I've passed it to {team}; an engineer will be in touch within one business day."
    return f"I've passed it to {team}; it should be resolved within three business days."


def build_reply(text: str, priority: str, category: str, route: str, reason: str | None) -> str:
    m = SUBJECT.search(text)
    opener = (f'Thank you for your message about "{scrub(m.group(1).strip())}".' if m
              else f"Thank you for telling us about {ISSUE[category]}.")
    if reason:
        return (f"{opener} I've passed your ticket to a service desk analyst, who will contact you shortly to "
                "understand exactly what is affected so we can get the right people on it.")
    return f"{opener} {next_step(priority, FRIENDLY_TEAM[route])}"


def respond(case: dict[str, Any]) -> dict[str, Any]:
    text = _ticket_text(case)
    category, scores = classify_category(text)
    priority = classify_priority(text)
    route = ROUTES[category]
    reason = is_ambiguous(text, scores)
    if VIP.search(text.lower()):
        priority = {"P4": "P3", "P3": "P2"}.get(priority, "P1")
        reason = None
    reply = build_reply(text, priority, category, route, reason)
    tool_calls = []
    if reason:
        first_line = text.strip().splitlines()[0] if text.strip() else ""
        tool_calls.append({"name": "escalate_to_human",
                           "arguments": {"reason": reason, "summary": scrub(first_line)[:120]}})
    output = {"priority": priority, "category": category, "route": route,
              "escalate": bool(reason), "reply": reply}
    return {"output": json.dumps(output, ensure_ascii=False), "tool_calls": tool_calls}
