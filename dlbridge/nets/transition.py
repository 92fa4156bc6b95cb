"""Locating the jamming transition N* of nets at fixed P by bracketing on the width.

At fixed training-set size P, a net of N parameters fits every datum (N_Δ = 0) when N > N*
and gets stuck with N_Δ > 0 when N < N* (Geiger et al., PRE 100, 012115, 2019; Spigler et al.,
J. Phys. A 52, 474001, 2019). Here N* is where half of the seeds still reach N_Δ = 0: the
bracket [N_lo, N_hi] has fewer than half of the seeds fitted at N_lo and at least half at N_hi,
and N* = (N_lo + N_hi)/2. Widths live on the grid h ∈ {k/L} (models.layer_widths), the finest
resolution of the parameter count; each round trains all its (width, seed) nets as one batched
ensemble and splits the bracket at ``points_per_round`` interior widths (1 = bisection).

A net stopped by the step budget with N_Δ > 0 counts as not fitted: near N* training slows down
(critical slowing down), so a finite budget biases N* upwards; the budget is recorded, and
``Transition.n_star_lower`` gives the bracket with those nets counted as fitted instead — the two
bound the effect of the budget on N*.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from packing.errors import require

from ..nstar import half_fitted_bracket
from .data import Dataset
from .models import make_spec, width_for_params
from .train import NetResult, TrainConfig, train_ensemble

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScanPoint:
    """All seeds trained at one width h (N parameters)."""

    h: float
    n_params: int
    results: tuple[NetResult, ...]

    @property
    def fraction_fitted(self) -> float:
        """Fraction of seeds that reached N_Δ = 0."""
        return float(np.mean([r.fitted for r in self.results]))

    @property
    def ndelta_over_n(self) -> float:
        """Mean N_Δ/N over the seeds that did not fit (NaN when all fitted)."""
        vals = [r.n_constraints / self.n_params for r in self.results if not r.fitted]
        return float(np.mean(vals)) if vals else float("nan")

    @property
    def n_eff(self) -> int:
        """N_eff = N − #hidden neurons (ReLU); for biased ReLU nets this is the weight count + 1,
        the N of the paper's code (nn_jamming: d h + (L−1) h² + h, see data/literature.json)."""
        return self.results[0].spec.n_eff

    @property
    def fraction_budget(self) -> float:
        """Fraction of seeds stopped with N_Δ > 0 before reaching a minimum (by the step budget,
        or a stalled flow): when this is not 0 below N*, the bracket is budget-limited."""
        return float(np.mean([not r.converged for r in self.results]))

    @property
    def fraction_fitted_or_open(self) -> float:
        """Fraction of seeds fitted or stopped before a minimum: the fitted fraction if every
        budget-stopped net would have fitted with more steps (an upper bound on it)."""
        return float(np.mean([r.fitted or not r.converged for r in self.results]))


@dataclass(frozen=True)
class Transition:
    """Bracket of N* and every scanned width (sorted by h). ``bracketed`` is False when the
    scan never saw both sides (then n_star is NaN)."""

    n_star: float
    n_lo: int
    n_hi: int
    h_lo: float
    h_hi: float
    ndelta_over_n_below: float
    points: tuple[ScanPoint, ...]
    bracketed: bool

    @property
    def n_star_eff(self) -> float:
        """N* counted as N_eff = N − #hidden neurons (the paper's convention), NaN if not bracketed."""
        if not self.bracketed:
            return float("nan")
        pts = {p.h: p for p in self.points}
        return 0.5 * (pts[self.h_lo].n_eff + pts[self.h_hi].n_eff)

    @property
    def n_star_lower(self) -> float:
        """N* if every net stopped before a minimum would have fitted (budget-stopped counted as
        fitted): a lower bound of the infinite-budget N* (of this protocol), next to ``n_star``,
        which counts them as unfitted. Equal values mean the budget did not move the bracket.
        NaN when the scan does not bracket that crossing."""
        lo, hi = _bracket({p.h: p for p in self.points}, lambda p: p.fraction_fitted_or_open)
        if lo is None or hi is None:
            return float("nan")
        n = {p.h: p.n_params for p in self.points}
        return 0.5 * (n[lo] + n[hi])

    @property
    def budget_limited(self) -> bool:
        """True when some unfitted net at the lower end of the bracket was stopped by the budget
        (not at a converged minimum): then N* may be biased upwards by the finite budget."""
        if not self.bracketed:
            return False
        return {p.h: p for p in self.points}[self.h_lo].fraction_budget > 0


Evaluator = Callable[[Sequence[float]], list[ScanPoint]]


def ensemble_evaluator(data: Dataset, depth: int, seeds: Sequence[int], config: TrainConfig,
                       device: str = "auto", progress: bool = False, **net_kwargs) -> Evaluator:
    """Evaluator training every (h, seed) of a round as ONE batched ensemble."""
    require(len(seeds) >= 1, "seeds", "a non-empty list", list(seeds))

    def evaluate(hs: Sequence[float]) -> list[ScanPoint]:
        specs = [make_spec(data.dim, depth, h, **net_kwargs) for h in hs for _ in seeds]
        res = train_ensemble(specs, [s for _ in hs for s in seeds], data, config, device,
                             progress=progress)
        k = len(seeds)
        points = [ScanPoint(float(h), specs[i * k].n_params, tuple(res[i * k:(i + 1) * k]))
                  for i, h in enumerate(hs)]
        for pt in points:
            log.debug("h = %g (N = %d): %d of %d nets fit every datum", pt.h, pt.n_params,
                      round(pt.fraction_fitted * k), k)
        return points

    return evaluate


def _snap(h: float, depth: int) -> float:
    return max(1.0, round(h * depth) / depth)


def _bracket(points: dict[float, ScanPoint], fraction=lambda p: p.fraction_fitted
             ) -> tuple[float | None, float | None]:
    """(h_lo, h_hi) of :func:`dlbridge.nstar.half_fitted_bracket` on ``fraction`` (default: the
    fitted fraction) of each width."""
    return half_fitted_bracket({h: fraction(p) for h, p in points.items()})


def _interior(lo: float, hi: float, depth: int, k: int) -> list[float]:
    cand = {_snap(lo + (hi - lo) * (j + 1) / (k + 1), depth) for j in range(k)}
    return sorted(h for h in cand if lo < h < hi)


def _expand(lo: float | None, hi: float | None, points: dict, depth: int) -> list[float]:
    """Widths to try when the bracket is open on one side ([] when it cannot be widened)."""
    if hi is None:
        return [_snap(2 * max(points), depth)]
    if lo is None and min(points) > 1.0:
        return [_snap(max(1.0, min(points) / 2), depth)]
    return []


def find_transition(evaluate: Evaluator, h_start: float, depth: int, rel_tol: float = 0.02,
                    points_per_round: int = 3, max_rounds: int = 12) -> Transition:
    """Bracket N* by repeated k-section on the width, starting from h_start/2, h_start, 2 h_start."""
    require(math.isfinite(h_start) and h_start >= 1, "h_start", "a finite number >= 1", h_start)
    require(0 < rel_tol < 1, "rel_tol", "a number in (0, 1)", rel_tol)
    require(points_per_round >= 1 and max_rounds >= 1, "points_per_round, max_rounds",
            "integers >= 1", (points_per_round, max_rounds))
    points: dict[float, ScanPoint] = {}
    todo = sorted({_snap(h_start / 2, depth), _snap(h_start, depth), _snap(2 * h_start, depth)})
    for _ in range(max_rounds):
        for p in evaluate(todo):
            points[p.h] = p
        lo, hi = _bracket(points)
        if lo is None or hi is None:
            todo = _expand(lo, hi, points, depth)
        elif points[hi].n_params - points[lo].n_params <= rel_tol * points[lo].n_params:
            todo = []
        else:
            todo = _interior(lo, hi, depth, points_per_round)
        if not todo:
            break
    return _result(points)


def _result(points: dict[float, ScanPoint]) -> Transition:
    lo, hi = _bracket(points)
    pts = tuple(points[h] for h in sorted(points))
    if lo is None or hi is None:
        return Transition(float("nan"), -1, -1, float("nan"), float("nan"), float("nan"), pts,
                          False)
    n_lo, n_hi = points[lo].n_params, points[hi].n_params
    return Transition(0.5 * (n_lo + n_hi), n_lo, n_hi, lo, hi, points[lo].ndelta_over_n, pts,
                      True)


def auto_start_width(data: Dataset, depth: int, bias: bool = True) -> float:
    """Width whose net has about P/2 parameters: the start of the bracket search."""
    return width_for_params(data.dim, depth, max(1.0, data.n_train / 2), bias=bias)


def transition_of_scan(points: Sequence[ScanPoint]) -> Transition:
    """The :class:`Transition` of an explicit scan (``bracketed`` False when it has no crossing)."""
    return _result({p.h: p for p in points})
