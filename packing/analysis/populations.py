"""The populations whose distributions carry the critical exponents of jamming: contact forces
split into extended and buckler forces, gaps between non-rattlers, and the marginal constraints
(|Δ| at the resolution of the minimiser) that belong to neither.

* Bucklers: non-rattler particles with exactly d + 1 contacts. Their weak forces come from
  localised buckling excitations and follow P(f) ~ f^θ_l, while the forces of extended
  excitations follow f^θ_e (Lerner, Düring, Wyart, Soft Matter 9, 8252, 2013: θ_l ≈ 0.17,
  θ_e ≈ 0.44; Charbonneau, Corwin, Parisi, Zamponi, PRL 114, 125504, 2015, who separate the
  bucklers' contribution to reach the mean-field θ = 0.42311). A contact is a buckler contact when
  either of its particles is a buckler; every other contact between non-rattlers is extended.
* Gaps h = −Δ > 0 between two non-rattlers (g(h) ~ h^−γ); rattlers' pairs carry no critical
  statistics and are left out of both populations.
* Marginal constraints: |Δ| ≤ max(:data:`~.tolerances.MARGINAL_RTOL` · (mean Δ of the
  contacts), :data:`~.tolerances.MARGINAL_ATOL`);
  their sign is decided by where the minimiser stopped, not by the landscape, so they are
  counted beside N_Δ and left out of the fits. A net's Δ_μ = 1 − y_μ F(x_μ) is handled by the
  same rule through :func:`marginal_mask` (scale: its mean Δ > 0, or 1 when all data are fitted).

Arrays only: the caller hands pairs, Δ, the rattler mask and, for forces, the pair diameters.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import require
from ._checks import check_gaps, check_int
from .tolerances import MARGINAL_ATOL, MARGINAL_RTOL


@dataclasses.dataclass(frozen=True)
class ContactPopulations:
    """The populations of one packing state (module docstring).

    extended_forces, buckler_forces : (n_e,), (n_b,) forces normalised by the mean force of all
    non-marginal contacts between non-rattlers. gaps : (n_g,) h = −Δ of non-contacting
    non-rattler pairs above the marginal threshold. n_bucklers : buckler particles.
    n_nonrattlers : N′. n_marginal : non-rattler pairs with |Δ| at or below the threshold.
    overlap_scale : mean Δ of the contacts (the compression scale; gaps below it are rounded by
    the finite pressure). threshold : the marginal |Δ| used. bucklers_split : whether bucklers
    were split off (round particles).
    """

    extended_forces: np.ndarray
    buckler_forces: np.ndarray
    gaps: np.ndarray
    n_bucklers: int
    n_nonrattlers: int
    n_marginal: int
    overlap_scale: float
    threshold: float
    bucklers_split: bool = True

    @property
    def forces(self) -> np.ndarray:
        """(n_e + n_b,) every force of the state, extended and buckler ones together: at small f
        their P(f) ~ f^min(θ_e, θ_l) (Lerner, Düring, Wyart 2013)."""
        return np.concatenate([self.extended_forces, self.buckler_forces])

    @property
    def buckler_fraction(self) -> float:
        """Bucklers per non-rattler (NaN without non-rattlers or without the split)."""
        if not (self.bucklers_split and self.n_nonrattlers):
            return float("nan")
        return self.n_bucklers / self.n_nonrattlers


def marginal_threshold(gaps: np.ndarray, rtol: float = MARGINAL_RTOL,
                       atol: float = MARGINAL_ATOL) -> float:
    """max(rtol · (mean Δ over Δ > 0), atol); the mean is 1 when no Δ is positive (a fitted net,
    whose margins are of order 1)."""
    pos = gaps[gaps > 0.0]
    return max(rtol * (float(pos.mean()) if pos.size else 1.0), atol)


def marginal_mask(gaps, rtol: float = MARGINAL_RTOL) -> np.ndarray:
    """(M,) bool: |Δ| ≤ :func:`marginal_threshold` (module docstring)."""
    g = check_gaps(gaps)
    return np.abs(g) <= marginal_threshold(g, rtol)


def buckler_mask(n: int, contacts, rattler, dim: int) -> np.ndarray:
    """(N,) bool: non-rattlers with exactly d + 1 contacts among ``contacts`` ((K, 2) particle
    index pairs between non-rattlers)."""
    n = check_int(n, "n", 1)
    dim = check_int(dim, "dim", 1, 3)
    c = np.asarray(contacts, dtype=np.int64).reshape(-1, 2)
    r = np.asarray(rattler, dtype=bool)
    require(r.shape == (n,), "rattler", f"a bool array of shape ({n},)", r.shape)
    require(c.size == 0 or (c.min() >= 0 and c.max() < n), "contacts", f"indices in [0, {n})",
            f"range [{c.min()}, {c.max()}]" if c.size else "empty")
    z = np.bincount(c.ravel(), minlength=n)
    return ~r & (z == dim + 1)


def contact_populations(pairs, gaps, rattler, dim: int, diameters=None,
                        force_exponent: float = 1.0, rtol: float = MARGINAL_RTOL,
                        split_bucklers: bool = True) -> ContactPopulations:
    """Split one packing state's pairs into the populations of the module docstring.

    pairs : (M, 2) candidate pairs. gaps : (M,) Δ (> 0 overlap, Δ = 1 − r/σ for spheres).
    rattler : (N,) bool. dim : d. diameters : (M,) pair diameters σ_ij (None: 1), the force being
    f ∝ Δ^force_exponent / σ_ij (harmonic: exponent 1; Hertz: 3/2). split_bucklers : False for
    particles whose d + 1 count means nothing (ellipses, ellipsoids: every force is "extended").
    """
    g = check_gaps(gaps)
    p = np.asarray(pairs, dtype=np.int64)
    require(p.shape == (g.size, 2), "pairs", f"an int array of shape ({g.size}, 2)", p.shape)
    r = np.asarray(rattler, dtype=bool)
    require(r.ndim == 1 and (p.size == 0 or p.max() < r.size), "rattler",
            "a bool array with one entry per particle", r.shape)
    sigma = np.ones(g.size) if diameters is None else np.asarray(diameters, dtype=np.float64)
    require(sigma.shape == g.shape and bool(np.all(sigma > 0)), "diameters",
            f"positive numbers of shape {g.shape}", sigma.shape)
    live = ~r[p[:, 0]] & ~r[p[:, 1]]
    contact = live & (g > 0.0)
    threshold = marginal_threshold(g[live], rtol)
    marginal = live & (np.abs(g) <= threshold)
    force = contact & ~marginal
    bucklers = buckler_mask(r.size, p[contact], r, dim) & bool(split_bucklers)
    f = np.where(force, np.abs(g) ** force_exponent / sigma, 0.0)
    mean_f = f[force].mean() if force.any() else 1.0
    on_buckler = bucklers[p[:, 0]] | bucklers[p[:, 1]]
    return ContactPopulations(
        extended_forces=f[force & ~on_buckler] / mean_f, buckler_forces=f[force & on_buckler] / mean_f,
        gaps=-g[live & (g < 0.0) & ~marginal], n_bucklers=int(bucklers.sum()),
        n_nonrattlers=int((~r).sum()), n_marginal=int(marginal.sum()),
        overlap_scale=float(g[contact].mean()) if contact.any() else float("nan"),
        threshold=threshold, bucklers_split=bool(split_bucklers))
