"""The shared constraint analysis of E(q) = Σ_c ½ Δ_c(q)² θ(Δ_c(q)) over N_dof coordinates q.

Packings (`packing/`) and networks (`dlbridge/`) both call this module; neither keeps its own copy.
Everything is written for the generic form (the README's E(q)):

* gaps Δ_c of every candidate constraint (Δ > 0: violated / active, Δ < 0: satisfied);
* the Jacobian J = ∂Δ_c/∂q of the N_Δ active gaps, shape (N_Δ, n_coords), given as a
  scipy.sparse matrix, a dense ndarray or a scipy.sparse.linalg.LinearOperator;
* optionally the stress part Σ_{Δ>0} Δ_c ∇²Δ_c, shape (n_coords, n_coords), in any of those forms.

Then the Hessian of E is H = JᵀJ + stress: the stiffness part JᵀJ (the Gauss–Newton H0 of a net)
plus the stress part (Hp). n_coords counts the coordinates the operators act on; n_trivial of the
zero modes of J are exact symmetries (d global translations of a periodic packing, 0 for a net
unless told, e.g. the hidden-neuron rescalings of a ReLU net), and N_dof = n_coords − n_trivial.

Counting (Goodrich, Liu, Nagel, PRL 109, 095704, 2012): N_Δ = #{Δ > 0}; the isostaticity index
N_Δ/N_dof; the isostatic excess N_Δ − (N_dof + isostatic_offset), where isostatic_offset = 1 for
spheres in a periodic box (the extra constraint of a jammed state at positive pressure), 0 for nets.
The floppy-mode count is N_dof − rank J (Maxwell–Calladine: N_dof − rank = mechanisms).

Distributions (Wyart, PRL 109, 125502, 2012; Charbonneau, Kurchan, Parisi, Urbani, Zamponi,
Nat. Commun. 5, 3725, 2014; Franz, Parisi et al., SciPost Phys. 2, 019, 2017 for the hinge-loss
perceptron): P₊(Δ) ~ Δ^θ at small Δ > 0 and P₋(Δ) ~ |Δ|^−γ at small Δ < 0, fitted by maximum
likelihood (:func:`fit_small_x_power_law`) over a range chosen by a rule, not by hand.
For a packing with the harmonic potential the force is f = Δ/σ-proportional, so P(f) and P₊(Δ)
share θ; for Hertz (f ∝ Δ^{3/2}) pass the forces instead of Δ to the fits.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .errors import ParameterError, require
from .hessian import (DEFAULT_K, DENSE_MAX, ZERO_MODE_RTOL, Spectrum, SpectrumError,
                      count_zero_modes, spectrum)

FIT_RULES = ("ks", "quantile")
DEFAULT_QUANTILE = 0.25     # "quantile" rule: fit the 25 % smallest values
DEFAULT_MIN_POINTS = 20     # fewest points a fit may use (and fewest KS candidates' sample)
KS_CANDIDATES = 100         # "ks" rule: number of log-spaced candidate cut-offs scanned
DEFAULT_BINS = 30           # log-binned histograms
SYMMETRY_RTOL = 1e-12       # materialised operators: |A − Aᵀ| ≤ rtol |A|_∞


# ------------------------------------------------------------------------------------ results
@dataclasses.dataclass(frozen=True)
class ConstraintCount:
    """Constraint counting (module docstring).

    n_constraints : N_Δ = #{Δ > 0}. n_satisfied : #{Δ < 0}. n_candidates : all gaps given.
    n_dof : N_Δ's reference N_dof. isostatic_offset : 1 periodic spheres, 0 nets.
    isostaticity_index : N_Δ / N_dof. excess : N_Δ − (N_dof + isostatic_offset)
    (0 isostatic, > 0 hyperstatic, < 0 hypostatic).
    """

    n_constraints: int
    n_satisfied: int
    n_candidates: int
    n_dof: int
    isostatic_offset: int
    isostaticity_index: float
    excess: int

    @property
    def isostatic_count(self) -> int:
        """N_dof + isostatic_offset, the N_Δ of an isostatic state."""
        return self.n_dof + self.isostatic_offset


@dataclasses.dataclass(frozen=True)
class ModeCount:
    """Rank of the Jacobian and the zero modes of the stiffness part JᵀJ.

    rank : rank J. n_coords : columns of J. n_trivial : symmetry zero modes.
    n_zero_modes : n_coords − rank, all zero modes of JᵀJ.
    n_floppy : n_zero_modes − n_trivial = N_dof − rank (negative means the declared trivial modes
        are not all zero modes of J).
    method : "svd" (singular values of J) or "spectrum" (zero eigenvalues of a JᵀJ spectrum).
    threshold : absolute cut — singular values ≤ threshold (svd) or eigenvalues ≤ threshold
        (spectrum) count as zero. scale : σ_max(J) (svd) or the spectrum's scale.
    """

    rank: int
    n_coords: int
    n_trivial: int
    n_zero_modes: int
    n_floppy: int
    method: str
    threshold: float
    scale: float


@dataclasses.dataclass(frozen=True)
class NegativeModes:
    """n_negative = #{λ < −threshold} in the (possibly partial) spectrum of H.

    complete : True when the count is exact (full spectrum, or the k algebraically lowest
    eigenvalues with at least one non-negative); otherwise it is a lower bound.
    """

    n_negative: int
    complete: bool
    threshold: float


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
class ConstraintAnalysis:
    """Everything :func:`analyze_constraints` measures; None marks a part that was skipped or
    could not be computed (no Jacobian, too few points for a fit, ...).

    counts : :class:`ConstraintCount`. modes : :class:`ModeCount` of J.
    hessian_spectrum, stiffness_spectrum, stress_spectrum : :class:`~packing.hessian.Spectrum` of
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


# ------------------------------------------------------------------------------- validation
def _check_int(value, name: str, lo: int, hi: float = math.inf) -> int:
    """int(value) if it is an integer in [lo, hi], else ParameterError."""
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    require(ok and lo <= value <= hi, name, f"an integer in [{lo}, {hi}]", value)
    return int(value)


def _check_gaps(gaps) -> np.ndarray:
    """(M,) float64 copy of the gaps, finite, M ≥ 1, else ParameterError."""
    try:
        g = np.asarray(gaps, dtype=np.float64)
    except (TypeError, ValueError):
        raise ParameterError("gaps must be a 1-d array of finite numbers "
                             f"(got {type(gaps).__name__})") from None
    require(g.ndim == 1 and g.size >= 1, "gaps", "a 1-d array with at least one value",
            f"shape {g.shape}")
    require(bool(np.all(np.isfinite(g))), "gaps", "finite", "non-finite values")
    return g


def _as_linear_operator_input(a, name: str, shape: tuple[int | None, int | None]):
    """Validate a matrix-like input: returns csr_matrix, float64 ndarray or LinearOperator.

    shape : required (rows, cols), None for unconstrained.
    """
    if isinstance(a, spla.LinearOperator):
        out = a
    elif sp.issparse(a):
        out = sp.csr_matrix(a, dtype=np.float64)
        require(bool(np.all(np.isfinite(out.data))), name, "finite", "non-finite entries")
    else:
        try:
            out = np.asarray(a, dtype=np.float64)
        except (TypeError, ValueError):
            raise ParameterError(f"{name} must be a scipy.sparse matrix, an ndarray or a "
                                 f"LinearOperator (got {type(a).__name__})") from None
        require(out.ndim == 2, name, "2-d", f"shape {out.shape}")
        require(bool(np.all(np.isfinite(out))), name, "finite", "non-finite entries")
    for axis, want in enumerate(shape):
        require(want is None or out.shape[axis] == want, name,
                f"of shape {tuple('any' if s is None else s for s in shape)}", out.shape)
    return out


def _materialise(op: spla.LinearOperator) -> np.ndarray:
    """Dense float64 (m, n) matrix of a LinearOperator (op @ I, column by column in one matmat)."""
    return np.asarray(op.matmat(np.eye(op.shape[1])), dtype=np.float64)


# ------------------------------------------------------------------------------- counting
def count_constraints(gaps, n_dof: int, isostatic_offset: int = 0) -> ConstraintCount:
    """N_Δ = #{Δ > 0}, the isostaticity index N_Δ/N_dof and the excess N_Δ − (N_dof + offset).

    Parameters
    ----------
    gaps : (M,) Δ of the candidate constraints (for a packing: pairs between non-rattlers, so that
        N_Δ is the count of :class:`~packing.contacts.ContactNetwork`).
    n_dof : N_Δ's reference, N_dof ≥ 1 (packing: (d + n_rot) N′ − d; net: N or N_eff).
    isostatic_offset : N_Δ − N_dof of an isostatic state: 1 for spheres in a periodic box
        (Goodrich, Liu, Nagel 2012), 0 for nets and for open systems.
    """
    g = _check_gaps(gaps)
    n_dof = _check_int(n_dof, "n_dof", 1)
    offset = _check_int(isostatic_offset, "isostatic_offset", 0, 3)
    n_c = int(np.count_nonzero(g > 0.0))
    return ConstraintCount(n_constraints=n_c, n_satisfied=int(np.count_nonzero(g < 0.0)),
                           n_candidates=int(g.size), n_dof=n_dof, isostatic_offset=offset,
                           isostaticity_index=n_c / n_dof, excess=n_c - n_dof - offset)


# ------------------------------------------------------------------------------- operators
def stiffness_operator(jacobian):
    """The stiffness part JᵀJ (H0 of a net), (n, n) for J of shape (m, n).

    Returns a CSR matrix for sparse J, an ndarray for dense J, a LinearOperator (Jᵀ(J v), never
    formed) for a LinearOperator J.
    """
    j = _as_linear_operator_input(jacobian, "jacobian", (None, None))
    if isinstance(j, spla.LinearOperator):
        return j.T @ j
    if sp.issparse(j):
        out = (j.T @ j).tocsr()
        out.sort_indices()
        return out
    return j.T @ j


def hessian_operator(jacobian, stress=None):
    """H = JᵀJ + stress, (n, n).

    Types: a LinearOperator when either input is one; an ndarray when either is dense; a CSR
    matrix when both are sparse. stress None gives JᵀJ.
    """
    k = stiffness_operator(jacobian)
    if stress is None:
        return k
    s = _as_linear_operator_input(stress, "stress", (k.shape[0], k.shape[1]))
    if isinstance(k, spla.LinearOperator) or isinstance(s, spla.LinearOperator):
        return spla.aslinearoperator(k) + spla.aslinearoperator(s)
    if sp.issparse(k) and sp.issparse(s):
        out = (k + s).tocsr()
        out.sort_indices()
        return out
    dense = lambda a: a.toarray() if sp.issparse(a) else a  # noqa: E731
    return dense(k) + dense(s)


def _symmetric_dense(a: np.ndarray, name: str) -> np.ndarray:
    """(A + Aᵀ)/2 after checking |A − Aᵀ| ≤ SYMMETRY_RTOL · |A|_∞."""
    scale = float(np.abs(a).sum(axis=1).max()) if a.size else 0.0
    asym = float(np.abs(a - a.T).max()) if a.size else 0.0
    require(asym <= SYMMETRY_RTOL * max(scale, 1e-300), name, "symmetric", f"asymmetry {asym:.3g}")
    return 0.5 * (a + a.T)


def operator_spectrum(operator, k: int | None = None, method: str = "auto",
                      name: str = "operator", indefinite: bool = False) -> Spectrum:
    """Spectrum of a symmetric matrix or LinearOperator, with the policy of
    :func:`packing.hessian.spectrum`.

    Matrices go to :func:`packing.hessian.spectrum` (dense ``eigvalsh`` up to DENSE_MAX, shift-
    invert ``eigsh`` for the k lowest beyond). A LinearOperator is materialised (A @ I) and treated
    as dense when n ≤ DENSE_MAX (unless method == "eigsh"); beyond, ``eigsh(which="SA")`` gives the
    k algebraically lowest eigenvalues (method "eigsh-SA") and ``eigsh(k=1, which="LM")`` the scale.
    With ``indefinite`` (H, the stress part) a large matrix takes that "eigsh-SA" path as well:
    shift-invert returns the k eigenvalues nearest 0, which can miss every negative mode.

    Parameters
    ----------
    operator : (n, n) ndarray, scipy.sparse matrix or LinearOperator, symmetric.
    k : lowest eigenvalues wanted (None: all when dense, DEFAULT_K = 64 otherwise).
    method : "auto", "dense" or "eigsh". name : the parameter named in errors.
    indefinite : the operator may have negative eigenvalues (see above).
    """
    require(method in ("auto", "dense", "eigsh"), "method", "'auto', 'dense' or 'eigsh'", method)
    if not isinstance(operator, spla.LinearOperator):
        n = operator.shape[0]
        if not (indefinite and (method == "eigsh" or (method == "auto" and n > DENSE_MAX))):
            return spectrum(operator, k=k, method=method)
        operator = spla.aslinearoperator(spectrum_matrix(operator, name))
    n = operator.shape[0]
    require(operator.shape[1] == n and n >= 1, name, "square with n >= 1", operator.shape)
    if method == "dense" or (method == "auto" and n <= DENSE_MAX):
        return spectrum(_symmetric_dense(_materialise(operator), name), k=k, method="dense")
    k = DEFAULT_K if k is None else _check_int(k, "k", 1, n - 2)
    require(k < n - 1, "k", f"an integer in [1, {n - 2}] for eigsh on an n = {n} operator", k)
    return _eigsh_lowest_algebraic(operator, k)


def spectrum_matrix(matrix, name: str = "matrix"):
    """Validated symmetric CSR copy of a matrix (ndarray or scipy.sparse), else ParameterError."""
    m = sp.csr_matrix(matrix, dtype=np.float64)
    require(m.shape[0] == m.shape[1] and m.shape[0] >= 1, name, "square with n >= 1", m.shape)
    require(bool(np.all(np.isfinite(m.data))), name, "finite", "non-finite entries")
    scale = float(abs(m).sum(axis=1).max()) if m.nnz else 0.0
    asym = float(abs(m - m.T).max()) if m.nnz else 0.0
    require(asym <= SYMMETRY_RTOL * max(scale, 1e-300), name, "symmetric", f"asymmetry {asym:.3g}")
    return m


def _eigsh_lowest_algebraic(op: spla.LinearOperator, k: int) -> Spectrum:
    """k algebraically lowest eigenvalues of a symmetric LinearOperator (ARPACK, which='SA')."""
    try:
        ev = spla.eigsh(op, k=k, which="SA", return_eigenvectors=False)
        top = spla.eigsh(op, k=1, which="LM", return_eigenvectors=False)
    except (spla.ArpackNoConvergence, spla.ArpackError, RuntimeError,
            scipy.linalg.LinAlgError) as exc:
        raise SpectrumError(f"eigsh (which='SA', k = {k}) failed on an n = {op.shape[0]} "
                            f"LinearOperator: {exc}; try method='dense' or a smaller k") from exc
    scale = float(max(abs(top[0]), np.abs(ev).max()))
    return Spectrum(np.sort(ev), op.shape[0], False, "eigsh-SA", scale)


# ------------------------------------------------------------------------------- modes
def jacobian_rank(jacobian, n_trivial: int = 0, rtol: float | None = None) -> ModeCount:
    """Rank of J from its singular values, and the zero modes of JᵀJ.

    A singular value counts as zero when σ ≤ rtol · σ_max, with rtol = max(m, n) · ε_float64 by
    default (the convention of numpy.linalg.matrix_rank; Press et al., Numerical Recipes §2.6).
    J is made dense (a LinearOperator by J @ I), so m and n must be ≤ DENSE_MAX.

    Parameters
    ----------
    jacobian : (m, n) sparse matrix, ndarray or LinearOperator.
    n_trivial : exact symmetry zero modes among the n − rank (d translations of a periodic packing).
    rtol : relative singular-value tolerance in (0, 1), None for the default.
    """
    j = _as_linear_operator_input(jacobian, "jacobian", (None, None))
    m, n = j.shape
    require(max(m, n) <= DENSE_MAX, "jacobian", f"at most {DENSE_MAX} rows and columns for an SVD",
            j.shape)
    n_trivial = _check_int(n_trivial, "n_trivial", 0, n)
    if rtol is None:
        rtol = max(m, n, 1) * np.finfo(np.float64).eps
    require(math.isfinite(rtol) and 0.0 < rtol < 1.0, "rtol", "a finite number in (0, 1)", rtol)
    if isinstance(j, spla.LinearOperator):
        dense = _materialise(j)
    else:
        dense = j.toarray() if sp.issparse(j) else j
    sv = np.linalg.svd(dense, compute_uv=False) if min(m, n) > 0 else np.zeros(0)
    smax = float(sv.max()) if sv.size else 0.0
    threshold = rtol * smax
    rank = int(np.count_nonzero(sv > threshold))
    return ModeCount(rank=rank, n_coords=n, n_trivial=n_trivial, n_zero_modes=n - rank,
                     n_floppy=n - rank - n_trivial, method="svd", threshold=threshold, scale=smax)


def modes_from_spectrum(stiffness_spectrum: Spectrum, n_trivial: int = 0,
                        tol: float = ZERO_MODE_RTOL) -> ModeCount | None:
    """Zero modes of JᵀJ from its spectrum (the fallback when J is too large for an SVD).

    Zero eigenvalues are |λ| ≤ tol · scale (:func:`packing.hessian.count_zero_modes`). Returns
    None when a partial spectrum is all zero (the count would only be a lower bound). Note that
    λ = σ², so this resolves singular values only down to √tol · σ_max.
    """
    require(isinstance(stiffness_spectrum, Spectrum), "stiffness_spectrum", "a Spectrum",
            type(stiffness_spectrum).__name__)
    n = stiffness_spectrum.n
    n_trivial = _check_int(n_trivial, "n_trivial", 0, n)
    zm = count_zero_modes(stiffness_spectrum, tol=tol, n_translations=0)
    if not stiffness_spectrum.complete and zm.n_zero_modes >= stiffness_spectrum.eigenvalues.size:
        return None
    return ModeCount(rank=n - zm.n_zero_modes, n_coords=n, n_trivial=n_trivial,
                     n_zero_modes=zm.n_zero_modes, n_floppy=zm.n_zero_modes - n_trivial,
                     method="spectrum", threshold=zm.threshold, scale=stiffness_spectrum.scale)


def count_negative_modes(spec: Spectrum, tol: float = ZERO_MODE_RTOL) -> NegativeModes:
    """#{λ < −tol · scale} of a Spectrum (of H).

    Exact for a complete spectrum, and for the "eigsh-SA" k lowest when at least one of them is
    ≥ −threshold; a lower bound otherwise (shift-invert returns the k nearest zero).
    """
    require(isinstance(spec, Spectrum), "spec", "a Spectrum", type(spec).__name__)
    require(math.isfinite(tol) and 0.0 < tol < 1.0, "tol", "a finite number in (0, 1)", tol)
    threshold = tol * spec.scale
    ev = np.asarray(spec.eigenvalues)
    n_neg = int(np.count_nonzero(ev < -threshold))
    complete = spec.complete or (spec.method == "eigsh-SA" and n_neg < ev.size)
    return NegativeModes(n_neg, bool(complete), threshold)


# ------------------------------------------------------------------------------- histograms
def log_histogram(values, n_bins: int = DEFAULT_BINS, lo: float | None = None,
                  hi: float | None = None) -> LogHistogram:
    """Log-binned probability density of the positive entries of ``values``.

    Bins are n_bins geometric intervals between lo and hi (default: the smallest and largest
    positive value; the last bin is closed). density = counts / (n_pos · width), n_pos being all
    positive values, so it integrates to the fraction inside [lo, hi].
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    require(bool(np.all(np.isfinite(v))), "values", "finite", "non-finite values")
    n_bins = _check_int(n_bins, "n_bins", 1, 10_000)
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
    require(math.isfinite(tol) and 0.0 < tol < 1.0, "tol", "a finite number in (0, 1)", tol)
    ev = np.asarray(spec.eigenvalues)
    ev = ev[ev > tol * spec.scale]
    require(ev.size >= 1, "spec", "a spectrum with at least one positive eigenvalue",
            f"{spec.n} eigenvalues")
    return log_histogram(np.sqrt(ev) if variable == "frequency" else ev, n_bins)


# ------------------------------------------------------------------------------- power laws
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
    min_points = _check_int(min_points, "min_points", 3)
    n_candidates = _check_int(n_candidates, "n_candidates", 1, 10_000)
    require(sign in (1, -1), "sign", "+1 or -1", sign)
    n_bootstrap = _check_int(n_bootstrap, "n_bootstrap", 0, 100_000)
    seed = _check_int(seed, "seed", 0)
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
    g = _check_gaps(gaps)
    return fit_small_x_power_law(g[g > 0.0], sign=1, name="theta", **kwargs)


def fit_gamma(gaps, **kwargs) -> PowerLawFit:
    """γ of P₋(Δ) ~ |Δ|^−γ from the Δ < 0 entries of ``gaps`` (:func:`fit_small_x_power_law`)."""
    g = _check_gaps(gaps)
    return fit_small_x_power_law(-g[g < 0.0], sign=-1, name="gamma", **kwargs)


# ------------------------------------------------------------------------------- entry point
def _spectra(jac, stress, k, method):
    """(H, JᵀJ, stress) spectra; H is None without stress (it equals JᵀJ), stress None too."""
    stiff = operator_spectrum(stiffness_operator(jac), k=k, method=method, name="jacobian")
    if stress is None:
        return None, stiff, None
    h = operator_spectrum(hessian_operator(jac, stress), k=k, method=method, name="stress",
                          indefinite=True)
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
    min_points = _check_int(min_points, "min_points", 3)
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


def analyze_constraints(gaps, jacobian=None, stress=None, *, n_dof: int | None = None,
                        n_trivial: int = 0, isostatic_offset: int = 0,
                        compute_spectra: bool = True, compute_rank: bool = True,
                        fit_exponents: bool = True, k: int | None = None, method: str = "auto",
                        rank_rtol: float | None = None, fit_rule: str = "ks",
                        quantile: float = DEFAULT_QUANTILE, min_points: int = DEFAULT_MIN_POINTS,
                        n_bins: int = DEFAULT_BINS, n_bootstrap: int = 0,
                        dos_variable: str = "eigenvalue") -> ConstraintAnalysis:
    """The full constraint analysis of E = Σ_c ½ Δ_c² θ(Δ_c) (module docstring).

    Parameters
    ----------
    gaps : (M,) Δ of every candidate constraint (packing: pairs between non-rattlers).
    jacobian : (N_Δ, n_coords) ∂Δ/∂q of the Δ > 0 gaps in the order of ``gaps[gaps > 0]``;
        scipy.sparse, ndarray or LinearOperator; None skips modes and spectra.
    stress : (n_coords, n_coords) Σ Δ ∇²Δ in any of those forms; None: H = JᵀJ.
    n_dof : N_dof; default n_coords − n_trivial; must equal it when both are known.
    n_trivial : symmetry zero modes of J (d for a periodic packing; 0 for nets unless told).
    isostatic_offset : 1 for spheres in a periodic box, 0 for nets (:func:`count_constraints`).
    compute_spectra, compute_rank, fit_exponents : switch off the expensive parts.
    k, method : passed to :func:`operator_spectrum` (all eigenvalues up to DENSE_MAX = 3000).
    rank_rtol : singular-value tolerance of :func:`jacobian_rank`.
    fit_rule, quantile, min_points : range rule of :func:`fit_small_x_power_law`; a fit is None
        with ≤ min_points values of its sign.
    n_bootstrap : resamples for the fits' bootstrap errors (0: Fisher errors only).
    n_bins : bins of the log histograms (P₊, P₋, DOS). dos_variable : "eigenvalue" or "frequency".
    """
    g = _check_gaps(gaps)
    for flag, nm in ((compute_spectra, "compute_spectra"), (compute_rank, "compute_rank"),
                     (fit_exponents, "fit_exponents")):
        require(isinstance(flag, (bool, np.bool_)), nm, "True or False", flag)
    n_active = int(np.count_nonzero(g > 0.0))
    require(stress is None or jacobian is not None, "stress", "given only with a jacobian",
            "no jacobian")
    jac = None
    if jacobian is not None:
        jac = _as_linear_operator_input(jacobian, "jacobian", (n_active, None))
        n_trivial = _check_int(n_trivial, "n_trivial", 0, jac.shape[1])
        n_coords = jac.shape[1]
        if n_dof is None:
            n_dof = n_coords - n_trivial
        require(n_dof == n_coords - n_trivial, "n_dof",
                f"n_coords − n_trivial = {n_coords - n_trivial} with this jacobian", n_dof)
    require(n_dof is not None, "n_dof", "an integer >= 1 (required without a jacobian)", n_dof)
    counts = count_constraints(g, n_dof, isostatic_offset)
    h_spec = stiff_spec = s_spec = negative = dos = modes = None
    if jac is not None and compute_spectra:
        h_spec, stiff_spec, s_spec = _spectra(jac, stress, k, method)
        negative = count_negative_modes(h_spec if h_spec is not None else stiff_spec)
        top = h_spec if h_spec is not None else stiff_spec
        if top.complete and np.any(top.eigenvalues > ZERO_MODE_RTOL * top.scale):
            dos = density_of_states(top, n_bins, dos_variable)
    if jac is not None and compute_rank:
        modes = _modes(jac, stiff_spec, n_trivial, rank_rtol)
    theta = gamma = p_plus = p_minus = None
    if fit_exponents:
        theta, gamma, p_plus, p_minus = _fits(g, fit_rule, quantile, min_points, n_bins,
                                               n_bootstrap)
    if h_spec is None and stiff_spec is not None:
        h_spec = stiff_spec
    return ConstraintAnalysis(counts=counts, modes=modes, hessian_spectrum=h_spec,
                              stiffness_spectrum=stiff_spec, stress_spectrum=s_spec,
                              negative=negative, dos=dos, theta=theta, gamma=gamma,
                              p_plus=p_plus, p_minus=p_minus)
