"""The analytic Hessian (dynamical matrix, unit masses) of U = Σ_pairs V(Δ) and its spectrum.

Generalized coordinates q = (x (N·d, particle-major), s = ℓθ (N·n_rot)), as FIRE uses them. For
ellipsoids of revolution (n_rot = 2) s = ℓε, ε the exponential-map coordinates of the axis û in the
tangent basis `packing._ellipsoid.tangent_basis(û)` (û(ε) = cos|ε| û + sin|ε| ε̂·(e₁, e₂)); at
ε = 0 this chart gives the Riemannian Hessian on the sphere, which includes −δ_kl û·∂U/∂û on each
particle's rotational block (see `packing._ellipsoid`), and the derivatives of the tangent forces.
With V = Δ^α/α (α = 2 harmonic, 5/2 Hertz),

    H = ∂²U/∂q∂q = stiffness + stress,
    stiffness = Σ_{Δ>0} V''(Δ) ∇Δ ∇Δᵀ,      stress = Σ_{Δ>0} V'(Δ) ∇²Δ,

which for the harmonic potential (V'' = 1, V' = Δ) is the split Σ ∇Δ∇Δᵀ + Σ Δ ∇²Δ of
`packing.analysis` (for Hertz V'' = (3/2) Δ^{1/2}, V' = Δ^{3/2}). The pair derivatives come from
the shape's kernel (`packing._pairs.pair_gap_hess`), so every particle kind shares this module.

Zero modes: in a periodic box the d uniform translations are exact zero modes of H. They are
identified (:func:`count_zero_modes`) and not counted as floppy (or quartic) modes.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from . import _hessian_kernels
from .contacts import ContactNetwork, contact_network
from .errors import ParameterError, require
from .system import Packing

DENSE_MAX = 3000          # spectrum(): dense eigvalsh up to this size
DEFAULT_K = 64            # spectrum(): lowest modes computed with eigsh beyond DENSE_MAX
ZERO_MODE_RTOL = 1e-10    # count_zero_modes(): |λ| ≤ rtol · scale counts as zero
EIGSH_SHIFT = 1e-6        # spectrum(): shift-invert around σ = −EIGSH_SHIFT · scale


class SpectrumError(RuntimeError):
    """The sparse eigensolver failed (no convergence or a singular shifted matrix)."""


@dataclasses.dataclass(frozen=True)
class HessianParts:
    """Hessian of a packing in generalized coordinates (see module docstring).

    Attributes
    ----------
    total, stiffness, stress : (n, n) scipy.sparse CSR, total = stiffness + stress.
    dof_index : (n, 2) int64, row r is component dof_index[r, 1] of particle dof_index[r, 0];
        components 0..d−1 are translations, d..d+n_rot−1 the scaled rotations s = ℓθ.
        Rows are ordered all translations first (particle-major), then all rotations.
    n_translations : d, the number of global translation zero modes.
    rattler : (N,) bool, particles left out (all False when rattlers were kept).
    n_contacts : number of contacts assembled.
    translation_residual : max_a |H t_a| / (|H|_∞ |t_a|) over the unit translations t_a
        (≈ 1e-16 when translations are exact zero modes).
    """

    total: sp.csr_matrix
    stiffness: sp.csr_matrix
    stress: sp.csr_matrix
    dof_index: np.ndarray
    n_translations: int
    rattler: np.ndarray
    n_contacts: int
    translation_residual: float

    @property
    def n(self) -> int:
        """Matrix size (number of generalized coordinates kept)."""
        return int(self.total.shape[0])

    def translations(self) -> np.ndarray:
        """(n, d) orthonormal global translation vectors (columns)."""
        return _translation_vectors(self.dof_index, self.n_translations)


@dataclasses.dataclass(frozen=True)
class Spectrum:
    """Eigenvalues of a symmetric matrix.

    eigenvalues : ascending; all n of them when ``complete``, else the k lowest.
    n : matrix size. method : "dense" (numpy.linalg.eigvalsh) or "eigsh" (ARPACK, shift-invert).
    scale : an upper bound of max|λ| (exact max|λ| when complete, else the ∞-norm of the matrix),
        the reference of the relative zero-mode tolerance.
    """

    eigenvalues: np.ndarray
    n: int
    complete: bool
    method: str
    scale: float


@dataclasses.dataclass(frozen=True)
class ZeroModes:
    """Zero-mode count: n_zero_modes = #{|λ| ≤ threshold}, of which n_translation_modes are the
    global translations and n_floppy_modes = n_zero_modes − n_translation_modes the rest
    (floppy or quartic modes, rattlers when they were kept)."""

    n_zero_modes: int
    n_translation_modes: int
    n_floppy_modes: int
    threshold: float


# ------------------------------------------------------------------------------------- assembly
def _dof_maps(n: int, d: int, nr: int, keep: np.ndarray):
    """Global rows of the kept particles' coordinates.

    Returns (dof_x (N, d), dof_r (N, n_rot), dof_index (n_rows, 2)); −1 marks dropped particles.
    """
    kept = np.flatnonzero(keep)
    nk = kept.size
    dof_x = -np.ones((n, d), np.int64)
    dof_r = -np.ones((n, nr), np.int64)
    dof_x[kept] = np.arange(nk * d).reshape(nk, d)
    dof_r[kept] = nk * d + np.arange(nk * nr).reshape(nk, nr)
    idx_x = np.column_stack([np.repeat(kept, d), np.tile(np.arange(d), nk)])
    idx_r = np.column_stack([np.repeat(kept, nr), np.tile(d + np.arange(nr), nk)])
    dof_index = np.vstack([idx_x, idx_r]).astype(np.int64)
    return dof_x, dof_r, dof_index


def _translation_vectors(dof_index: np.ndarray, d: int) -> np.ndarray:
    """(n, d) normalised uniform translations along each axis in the given coordinates."""
    t = np.zeros((dof_index.shape[0], d))
    for a in range(d):
        t[dof_index[:, 1] == a, a] = 1.0
    norms = np.linalg.norm(t, axis=0)
    return t / np.where(norms > 0, norms, 1.0)


def _symmetric_csr(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, size: int) -> sp.csr_matrix:
    """CSR sum of COO triplets, made bitwise symmetric as (A + Aᵀ)/2 (the summation order of
    duplicates differs between (r, c) and (c, r), which leaves ulp-level asymmetry otherwise)."""
    a = sp.coo_matrix((vals, (rows, cols)), shape=(size, size)).tocsr()
    a = (0.5 * (a + a.T)).tocsr()
    a.sum_duplicates()
    a.sort_indices()
    return a


def _inf_norm(m: sp.spmatrix) -> float:
    """max row sum of |m| (≥ max|λ| for a symmetric matrix)."""
    if m.shape[0] == 0:
        return 0.0
    return float(np.abs(m).sum(axis=1).max())


def hessian(packing: Packing, remove_rattlers: bool = True,
            network: ContactNetwork | None = None) -> HessianParts:
    """Analytic Hessian of ``packing`` split into stiffness and stress parts.

    Parameters
    ----------
    packing : a :class:`~packing.system.Packing` (usually a minimised one).
    remove_rattlers : drop the rattlers' coordinates and every contact that involves a rattler
        (the Hessian of the rigid cluster); False keeps all particles and contacts.
    network : a precomputed :func:`~packing.contacts.contact_network` of this packing (computed
        here when None; its rattler rule is the one used).

    Returns
    -------
    :class:`HessianParts`, matrices of size (d + n_rot) N′ (N when rattlers are kept).
    """
    require(isinstance(packing, Packing), "packing", "a packing.system.Packing", type(packing).__name__)
    require(isinstance(remove_rattlers, (bool, np.bool_)), "remove_rattlers", "True or False",
            remove_rattlers)
    if network is None:
        network = contact_network(packing)
    require(isinstance(network, ContactNetwork) and network.n_particles == packing.n
            and network.dim == packing.dim, "network",
            f"a ContactNetwork of this packing (N = {packing.n}, d = {packing.dim})",
            type(network).__name__)
    kind, x, rot, shp, _, rot_len = packing.kernel_arrays()
    n, d = x.shape
    nr = packing.n_rot
    keep = ~network.rattler if remove_rattlers else np.ones(n, bool)
    pairs = network.contacts
    pairs = np.ascontiguousarray(pairs[keep[pairs[:, 0]] & keep[pairs[:, 1]]], dtype=np.int64)
    dof_x, dof_r, dof_index = _dof_maps(n, d, nr, keep)
    rows, cols, kv, sv = _hessian_kernels.assemble_triplets(
        kind, x, rot, shp, rot_len, packing.box, float(packing.alpha), pairs, dof_x, dof_r)
    if not (np.all(np.isfinite(kv)) and np.all(np.isfinite(sv))):
        raise ParameterError("packing must have finite pair derivatives at every contact "
                             "(got non-finite Hessian entries: coincident particle centres?)")
    size = dof_index.shape[0]
    stiffness = _symmetric_csr(rows, cols, kv, size)
    stress = _symmetric_csr(rows, cols, sv, size)
    total = (stiffness + stress).tocsr()
    total.sort_indices()
    t = _translation_vectors(dof_index, d)
    norm = _inf_norm(total)
    resid = float(np.abs(total @ t).max() / norm) if norm > 0 and size > 0 else 0.0
    keep.setflags(write=False)
    dof_index.setflags(write=False)
    return HessianParts(total=total, stiffness=stiffness, stress=stress, dof_index=dof_index,
                        n_translations=d, rattler=~keep, n_contacts=int(pairs.shape[0]),
                        translation_residual=resid)


# ------------------------------------------------------------------------------------- spectra
def _as_square(matrix) -> sp.csr_matrix:
    """CSR view of a square, finite, symmetric matrix (ndarray or scipy.sparse), else
    ParameterError."""
    if sp.issparse(matrix):
        m = sp.csr_matrix(matrix, dtype=np.float64)
    else:
        a = np.asarray(matrix, dtype=np.float64)
        require(a.ndim == 2, "matrix", "a square 2-d array or scipy.sparse matrix", a.shape)
        m = sp.csr_matrix(a)
    require(m.shape[0] == m.shape[1] and m.shape[0] >= 1, "matrix", "square with n >= 1", m.shape)
    require(bool(np.all(np.isfinite(m.data))), "matrix", "finite", "non-finite entries")
    scale = _inf_norm(m)
    asym = abs(m - m.T).max() if m.nnz else 0.0
    require(asym <= 1e-12 * max(scale, 1e-300), "matrix", "symmetric (|H − Hᵀ| ≤ 1e-12 |H|)",
            f"asymmetry {asym:.3g}")
    return m


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
    require(method in ("auto", "dense", "eigsh"), "method", "'auto', 'dense' or 'eigsh'", method)
    m = _as_square(matrix)
    n = m.shape[0]
    if k is not None:
        require(isinstance(k, (int, np.integer)) and 1 <= k <= n, "k", f"an integer in [1, {n}]", k)
        k = int(k)
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
    scale = _inf_norm(m)
    sigma = -EIGSH_SHIFT * scale if scale > 0 else -1.0
    try:
        ev = spla.eigsh(m.tocsc(), k=k, sigma=sigma, which="LM", return_eigenvectors=False)
    except (spla.ArpackNoConvergence, spla.ArpackError, RuntimeError,
            scipy.linalg.LinAlgError) as exc:
        raise SpectrumError(
            f"eigsh (shift-invert, sigma = {sigma:.3g}, k = {k}) failed on an n = {m.shape[0]} "
            f"matrix: {exc}; try method='dense' or a smaller k") from exc
    return Spectrum(np.sort(ev), m.shape[0], False, "eigsh", scale)


def count_zero_modes(eigs, tol: float = ZERO_MODE_RTOL, *, n_translations: int,
                     scale: float | None = None) -> ZeroModes:
    """Count zero modes and set apart the global translations.

    An eigenvalue is zero when |λ| ≤ tol · scale (relative tolerance; ``scale`` defaults to the
    Spectrum's scale, or max|λ| of an array). The d global translations of a periodic packing
    are exact zero modes of H (see ``HessianParts.translation_residual``), so
    min(n_translations, n_zero) of the zero modes are attributed to them and the rest are floppy
    (or quartic) modes.

    Parameters
    ----------
    eigs : a :class:`Spectrum` or an array of eigenvalues (pass ``scale`` for a partial spectrum).
    tol : relative tolerance (default 1e-10; dense eigenvalues carry absolute errors ~ n·1e-16·scale).
    n_translations : number of global translations (``HessianParts.n_translations``, i.e. d).
    """
    if isinstance(eigs, Spectrum):
        ev = np.asarray(eigs.eigenvalues, dtype=np.float64)
        if scale is None:
            scale = eigs.scale
    else:
        ev = np.asarray(eigs, dtype=np.float64).ravel()
    require(bool(np.all(np.isfinite(ev))), "eigs", "finite", "non-finite values")
    require(math.isfinite(tol) and 0.0 < tol < 1.0, "tol", "a finite number in (0, 1)", tol)
    require(isinstance(n_translations, (int, np.integer)) and 0 <= n_translations <= 3,
            "n_translations", "an integer in [0, 3]", n_translations)
    if scale is None:
        scale = float(np.abs(ev).max()) if ev.size else 0.0
    require(math.isfinite(scale) and scale >= 0.0, "scale", "a finite number >= 0", scale)
    threshold = tol * scale
    n_zero = int(np.count_nonzero(np.abs(ev) <= threshold))
    n_tr = min(int(n_translations), n_zero)
    return ZeroModes(n_zero, n_tr, n_zero - n_tr, threshold)
