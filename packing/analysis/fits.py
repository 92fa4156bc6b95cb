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
from scipy import optimize, stats

from ..errors import require
from ._checks import check_gaps, check_int
from ._tilted import tilted_moments

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
    n_sample : all positive values offered. x_min, x_max : smallest point used and the upper
    cut-off. x_floor : the lower cut (0: none; values at or below it are not used).
    rule : "ks" or "quantile" (see :func:`fit_small_x_power_law`), or "corrected"
    (:func:`~.corrected.fit_corrected_power_law`: f(x) ∝ x^a e^{−c x}). ks_distance :
    Kolmogorov–Smirnov distance between the used points and the fitted law. stderr_bootstrap :
    standard deviation of the exponent over bootstrap resamples of the whole sample, the rule
    re-applied to each (so it includes the choice of x_max; None when not requested).
    correction : c of the "corrected" law (0 for a pure power law).
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
    x_floor: float = 0.0
    correction: float = 0.0

    def density(self, x) -> np.ndarray:
        """Fitted density on (x_floor, x_max], normalised over the whole sample (overlays a
        :class:`LogHistogram` of the same values): (n_used/n_sample) λ x^a /
        (x_max^λ − x_floor^λ), λ = a + 1; with a correction c, (n_used/n_sample) x^a e^{−c x}/Z,
        Z its integral over (x_floor, x_max]."""
        x = np.asarray(x, dtype=np.float64)
        if self.correction != 0.0:
            k = self.correction * self.x_max
            log_z = tilted_moments(self.density_exponent, k, self.x_floor, self.x_max).log_norm
            return (self.n_used / self.n_sample) * np.exp(
                self.density_exponent * np.log(x) - self.correction * x - log_z)
        lam = self.density_exponent + 1.0
        norm = self.x_max ** lam - (self.x_floor ** lam if self.x_floor > 0 else 0.0)
        return (self.n_used / self.n_sample) * lam * x ** self.density_exponent / norm


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


def _truncated_mean(t: float) -> float:
    """Mean of u/L for the density ∝ e^{t u/L} on u ∈ (−L, 0): −1/t + 1/(e^t − 1), increasing
    from −1 (t → −∞) to 0 (t → +∞), −½ + t/12 near t = 0."""
    if abs(t) < 1e-6:
        return -0.5 + t / 12.0
    if t > 700.0:                                  # 1/(e^t − 1) < 1e-304
        return -1.0 / t
    return -1.0 / t + 1.0 / math.expm1(t)


def _rate(mean_u: float, span: float, j: int) -> float:
    """λ̂ = a + 1 from j values u_i = ln(x_i/x_max) ∈ (−span, 0) with mean ``mean_u``.

    span = ∞ (no lower cut): u is Exp(λ) and λ̂ = (j − 1)/(−j ū), the unbiased estimator. A
    finite span (lower cut at x_max e^{−span}): the likelihood equation of the truncated law,
    ū/span = m(λ span) with m = :func:`_truncated_mean`, solved by bisection (brentq), with the
    same factor (j − 1)/j, so the two agree as span → ∞.
    """
    if mean_u >= 0.0:
        return math.inf
    if not math.isfinite(span):
        return (j - 1) / (-j * mean_u)
    target = mean_u / span
    lo, hi = -1e3 * max(span, 1.0), 1e3 * max(span, 1.0)      # |λ| ≤ 1000
    if target <= _truncated_mean(lo):
        t = lo
    elif target >= _truncated_mean(hi):
        t = hi
    else:
        t = optimize.brentq(lambda s: _truncated_mean(s) - target, lo, hi, xtol=1e-12)
    return (j - 1) / j * t / span


def _fisher_sd(lam: float, span: float, j: int) -> float:
    """Standard error of λ̂ (= that of a): 1/√(j Var u), Var u = span² (1/t² − e^t/(e^t − 1)²)
    with t = λ span for the truncated law (λ/√j without a lower cut)."""
    if not math.isfinite(span):
        return lam / math.sqrt(j)
    t = abs(lam * span)                       # Var u is even in t
    var = 1.0 / 12.0 if t < 1e-6 else 1.0 / t ** 2 - math.exp(-t) / math.expm1(-t) ** 2
    return 1.0 / (span * math.sqrt(j * var)) if var > 0 else math.inf


def _law_cdf(x: np.ndarray, x_max: float, floor: float, lam: float) -> np.ndarray:
    """CDF on (floor, x_max] of the density ∝ x^{λ−1} (floor = 0: (x/x_max)^λ)."""
    if floor <= 0.0:
        return (x / x_max) ** lam
    r = (floor / x_max) ** lam
    return ((x / x_max) ** lam - r) / (1.0 - r)


def ks_statistic(cdf: np.ndarray) -> float:
    """Kolmogorov–Smirnov distance between sorted values and a law, given the law's CDF at them."""
    j = cdf.size
    i = np.arange(j)
    return float(max(np.max(cdf - i / j), np.max((i + 1) / j - cdf)))


def _ks(xs: np.ndarray, j: int, floor: float, lam: float) -> float:
    """KS distance between the j values below the cut-off xs[j] and the fitted law."""
    return ks_statistic(_law_cdf(xs[:j], xs[j], floor, lam))


@dataclasses.dataclass(frozen=True)
class _Sorted:
    """Positive values above the lower cut, sorted, with the cumulative sum of their logs."""

    xs: np.ndarray
    floor: float
    cum: np.ndarray

    @classmethod
    def of(cls, xs: np.ndarray, floor: float) -> "_Sorted":
        return cls(xs, floor, np.cumsum(np.log(xs)))

    def rate(self, j: int) -> float:
        """λ̂ from the j values below the cut-off xs[j]."""
        log_cut = math.log(self.xs[j])
        mean_u = (self.cum[j - 1] - j * log_cut) / j
        span = log_cut - math.log(self.floor) if self.floor > 0.0 else math.inf
        return _rate(mean_u, span, j)

    def span(self, j: int) -> float:
        """ln(x_max/floor), ∞ without a lower cut."""
        return math.log(self.xs[j] / self.floor) if self.floor > 0.0 else math.inf


def _choose_cutoff(s: _Sorted, rule: str, quantile: float, min_points: int,
                   n_candidates: int) -> int:
    """Index j of the cut-off x_max = xs[j] under ``rule`` (see fit_small_x_power_law)."""
    n = s.xs.size
    if rule == "quantile":
        return int(min(max(math.ceil(quantile * n), min_points), n - 1))
    grid = np.unique(np.round(np.geomspace(min_points, n - 1, n_candidates)).astype(np.int64))
    best_j, best_d = int(grid[0]), math.inf
    for j in grid:
        lam = s.rate(int(j))
        if not math.isfinite(lam):
            continue
        d = _ks(s.xs, int(j), s.floor, lam)
        if d < best_d:
            best_j, best_d = int(j), d
    return best_j


def _lower_cut(xs: np.ndarray, floor: float, trim: int) -> float:
    """The lower cut: the larger of ``floor`` and the trim-th smallest value (0: none)."""
    cut = float(floor)
    if trim > 0 and xs.size >= trim:
        cut = max(cut, float(xs[trim - 1]))
    return cut


def _fit_sorted(xs: np.ndarray, floor: float, trim: int, rule: str, quantile: float,
                min_points: int, n_candidates: int) -> tuple[_Sorted, int, float]:
    """(values above the lower cut, cut-off index j, λ̂) for sorted positive xs; j = −1 when
    fewer than min_points + 1 values lie above the cut."""
    cut = _lower_cut(xs, floor, trim)
    s = _Sorted.of(xs[xs > cut], cut)
    if s.xs.size < min_points + 1:
        return s, -1, math.nan
    j = _choose_cutoff(s, rule, quantile, min_points, n_candidates)
    return s, j, s.rate(j)


def _bootstrap_sd(xs, floor, trim, rule, quantile, min_points, n_candidates, n_bootstrap,
                  seed) -> float:
    """Standard deviation of a = λ̂ − 1 over n_bootstrap resamples (with replacement) of xs."""
    rng = np.random.default_rng(seed)
    est = []
    for _ in range(n_bootstrap):
        b = np.sort(rng.choice(xs, size=xs.size, replace=True))
        lam = _fit_sorted(b, floor, trim, rule, quantile, min_points, n_candidates)[2]
        if math.isfinite(lam):
            est.append(lam - 1.0)
    return float(np.std(est, ddof=1)) if len(est) >= 2 else math.nan


def _check_options(rule, quantile, min_points, n_candidates, sign, n_bootstrap, seed, floor,
                   trim) -> None:
    """ParameterError naming the first bad option of :func:`fit_small_x_power_law`."""
    require(rule in FIT_RULES, "rule", f"one of {FIT_RULES}", rule)
    require(isinstance(quantile, (int, float, np.floating)) and 0.0 < quantile <= 1.0,
            "quantile", "a number in (0, 1]", quantile)
    check_int(min_points, "min_points", 3)
    check_int(n_candidates, "n_candidates", 1, 10_000)
    require(sign in (1, -1), "sign", "+1 or -1", sign)
    check_int(n_bootstrap, "n_bootstrap", 0, 100_000)
    check_int(seed, "seed", 0)
    check_int(trim, "trim", 0)
    require(isinstance(floor, (int, float, np.floating)) and math.isfinite(floor) and floor >= 0,
            "floor", "a finite number >= 0", floor)


def fit_small_x_power_law(x, rule: str = "ks", quantile: float = DEFAULT_QUANTILE,
                          min_points: int = DEFAULT_MIN_POINTS, n_candidates: int = KS_CANDIDATES,
                          sign: int = 1, name: str = "a", n_bootstrap: int = 0,
                          seed: int = 0, floor: float = 0.0, trim: int = 0) -> PowerLawFit:
    """Maximum-likelihood exponent a of a density f(x) ∝ x^a at small x > 0.

    Model: on (x_lo, x_max], f(x) ∝ x^a. The lower cut x_lo is the larger of ``floor`` and the
    ``trim``-th smallest value (0 when both are 0), so the ``trim`` smallest values, and values
    at or below a physical or numerical floor, never enter the fit: one or two extreme values
    cannot set the exponent. With the upper cut at the sorted value x_max = x_(j+1) of the values
    above x_lo, the j smaller ones are iid from the truncated law, and with u_i = ln(x_i/x_max)
      * without a lower cut: a = −1 + (j − 1)/Σ_i (−u_i), stderr = (a + 1)/√j (Fisher);
      * with x_lo > 0 (span L = ln(x_max/x_lo)): the likelihood equation of the truncated law,
        ū = −1/λ + L/(e^{λL} − 1) with λ = a + 1, stderr = 1/√(j Var u).
    Rule for x_max (never by hand):
      * "ks" (default): scan n_candidates cut-offs log-spaced in rank between min_points and n − 1
        and keep the one whose fit has the smallest Kolmogorov–Smirnov distance to its data
        (Clauset, Shalizi, Newman, SIAM Rev. 51, 661, 2009, applied to the upper cut-off of a
        small-x law); the KS distance of a good fit falls as 1/√j, so the scan extends the range
        until the data bend away from the power law.
      * "quantile": x_max at the ⌈quantile · n⌉-th smallest value (at least min_points used).
    The stderr is conditional on the chosen cut-offs: calibrated for "quantile" (the spread over
    samples equals it), about 15–20 % too small for "ks" (the scan's selection; measured in
    tests/test_analysis.py); n_bootstrap > 0 adds a bootstrap error that includes the selection.

    Parameters
    ----------
    x : positive samples (non-positive entries are ignored); at least min_points + 1 of them
        above the lower cut.
    rule : "ks" or "quantile". quantile : in (0, 1]. min_points : ≥ 3. n_candidates : ≥ 1.
    sign : +1 reports exponent = a (θ), −1 reports exponent = −a (γ). name : label of the exponent.
    n_bootstrap : resamples for ``stderr_bootstrap`` (0: none). seed : their random seed.
    floor : values ≤ floor are left out (≥ 0). trim : the trim smallest values are left out (≥ 0).
    """
    _check_options(rule, quantile, min_points, n_candidates, sign, n_bootstrap, seed, floor,
                   trim)
    v = np.asarray(x, dtype=np.float64).ravel()
    require(bool(np.all(np.isfinite(v))), "x", "finite", "non-finite values")
    xs = np.sort(v[v > 0.0])
    s, j, lam = _fit_sorted(xs, float(floor), trim, rule, float(quantile), min_points,
                            n_candidates)
    require(j > 0, "x", f"at least min_points + 1 = {min_points + 1} positive values above the "
            f"lower cut {s.floor:.3g}", f"{s.xs.size} such values")
    require(math.isfinite(lam), "x", "values with distinct magnitudes below the cut-off",
            f"all {j} smallest values equal")
    a = lam - 1.0
    return PowerLawFit(exponent=sign * a, stderr=_fisher_sd(lam, s.span(j), j),
                       density_exponent=a, name=str(name), n_used=j, n_sample=int(xs.size),
                       x_min=float(s.xs[0]), x_max=float(s.xs[j]), rule=rule,
                       ks_distance=_ks(s.xs, j, s.floor, lam), x_floor=s.floor,
                       stderr_bootstrap=_bootstrap_sd(xs, float(floor), trim, rule,
                                                      float(quantile), min_points, n_candidates,
                                                      n_bootstrap, seed)
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
