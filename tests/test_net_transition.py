"""Bracketing N* on the width: the search logic and a small real scan."""
from __future__ import annotations

import numpy as np

from dlbridge.nets.data import random_sphere
from dlbridge.nets.models import make_spec
from dlbridge.nets.train import History, NetResult, TrainConfig
from dlbridge.nets.transition import ScanPoint, ensemble_evaluator, find_transition, transition_of_scan


def _result(spec, n_delta, reason=None):
    h = History(*(np.zeros(1) for _ in range(6)))
    z = np.zeros(1)
    reason = reason or ("fitted" if n_delta == 0 else "converged")
    return NetResult(spec, 0, z, z, z, 0.0, n_delta, 0.0, 0.0, 1, reason, h)


def threshold_evaluator(n_true: int, d: int, depth: int):
    """Exact oracle: a net fits iff N ≥ n_true, so N* lies in the bracket around n_true."""
    calls = []

    def evaluate(hs):
        calls.append(list(hs))
        out = []
        for h in hs:
            spec = make_spec(d, depth, h)
            nd = 0 if spec.n_params >= n_true else spec.n_params // 3
            out.append(ScanPoint(h, spec.n_params, (_result(spec, nd), _result(spec, nd))))
        return out

    return evaluate, calls


def test_bracket_converges_on_known_threshold():
    evaluate, calls = threshold_evaluator(777, 10, 3)
    tr = find_transition(evaluate, h_start=4.0, depth=3, rel_tol=0.01)
    assert tr.bracketed and tr.n_lo < 777 <= tr.n_hi
    assert tr.n_hi - tr.n_lo <= 0.01 * tr.n_lo or \
        make_spec(10, 3, tr.h_lo + 1 / 3).n_params == tr.n_hi      # adjacent grid widths
    assert abs(tr.n_star - 777) <= 0.01 * 777
    assert tr.ndelta_over_n_below == tr.n_lo // 3 / tr.n_lo
    assert all(len(c) <= 3 for c in calls)


def test_bracket_expands_upwards():
    evaluate, _ = threshold_evaluator(20000, 10, 2)
    tr = find_transition(evaluate, h_start=2.0, depth=2, rel_tol=0.05)
    assert tr.bracketed and tr.n_lo < 20000 <= tr.n_hi


def test_budget_bounds_on_nstar():
    """Budget-stopped nets count as unfitted in n_star and as fitted in n_star_lower; stalled
    flows are treated like budget stops. With no such net both brackets coincide."""
    def point(h, reasons):
        spec = make_spec(5, 2, h)
        return ScanPoint(h, spec.n_params, tuple(_result(spec, 0 if r == "fitted" else 3, r)
                                                 for r in reasons))
    pts = {3.0: point(3.0, ["converged"] * 2), 4.0: point(4.0, ["budget", "converged"]),
           5.0: point(5.0, ["stalled", "converged"]), 6.0: point(6.0, ["fitted", "budget"]),
           7.0: point(7.0, ["fitted", "fitted"])}
    tr = _transition_of(pts)
    n = {h: p.n_params for h, p in pts.items()}
    assert (tr.h_lo, tr.h_hi) == (5.0, 6.0) and tr.n_star == 0.5 * (n[5.0] + n[6.0])
    assert tr.n_star_lower == 0.5 * (n[3.0] + n[4.0]) and tr.budget_limited
    assert pts[5.0].fraction_budget == 0.5 and pts[6.0].fraction_fitted_or_open == 1.0
    clean = {h: point(h, ["converged"] * 2 if h < 5 else ["fitted"] * 2) for h in pts}
    tr = _transition_of(clean)
    assert tr.n_star == tr.n_star_lower and not tr.budget_limited


def _transition_of(points):
    return transition_of_scan(list(points.values()))


def test_small_real_scan_is_consistent():
    data = random_sphere(4, 30, 0, seed=1)
    evaluate = ensemble_evaluator(data, 2, [0, 1], TrainConfig(max_steps=1500, check_every=500),
                                  device="cpu")
    tr = find_transition(evaluate, h_start=4.0, depth=2, rel_tol=0.2, max_rounds=3)
    pts = {p.h: p for p in tr.points}
    assert tr.bracketed
    assert pts[tr.h_hi].fraction_fitted >= 0.5 > pts[tr.h_lo].fraction_fitted
    assert tr.n_lo < tr.n_star < tr.n_hi


def test_compare_uses_the_scan_rule_on_a_non_monotone_scan():
    """One seed whose largest net stopped with N_Δ > 0: the comparison's per-seed N* is the scan's
    bracket midpoint (smallest fitted N and the largest N below it), not NaN."""
    from dlbridge.compare.summary import network_seed_transition
    from dlbridge.nstar import half_fitted_bracket

    n_delta = {34: 75, 59: 56, 77: 9, 97: 0, 129: 0, 210: 4}   # N → N_Δ, the demo's seed 0 shape
    hs = [1.0 + k for k in range(len(n_delta))]
    points = [ScanPoint(h, n, (_result(make_spec(5, 2, h), nd),))
              for h, (n, nd) in zip(hs, n_delta.items())]
    tr = transition_of_scan(points)
    assert (tr.n_lo, tr.n_hi, tr.n_star) == (77, 97, 87.0)

    class _State:
        def __init__(self, n, nd):
            self.control, self.n_constraints = float(n), nd

    assert network_seed_transition([_State(n, nd) for n, nd in n_delta.items()]) == tr.n_star
    assert half_fitted_bracket({1.0: 0.0, 2.0: 0.0}) == (2.0, None)
    assert half_fitted_bracket({1.0: 1.0, 2.0: 1.0}) == (None, 1.0)
