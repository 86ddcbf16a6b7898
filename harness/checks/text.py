"""Text checks: equals, contains, icontains, regex, starts-with, one-of, length and similarity."""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from harness.checks.base import CheckContext, CheckDef, Outcome
from harness.checks.structured import PathParams, compile_regex, json_equal, show

NonEmpty = Annotated[str, Field(min_length=1)]


def _fold(text: str, case_sensitive: bool) -> str:
    # NFC so that a composed "é" equals a decomposed one; casefold so that "STRASSE" matches "straße".
    text = unicodedata.normalize("NFC", text)
    return text if case_sensitive else text.casefold()


def _as_text(value: Any) -> str:
    """A parameter value compared with text: YAML may read `404` or `true` where the user meant the text."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _numbers_to_text(value: Any) -> Any:
    """Before-validator: accept `value: 404` for text parameters instead of rejecting the int."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, list):
        return [_numbers_to_text(v) for v in value]
    return value


def _subject(ctx: CheckContext, path: str | None) -> tuple[Any, str]:
    """The raw value a check compares (text, or the JSON value at path) and how to name it in a detail."""
    if path is None:
        return ctx.transcript.output, "text"
    return ctx.value(path), path


# ---------------------------------------------------------------- equals / one-of


class EqualsParams(PathParams):
    value: Any
    case_sensitive: bool = True
    strip: bool = True


def _equals(ctx: CheckContext, p: EqualsParams) -> Outcome:
    actual, name = _subject(ctx, p.path)
    if not isinstance(actual, str):
        ok = json_equal(actual, p.value)
    else:
        prep = (lambda s: s.strip()) if p.strip else (lambda s: s)
        ok = _fold(prep(actual), p.case_sensitive) == _fold(prep(_as_text(p.value)), p.case_sensitive)
    if ok:
        return Outcome(True, f"{name} equals {show(p.value)}")
    return Outcome(False, f"{name} is {show(actual)}, expected {show(p.value)}")


class OneOfParams(PathParams):
    values: list[Any] = Field(min_length=1)
    case_sensitive: bool = True


def _one_of(ctx: CheckContext, p: OneOfParams) -> Outcome:
    actual, name = _subject(ctx, p.path)
    if isinstance(actual, str):
        got = _fold(actual.strip(), p.case_sensitive)
        ok = any(_fold(_as_text(v).strip(), p.case_sensitive) == got for v in p.values)
    else:
        ok = any(json_equal(actual, v) for v in p.values)
    shown = show(actual.strip() if isinstance(actual, str) else actual)
    if ok:
        return Outcome(True, f"{name} is {shown}, one of the allowed values")
    return Outcome(False, f"{name} is {shown}, expected one of {show(p.values, 80)}")


# ---------------------------------------------------------------- contains / icontains / starts-with


class ContainsParams(PathParams):
    value: NonEmpty | None = None
    values: list[NonEmpty] | None = Field(default=None, min_length=1)
    mode: Literal["any", "all"] = "any"
    case_sensitive: bool = True

    @field_validator("value", "values", mode="before")
    @classmethod
    def _coerce(cls, v: Any) -> Any:
        return _numbers_to_text(v)

    @model_validator(mode="after")
    def _exactly_one(self) -> ContainsParams:
        if (self.value is None) == (self.values is None):
            raise ValueError("give exactly one of value or values")
        return self

    def needles(self) -> list[str]:
        return [self.value] if self.value is not None else list(self.values or ())


class IContainsParams(ContainsParams):
    # Accepted for symmetry with contains, but icontains is case-insensitive by definition.
    case_sensitive: Literal[False] = False


def _contains(ctx: CheckContext, p: ContainsParams) -> Outcome:
    text, name = ctx.text(p.path), p.path or "text"
    hay = _fold(text, p.case_sensitive)
    needles = p.needles()
    present = [n for n in needles if _fold(n, p.case_sensitive) in hay]
    if p.mode == "any":
        if present:
            return Outcome(True, f"{name} contains {show(present[0])}")
        what = show(needles[0]) if len(needles) == 1 else f"any of {show(needles, 80)}"
        return Outcome(False, f"{name} lacks {what} ({len(text)} chars: {show(text, 50)})")
    missing = [n for n in needles if n not in present]
    if missing:
        return Outcome(False, f"{name} lacks {show(missing, 80)} (found {len(present)} of {len(needles)})")
    return Outcome(True, f"{name} contains all {len(needles)} value(s)")


class StartsWithParams(PathParams):
    value: NonEmpty
    case_sensitive: bool = True
    strip: bool = True

    @field_validator("value", mode="before")
    @classmethod
    def _coerce(cls, v: Any) -> Any:
        return _numbers_to_text(v)


def _starts_with(ctx: CheckContext, p: StartsWithParams) -> Outcome:
    text, name = ctx.text(p.path), p.path or "text"
    head, prefix = (text.lstrip(), p.value.strip()) if p.strip else (text, p.value)
    ok = _fold(head, p.case_sensitive).startswith(_fold(prefix, p.case_sensitive))
    if ok:
        return Outcome(True, f"{name} starts with {show(prefix)}")
    return Outcome(False, f"{name} starts with {show(head[: len(prefix) + 10])}, expected {show(prefix)}")


# ---------------------------------------------------------------- regex

_FLAG_BITS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}


def _flag_bits(letters: str) -> int:
    bits = 0
    for letter in letters:
        bits |= _FLAG_BITS[letter]
    return bits


class RegexParams(PathParams):
    flags: str = ""  # declared before pattern so the pattern's validator can compile with them
    pattern: NonEmpty
    mode: Literal["search", "fullmatch"] = "search"

    @field_validator("flags")
    @classmethod
    def _known_flags(cls, v: str) -> str:
        bad = sorted(set(v) - set(_FLAG_BITS))
        if bad:
            raise ValueError(f"unknown regex flag(s) {''.join(bad)!r}; use letters among i, m, s, x")
        return v

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str, info: ValidationInfo) -> str:
        compile_regex(v, _flag_bits(info.data.get("flags", "")))
        return v

    def compiled(self) -> re.Pattern[str]:
        return compile_regex(self.pattern, _flag_bits(self.flags))


def _regex(ctx: CheckContext, p: RegexParams) -> Outcome:
    text, name = ctx.text(p.path), p.path or "text"
    rx = p.compiled()
    if p.mode == "fullmatch":
        # Surrounding whitespace (a model's trailing newline) is not part of the answer.
        ok = rx.fullmatch(text.strip()) is not None
        verb = "fully matches" if ok else "does not fully match"
        return Outcome(ok, f"{name} {verb} /{p.pattern[:60]}/ ({show(text.strip(), 50)})")
    m = rx.search(text)
    if m:
        return Outcome(True, f"{name} matches /{p.pattern[:60]}/: {show(m.group(0))} at char {m.start()}")
    return Outcome(False, f"no match for /{p.pattern[:60]}/ in {name} ({show(text, 50)})")


# ---------------------------------------------------------------- length


class LengthParams(PathParams):
    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)
    unit: Literal["chars", "words", "lines"] = "chars"

    @model_validator(mode="after")
    def _bounds(self) -> LengthParams:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


def _measure(text: str, unit: str) -> int:
    if unit == "words":
        return len(text.split())
    if unit == "lines":
        return len(text.splitlines())
    return len(unicodedata.normalize("NFC", text))


def _length(ctx: CheckContext, p: LengthParams) -> Outcome:
    n = _measure(ctx.text(p.path), p.unit)
    name = p.path or "text"
    if p.min is not None and n < p.min:
        return Outcome(False, f"{name} has {n} {p.unit}, fewer than min {p.min}")
    if p.max is not None and n > p.max:
        return Outcome(False, f"{name} has {n} {p.unit}, more than max {p.max}")
    return Outcome(True, f"{name} has {n} {p.unit}, within bounds")


# ---------------------------------------------------------------- similarity


class SimilarityParams(PathParams):
    expected: NonEmpty
    threshold: float = Field(default=0.8, ge=0.0, le=1.0)
    method: Literal["ratio", "token_set_ratio", "partial_ratio"] = "token_set_ratio"
    case_sensitive: bool = False


def _similarity(ctx: CheckContext, p: SimilarityParams) -> Outcome:
    from rapidfuzz import fuzz

    text = _fold(ctx.text(p.path).strip(), p.case_sensitive)
    score = getattr(fuzz, p.method)(text, _fold(p.expected.strip(), p.case_sensitive)) / 100.0
    ok = score >= p.threshold
    return Outcome(ok, f"similarity {score:.2f} ({p.method}) {'>=' if ok else '<'} threshold {p.threshold:.2f}")


CHECKS: dict[str, CheckDef] = {
    "equals": CheckDef(EqualsParams, _equals, "the text (or JSON value) equals value"),
    "contains": CheckDef(ContainsParams, _contains, "the text contains any/all of the values"),
    "icontains": CheckDef(IContainsParams, _contains, "the text contains any/all of the values, ignoring case"),
    "regex": CheckDef(RegexParams, _regex, "the pattern matches the text"),
    "starts-with": CheckDef(StartsWithParams, _starts_with, "the text starts with value"),
    "one-of": CheckDef(OneOfParams, _one_of, "the text is one of the allowed values"),
    "length": CheckDef(LengthParams, _length, "the length in chars, words or lines is within bounds"),
    "similarity": CheckDef(SimilarityParams, _similarity, "fuzzy similarity to expected is at least threshold"),
}
