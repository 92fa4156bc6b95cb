"""The shared constraint analysis of E(q) = Σ_c ½ Δ_c(q)² θ(Δ_c(q)) over N_dof coordinates q.

Packings (`packing.hessian.constraint_problem`) and networks (`dlbridge.nets.hessian.
constraint_problem`) both hand their state to :func:`analyze` as one :class:`ConstraintProblem`:

* gaps Δ_c of every candidate constraint (Δ > 0: violated / active, Δ < 0: satisfied);
* the Jacobian J = ∂Δ_c/∂q of the N_Δ active gaps, shape (N_Δ, n_coords), given as a
  scipy.sparse matrix, a dense ndarray or a scipy.sparse.linalg.LinearOperator;
* optionally the stress part Σ_{Δ>0} Δ_c ∇²Δ_c, shape (n_coords, n_coords), in any of those forms,
  and an assembled stiffness part (else JᵀJ).

Then the Hessian of E is H = JᵀJ + stress: the stiffness part JᵀJ (the Gauss–Newton H0 of a net)
plus the stress part (Hp). n_coords counts the coordinates the operators act on; n_trivial of the
zero modes of J are exact symmetries (d global translations of a periodic packing, 0 for a net
unless told, e.g. the hidden-neuron rescalings of a ReLU net), and N_dof = n_coords − n_trivial.
The parts: counting (:mod:`.counting`), spectra (:mod:`.spectra`), modes (:mod:`.modes`),
distributions (:mod:`.distributions`) and exponents (:mod:`.fits`).
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..errors import require
from ._checks import as_matrix_input, check_flag, check_gaps, check_int
from .counting import ConstraintCount, count_constraints
from .distributions import DEFAULT_BINS, LogHistogram, density_of_states, log_histogram
from .fits import DEFAULT_MIN_POINTS, DEFAULT_QUANTILE, FIT_RULES, PowerLawFit, fit_small_x_power_law
from .modes import ModeCount, NegativeModes, count_negative_modes, jacobian_rank, modes_from_spectrum
from .spectra import (
    DENSE_MAX,
    Spectrum,
    hessian_operator,
    operator_spectrum,
    stiffness_operator,
    sum_operators,
)
from .tolerances import ZERO_MODE_RTOL


@dataclasses.dataclass(frozen=True)
class ConstraintProblem:
    """One state in the analysis' form, as each side's adapter builds it (module docstring).

    gaps : (M,) Δ of every candidate constraint. jacobian : (N_Δ, n_coords) ∂Δ/∂q of the Δ > 0
    gaps in the order of ``gaps[gaps > 0]`` (None: counting and fits only). stress : (n_coords,
    n_coords) stress part or None. stiffness : an assembled stiffness part equal to JᵀJ (None:
    JᵀJ is formed from the Jacobian). n_dof : N_dof (None: n_coords − n_trivial). n_trivial :
    symmetry zero modes of J. isostatic_offset : N_Δ − N_dof of an isostatic state.
    """

    gaps: np.ndarray
    jacobian: Any = None
    stress: Any = None
    stiffness: Any = None
    n_dof: int | None = None
    n_trivial: int = 0
    isostatic_offset: int = 0


@dataclasses.dataclass(frozen=True)
class ConstraintAnalysis:
    """Everything :func:`analyze_constraints` measures; None marks a part that was skipped or
    could not be computed (no Jacobian, too few points for a fit, ...).

    counts : :class:`ConstraintCount`. modes : :class:`ModeCount` of J.
    hessian_spectrum, stiffness_spectrum, stress_spectrum : :class:`~.spectra.Spectrum` of
    H = JᵀJ + stress, of JᵀJ (H0) and of the stress part (Hp); without stress H = JᵀJ, so
    hessian_spectrum is stiffness_spectrum and stress_spectrum is None.
    negative : :class:`NegativeModes` of H. dos : :class:`LogHistogram` of the positive eigenvalues
    (or frequencies) of H (of JᵀJ without stress), complete spectra only.
    theta, gamma : :class:`PowerLawFit` of P₊(Δ) ~ Δ^θ and P₋(Δ) ~ |Δ|^−γ.
    p_plus, p_minus : :class:`LogHistogram` of Δ > 0 and of |Δ| for Δ < 0.
    """

    counts: ConstraintCount
    modes: ModeCount | None
    hessian_spectrum: Spectrum | None
    stiffness_spectrum: Spectrum | None
    stress_spectrum: Spectrum | None
    negative: NegativeModes | None
    dos: LogHistogram | None
    theta: PowerLawFit | None
    gamma: PowerLawFit | None
    p_plus: LogHistogram | None
    p_minus: LogHistogram | None

    @property
    def n_constraints(self) -> int:
        """N_Δ."""
        return self.counts.n_constraints

    @property
    def isostaticity_index(self) -> float:
        """N_Δ / N_dof."""
        return self.counts.isostaticity_index

    @property
    def n_floppy(self) -> int | None:
        """N_dof − rank J, or None when the rank was not computed."""
        return None if self.modes is None else self.modes.n_floppy


# ------------------------------------------------------------------------------- parts
def _spectra(jac, stiffness, stress, k, method):
    """(H, stiffness, stress) spectra; H is None without stress (it equals JᵀJ), stress None too."""
    stiff_op = stiffness_operator(jac) if stiffness is None else stiffness
    stiff = operator_spectrum(stiff_op, k=k, method=method, name="jacobian")
    if stress is None:
        return None, stiff, None
    total = hessian_operator(jac, stress) if stiffness is None else sum_operators(stiffness, stress)
    h = operator_spectrum(total, k=k, method=method, name="stress", indefinite=True)
    s = operator_spectrum(stress, k=k, method=method, name="stress", indefinite=True)
    return h, stiff, s


def _modes(jac, stiff_spec, n_trivial, rank_rtol):
    """ModeCount by SVD when J fits DENSE_MAX, else from the stiffness spectrum (or None)."""
    if max(jac.shape) <= DENSE_MAX:
        return jacobian_rank(jac, n_trivial=n_trivial, rtol=rank_rtol)
    return None if stiff_spec is None else modes_from_spectrum(stiff_spec, n_trivial)


def _fits(g, rule, quantile, min_points, n_bins, n_bootstrap):
    """(theta, gamma, p_plus, p_minus), None where there are too few values."""
    require(rule in FIT_RULES, "fit_rule", f"one of {FIT_RULES}", rule)
    min_points = check_int(min_points, "min_points", 3)
    pos, neg = g[g > 0.0], -g[g < 0.0]
    kw = dict(rule=rule, quantile=quantile, min_points=min_points, n_bootstrap=n_bootstrap)
    theta = gamma = None
    if pos.size > min_points:
        theta = fit_small_x_power_law(pos, sign=1, name="theta", **kw)
    if neg.size > min_points:
        gamma = fit_small_x_power_law(neg, sign=-1, name="gamma", **kw)
    p_plus = log_histogram(pos, n_bins) if pos.size else None
    p_minus = log_histogram(neg, n_bins) if neg.size else None
    return theta, gamma, p_plus, p_minus


def _checked_operators(g, jacobian, stiffness, stress, n_dof, n_trivial):
    """(J, stiffness, stress, n_dof, n_trivial) validated against each other."""
    require(stress is None or jacobian is not None, "stress", "given only with a jacobian",
            "no jacobian")
    require(stiffness is None or jacobian is not None, "stiffness", "given only with a jacobian",
            "no jacobian")
    if jacobian is None:
        require(n_dof is not None, "n_dof", "an integer >= 1 (required without a jacobian)",
                n_dof)
        return None, None, None, n_dof, n_trivial
    jac = as_matrix_input(jacobian, "jacobian", (int(np.count_nonzero(g > 0.0)), None))
    n_coords = jac.shape[1]
    n_trivial = check_int(n_trivial, "n_trivial", 0, n_coords)
    n_dof = n_coords - n_trivial if n_dof is None else n_dof
    require(n_dof == n_coords - n_trivial, "n_dof",
            f"n_coords − n_trivial = {n_coords - n_trivial} with this jacobian", n_dof)
    if stiffness is not None:
        stiffness = as_matrix_input(stiffness, "stiffness", (n_coords, n_coords))
        if stress is not None:
            stress = as_matrix_input(stress, "stress", (n_coords, n_coords))
    return jac, stiffness, stress, n_dof, n_trivial


def _mode_parts(jac, stiffness, stress, k, method, n_bins, dos_variable):
    """(H, stiffness, stress spectra, negative modes, DOS) of the operators."""
    h_spec, stiff_spec, s_spec = _spectra(jac, stiffness, stress, k, method)
    top = h_spec if h_spec is not None else stiff_spec
    negative = count_negative_modes(top)
    dos = None
    if top.complete and np.any(top.eigenvalues > ZERO_MODE_RTOL * top.scale):
        dos = density_of_states(top, n_bins, dos_variable)
    return top, stiff_spec, s_spec, negative, dos


# ------------------------------------------------------------------------------- entry points
def analyze_constraints(gaps, jacobian=None, stress=None, *, stiffness=None,
                        n_dof: int | None = None, n_trivial: int = 0, isostatic_offset: int = 0,
                        compute_spectra: bool = True, compute_rank: bool = True,
                        fit_exponents: bool = True, k: int | None = None, method: str = "auto",
                        rank_rtol: float | None = None, fit_rule: str = "ks",
                        quantile: float = DEFAULT_QUANTILE, min_points: int = DEFAULT_MIN_POINTS,
                        n_bins: int = DEFAULT_BINS, n_bootstrap: int = 0,
                        dos_variable: str = "eigenvalue") -> ConstraintAnalysis:
    """The full constraint analysis of E = Σ_c ½ Δ_c² θ(Δ_c) (module docstring).

    Parameters
    ----------
    gaps, jacobian, stress, stiffness, n_dof, n_trivial, isostatic_offset : the fields of
        :class:`ConstraintProblem` (N_dof defaults to n_coords − n_trivial and must equal it when
        both are known; it is required without a Jacobian).
    compute_spectra, compute_rank, fit_exponents : switch off the expensive parts.
    k, method : passed to :func:`~.spectra.operator_spectrum` (all eigenvalues up to DENSE_MAX).
    rank_rtol : singular-value tolerance of :func:`~.modes.jacobian_rank`.
    fit_rule, quantile, min_points : range rule of :func:`~.fits.fit_small_x_power_law`; a fit is
        None with ≤ min_points values of its sign.
    n_bootstrap : resamples for the fits' bootstrap errors (0: Fisher errors only).
    n_bins : bins of the log histograms (P₊, P₋, DOS). dos_variable : "eigenvalue" or "frequency".
    """
    g = check_gaps(gaps)
    for flag, nm in ((compute_spectra, "compute_spectra"), (compute_rank, "compute_rank"),
                     (fit_exponents, "fit_exponents")):
        check_flag(flag, nm)
    jac, stiffness, stress, n_dof, n_trivial = _checked_operators(g, jacobian, stiffness, stress,
                                                                  n_dof, n_trivial)
    counts = count_constraints(g, n_dof, isostatic_offset)
    h_spec = stiff_spec = s_spec = negative = dos = modes = None
    if jac is not None and compute_spectra:
        h_spec, stiff_spec, s_spec, negative, dos = _mode_parts(jac, stiffness, stress, k, method,
                                                                n_bins, dos_variable)
    if jac is not None and compute_rank:
        modes = _modes(jac, stiff_spec, n_trivial, rank_rtol)
    fits = (_fits(g, fit_rule, quantile, min_points, n_bins, n_bootstrap) if fit_exponents
            else (None,) * 4)
    return ConstraintAnalysis(counts, modes, h_spec, stiff_spec, s_spec, negative, dos, *fits)


def analyze(problem: ConstraintProblem, **options) -> ConstraintAnalysis:
    """:func:`analyze_constraints` of one :class:`ConstraintProblem`; ``options`` are its keyword
    arguments besides the problem's fields (``k``, ``method``, ``fit_exponents``, ...)."""
    require(isinstance(problem, ConstraintProblem), "problem", "a ConstraintProblem",
            type(problem).__name__)
    return analyze_constraints(problem.gaps, problem.jacobian, problem.stress,
                               stiffness=problem.stiffness, n_dof=problem.n_dof,
                               n_trivial=problem.n_trivial,
                               isostatic_offset=problem.isostatic_offset, **options)
