"""What ``dlbridge compare`` measures per system, with the shared analysis of
:mod:`packing.analysis` (no copy of it here):

* the transition location (φ_J or N*) as mean ± sample standard deviation over seeds (nets: each
  seed's own N* by the nets' rule, :mod:`dlbridge.nstar`);
* N_Δ/N_dof at the transition and N_Δ/N_iso with N_iso = N_dof + 1 for a periodic packing (the
  extra constraint of a jammed state in a periodic box, Goodrich, Liu, Nagel, PRL 109, 095704,
  2012) and N_iso = N for a net; the verdict isostatic / hypostatic / hyperstatic;
* the critical exponents, pooled over realisations with errors from a bootstrap over them
  (:mod:`packing.analysis.exponents`): packings, θ_e of the extended forces, θ_l of the buckler
  forces and γ of the gaps between non-rattlers at the state nearest φ_J of each seed; nets, θ of
  P₊(Δ/⟨Δ₊⟩) and γ of P₋(|Δ|) over every net at a minimum (stop reason ``converged``, not a
  minimum of dead units) with 0 < 1 − N/N* ≤ :data:`NET_EXPONENT_WINDOW`, pooled over widths
  and seeds (Geiger et al., PRE 100, 012115, 2019), else over the nearest states; marginal
  constraints (|Δ| at round-off, `packing.analysis.populations`) counted and left out;
* the zero modes of the stiffness part (H0) at the transition (global translations excluded);
* the scaling exponents of N_Δ/N_dof − (its value at the transition) and of the energy with the
  distance to the transition (:func:`packing.analysis.fit_scaling`).

Distance to the transition: packings Δφ = φ − φ_J (> 0 on the jammed side); networks
1 − N/N* (> 0 on the jammed side N < N*, where N_Δ > 0), with N* the stored ensemble transition.

Which states are "at the transition", per seed: packings, the state with the smallest Δφ > 0;
networks, the largest N < N* with N_Δ > 0 (else the state nearest N* with N_Δ > 0). Nets whose
violations are flat (:attr:`~.states.State.flat_violations`: N_Δ > 0 with a stress part at
round-off, minima of dead ReLU units) are never taken there, nor fitted, nor in the scaling fits;
a warning names each.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Iterable, Sequence

import numpy as np

from packing.analysis import (
    PooledExponent,
    ScalingFit,
    count_constraints,
    count_zero_modes,
    fit_scaling,
    packing_exponents,
    pooled_exponent,
)
from packing.errors import require
from packing.shapes import ROUND

from ..nstar import bracket_midpoint, half_fitted_bracket
from .states import State, SystemKey

DEFAULT_BOOTSTRAP = 200
NET_EXPONENT_WINDOW = 0.2     # nets within 20 % below N* enter the θ, γ fits


@dataclasses.dataclass(frozen=True)
class Estimate:
    """mean ± sample standard deviation (ddof = 1; NaN for n = 1) of n values."""

    mean: float
    std: float
    n: int


@dataclasses.dataclass(frozen=True)
class SystemSummary:
    """One table row (see :data:`CSV_COLUMNS`) and the states behind it.

    transition : over seeds (packings: φ_J; networks: per-seed N* from the width scan, the
    midpoint of the seed's own bracket, else the stored N*). index, iso_index, excess : N_Δ/N_dof,
    N_Δ/N_iso and N_Δ − N_iso over the states at the transition (``nearest``). index_reference :
    what N_Δ/N_dof is compared with in the scaling fit (discs/spheres: N_iso/N_dof per state,
    reported as its mean; ellipses and networks: each seed's own value at its transition, whose
    mean is ``index.mean``; those nearest states are left out of the fit).
    zero_modes : zero modes of the stiffness part minus the
    trivial ones, over the nearest states with stored eigenvalues (None without).
    theta, gamma : pooled exponents (module docstring; packings: θ is θ_e, the extended forces,
    when pairs and rattlers are stored), None with too few values. theta_buckler : θ_l of the
    packings' buckler forces; theta_all : θ of all their forces together (min(θ_e, θ_l) at small f).
    buckler_fraction : bucklers per non-rattler. n_marginal : marginal
    constraints per state of ``exponent_states``, the states behind the exponents.
    index_scaling : (N_Δ/N_dof − reference) against distance; energy_scaling : energy against
    distance (None with fewer than 3 usable points). test_error_peak : (N/N*, error) of the largest
    seed-averaged test error (networks).
    """

    key: SystemKey
    states: tuple[State, ...]
    nearest: tuple[State, ...]
    transition: Estimate
    nearest_distance: Estimate
    index: Estimate
    iso_index: Estimate
    excess: Estimate
    verdict: str
    index_reference: float
    zero_modes: Estimate | None
    theta: PooledExponent | None
    gamma: PooledExponent | None
    index_scaling: ScalingFit | None
    energy_scaling: ScalingFit | None
    test_error_peak: tuple[float, float] | None
    warnings: tuple[str, ...] = ()
    theta_buckler: PooledExponent | None = None
    theta_all: PooledExponent | None = None
    buckler_fraction: float = math.nan
    n_marginal: Estimate = Estimate(math.nan, math.nan, 0)
    exponent_states: tuple[State, ...] = ()

    @property
    def side(self) -> str:
        """"packing" or "network"."""
        return self.key.side

    @property
    def label(self) -> str:
        """The system's name."""
        return self.key.label


# ----------------------------------------------------------------------------- measurements
def estimate(values: Iterable[float]) -> Estimate:
    """mean ± sample std (ddof = 1) of the finite values; NaN mean when there are none."""
    v = np.asarray([x for x in values if math.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return Estimate(math.nan, math.nan, 0)
    std = float(np.std(v, ddof=1)) if v.size > 1 else math.nan
    return Estimate(float(v.mean()), std, int(v.size))


def _by_realisation(states: Sequence[State]) -> dict[tuple[str, int], list[State]]:
    """States grouped per (file, seed)."""
    out: dict[tuple[str, int], list[State]] = {}
    for s in states:
        out.setdefault(s.realisation, []).append(s)
    return out


def network_seed_transition(states: Sequence[State]) -> float:
    """N* of one seed's width scan by the nets' rule (:func:`dlbridge.nstar.half_fitted_bracket`
    with the seed's fitted fraction 0 or 1 per width, N_Δ = 0 counted as fitted): the midpoint of
    the smallest N with N_Δ = 0 and the largest N below it; NaN if not bracketed."""
    fitted = {s.control: float(s.n_constraints == 0) for s in states}
    return bracket_midpoint(*half_fitted_bracket(fitted))


def realisation_transition(states: Sequence[State]) -> float:
    """The transition of one realisation: the stored φ_J (packings) or the seed's own N*
    (networks, :func:`network_seed_transition`, falling back to the stored N*)."""
    stored = estimate(s.transition for s in states).mean
    if not states[0].description.own_seed_transition:
        return stored
    own = network_seed_transition(states)
    return own if math.isfinite(own) else stored


def nearest_state(states: Sequence[State]) -> State | None:
    """The state of one realisation taken as "at the transition" (module docstring)."""
    states = [s for s in states if not s.flat_violations]
    if not states:
        return None
    jammed = [s for s in states if math.isfinite(s.distance) and s.distance > 0
              and s.n_constraints > 0 and s.n_dof > 0]
    if jammed:
        return min(jammed, key=lambda s: s.distance)
    if states[0].description.nearest_fallback:
        active = [s for s in states if s.n_constraints > 0 and math.isfinite(s.distance)]
        if active:
            return min(active, key=lambda s: abs(s.distance))
    return None


def stiffness_zero_modes(state: State) -> int | None:
    """Zero modes of the stiffness part minus the trivial ones (|λ| ≤ 1e-10 max|λ|,
    :func:`packing.analysis.count_zero_modes`); None without stored eigenvalues."""
    if state.stiffness_eigenvalues is None:
        return None
    zm = count_zero_modes(state.stiffness_eigenvalues, n_trivial=state.n_trivial)
    return zm.n_floppy


def pooled_gaps(states: Sequence[State]) -> np.ndarray:
    """Gaps pooled over states as the fits see them: Δ > 0 as the normalised force variable
    (:meth:`State.force_variable`), Δ < 0 unchanged, :attr:`State.fitted_out` left out."""
    parts = []
    for s in states:
        parts.append(s.force_variable())
        parts.append(-s.gap_variable())
    return np.concatenate(parts) if parts else np.zeros(0)


def fit_error(fit: PooledExponent) -> float:
    """The error bar reported for an exponent: :attr:`~packing.analysis.PooledExponent.error`
    (the bootstrap over realisations, never below the Fisher error, and the fit-range
    systematic in quadrature)."""
    return fit.error


def exponent_states(states: Sequence[State], nearest: Sequence[State]) -> tuple[State, ...]:
    """The states the exponents are fitted on: packings, ``nearest``; nets, every converged net
    with N_Δ > 0 and 0 < 1 − N/N* ≤ NET_EXPONENT_WINDOW, or ``nearest`` when there is none."""
    if not states or states[0].description.translations_trivial:
        return tuple(nearest)
    near = tuple(s for s in states if s.stop_reason == "converged" and s.n_constraints > 0
                 and not s.flat_violations and 0.0 < s.distance <= NET_EXPONENT_WINDOW)
    return near or tuple(nearest)


@dataclasses.dataclass(frozen=True)
class _Exponents:
    theta: PooledExponent | None
    theta_buckler: PooledExponent | None
    gamma: PooledExponent | None
    buckler_fraction: float
    n_marginal: Estimate
    theta_all: PooledExponent | None = None


def _exponents(states: Sequence[State], n_bootstrap: int) -> _Exponents:
    """θ (θ_e), θ_l, γ of ``states`` (one realisation each for packings; several nets per seed
    are pooled as separate samples) and their marginal counts."""
    pops = [s.populations for s in states]
    if states and all(p is not None for p in pops):
        ex = packing_exponents(pops, n_bootstrap=n_bootstrap)
        return _Exponents(ex.theta_extended, ex.theta_buckler, ex.gamma, ex.buckler_fraction,
                          estimate(p.n_marginal for p in pops), ex.theta_all)
    pos = [s.force_variable() for s in states]
    neg = [s.gap_variable() for s in states]
    return _Exponents(pooled_exponent(pos, 1, "theta", n_bootstrap=n_bootstrap,
                                      estimator="corrected"),
                      None, pooled_exponent(neg, -1, "gamma", n_bootstrap=n_bootstrap),
                      math.nan, estimate(int(s.marginal.sum()) for s in states))


def _verdict(excess: Sequence[int]) -> str:
    """isostatic / hypostatic / hyperstatic when all nearest states agree, else "mixed"."""
    if not excess:
        return "n/a"
    if all(e == 0 for e in excess):
        return "isostatic"
    if all(e < 0 for e in excess):
        return "hypostatic"
    if all(e > 0 for e in excess):
        return "hyperstatic"
    return f"mixed ({sum(e == 0 for e in excess)}/{len(excess)} isostatic)"


def _count_warnings(states: Sequence[State]) -> list[str]:
    """Lines for packing states above φ_J that are unjammed (a small packing can rearrange on
    compression; left out of the energy fit) and for network states whose n_constraints attribute
    differs from #{Δ > 0} of their gaps (packings are skipped there: their N_Δ counts contacts
    between non-rattlers only, while `gaps` holds every neighbour pair, rattlers' included)."""
    out = [f"{s.source}: unjammed at distance {s.control - s.transition:.3g} above the transition "
           "(rearranged on compression); left out of the energy fit" for s in states if s.unjammed]
    out += [f"{s.source}: N_Δ = {s.n_constraints} but its stress part is round-off (every "
            "unsatisfied input on dead units or violated at round-off: a minimum of dead units, not "
            "a jammed one); left out of the states at the transition, the exponents and the scaling "
            "fits" for s in states if s.flat_violations]
    for s in states:
        if not s.description.every_gap_counted or s.n_dof < 1 or s.gaps.size == 0:
            continue
        c = count_constraints(s.gaps, s.n_dof, s.isostatic_offset)
        resolved = int(np.count_nonzero((s.gaps > 0.0) & ~s.marginal))
        if s.n_constraints not in (c.n_constraints, resolved):
            out.append(f"{s.source}: n_constraints = {s.n_constraints} but #{{gaps > 0}} = "
                       f"{c.n_constraints}; the attribute is used")
    return out


def _test_error_peak(states: Sequence[State]) -> tuple[float, float] | None:
    """(N/N*, mean test error) at the N whose seed-averaged test error is largest (networks)."""
    pts: dict[float, list[float]] = {}
    for s in states:
        if math.isfinite(s.test_error) and math.isfinite(s.transition):
            pts.setdefault(s.control / s.transition, []).append(s.test_error)
    if not pts:
        return None
    x = max(pts, key=lambda k: float(np.mean(pts[k])))
    return x, float(np.mean(pts[x]))


MISPLACED_FACTOR = 3.0      # p/Δφ^(α−1) this far from the system's median: φ_J is misplaced


def drop_misplaced(states: Sequence[State]) -> tuple[tuple[State, ...], list[str]]:
    """The states without the realisations whose φ_J is misplaced, and a warning for each one
    left out. A realisation is misplaced when p/Δφ^(α−1) of its state at the transition is more
    than MISPLACED_FACTOR from the median of the system's: that state, and with it every state
    of the seed, is not at its stated distance (e.g. a search that ended on another branch), so
    the seed's φ_J, counts, scaling and exponents are all left out. Nets (no pressure) pass
    unchanged."""
    nearest = [n for n in (nearest_state(r) for r in _by_realisation(states).values()) if n]
    ratios = [n.pressure_ratio for n in nearest]
    ok = [r for r in ratios if math.isfinite(r) and r > 0]
    if len(ok) < 3:
        return tuple(states), []
    med = float(np.median(ok))
    bad, notes = set(), []
    for n, r in zip(nearest, ratios):
        if math.isfinite(r) and not med / MISPLACED_FACTOR <= r <= med * MISPLACED_FACTOR:
            bad.add(n.realisation)
            notes.append(f"{n.source}: p/Δφ^(α−1) = {r:.3g} against the median {med:.3g} of "
                         f"the other seeds: φ_J of seed {n.seed} is misplaced; every state of "
                         "the seed is left out")
    return tuple(s for s in states if s.realisation not in bad), notes


def with_transition(states: Sequence[State]) -> tuple[tuple[State, ...], list[str]]:
    """The states, with the transition of nets whose files carry none (a sweep trains each width
    on its own) set to the mean of the seeds' own N* (:func:`network_seed_transition`), and a
    note saying so; other states unchanged."""
    if not states[0].description.own_seed_transition or all(
            math.isfinite(s.transition) for s in states):
        return tuple(states), []
    own = estimate(network_seed_transition(r) for r in _by_realisation(states).values())
    if not math.isfinite(own.mean):
        return tuple(states), []
    fixed = tuple(s if math.isfinite(s.transition) else dataclasses.replace(s, transition=own.mean)
                  for s in states)
    return fixed, [f"{states[0].system.label}: N* not stored in the files; the mean of the "
                   f"{own.n} seeds' own N* = {own.mean:.1f} is used for 1 − N/N*"]


def _on_branch(s: State) -> bool:
    """A state the energy law is fitted on: neither a packing unjammed above φ_J nor a net whose
    violations are flat (:attr:`State.flat_violations`)."""
    return not (s.unjammed or s.flat_violations)


def is_round_packing(key: SystemKey) -> bool:
    """Discs and spheres: their N_Δ at φ_J is known exactly (N_dof + 1), so the scaling of
    N_Δ/N_dof is measured from that value; other systems use the measured value at the
    transition."""
    return key.description.translations_trivial and key.get("shape") in ROUND


def summarize_system(key: SystemKey, states: Sequence[State],
                     n_bootstrap: int = DEFAULT_BOOTSTRAP) -> SystemSummary:
    """All measurements of one system (module docstring) as a :class:`SystemSummary`."""
    require(len(states) >= 1, "states", "a non-empty sequence", len(states))
    states, derived = with_transition(states)
    states, misplaced = drop_misplaced(states)
    realisations = _by_realisation(states)
    nearest = tuple(s for s in (nearest_state(r) for r in realisations.values()) if s is not None)
    index = estimate(s.isostaticity_index for s in nearest)
    isostatic_reference = is_round_packing(key)
    if isostatic_reference:
        reference = [s.n_iso / s.n_dof if s.n_dof else math.nan for s in states]
        index_y = [s.isostaticity_index - r for s, r in zip(states, reference)]
        index_reference = estimate(reference).mean
    else:
        index_reference = index.mean
        own = {s.realisation: s.isostaticity_index for s in nearest}
        index_y = [s.isostaticity_index - own.get(s.realisation, math.nan) for s in states]
    dist = [s.distance for s in states]
    zeros = [z for z in (stiffness_zero_modes(s) for s in nearest) if z is not None]
    fitted = exponent_states(states, nearest)
    ex = _exponents(fitted, n_bootstrap)
    scaling_ok = [i for i, s in enumerate(states) if (isostatic_reference or s not in nearest)
                  and not s.flat_violations]
    return SystemSummary(
        key=key, states=tuple(states), nearest=nearest,
        transition=estimate(realisation_transition(r) for r in realisations.values()),
        nearest_distance=estimate(s.distance for s in nearest), index=index,
        iso_index=estimate(s.n_constraints / s.n_iso for s in nearest),
        excess=estimate(s.n_constraints - s.n_iso for s in nearest),
        verdict=_verdict([s.n_constraints - s.n_iso for s in nearest]),
        index_reference=index_reference,
        zero_modes=estimate(zeros) if zeros else None,
        theta=ex.theta, gamma=ex.gamma, theta_buckler=ex.theta_buckler, theta_all=ex.theta_all,
        buckler_fraction=ex.buckler_fraction, n_marginal=ex.n_marginal, exponent_states=fitted,
        index_scaling=fit_scaling([dist[i] for i in scaling_ok], [index_y[i] for i in scaling_ok]),
        energy_scaling=fit_scaling([d for d, s in zip(dist, states) if _on_branch(s)],
                                   [s.energy for s in states if _on_branch(s)]),
        test_error_peak=_test_error_peak(states),
        warnings=tuple(derived + misplaced + _count_warnings(states)))
