"""Exponents from samples: maximum-likelihood small-x power laws (θ of P₊(Δ) ~ Δ^θ, γ of
P₋(Δ) ~ |Δ|^−γ) and least-squares scaling laws y ∝ x^b on log-log axes.

Wyart, PRL 109, 125502, 2012; Charbonneau, Kurchan, Parisi, Urbani, Zamponi, Nat. Commun. 5,
3725, 2014; Franz, Parisi et al., SciPost Phys. 2, 019, 2017 (the hinge-loss perceptron). For a
packing with the harmonic potential the force is f ∝ Δ, so P(f) and P₊(Δ) share θ; for Hertz
(f ∝ Δ^{3/2}) pass the forces instead of Δ.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy import stats

from ..errors import require
from ._checks import check_gaps, check_int

FIT_RULES = ("ks", "quantile")
DEFAULT_QUANTILE = 0.25     # "quantile" rule: fit the 25 % smallest values
DEFAULT_MIN_POINTS = 20     # fewest points a fit may use (and fewest KS candidates' sample)
KS_CANDIDATES = 100         # "ks" rule: number of log-spaced candidate cut-offs scanned


@dataclasses.dataclass(frozen=True)
class PowerLawFit:
    """Maximum-likelihood fit of a small-x power law f(x) ∝ x^a on (0, x_max].

    exponent : the physics exponent, ``sign · a`` (θ = a for P₊, γ = −a for P₋). stderr : its
    standard error from the Fisher information, (a + 1)/√n_used (conditional on x_max).
    density_exponent : a. name : "theta", "gamma" or "a". n_used : points below x_max used.
    n_sample : all positive values offered. x_min, x_max : smallest point used and the cut-off.
    rule : "ks" or "quantile" (see :func:`fit_small_x_power_law`). ks_distance : Kolmogorov–Smirnov
    distance between the used points and the fitted law. stderr_bootstrap : standard deviation of
    the exponent over bootstrap resamples of the whole sample, the rule re-applied to each (so it
    includes the choice of x_max; None when not requested).
    """

    exponent: float
    stderr: float
    density_exponent: float
    name: str
    n_used: int
    n_sample: int
    x_min: float
    x_max: float
    rule: str
    ks_distance: float
    stderr_bootstrap: float | None = None

    def density(self, x) -> np.ndarray:
        """Fitted density at x ≤ x_max, normalised over the whole sample (overlays a
        :class:`LogHistogram` of the same values): (n_used/n_sample)(a+1) x^a / x_max^(a+1)."""
        x = np.asarray(x, dtype=np.float64)
        lam = self.density_exponent + 1.0
        return (self.n_used / self.n_sample) * lam * x ** self.density_exponent / self.x_max ** lam


@dataclasses.dataclass(frozen=True)
class ScalingFit:
    """Least-squares fit log10 y = log10 A + b log10 x: exponent b ± stderr (scipy linregress)."""

    exponent: float
    stderr: float
    prefactor: float
    n_points: int
    x_min: float
    x_max: float

    def __call__(self, x) -> np.ndarray:
        """The fitted law A x^b."""
        return self.prefactor * np.asarray(x, dtype=np.float64) ** self.exponent


def _mle_below(xs: np.ndarray, logs: np.ndarray, cum: np.ndarray, j: int) -> float:
    """λ̂ = (j − 1)/Σ_{i<j} ln(x_j/x_i) from the j values below the cut-off x_j (sorted xs).

    Conditional on x_j, y_i = ln(x_j/x_i) are iid Exp(λ = a + 1), and (j − 1)/Σy is the unbiased
    estimator of λ (the MLE j/Σy times (j − 1)/j).
    """
    s = j * logs[j] - cum[j - 1]
    return (j - 1) / s if s > 0 else math.inf


def _ks_below(xs: np.ndarray, j: int, lam: float) -> float:
    """KS distance between the j values below x_j and the CDF (x/x_j)^λ on (0, x_j]."""
    f = (xs[:j] / xs[j]) ** lam
    i = np.arange(j)
    return float(max(np.max(f - i / j), np.max((i + 1) / j - f)))


def _choose_cutoff(xs, logs, cum, rule: str, quantile: float, min_points: int,
                   n_candidates: int) -> int:
    """Index j of the cut-off x_max = xs[j] under ``rule`` (see fit_small_x_power_law)."""
    n = xs.size
    if rule == "quantile":
        return int(min(max(math.ceil(quantile * n), min_points), n - 1))
    grid = np.unique(np.round(np.geomspace(min_points, n - 1, n_candidates)).astype(np.int64))
    best_j, best_d = int(grid[0]), math.inf
    for j in grid:
        lam = _mle_below(xs, logs, cum, int(j))
        if not math.isfinite(lam):
            continue
        d = _ks_below(xs, int(j), lam)
        if d < best_d:
            best_j, best_d = int(j), d
    return best_j


def _fit_sorted(xs: np.ndarray, rule: str, quantile: float, min_points: int,
                n_candidates: int) -> tuple[int, float]:
    """(j, λ̂) for sorted positive xs: cut-off index by ``rule`` and the MLE below it."""
    logs = np.log(xs)
    cum = np.cumsum(logs)
    j = _choose_cutoff(xs, logs, cum, rule, quantile, min_points, n_candidates)
    return j, _mle_below(xs, logs, cum, j)


def _bootstrap_sd(xs, rule, quantile, min_points, n_candidates, n_bootstrap, seed) -> float:
    """Standard deviation of a = λ̂ − 1 over n_bootstrap resamples (with replacement) of xs."""
    rng = np.random.default_rng(seed)
    est = []
    for _ in range(n_bootstrap):
        b = np.sort(rng.choice(xs, size=xs.size, replace=True))
        lam = _fit_sorted(b, rule, quantile, min_points, n_candidates)[1]
        if math.isfinite(lam):
            est.append(lam - 1.0)
    return float(np.std(est, ddof=1)) if len(est) >= 2 else math.nan


def fit_small_x_power_law(x, rule: str = "ks", quantile: float = DEFAULT_QUANTILE,
                          min_points: int = DEFAULT_MIN_POINTS, n_candidates: int = KS_CANDIDATES,
                          sign: int = 1, name: str = "a", n_bootstrap: int = 0,
                          seed: int = 0) -> PowerLawFit:
    """Maximum-likelihood exponent a of a density f(x) ∝ x^a (a > −1) at small x > 0.

    Model: on (0, x_max], f(x) = (a + 1) x^a / x_max^(a+1). With the cut-off at the sorted value
    x_max = x_(j+1), the j smaller values are iid from that law, and
        a = −1 + (j − 1)/Σ_{i≤j} ln(x_max/x_(i))   (the MLE −1 − j/Σ ln(x_i/x_max), bias-corrected),
        stderr = (a + 1)/√j                           (Fisher information j/(a+1)²).
    Rule for x_max (never by hand):
      * "ks" (default): scan n_candidates cut-offs log-spaced in rank between min_points and n − 1
        and keep the one whose fit has the smallest Kolmogorov–Smirnov distance to its data
        (Clauset, Shalizi, Newman, SIAM Rev. 51, 661, 2009, applied to the upper cut-off of a
        small-x law); the KS distance of a good fit falls as 1/√j, so the scan extends the range
        until the data bend away from the power law.
      * "quantile": x_max at the ⌈quantile · n⌉-th smallest value (at least min_points used).
    The stderr is conditional on the chosen cut-off: calibrated for "quantile" (the spread over
    samples equals it), about 15–20 % too small for "ks" (the scan's selection; measured in
    tests/test_analysis.py); n_bootstrap > 0 adds a bootstrap error that includes the selection.

    Parameters
    ----------
    x : positive samples (non-positive entries are ignored); at least min_points + 1 positive.
    rule : "ks" or "quantile". quantile : in (0, 1]. min_points : ≥ 3. n_candidates : ≥ 1.
    sign : +1 reports exponent = a (θ), −1 reports exponent = −a (γ). name : label of the exponent.
    n_bootstrap : resamples for ``stderr_bootstrap`` (0: none). seed : their random seed.
    """
    require(rule in FIT_RULES, "rule", f"one of {FIT_RULES}", rule)
    require(isinstance(quantile, (int, float, np.floating)) and 0.0 < quantile <= 1.0,
            "quantile", "a number in (0, 1]", quantile)
    min_points = check_int(min_points, "min_points", 3)
    n_candidates = check_int(n_candidates, "n_candidates", 1, 10_000)
    require(sign in (1, -1), "sign", "+1 or -1", sign)
    n_bootstrap = check_int(n_bootstrap, "n_bootstrap", 0, 100_000)
    seed = check_int(seed, "seed", 0)
    v = np.asarray(x, dtype=np.float64).ravel()
    require(bool(np.all(np.isfinite(v))), "x", "finite", "non-finite values")
    xs = np.sort(v[v > 0.0])
    require(xs.size >= min_points + 1, "x", f"at least min_points + 1 = {min_points + 1} positive "
            f"values", f"{xs.size} positive values")
    j, lam = _fit_sorted(xs, rule, float(quantile), min_points, n_candidates)
    require(math.isfinite(lam), "x", "values with distinct magnitudes below the cut-off",
            f"all {j} smallest values equal")
    a = lam - 1.0
    return PowerLawFit(exponent=sign * a, stderr=lam / math.sqrt(j), density_exponent=a,
                       name=str(name), n_used=j, n_sample=int(xs.size), x_min=float(xs[0]),
                       x_max=float(xs[j]), rule=rule, ks_distance=_ks_below(xs, j, lam),
                       stderr_bootstrap=_bootstrap_sd(xs, rule, float(quantile), min_points,
                                                      n_candidates, n_bootstrap, seed)
                       if n_bootstrap > 0 else None)


def fit_theta(gaps, **kwargs) -> PowerLawFit:
    """θ of P₊(Δ) ~ Δ^θ from the Δ > 0 entries of ``gaps`` (:func:`fit_small_x_power_law`)."""
    g = check_gaps(gaps)
    return fit_small_x_power_law(g[g > 0.0], sign=1, name="theta", **kwargs)


def fit_gamma(gaps, **kwargs) -> PowerLawFit:
    """γ of P₋(Δ) ~ |Δ|^−γ from the Δ < 0 entries of ``gaps`` (:func:`fit_small_x_power_law`)."""
    g = check_gaps(gaps)
    return fit_small_x_power_law(-g[g < 0.0], sign=-1, name="gamma", **kwargs)


def fit_scaling(x, y) -> ScalingFit | None:
    """Least squares on log10 y against log10 x over the points with x > 0 and y > 0.

    Returns None with fewer than 3 such points or fewer than 2 distinct x (no standard error).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    require(x.shape == y.shape, "y", f"an array of the shape of x {x.shape}", y.shape)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    x, y = x[ok], y[ok]
    if x.size < 3 or np.unique(x).size < 2:
        return None
    res = stats.linregress(np.log10(x), np.log10(y))
    return ScalingFit(exponent=float(res.slope), stderr=float(res.stderr),
                      prefactor=float(10.0 ** res.intercept), n_points=int(x.size),
                      x_min=float(x.min()), x_max=float(x.max()))
