"""JSON path evaluation with parsed expressions cached (parsing dominates the cost of a lookup)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1024)
def compile_path(path: str):
    from jsonpath_ng.ext import parse

    return parse(path)


def find(path: str, document: Any) -> list[Any]:
    return [m.value for m in compile_path(path).find(document)]
