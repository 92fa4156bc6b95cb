"""The shared constraint analysis: one analysis of E(q) = Σ_c ½ Δ_c² θ(Δ_c) for packings and nets.

This subpackage depends on numpy and scipy only: it imports no particle module and no torch. Each
side hands a state to :func:`analyze` as a :class:`ConstraintProblem` (packings through
`packing.hessian.constraint_problem`, nets through `dlbridge.nets.hessian.constraint_problem`);
the parts can also be called on their own:

* counting (:mod:`.counting`): N_Δ, N_Δ/N_dof, the isostatic excess;
* spectra (:mod:`.spectra`): eigenvalues of symmetric matrices and operators, H = JᵀJ + stress;
* modes (:mod:`.modes`): rank of J, zero/floppy and negative modes;
* distributions (:mod:`.distributions`): log-binned densities, the density of states;
* fits (:mod:`.fits`): θ, γ by maximum likelihood, scaling exponents by least squares;
* corrected (:mod:`.corrected`): θ of a small-f law with its first correction, x^θ e^{−c x};
* populations (:mod:`.populations`): extended and buckler forces, gaps, marginal constraints;
* exponents (:mod:`.exponents`): θ_e, θ_l, γ pooled over realisations with bootstrap errors;
* tolerances (:mod:`.tolerances`): every numerical tolerance above.
"""
from __future__ import annotations

from .constraints import ConstraintAnalysis, ConstraintProblem, analyze, analyze_constraints
from .corrected import fit_corrected_power_law
from .counting import ConstraintCount, count_constraints
from .distributions import DEFAULT_BINS, LogHistogram, density_of_states, log_histogram
from .exponents import (
                   DEFAULT_TRIM,
                   ESTIMATORS,
                   FORCE_CUT,
                   FORCE_CUT_ALTERNATIVES,
                   RANGE_QUANTILES,
                   Estimator,
                   PackingExponents,
                   PooledExponent,
                   packing_exponents,
                   pooled_exponent,
)
from .fits import (
                   DEFAULT_MIN_POINTS,
                   DEFAULT_QUANTILE,
                   FIT_RULES,
                   KS_CANDIDATES,
                   PowerLawFit,
                   ScalingFit,
                   fit_gamma,
                   fit_scaling,
                   fit_small_x_power_law,
                   fit_theta,
)
from .modes import (
                   ModeCount,
                   NegativeModes,
                   count_negative_modes,
                   count_zero_modes,
                   jacobian_rank,
                   modes_from_spectrum,
)
from .populations import (
                   ContactPopulations,
                   buckler_mask,
                   contact_populations,
                   marginal_mask,
                   marginal_threshold,
)
from .spectra import (
                   DEFAULT_K,
                   DENSE_MAX,
                   HessianSplit,
                   Spectrum,
                   SpectrumError,
                   hessian_operator,
                   operator_spectrum,
                   spectrum,
                   spectrum_matrix,
                   stiffness_operator,
                   sum_operators,
)
from .tolerances import (
                   EIGSH_SHIFT,
                   MARGINAL_ATOL,
                   MARGINAL_RTOL,
                   SYMMETRY_RTOL,
                   ZERO_MODE_RTOL,
                   default_rank_rtol,
)

__all__ = [
    # entry point
    "ConstraintProblem", "ConstraintAnalysis", "analyze", "analyze_constraints",
    # counting
    "ConstraintCount", "count_constraints",
    # spectra
    "Spectrum", "SpectrumError", "HessianSplit", "spectrum", "operator_spectrum",
    "spectrum_matrix", "stiffness_operator", "hessian_operator", "sum_operators", "DENSE_MAX",
    "DEFAULT_K",
    # modes
    "ModeCount", "NegativeModes", "count_zero_modes", "jacobian_rank", "modes_from_spectrum",
    "count_negative_modes",
    # distributions
    "LogHistogram", "log_histogram", "density_of_states", "DEFAULT_BINS",
    # fits
    "PowerLawFit", "ScalingFit", "fit_small_x_power_law", "fit_theta", "fit_gamma",
    "fit_scaling", "fit_corrected_power_law", "FIT_RULES", "DEFAULT_QUANTILE",
    "DEFAULT_MIN_POINTS", "KS_CANDIDATES",
    # populations and pooled exponents
    "ContactPopulations", "buckler_mask", "contact_populations", "marginal_mask",
    "marginal_threshold", "PooledExponent", "PackingExponents", "pooled_exponent",
    "packing_exponents", "DEFAULT_TRIM", "Estimator", "ESTIMATORS", "FORCE_CUT",
    "FORCE_CUT_ALTERNATIVES", "RANGE_QUANTILES",
    # tolerances
    "MARGINAL_RTOL", "MARGINAL_ATOL", "ZERO_MODE_RTOL", "SYMMETRY_RTOL", "EIGSH_SHIFT", "default_rank_rtol",
]
