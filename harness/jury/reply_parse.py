"""Reading a judge's reply into a label, score and rationale: tolerant of fences, prose and key variants."""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

# Vote.abstain_code of a reply with no readable verdict (empty, garbled, conflicting)
UNPARSEABLE: Literal["unparseable"] = "unparseable"


@dataclass(frozen=True)
class ParsedReply:
    label: str  # pass | fail | abstain
    score: float | None = None
    rationale: str = ""
    abstain_reason: str | None = None
    abstain_code: Literal["unparseable"] | None = None


@dataclass(frozen=True)
class _Found:
    label: str | None = None
    score: float | None = None
    rationale: str = ""
    notes: tuple[str, ...] = ()

    @property
    def decides(self) -> bool:
        return self.label is not None or self.score is not None


VERDICT_KEYS = ("verdict", "label", "decision", "result", "outcome", "judgment", "judgement", "answer")
SCORE_KEYS = ("score", "rating", "grade")
RATIONALE_KEYS = ("rationale", "reason", "reasoning", "explanation", "justification", "comment")
MAX_PARSE_CHARS = 100_000  # bounds the brace scan; a verdict comes early
_SEP = r"[\s*_:#=>\-\"'`]*"
_VERDICT_LINE = re.compile(
    r"\b(?:verdict|decision|label|result|outcome|judge?ment|answer)\b" + _SEP + r"\b(pass(?:ed|es)?|fail(?:ed|s)?)\b",
    re.I,
)
_SCORE_LINE = re.compile(r"\b(?:score|rating|grade)\b" + _SEP + r"(\d+(?:\.\d+)?)(?:\s*(?:/|out\s+of)\s*(\d+))?", re.I)
_RATIONALE_LINE = re.compile(r"^\W*(?:rationale|reason(?:ing)?|explanation|justification)\b\W*(\S.*)$", re.I | re.M)
_FENCED = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\n?(.*?)```", re.S)
# A verdict stated, not mentioned: at the start of a line or sentence, with a colon or equals sign.
_EXPLICIT_VERDICT = re.compile(
    r"(?:^|(?<=[.!?])[ \t]+)[ \t*_#\-]*(?:(?:final|overall|my)\s+)?"
    r"(?:verdict|decision|label|result|outcome|judge?ment|answer)[\s*_#\-\"'`]*[:=][\s*_#\-\"'`]*"
    r"(pass(?:ed|es)?|fail(?:ed|s)?)\b",
    re.I | re.M,
)
# A judge quoting its material: an echoed fence (real or defused lookalike markers), or a markdown blockquote.
_ECHOED_FENCE = re.compile(r"(?:<<<|‹‹‹)BEGIN\b(?:.*?(?:<<<|‹‹‹)END\b[^\n]*|[^\n]*)", re.S)
_BLOCKQUOTE = re.compile(r"^[ \t]*>.*$", re.M)
_THINK = re.compile(r"<think>.*?</think>", re.S | re.I)  # a reasoning model's scratchpad is not its answer


def _label_of(value: Any, *, yes_no: bool = False) -> str | None:
    if isinstance(value, bool):
        return "pass" if value else "fail"
    word = value.strip().strip(".!*\"'` ").lower() if isinstance(value, str) else ""
    if word in ("pass", "passed", "passes") or (yes_no and word in ("true", "yes")):
        return "pass"
    if word in ("fail", "failed", "fails") or (yes_no and word in ("false", "no")):
        return "fail"
    return None


def _score_of(value: Any) -> tuple[float | None, tuple[str, ...]]:
    """A 1-5 score from a number or "4", "4/5", "8 out of 10" (other denominators rescaled to 5)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None, ()
    if isinstance(value, str):
        if not (m := re.match(r"\s*(\d+(?:\.\d+)?)\s*(?:(?:/|out\s+of)\s*(\d+))?", value)):
            return None, ()
        value = float(m[1]) * (5.0 / float(m[2]) if m[2] and float(m[2]) not in (0.0, 5.0) else 1.0)
    score = float(value)
    if not math.isfinite(score) or not 1.0 <= score <= 5.0:
        return None, (f"score {score:g} outside 1-5 ignored",)
    return score, ()


def _from_dict(obj: Any) -> _Found | None:
    if not isinstance(obj, dict):
        return None
    keys = {str(k).strip().lower(): v for k, v in obj.items()}
    label = next((lab for k in VERDICT_KEYS if k in keys and (lab := _label_of(keys[k]))), None)
    if label is None and ("pass" in keys or "passed" in keys):
        label = _label_of(keys.get("pass", keys.get("passed")), yes_no=True)
    score, notes = next((_score_of(keys[k]) for k in SCORE_KEYS if k in keys), (None, ()))
    if label is None and score is None:  # perhaps wrapped: {"vote": {...}}
        nested = [f for v in keys.values() if (f := _from_dict(v)) is not None]
        return nested[0] if nested else _Found(notes=notes) if notes else None
    rationale = next((str(keys[k]) for k in RATIONALE_KEYS if keys.get(k) not in (None, "")), "")
    return _Found(label, score, rationale, notes)


def _loads(text: str) -> Any:
    for attempt in (json.loads, lambda t: json.loads(re.sub(r",\s*([}\]])", r"\1", t)), ast.literal_eval):
        try:  # JSON, JSON with trailing commas, then a Python dict literal
            return attempt(text.strip())
        except Exception:
            continue
    return None


def _balanced_objects(text: str) -> list[str]:
    return [text[s : e + 1] for s, e in _balanced_spans(text)]


def _balanced_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every balanced {...}, by start (outer before inner), in one pass; quotes are tracked
    inside braces only."""
    stack: list[int] = []
    pairs: list[tuple[int, int]] = []
    in_string = escaped = False
    for i, ch in enumerate(text[:MAX_PARSE_CHARS]):
        if in_string:
            escaped, in_string = (False, True) if escaped else (ch == "\\", ch != '"')
        elif ch == '"' and stack:
            in_string = True
        elif ch == "{":
            stack.append(i)
        elif ch == "}" and stack:
            pairs.append((stack.pop(), i))
    return sorted(pairs)[:64]


def _pick(found: list[_Found]) -> _Found | None:
    """The first finding that decides. Findings that disagree make the reply unreadable: a judge quoting an
    agent's `{"verdict": "pass"}` before giving its own answer must not have the quote counted."""
    decided = [f for f in found if f.decides]
    labels = sorted({f.label for f in decided if f.label})
    if len(labels) > 1:
        return _Found(notes=(f"the reply gives conflicting verdicts ({' and '.join(labels)})",))
    return decided[0] if decided else next((f for f in found if f.notes), None)


def _schema_valid(obj: Any, scale: str) -> bool:
    """Whether `obj` has every key the reply schema (judge.VOTE_SCHEMA) requires, each with a usable value."""
    if not isinstance(obj, dict):
        return False
    keys = {str(k).strip().lower(): v for k, v in obj.items()}
    if _label_of(keys.get("verdict")) is None or not isinstance(keys.get("rationale"), str):
        return False
    return scale != "ordinal" or ("score" in keys and _score_of(keys["score"])[0] is not None)


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str)


@dataclass(frozen=True)
class _Planted:
    """What the fenced material (the agent's output and the rest) already contained: a judge quoting it is
    not voting, so identical objects and verdict lines in the reply are not counted."""

    objects: frozenset[str] = frozenset()
    texts: tuple[str, ...] = ()

    @classmethod
    def of(cls, untrusted: Sequence[str]) -> _Planted:
        objects = set()
        for text in untrusted:
            for candidate in [text, *_balanced_objects(text)]:
                if isinstance(obj := _loads(candidate), dict):
                    objects.add(_canonical(obj))
        return cls(frozenset(objects), tuple(t[:MAX_PARSE_CHARS] for t in untrusted))

    def has_object(self, obj: Any) -> bool:
        return _canonical(obj) in self.objects

    def has_line(self, line: str) -> bool:
        line = line.strip()
        return bool(line) and any(line in t for t in self.texts)


def _blank(m: re.Match[str]) -> str:
    return re.sub(r"[^\n]", " ", m.group(0))  # same length, same lines: positions stay comparable


def _unquoted(text: str) -> str:
    """The reply with what it quotes blanked out: fenced material it echoes, and `> ` blockquote lines."""
    return _BLOCKQUOTE.sub(_blank, _ECHOED_FENCE.sub(_blank, text))


def _objects(text: str, planted: _Planted) -> tuple[str, list[tuple[int, int, Any]]]:
    """(start, end, object) of every JSON object in the text, fenced or inline, that the material did not
    hold; and the text with the ones it held blanked, so no later mention-scan reads them either."""
    found = [(m.start(1), m.end(1), _loads(m[1])) for m in _FENCED.finditer(text)]
    found += [(s, e + 1, _loads(text[s : e + 1])) for s, e in _balanced_spans(text)]
    found = [(s, e, o) for s, e, o in found if isinstance(o, dict)]
    for s, e, o in found:
        if planted.has_object(o):
            text = text[:s] + re.sub(r"[^\n]", " ", text[s:e]) + text[e:]
    return text, [(s, e, o) for s, e, o in found if not planted.has_object(o)]


def _explicit_verdicts(text: str, planted: _Planted) -> list[tuple[int, str]]:
    """(position, label) of each `Verdict: fail` said at the start of a line or sentence, in order."""
    out = []
    for m in _EXPLICIT_VERDICT.finditer(text[:MAX_PARSE_CHARS]):
        line_start = text.rfind("\n", 0, m.start()) + 1
        line_end = text.find("\n", m.end())
        if not planted.has_line(text[line_start : line_end if line_end >= 0 else len(text)]):
            out.append((m.start(), _label_of(m[1]) or ""))
    return out


def _conflict(labels: set[str]) -> _Found:
    return _Found(notes=(f"the reply gives conflicting verdicts ({' and '.join(sorted(labels))})",))


def _find(text: str, scale: str, planted: _Planted) -> _Found | None:
    """Schema first: the reply as one object; else the LAST object in it with every schema key (judges
    conclude at the end); else other objects and explicit verdict lines, the final verdict line winning a
    conflict when nothing follows it; else any verdict or score mention at all."""
    whole = _from_dict(_loads(text))
    if whole is not None and whole.decides:
        return whole  # the well-behaved case: the reply is the object
    visible = _unquoted(text)
    visible, objects = _objects(visible, planted)
    schema = [(e, -s, o) for s, e, o in objects if _schema_valid(o, scale)]
    if schema:
        return _from_dict(max(schema, key=lambda t: t[:2])[2])
    json_found = [(e, f) for s, e, o in sorted(objects, key=lambda t: t[0]) if (f := _from_dict(o)) is not None]
    explicit = _explicit_verdicts(visible, planted)
    if explicit:
        last_pos, last_label = explicit[-1]
        json_labels = {f.label for _, f in json_found if f.label}
        json_end = max((e for e, f in json_found if f.decides), default=-1)
        if not json_labels or json_labels == {last_label} or last_pos > json_end:
            return _line_found(visible, last_label)
        return _conflict(json_labels | {last_label})
    picked = _pick([f for _, f in json_found])
    if picked is not None and (picked.decides or picked.notes):
        return picked
    return _from_lines(visible) or picked or whole


def _line_found(text: str, label: str) -> _Found:
    score_match = _SCORE_LINE.search(text)
    score, notes = _score_of(f"{score_match[1]}/{score_match[2] or 5}") if score_match else (None, ())
    why = _RATIONALE_LINE.search(text)
    return _Found(label, score, why[1].strip() if why else text.strip()[:1000], notes)


def _from_lines(text: str) -> _Found | None:
    """`Verdict: PASS`, `**Verdict:** fail`, `Score: 4/5`, or a bare `PASS`."""
    verdicts = [_label_of(v) for v in _VERDICT_LINE.findall(text)] or [_label_of(text if len(text) < 16 else "")]
    score_match = _SCORE_LINE.search(text)
    score, notes = _score_of(f"{score_match[1]}/{score_match[2] or 5}") if score_match else (None, ())
    why = _RATIONALE_LINE.search(text)
    return _pick([_Found(label, score, why[1].strip() if why else text.strip()[:1000], notes) for label in verdicts])


def _abstain(reason: str) -> ParsedReply:
    return ParsedReply(label="abstain", abstain_reason=reason, abstain_code=UNPARSEABLE)


def _decide(found: _Found, scale: str, pass_mark: float) -> ParsedReply:
    """Fill a missing label from the score (ordinal only) and note contradictions; an explicit verdict wins."""
    notes, label, score = list(found.notes), found.label, found.score
    if score is None and label is None:
        return _abstain("unparseable reply: " + ("; ".join(notes) or "no verdict"))
    if label is None:
        if scale != "ordinal":  # on a binary scale a bare score is ambiguous: {"score": 1} may well mean pass
            return _abstain(f"unparseable reply: a score ({score:g}) without a verdict on a binary scale")
        label = "pass" if score >= pass_mark else "fail"  # type: ignore[operator]
        notes.append(f"verdict derived from score {score:g} at pass mark {pass_mark:g}")
    elif scale == "ordinal" and score is not None and (score >= pass_mark) != (label == "pass"):
        notes.append(f"score {score:g} contradicts verdict {label} at pass mark {pass_mark:g}; the verdict counts")
    rationale = " ".join([found.rationale.strip(), *(f"[parser: {n}]" for n in notes)]).strip()
    return ParsedReply(label=label, score=score, rationale=rationale)


def parse_reply(text: str, scale: str, pass_mark: float, untrusted: Sequence[str] = ()) -> ParsedReply:
    """Read a judge's reply however it is dressed (JSON, fenced JSON, JSON in prose, `Verdict:` lines); never
    raises. `untrusted`: the fenced material the judge was shown, whose objects and lines it may quote."""
    try:
        stripped = (text or "").strip()
        if not stripped:
            return _abstain("empty reply")
        body = _THINK.sub("", stripped).strip() or stripped
        found = _find(body, scale, _Planted.of(untrusted))
        if found is None:
            return _abstain(f"unparseable reply: {one_line(body)[:80]!r}")
        return _decide(found, scale, pass_mark)
    except Exception as exc:  # a parser bug must cost one vote, not the run
        return _abstain(f"unparseable reply: parser error {type(exc).__name__}")


# ---------------------------------------------------------------- the call


def one_line(text: str) -> str:
    return " ".join(text.split())
