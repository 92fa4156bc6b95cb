"""Distributions on logarithmic axes: log-binned densities of gaps and forces, and the density
of states of a spectrum."""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..errors import require
from ._checks import check_int, check_rtol
from .spectra import Spectrum
from .tolerances import ZERO_MODE_RTOL

DEFAULT_BINS = 30           # log-binned histograms


@dataclasses.dataclass(frozen=True)
class LogHistogram:
    """Histogram on logarithmic bins, normalised as a probability density.

    edges : (n_bins + 1,) geometric bin edges. centers : (n_bins,) geometric means of the edges.
    counts : (n_bins,) int64. density : counts / (n_norm · width), so Σ density · width = n_used /
    n_norm (= 1 when every value falls in the bins, the default).
    n_used : values inside [edges[0], edges[-1]]. n_norm : the normalising count (all positive
    values given).
    """

    edges: np.ndarray
    centers: np.ndarray
    counts: np.ndarray
    density: np.ndarray
    n_used: int
    n_norm: int



def log_histogram(values, n_bins: int = DEFAULT_BINS, lo: float | None = None,
                  hi: float | None = None) -> LogHistogram:
    """Log-binned probability density of the positive entries of ``values``.

    Bins are n_bins geometric intervals between lo and hi (default: the smallest and largest
    positive value; the last bin is closed). density = counts / (n_pos · width), n_pos being all
    positive values, so it integrates to the fraction inside [lo, hi].
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    require(bool(np.all(np.isfinite(v))), "values", "finite", "non-finite values")
    n_bins = check_int(n_bins, "n_bins", 1, 10_000)
    pos = v[v > 0.0]
    require(pos.size >= 1, "values", "an array with at least one positive value",
            f"{v.size} values")
    lo = float(pos.min()) if lo is None else float(lo)
    hi = float(pos.max()) if hi is None else float(hi)
    require(math.isfinite(lo) and lo > 0.0, "lo", "a finite number > 0", lo)
    require(math.isfinite(hi) and hi >= lo, "hi", f"a finite number >= lo = {lo}", hi)
    if hi == lo:
        lo, hi = lo / 1.01, hi * 1.01
    edges = np.geomspace(lo, hi, n_bins + 1)
    edges[0], edges[-1] = lo, hi
    counts, _ = np.histogram(pos, bins=edges)
    width = np.diff(edges)
    return LogHistogram(edges=edges, centers=np.sqrt(edges[:-1] * edges[1:]),
                        counts=counts.astype(np.int64), density=counts / (pos.size * width),
                        n_used=int(counts.sum()), n_norm=int(pos.size))


def density_of_states(spec: Spectrum, n_bins: int = DEFAULT_BINS, variable: str = "eigenvalue",
                      tol: float = ZERO_MODE_RTOL) -> LogHistogram:
    """Density of states on a log axis from a complete spectrum.

    Eigenvalues λ > tol · scale (zero and negative modes left out) are histogrammed on log bins,
    as λ (variable="eigenvalue") or as frequencies ω = √λ (variable="frequency", the D(ω) of
    jamming, e.g. Silbert, Liu, Nagel, PRL 95, 098301, 2005), normalised to unit integral.
    """
    require(isinstance(spec, Spectrum) and spec.complete, "spec", "a complete Spectrum",
            getattr(spec, "method", type(spec).__name__))
    require(variable in ("eigenvalue", "frequency"), "variable", "'eigenvalue' or 'frequency'",
            variable)
    tol = check_rtol(tol)
    ev = np.asarray(spec.eigenvalues)
    ev = ev[ev > tol * spec.scale]
    require(ev.size >= 1, "spec", "a spectrum with at least one positive eigenvalue",
            f"{spec.n} eigenvalues")
    return log_histogram(np.sqrt(ev) if variable == "frequency" else ev, n_bins)
