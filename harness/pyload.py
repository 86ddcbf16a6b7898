"""Load a Python callable named `package.module:function` or `path/to/file.py:function`."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from harness.errors import ConfigError


@lru_cache(maxsize=128)
def load_callable(ref: str) -> Callable[..., Any]:
    module_ref, sep, attr = ref.rpartition(":")
    if not sep or not module_ref or not attr:
        raise ConfigError(f"{ref!r} is not of the form package.module:function or path/to/file.py:function")
    if module_ref.endswith(".py") or "/" in module_ref:
        module = _load_file(Path(module_ref))
    else:
        try:
            module = importlib.import_module(module_ref)
        except ImportError as exc:
            raise ConfigError(f"cannot import {module_ref!r}: {exc}") from None
    try:
        fn = getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"{module_ref!r} has no attribute {attr!r}") from None
    if not callable(fn):
        raise ConfigError(f"{ref!r} is not callable")
    return fn


def _load_file(path: Path) -> Any:
    path = path.resolve()
    if not path.is_file():
        raise ConfigError(f"Python file not found: {path}")
    name = f"pactjury_user_{abs(hash(str(path)))}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot load Python file {path}")
    module = importlib.util.module_from_spec(spec)
    # Registered before exec so that dataclasses and pickling inside the user's module work.
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise ConfigError(f"error while importing {path}: {type(exc).__name__}: {exc}") from None
    return module
