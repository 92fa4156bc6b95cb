"""Errors raised on bad input.

Every public function validates its arguments and raises :class:`ParameterError` with a one-line
message that names the parameter and the allowed range; the command-line tools print that line and
exit with status 2.
"""
from __future__ import annotations

import math
from typing import Any


class ParameterError(ValueError):
    """A parameter is outside its allowed range (message: one line, names the parameter)."""


def require(condition: bool, name: str, allowed: str, value: Any) -> None:
    """Raise :class:`ParameterError` unless ``condition`` holds.

    The message reads ``"<name> must be <allowed> (got <value>)"``.
    """
    if not condition:
        raise ParameterError(f"{name} must be {allowed} (got {value!r})")


def require_finite_positive(value: float, name: str) -> float:
    """Return ``float(value)`` if it is finite and > 0, else raise :class:`ParameterError`."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a finite number > 0 (got {value!r})") from None
    require(math.isfinite(v) and v > 0.0, name, "a finite number > 0", value)
    return v


def physical_memory() -> int | None:
    """Bytes of physical memory of this machine (None when the OS does not say)."""
    import os

    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def require_memory(n_bytes: float, name: str, what: str, value: Any) -> None:
    """ParameterError when ``n_bytes`` (an estimate of what ``what`` needs) exceeds the physical
    memory of this machine: ``"<name> needs about X GiB for <what>; this machine has Y GiB"``."""
    total = physical_memory()
    if total is not None and n_bytes > total:
        raise ParameterError(f"{name} = {value!r} needs about {n_bytes / 2**30:.3g} GiB for "
                             f"{what}; this machine has {total / 2**30:.3g} GiB")
