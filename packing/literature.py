"""Literature reference values used by the validation tests.

The values live in ``data/literature.json`` at the repository root, one record per key, each with its
full citation, where in the source it was read, how it was read (text, table, figure estimate, not
read) and whether it was checked against a stored copy of the source (``verified``). See
``data/README.md`` for what each entry means and which tolerance a test should use.

Only the standard library is used, so this module can be imported anywhere.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = ["LITERATURE_PATH", "load_reference", "load_all_references", "reference_keys"]

#: ``data/literature.json`` relative to the repository root (this file is ``<root>/packing/literature.py``).
LITERATURE_PATH: Path = Path(__file__).resolve().parent.parent / "data" / "literature.json"


@lru_cache(maxsize=1)
def _records() -> dict[str, dict[str, Any]]:
    try:
        text = LITERATURE_PATH.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(
            f"literature data file not found at {LITERATURE_PATH} "
            "(expected data/literature.json at the repository root)"
        ) from None
    records = json.loads(text)
    if not isinstance(records, list):
        raise ValueError(f"{LITERATURE_PATH} must hold a JSON list of records")
    out: dict[str, dict[str, Any]] = {}
    for rec in records:
        key = rec.get("key") if isinstance(rec, dict) else None
        if not isinstance(key, str) or not key:
            raise ValueError(f"{LITERATURE_PATH}: every record needs a non-empty string 'key' "
                             f"(got {rec!r:.80})")
        if key in out:
            raise ValueError(f"{LITERATURE_PATH}: duplicate key {key!r}")
        out[key] = rec
    return out


def reference_keys() -> list[str]:
    """All keys in ``data/literature.json``, in file order."""
    return list(_records())


def load_all_references() -> list[dict[str, Any]]:
    """All records (copies), in file order."""
    return [dict(r) for r in _records().values()]


def load_reference(key: str) -> dict[str, Any]:
    """Return the record for ``key`` (a copy) from ``data/literature.json``.

    Raises :class:`KeyError` with the list of known keys if ``key`` is unknown.
    """
    recs = _records()
    if key not in recs:
        known = ", ".join(sorted(recs))
        raise KeyError(f"unknown literature key {key!r}; known keys: {known}")
    return dict(recs[key])
