"""Secret patterns (API keys, tokens, private keys), finding them, and redacting them from text and URLs."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ELLIPSIS = "…"


@dataclass(frozen=True)
class SecretPattern:
    """A named pattern. Group `pre` stays visible (a recognisable prefix); group `body` is masked.

    `random` requires the body to mix character classes: real keys are random, prose is not, and this
    is what keeps `sk-` followed by hyphenated words from counting as a key.
    """

    kind: str
    regex: re.Pattern[str]
    random: bool = False
    show_tail: bool = True  # show the last 4 characters of the body, as key dashboards do


@dataclass(frozen=True)
class SecretMatch:
    kind: str
    start: int
    end: int
    masked: str  # the match with its body masked: safe to print


def _p(kind: str, pattern: str, *, random: bool = False, show_tail: bool = True, flags: int = 0) -> SecretPattern:
    return SecretPattern(kind, re.compile(pattern, flags), random, show_tail)


_END = r"(?![A-Za-z0-9_-])"  # a token ends where its alphabet ends (\b fails after a trailing '-')

# Order matters where patterns overlap: the more specific one wins at the same start.
SECRET_PATTERNS: tuple[SecretPattern, ...] = (
    _p(
        "private-key",
        r"(?P<pre>-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----)"
        r"(?P<body>[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|[\s\S]*)",
        show_tail=False,
    ),
    _p(
        "anthropic-key",
        r"(?<![A-Za-z0-9_-])(?P<pre>sk-ant-(?:[a-z]+\d\d-)?)(?P<body>[A-Za-z0-9_-]{20,})" + _END,
        random=True,
    ),
    _p(
        "openai-key",
        r"(?<![A-Za-z0-9_-])(?P<pre>sk-(?!ant-)(?:proj-|svcacct-|admin-)?)(?P<body>[A-Za-z0-9_-]{20,})" + _END,
        random=True,
    ),
    _p("stripe-key", r"(?<![A-Za-z0-9_])(?P<pre>(?:sk|rk)_(?:live|test)_)(?P<body>[0-9A-Za-z]{10,})" + _END),
    _p("aws-access-key-id", r"\b(?P<pre>(?:AKIA|ASIA|ABIA|ACCA))(?P<body>[A-Z0-9]{16})\b"),
    _p(
        "aws-secret-key",
        r"(?P<pre>(?i:aws_?secret_?access_?key)[\"']?\s*[:=]\s*[\"']?)(?P<body>[A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])",
    ),
    _p("github-token", r"\b(?P<pre>gh[pousr]_)(?P<body>[A-Za-z0-9]{36,})\b"),
    _p("github-token", r"\b(?P<pre>github_pat_)(?P<body>[A-Za-z0-9_]{22,})\b"),
    _p("slack-token", r"\b(?P<pre>xox[abposr]-)(?P<body>[A-Za-z0-9-]{10,})" + _END),
    _p("slack-webhook", r"(?P<pre>https://hooks\.slack\.com/services/)(?P<body>[A-Za-z0-9/_-]{20,})"),
    _p("google-api-key", r"(?<![A-Za-z0-9_-])(?P<pre>AIza)(?P<body>[0-9A-Za-z_-]{35})" + _END),
    _p(
        "jwt",
        r"(?<![A-Za-z0-9_-])(?P<pre>eyJ)"
        r"(?P<body>[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*)" + _END,
    ),
    _p("bearer-token", r"(?P<pre>\b[Bb]earer\s+)(?P<body>[A-Za-z0-9._~+/-]{20,}=*)", random=True),
)

# Redaction only: `NAME_KEY=value`, `--password value`, `"token": "value"`. Too loose for a leak check
# ("password: click the link"), but right for scrubbing command lines and error messages before storing.
_NAMES = (
    r"(?i:api[_-]?key|apikey|access[_-]?key|secret(?:[_-]?key)?|client[_-]?secret|auth[_-]?token|"
    r"access[_-]?token|token|password|passwd|pwd|credentials?)"
)
_ASSIGNMENTS = (
    _p(
        "credential",
        r"(?P<pre>(?<![A-Za-z0-9])(?:[A-Za-z0-9]+[_-])*" + _NAMES + r"[\"']?\s*[:=]\s*[\"']?)"
        r"(?P<body>[^\s\"',;&…]{4,})(?![^\s\"',;&])",
        show_tail=False,
    ),
    _p(
        "credential",
        r"(?P<pre>(?<![A-Za-z0-9-])--?(?:[A-Za-z0-9]+-)*" + _NAMES + r"\s+[\"']?)"
        r"(?P<body>[^\s\"',;&…-][^\s\"',;&…]{3,})(?![^\s\"',;&])",
        show_tail=False,
    ),
)


def _is_random(token: str) -> bool:
    classes = sum(bool(re.search(rx, token)) for rx in ("[a-z]", "[A-Z]", "[0-9]"))
    return classes >= 2


def _mask(m: re.Match[str], pattern: SecretPattern) -> str:
    body = m.group("body")
    tail = body[-4:] if pattern.show_tail and len(body) >= 16 else ""
    # The visible prefix says what leaked (which provider, which variable) without leaking it.
    return m.string[m.start() : m.start("body")] + ELLIPSIS + tail + m.string[m.end("body") : m.end()]


def _scan(text: str, patterns: Iterable[SecretPattern]) -> list[SecretMatch]:
    found: list[SecretMatch] = []
    for pattern in patterns:
        for m in pattern.regex.finditer(text):
            body = m.group("body")
            if body.startswith(ELLIPSIS) or (pattern.random and not _is_random(body)):
                continue  # already redacted (keeps redact idempotent), or prose rather than a key
            found.append(SecretMatch(pattern.kind, m.start(), m.end(), _mask(m, pattern)))
    return found


def _non_overlapping(matches: list[SecretMatch], taken: list[SecretMatch] | None = None) -> list[SecretMatch]:
    """Earliest first, longest first at the same start; a match overlapping a kept one is dropped."""
    kept = list(taken or [])
    for m in sorted(matches, key=lambda m: (m.start, -(m.end - m.start))):
        if all(m.end <= k.start or m.start >= k.end for k in kept):
            kept.append(m)
    return sorted(kept, key=lambda m: m.start)


def find_secrets(text: str, extra: Iterable[re.Pattern[str]] = ()) -> list[SecretMatch]:
    """Every secret in `text` (plus matches of `extra` patterns, kind "custom"), non-overlapping."""
    found = _scan(text, SECRET_PATTERNS)
    for rx in extra:
        for m in rx.finditer(text):
            if m.end() > m.start():
                found.append(SecretMatch("custom", m.start(), m.end(), mask_value(m.group(0))))
    return _non_overlapping(found)


def mask_value(value: str) -> str:
    """A printable stand-in for a secret or PII value: its first and last few characters at most."""
    if len(value) < 12:
        return ELLIPSIS if len(value) < 6 else value[:1] + ELLIPSIS
    return value[:3] + ELLIPSIS + value[-4:]


def redact(text: str) -> str:
    """`text` with every secret masked (specific patterns first, then `KEY=value`-style credentials)."""
    if not text:
        return text
    specific = _non_overlapping(_scan(text, SECRET_PATTERNS))
    matches = _non_overlapping(_scan(text, _ASSIGNMENTS), taken=specific)
    out, pos = [], 0
    for m in matches:
        out.append(text[pos : m.start])
        out.append(m.masked)
        pos = m.end
    out.append(text[pos:])
    return "".join(out)


_SENSITIVE_PARAM = re.compile(r"key|token|secret|passw|pwd|sig|auth|credential|session", re.IGNORECASE)


def _redact_query(query: str) -> str:
    parts = []
    for part in query.split("&"):
        name, sep, value = part.partition("=")
        parts.append(f"{name}=***" if sep and value and _SENSITIVE_PARAM.search(name) else part)
    return "&".join(parts)


def redact_url(url: str) -> str:
    """`url` with the userinfo password and sensitive query/fragment parameters replaced by ***."""
    try:
        u = urlsplit(url)
        netloc = u.netloc
        if u.password is not None:
            userinfo, _, host = netloc.rpartition("@")
            netloc = f"{userinfo.partition(':')[0]}:***@{host}"
        cleaned = urlunsplit((u.scheme, netloc, u.path, _redact_query(u.query), _redact_query(u.fragment)))
    except ValueError:  # e.g. a malformed IPv6 host: fall back to pattern redaction only
        cleaned = url
    return redact(cleaned)


_URL_IN_TEXT = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>`]+")


def redact_urls(text: str) -> str:
    """`text` with every URL in it passed through redact_url, then every other secret pattern masked."""
    if not text:
        return text
    return redact(_URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text))


def scrub(value: Any) -> Any:
    """A copy of plain data (dicts, lists, strings) with every string's URLs and secrets redacted; keys too,
    since a YAML key can hold anything. What may be stored, hashed for display or printed."""
    if isinstance(value, str):
        return redact_urls(value)
    if isinstance(value, dict):
        return {scrub(k): scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v) for v in value]
    return value
