"""Long physics checks of the network jamming transition (python -m pytest -m long -s).

References: Geiger et al., PRE 100, 012115 (2019); Spigler et al., J. Phys. A 52, 474001 (2019):
for random data N* ∝ P, independent of the depth (d = h in the paper); at N* the fraction N_Δ/N of
unsatisfied data jumps from 0 to a finite value (> 0.4 in the paper); on MNIST parity the test
error has a cusp at N*.

What these checks assert is what benchmarks/NSTAR.md measured with this protocol (explicit width
scans around N*, d = 12 so that h ≈ d at N*, full-batch Adam at lr 10⁻², 3·10⁴ steps, 4 seeds),
with tolerances stated at each assertion; they do NOT claim the paper's numbers at these sizes:
P/N*_eff = 1.99, 2.41, 2.38 at P = 500, 1000, 2000 (paper 3.05 ± 0.25 at h = 51), and L = 5 sits
40 % above L = 2, 3 at P = 1000 (deep nets stuck at minima with N_Δ > 0, also at 10⁵ steps).
Each scan takes 8–40 minutes on 2 cores, so they are marked `long` and stay out of CI.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from mnist_files import mnist_dir, needs_mnist

from dlbridge.nets.data import mnist_parity, random_sphere
from dlbridge.nets.train import TrainConfig
from dlbridge.nets.transition import Transition, ensemble_evaluator, transition_of_scan

pytestmark = pytest.mark.long
CFG = TrainConfig(max_steps=30_000, lr=1e-2, decay_factor=1.0, check_every=1_000)
SEEDS = [0, 1, 2, 3]
D = 12
# widths bracketing N* in the NSTAR.md scans, (P, depth) -> widths
WIDTHS = {(500, 3): (7.3333, 8, 8.6667, 9.3333, 10),
          (1000, 3): (10, 11, 12, 13, 14),
          (2000, 3): (15, 16, 17, 18, 19, 21),
          (1000, 2): (12, 14, 16, 18),
          (1000, 5): (9, 10, 11, 12)}
MNIST_DIR = mnist_dir()


@functools.lru_cache(maxsize=None)
def _scan(p: int, depth: int) -> Transition:
    data = random_sphere(D, p, 0, seed=0)
    tr = transition_of_scan(ensemble_evaluator(data, depth, SEEDS, CFG, device="auto")(
        WIDTHS[(p, depth)]))
    print(f"\nP={p} d={D} L={depth} N*={tr.n_star:.0f} N*_eff={tr.n_star_eff:.0f} ± "
          f"{_err(tr):.0f} P/N*_eff={p / tr.n_star_eff:.3f} N_Δ/N below={tr.ndelta_over_n_below:.3f}")
    for pt in tr.points:
        print(f"  h={pt.h:.2f} N={pt.n_params} N_eff={pt.n_eff} fitted={pt.fraction_fitted:.2f} "
              f"N_Δ={[r.n_constraints for r in pt.results]} stops={[r.stop_reason for r in pt.results]}")
    assert tr.bracketed, (p, depth)
    return tr


def _err(tr: Transition) -> float:
    """Half the bracket of N*_eff."""
    n_eff = {p.h: p.n_eff for p in tr.points}
    return 0.5 * (n_eff[tr.h_hi] - n_eff[tr.h_lo])


def test_nstar_grows_with_p():
    ps = (500, 1000, 2000)
    trs = [_scan(p, 3) for p in ps]
    n = np.array([tr.n_star_eff for tr in trs])
    print("P/N*_eff:", [f"{p / v:.3f}" for p, v in zip(ps, n)])
    assert np.all(np.diff(n) > 0)
    # measured N*_eff = 251 ± 18, 415 ± 29, 842 ± 42: ratios 1.65 and 2.03 per doubling of P
    # (linear from 1000 to 2000); P/N*_eff 1.99, 2.41, 2.38 (paper: 3.05 ± 0.25 at h = 51).
    for ratio in n[1:] / n[:-1]:
        assert 1.4 <= ratio <= 2.0 + 0.1, n
    assert all(1.6 <= p / v <= 3.3 for p, v in zip(ps, n)), n


def test_nstar_of_depth_two_and_three_agree():
    n = {L: _scan(1000, L).n_star_eff for L in (2, 3, 5)}
    e = {L: _err(_scan(1000, L)) for L in (2, 3, 5)}
    print("N*_eff by depth:", {L: f"{n[L]:.0f} ± {e[L]:.0f}" for L in n})
    # L = 2 and 3 agree within their brackets (measured 422 ± 43, 415 ± 29)
    assert abs(n[2] - n[3]) <= e[2] + e[3]
    # L = 5 measured 579 ± 49: narrow (h ≈ 10) deep ReLU nets fit worse at this budget (NSTAR.md,
    # dead units); checked to stay within 60 % of L = 3, not claimed depth independent.
    assert n[3] < n[5] <= 1.6 * n[3]


def test_fraction_of_unsatisfied_data_jumps_at_nstar():
    tr = _scan(1000, 3)
    below = [p for p in tr.points if p.h <= tr.h_lo]
    above = [p for p in tr.points if p.h >= tr.h_hi]
    # measured: N_Δ/N of the unfitted nets just below N* = 0.43 (paper: > 0.4)
    assert tr.ndelta_over_n_below > 0.3
    assert all(np.median([r.n_constraints for r in p.results]) / p.n_params > 0.3 for p in below)
    assert all(np.median([r.n_constraints for r in p.results]) == 0 for p in above)


@needs_mnist
def test_mnist_test_error_cusp_at_nstar():
    """Spigler et al. 2019: the test error peaks at N* and decreases beyond it (NSTAR.md: P = 500,
    L = 2, d = 10, N* ≈ 103; test error 0.177 at the peak, 0.116 at 25 N*)."""
    data = mnist_parity(MNIST_DIR, dim=10, n_train=500, n_test=4000, seed=0)
    hs = (3, 4, 5, 6, 8, 12, 20, 45)
    points = ensemble_evaluator(data, 2, SEEDS, CFG, device="auto")(hs)
    tr = transition_of_scan(points)
    err = {p.h: np.mean([r.test_error for r in p.results]) for p in points}
    print("\nMNIST parity P=500 test error:", {h: round(v, 4) for h, v in err.items()},
          f"N*={tr.n_star:.0f}")
    assert tr.bracketed
    peak = max(err, key=err.get)
    assert peak in (tr.h_lo, tr.h_hi)                          # the maximum sits at N*
    beyond = [err[h] for h in hs if h >= tr.h_hi]
    assert all(a >= b - 0.005 for a, b in zip(beyond, beyond[1:]))   # decreasing above N*
    assert err[peak] - err[hs[-1]] > 0.04 and err[peak] > err[hs[0]]
    assert math.isfinite(tr.n_star)
