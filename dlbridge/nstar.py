"""The N* rule, shared by the nets' width scans (`dlbridge.nets.transition`) and the comparison
(`dlbridge.compare`), and importable without torch.

At fixed P, N* is where half of the seeds still reach N_Δ = 0 (Geiger et al., PRE 100, 012115,
2019): the bracket is the smallest scanned size with a fitted fraction ≥ 1/2 and the largest
scanned size below it, and N* is the bracket's midpoint. For one seed the fraction is 0 or 1.
"""
from __future__ import annotations

import math
from typing import Mapping

HALF = 0.5


def half_fitted_bracket(fractions: Mapping[float, float]) -> tuple[float | None, float | None]:
    """(x_lo, x_hi) of a scan {size x: fraction of seeds fitted}: x_hi the smallest x with
    fraction ≥ 1/2 (None if there is none, then x_lo is the largest x), x_lo the largest x below
    x_hi (None if there is none)."""
    fits = sorted(x for x, f in fractions.items() if f >= HALF)
    if not fits:
        return (max(fractions) if fractions else None), None
    hi = fits[0]
    below = [x for x in fractions if x < hi]
    return (max(below) if below else None), hi


def bracket_midpoint(lo: float | None, hi: float | None) -> float:
    """(lo + hi)/2, NaN when the scan does not bracket the transition."""
    return math.nan if lo is None or hi is None else 0.5 * (lo + hi)
