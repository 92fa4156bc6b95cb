"""Spectra of symmetric matrices and operators, and the Hessian split H = JᵀJ + stress.

One policy for every side: dense ``eigvalsh`` up to DENSE_MAX coordinates, the DEFAULT_K lowest
eigenvalues by ARPACK beyond (shift-invert just below 0 for a positive semi-definite matrix,
``which="SA"`` for an indefinite one or a LinearOperator).

Types: :class:`Spectrum` (eigenvalues and the scale their zero tolerance refers to) and
:class:`HessianSplit` (total, stiffness and stress parts of one Hessian, as a packing's
`packing.hessian.hessian` and a net's `dlbridge.nets.hessian.hessian_split` return it).
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ..errors import require
from ._checks import as_matrix_input, check_int, inf_norm, materialise
from .tolerances import EIGSH_SHIFT, SYMMETRY_RTOL

DENSE_MAX = 3000          # dense eigvalsh (and SVD) up to this size
DEFAULT_K = 64            # lowest modes computed with eigsh beyond DENSE_MAX
METHODS = ("auto", "dense", "eigsh")


class SpectrumError(RuntimeError):
    """The sparse eigensolver failed (no convergence or a singular shifted matrix)."""


@dataclasses.dataclass(frozen=True)
class Spectrum:
    """Eigenvalues of a symmetric matrix.

    eigenvalues : ascending; all n of them when ``complete``, else the k lowest.
    n : matrix size. method : "dense" (numpy.linalg.eigvalsh), "eigsh" (ARPACK, shift-invert) or
        "eigsh-SA" (ARPACK, algebraically lowest). scale : an upper bound of max|λ| (exact max|λ|
        when complete), the reference of the relative zero-mode tolerance.
    """

    eigenvalues: np.ndarray
    n: int
    complete: bool
    method: str
    scale: float


@dataclasses.dataclass(frozen=True)
class HessianSplit:
    """H = stiffness + stress of one energy E = Σ_c V(Δ_c): the stiffness part Σ V''(Δ) ∇Δ∇Δᵀ
    (JᵀJ; H0 of a net) and the stress part Σ V'(Δ) ∇²Δ (Hp of a net), each (n, n).

    The matrix type is the producer's: scipy.sparse CSR for packings, torch tensors for nets.
    """

    total: Any
    stiffness: Any
    stress: Any


# ------------------------------------------------------------------------------- matrices
def spectrum_matrix(matrix, name: str = "matrix") -> sp.csr_matrix:
    """Validated symmetric CSR copy of a square matrix (ndarray or scipy.sparse), else
    ParameterError."""
    if not sp.issparse(matrix):
        a = np.asarray(matrix, dtype=np.float64)
        require(a.ndim == 2, name, "a square 2-d array or scipy.sparse matrix", a.shape)
        matrix = a
    m = sp.csr_matrix(matrix, dtype=np.float64)
    require(m.shape[0] == m.shape[1] and m.shape[0] >= 1, name, "square with n >= 1", m.shape)
    require(bool(np.all(np.isfinite(m.data))), name, "finite", "non-finite entries")
    scale = inf_norm(m) if m.nnz else 0.0
    asym = float(abs(m - m.T).max()) if m.nnz else 0.0
    require(asym <= SYMMETRY_RTOL * max(scale, 1e-300), name,
            f"symmetric (|H − Hᵀ| ≤ {SYMMETRY_RTOL:g} |H|)", f"asymmetry {asym:.3g}")
    return m


def _symmetric_dense(a: np.ndarray, name: str) -> np.ndarray:
    """(A + Aᵀ)/2 after checking |A − Aᵀ| ≤ SYMMETRY_RTOL · |A|_∞."""
    scale = float(np.abs(a).sum(axis=1).max()) if a.size else 0.0
    asym = float(np.abs(a - a.T).max()) if a.size else 0.0
    require(asym <= SYMMETRY_RTOL * max(scale, 1e-300), name, "symmetric", f"asymmetry {asym:.3g}")
    return 0.5 * (a + a.T)


def stiffness_operator(jacobian):
    """The stiffness part JᵀJ (H0 of a net), (n, n) for J of shape (m, n).

    Returns a CSR matrix for sparse J, an ndarray for dense J, a LinearOperator (Jᵀ(J v), never
    formed) for a LinearOperator J.
    """
    j = as_matrix_input(jacobian, "jacobian", (None, None))
    if isinstance(j, spla.LinearOperator):
        return j.T @ j
    if sp.issparse(j):
        out = (j.T @ j).tocsr()
        out.sort_indices()
        return out
    return j.T @ j


def _dense(a) -> np.ndarray:
    """ndarray of a dense or sparse matrix."""
    return a.toarray() if sp.issparse(a) else a


def sum_operators(a, b):
    """a + b of two validated (n, n) operators: a LinearOperator when either is one; an ndarray
    when either is dense; a CSR matrix with sorted indices when both are sparse."""
    if isinstance(a, spla.LinearOperator) or isinstance(b, spla.LinearOperator):
        return spla.aslinearoperator(a) + spla.aslinearoperator(b)
    if sp.issparse(a) and sp.issparse(b):
        out = (a + b).tocsr()
        out.sort_indices()
        return out
    return _dense(a) + _dense(b)


def hessian_operator(jacobian, stress=None):
    """H = JᵀJ + stress, (n, n), typed as :func:`sum_operators`; stress None gives JᵀJ."""
    k = stiffness_operator(jacobian)
    if stress is None:
        return k
    return sum_operators(k, as_matrix_input(stress, "stress", (k.shape[0], k.shape[1])))


# ------------------------------------------------------------------------------- spectra
def spectrum(matrix, k: int | None = None, method: str = "auto") -> Spectrum:
    """Eigenvalues of a symmetric matrix (e.g. ``hessian(p).total``).

    Parameters
    ----------
    matrix : (n, n) scipy.sparse or ndarray, symmetric.
    k : number of lowest eigenvalues wanted; None = all of them (dense) when n ≤ DENSE_MAX,
        DEFAULT_K lowest beyond.
    method : "auto" (dense numpy.linalg.eigvalsh up to DENSE_MAX = 3000, else eigsh), "dense" or
        "eigsh" (scipy.sparse.linalg.eigsh in shift-invert mode around σ = −1e-6·|H|_∞, which
        returns the k eigenvalues nearest σ, i.e. the lowest of a positive semi-definite H).

    Raises
    ------
    ParameterError on bad input; SpectrumError when eigsh fails.
    """
    require(method in METHODS, "method", "'auto', 'dense' or 'eigsh'", method)
    m = spectrum_matrix(matrix)
    n = m.shape[0]
    if k is not None:
        k = check_int(k, "k", 1, n)
    if method == "auto":
        method = "dense" if n <= DENSE_MAX else "eigsh"
    if method == "dense":
        ev = np.linalg.eigvalsh(m.toarray())
        scale = float(np.abs(ev).max())
        if k is not None:
            ev = ev[:k]
        return Spectrum(ev, n, k is None or k == n, "dense", scale)
    k = DEFAULT_K if k is None else k
    require(k < n - 1, "k", f"an integer in [1, {n - 2}] for eigsh on an n = {n} matrix", k)
    return _eigsh_lowest(m, k)


def _eigsh_lowest(m: sp.csr_matrix, k: int) -> Spectrum:
    """k lowest eigenvalues by ARPACK shift-invert around a small negative σ."""
    scale = inf_norm(m)
    sigma = -EIGSH_SHIFT * scale if scale > 0 else -1.0
    try:
        ev = spla.eigsh(m.tocsc(), k=k, sigma=sigma, which="LM", return_eigenvectors=False)
    except (spla.ArpackNoConvergence, spla.ArpackError, RuntimeError,
            scipy.linalg.LinAlgError) as exc:
        raise SpectrumError(
            f"eigsh (shift-invert, sigma = {sigma:.3g}, k = {k}) failed on an n = {m.shape[0]} "
            f"matrix: {exc}; try method='dense' or a smaller k") from exc
    return Spectrum(np.sort(ev), m.shape[0], False, "eigsh", scale)


def _takes_eigsh_sa(n: int, method: str, indefinite: bool) -> bool:
    """True when a matrix must go the LinearOperator way ("eigsh-SA"): indefinite and large."""
    return indefinite and (method == "eigsh" or (method == "auto" and n > DENSE_MAX))


def operator_spectrum(operator, k: int | None = None, method: str = "auto",
                      name: str = "operator", indefinite: bool = False) -> Spectrum:
    """Spectrum of a symmetric matrix or LinearOperator, with the policy of :func:`spectrum`.

    Matrices go to :func:`spectrum` (dense ``eigvalsh`` up to DENSE_MAX, shift-invert ``eigsh``
    for the k lowest beyond). A LinearOperator is materialised (A @ I) and treated as dense when
    n ≤ DENSE_MAX (unless method == "eigsh"); beyond, ``eigsh(which="SA")`` gives the k
    algebraically lowest eigenvalues (method "eigsh-SA") and ``eigsh(k=1, which="LM")`` the scale.
    With ``indefinite`` (H, the stress part) a large matrix takes that "eigsh-SA" path as well:
    shift-invert returns the k eigenvalues nearest 0, which can miss every negative mode.

    Parameters
    ----------
    operator : (n, n) ndarray, scipy.sparse matrix or LinearOperator, symmetric.
    k : lowest eigenvalues wanted (None: all when dense, DEFAULT_K = 64 otherwise).
    method : "auto", "dense" or "eigsh". name : the parameter named in errors.
    indefinite : the operator may have negative eigenvalues (see above).
    """
    require(method in METHODS, "method", "'auto', 'dense' or 'eigsh'", method)
    if not isinstance(operator, spla.LinearOperator):
        if not _takes_eigsh_sa(operator.shape[0], method, indefinite):
            return spectrum(operator, k=k, method=method)
        operator = spla.aslinearoperator(spectrum_matrix(operator, name))
    n = operator.shape[0]
    require(operator.shape[1] == n and n >= 1, name, "square with n >= 1", operator.shape)
    if method == "dense" or (method == "auto" and n <= DENSE_MAX):
        return spectrum(_symmetric_dense(materialise(operator), name), k=k, method="dense")
    k = DEFAULT_K if k is None else check_int(k, "k", 1, n - 2)
    require(k < n - 1, "k", f"an integer in [1, {n - 2}] for eigsh on an n = {n} operator", k)
    return _eigsh_lowest_algebraic(operator, k)


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
