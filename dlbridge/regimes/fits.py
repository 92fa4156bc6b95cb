"""The numbers of the phase diagram: the lazy slope, the crossover α*(h), the output fluctuations
and the ensemble gain against N, each with a bootstrap error over seeds. torch-free.

* lazy slope: log₁₀ ‖ΔΘ‖/‖Θ₀‖ against log₁₀ α for each seed over its fitted nets with
  α ≥ α_min at one width, averaged over seeds; −1 in the lazy limit, where the weights move by
  O(1/α) and the kernel changes to first order in them (the guide slope of the authors'
  notebooks; Geiger, Spigler, Jacot, Wyart, J. Stat. Mech. 2020, 113301).
* crossover α*: where the seed-mean of log₁₀ ‖ΔΘ‖/‖Θ₀‖ crosses log₁₀ c, by linear
  interpolation in log α between the two grid points around it (the authors' feature_lazy.py
  bisects on the same target); α* ∝ h^(−1/2) in the paper's convention (α_paper = α/√h), i.e.
  α*_code independent of h.
* fluctuations: ‖F − F̄‖ ∝ N^a at fixed α, a = −1/4 (Geiger et al., J. Stat. Mech. 2020, 023401).
* ensemble gain: ε_N − ε̄_N ∝ N^c, with ε̄_N the error of the ensemble predictor at the same N;
  c = −1/2 (ibid.: ε_N − ε_∞ ∼ N^(−1/2), the excess coming from the fluctuations, ∝ ‖F − F̄‖²).

Errors (but the lazy slope's, a standard error over seeds): the bootstrap resamples the seeds
of every cell (n_boot replicates, fixed rng seed) and refits; the quoted error is the standard
deviation of the refitted exponents.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable, Sequence

import numpy as np

from packing.analysis import ScalingFit, fit_scaling

from .cells import Cell, ensemble_error, output_fluctuation

N_BOOTSTRAP = 200
BOOTSTRAP_SEED = 0
KERNEL_THRESHOLD = 1.0


@dataclasses.dataclass(frozen=True)
class Exponent:
    """A fitted exponent with its bootstrap error and the points it stands on."""

    name: str
    fit: ScalingFit
    bootstrap_error: float
    x: np.ndarray
    y: np.ndarray

    @property
    def value(self) -> float:
        return self.fit.exponent

    @property
    def error(self) -> float:
        """The larger of the bootstrap error and the least-squares standard error."""
        return float(max(self.bootstrap_error, self.fit.stderr))


def _resampled(cell: Cell, rng: np.random.Generator) -> tuple:
    nets = cell.fitted
    return tuple(nets[i] for i in rng.integers(0, len(nets), len(nets)))


def _exponent(name: str, cells: Sequence[Cell], x_of: Callable[[Cell], float],
              y_of: Callable[[tuple], float], n_boot: int) -> Exponent | None:
    """Fit y_of(fitted nets) against x_of(cell) over ``cells``; bootstrap over seeds."""
    cells = [c for c in cells if c.n_fitted >= 2]
    x = np.array([x_of(c) for c in cells], dtype=np.float64)
    y = np.array([y_of(c.fitted) for c in cells], dtype=np.float64)
    fit = fit_scaling(x, y)
    if fit is None:
        return None
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    slopes = []
    for _ in range(n_boot):
        yb = np.array([y_of(_resampled(c, rng)) for c in cells])
        fb = fit_scaling(x, yb)
        if fb is not None:
            slopes.append(fb.exponent)
    err = float(np.std(slopes, ddof=1)) if len(slopes) >= 2 else math.nan
    return Exponent(name, fit, err, x, y)


def _outputs(nets: tuple) -> np.ndarray:
    return np.stack([n.test_outputs for n in nets])


def _fluct(nets: tuple) -> float:
    return output_fluctuation(_outputs(nets)) if len(set(n.seed for n in nets)) >= 2 else math.nan


def _gain(nets: tuple) -> float:
    single = float(np.mean([n.test_error for n in nets]))
    return single - ensemble_error(_outputs(nets), nets[0].test_labels)


def fluctuation_exponent(cells: Sequence[Cell], n_boot: int = N_BOOTSTRAP) -> Exponent | None:
    """a in ‖F − F̄‖ ∝ N^a over ``cells`` (one α, several widths); None with < 3 widths."""
    return _exponent("fluctuation", cells, lambda c: c.first.n_params, _fluct, n_boot)


def ensemble_gain_exponent(cells: Sequence[Cell], n_boot: int = N_BOOTSTRAP) -> Exponent | None:
    """c in ε_N − ε̄_N ∝ N^c over ``cells`` (one α, several widths); cells with no gain drop out."""
    return _exponent("ensemble gain", cells, lambda c: c.first.n_params, _gain, n_boot)


def lazy_slope(cells: Sequence[Cell], alpha_min: float) -> Exponent | None:
    """Slope of log ‖ΔΘ‖/‖Θ₀‖ against log α over the fitted nets with α ≥ alpha_min (one width).

    A seed's nets at different α share their initialisation, so their kernel changes share a
    prefactor that varies from seed to seed by a factor ~2: the slope is fitted per seed (over
    its fitted α ≥ alpha_min, two at least) and the value is the mean over seeds, its error the
    standard error of that mean. ``fit`` keeps the pooled least squares for its prefactor."""
    use = [c for c in cells if c.first.alpha >= alpha_min]
    nets = [n for c in use for n in c.fitted]
    pooled = fit_scaling([n.alpha for n in nets], [n.kernel_change for n in nets])
    per_seed = []
    for seed in sorted({n.seed for n in nets}):
        mine = [n for n in nets if n.seed == seed]
        if len({n.alpha for n in mine}) >= 2:
            per_seed.append(np.polyfit(np.log10([n.alpha for n in mine]),
                                       np.log10([n.kernel_change for n in mine]), 1)[0])
    if pooled is None or len(per_seed) < 2:
        return None
    slopes = np.array(per_seed)
    sem = float(slopes.std(ddof=1) / math.sqrt(slopes.size))
    fit = dataclasses.replace(pooled, exponent=float(slopes.mean()), stderr=sem)
    return Exponent("lazy slope", fit, sem, np.array([n.alpha for n in nets]),
                    np.array([n.kernel_change for n in nets]))


@dataclasses.dataclass(frozen=True)
class Crossover:
    """α* of one width where the mean log₁₀ ‖ΔΘ‖/‖Θ₀‖ crosses log₁₀ ``threshold``."""

    width: float
    n_last: int
    threshold: float
    log_alpha: float
    log_alpha_error: float

    @property
    def alpha_code(self) -> float:
        return 10.0 ** self.log_alpha

    @property
    def alpha_paper(self) -> float:
        """α*_paper = α*_code/√n_L."""
        return self.alpha_code / math.sqrt(self.n_last)


def crossover(cells: Sequence[Cell], n_last: int, threshold: float = KERNEL_THRESHOLD
              ) -> Crossover | None:
    """α* of one width's cells (sorted by α); None when the curve does not cross."""
    pts = [(math.log10(c.first.alpha), *c.log_kernel_change) for c in cells if c.n_fitted >= 2]
    t = math.log10(threshold)
    for (x1, y1, s1), (x2, y2, s2) in zip(pts, pts[1:]):
        if y1 >= t > y2:
            d = y2 - y1
            x = x1 + (t - y1) * (x2 - x1) / d
            err = math.hypot((x2 - x1) * (t - y2) / d**2 * s1, (x2 - x1) * (t - y1) / d**2 * s2)
            return Crossover(cells[0].first.width, n_last, threshold, x, err)
    return None


def crossover_exponent(stars: Sequence[Crossover], convention: str,
                       n_boot: int = N_BOOTSTRAP) -> ScalingFit | None:
    """Least squares of log α* against log h (``convention``: code or paper). Its stderr is the
    larger of the least-squares one and a parametric bootstrap: every log α* drawn from a normal
    law of its interpolation error, refitted."""
    shift = 0.0 if convention == "code" else 1.0
    widths = np.array([s.width for s in stars])
    logs = np.array([s.log_alpha - shift * 0.5 * math.log10(s.n_last) for s in stars])
    fit = fit_scaling(widths, 10.0 ** logs)
    if fit is None:
        return None
    errs = np.array([s.log_alpha_error for s in stars])
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    slopes = [np.polyfit(np.log10(widths), logs + errs * rng.standard_normal(len(logs)), 1)[0]
              for _ in range(n_boot)]
    return dataclasses.replace(fit, stderr=float(max(fit.stderr, np.std(slopes, ddof=1))))
