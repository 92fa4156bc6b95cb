"""Zero, floppy and negative modes: the rank of the gap Jacobian J and the modes of a spectrum.

One result type, :class:`ModeCount`, whichever way the modes were counted (singular values of J,
or zero eigenvalues of a spectrum of JᵀJ or of H); n_trivial of the zero modes are exact
symmetries (the d global translations of a periodic packing; 0 for a net unless told), the rest
are floppy (or quartic) modes, N_dof − rank J by Maxwell–Calladine counting.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ..errors import require
from ._checks import as_matrix_input, check_int, check_rtol, materialise
from .spectra import DENSE_MAX, Spectrum
from .tolerances import ZERO_MODE_RTOL, default_rank_rtol


@dataclasses.dataclass(frozen=True)
class ModeCount:
    """Zero modes of J (or of a symmetric matrix) and the part of them that is floppy.

    rank : rank J (None when only a partial spectrum was seen). n_coords : columns of J (matrix
        size). n_trivial : symmetry zero modes set apart. n_zero_modes : n_coords − rank, all zero
        modes. n_floppy : n_zero_modes − n_trivial = N_dof − rank (negative when the declared
        trivial modes are not all zero modes of J; :func:`count_zero_modes` never attributes more
        trivial modes than it found zero modes).
    method : "svd" (singular values of J) or "spectrum" (zero eigenvalues of a spectrum).
    threshold : absolute cut — singular values ≤ threshold (svd) or |eigenvalues| ≤ threshold
        (spectrum) count as zero. scale : σ_max(J) (svd) or the spectrum's scale.
    """

    rank: int | None
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


def _eigenvalues_and_scale(eigs, scale):
    """(eigenvalues, scale, n_coords, complete) of a Spectrum or of an eigenvalue array."""
    if isinstance(eigs, Spectrum):
        ev = np.asarray(eigs.eigenvalues, dtype=np.float64)
        return ev, (eigs.scale if scale is None else scale), eigs.n, eigs.complete
    ev = np.asarray(eigs, dtype=np.float64).ravel()
    require(bool(np.all(np.isfinite(ev))), "eigs", "finite", "non-finite values")
    if scale is None:
        scale = float(np.abs(ev).max()) if ev.size else 0.0
    return ev, scale, int(ev.size), False


def count_zero_modes(eigs, tol: float = ZERO_MODE_RTOL, *, n_trivial: int,
                     scale: float | None = None) -> ModeCount:
    """Count zero modes of a spectrum and set apart the trivial (symmetry) ones.

    An eigenvalue is zero when |λ| ≤ tol · scale (relative tolerance; ``scale`` defaults to the
    Spectrum's scale, or max|λ| of an array). The d global translations of a periodic packing
    are exact zero modes of H (see ``HessianParts.translation_residual``), so
    min(n_trivial, n_zero) of the zero modes are attributed to them and the rest are floppy
    (or quartic) modes. ``rank`` is n − n_zero for a complete Spectrum, None otherwise (an array
    may be a partial spectrum).

    Parameters
    ----------
    eigs : a :class:`Spectrum` or an array of eigenvalues (pass ``scale`` for a partial spectrum).
    tol : relative tolerance in (0, 1) (default :data:`~.tolerances.ZERO_MODE_RTOL`).
    n_trivial : symmetry zero modes, in [0, 3] (``HessianParts.n_translations``, i.e. d, for a
        packing; 0 for a net).
    """
    ev, scale, n, complete = _eigenvalues_and_scale(eigs, scale)
    tol = check_rtol(tol)
    n_trivial = check_int(n_trivial, "n_trivial", 0, 3)
    require(np.isfinite(scale) and scale >= 0.0, "scale", "a finite number >= 0", scale)
    threshold = tol * scale
    n_zero = int(np.count_nonzero(np.abs(ev) <= threshold))
    n_tr = min(n_trivial, n_zero)
    return ModeCount(rank=n - n_zero if complete else None, n_coords=n, n_trivial=n_tr,
                     n_zero_modes=n_zero, n_floppy=n_zero - n_tr, method="spectrum",
                     threshold=threshold, scale=float(scale))


def _dense_jacobian(j) -> np.ndarray:
    """ndarray of a validated Jacobian (a LinearOperator by J @ I)."""
    if isinstance(j, spla.LinearOperator):
        return materialise(j)
    return j.toarray() if sp.issparse(j) else j


def jacobian_rank(jacobian, n_trivial: int = 0, rtol: float | None = None) -> ModeCount:
    """Rank of J from its singular values, and the zero modes of JᵀJ.

    A singular value counts as zero when σ ≤ rtol · σ_max, with rtol =
    :func:`~.tolerances.default_rank_rtol` by default. J is made dense, so m and n must be
    ≤ DENSE_MAX.

    Parameters
    ----------
    jacobian : (m, n) sparse matrix, ndarray or LinearOperator.
    n_trivial : exact symmetry zero modes among the n − rank (d translations of a periodic packing).
    rtol : relative singular-value tolerance in (0, 1), None for the default.
    """
    j = as_matrix_input(jacobian, "jacobian", (None, None))
    m, n = j.shape
    require(max(m, n) <= DENSE_MAX, "jacobian", f"at most {DENSE_MAX} rows and columns for an SVD",
            j.shape)
    n_trivial = check_int(n_trivial, "n_trivial", 0, n)
    rtol = default_rank_rtol(m, n) if rtol is None else check_rtol(rtol, "rtol")
    dense = _dense_jacobian(j)
    sv = np.linalg.svd(dense, compute_uv=False) if min(m, n) > 0 else np.zeros(0)
    smax = float(sv.max()) if sv.size else 0.0
    threshold = rtol * smax
    rank = int(np.count_nonzero(sv > threshold))
    return ModeCount(rank=rank, n_coords=n, n_trivial=n_trivial, n_zero_modes=n - rank,
                     n_floppy=n - rank - n_trivial, method="svd", threshold=threshold, scale=smax)


def modes_from_spectrum(stiffness_spectrum: Spectrum, n_trivial: int = 0,
                        tol: float = ZERO_MODE_RTOL) -> ModeCount | None:
    """Zero modes of JᵀJ from its spectrum (the fallback when J is too large for an SVD).

    Zero eigenvalues are |λ| ≤ tol · scale (:func:`count_zero_modes`); the n_trivial declared are
    all set apart (n_floppy may then be negative, as for :func:`jacobian_rank`). Returns None when a
    partial spectrum is all zero (the count would only be a lower bound). Note that λ = σ², so this
    resolves singular values only down to √tol · σ_max.
    """
    require(isinstance(stiffness_spectrum, Spectrum), "stiffness_spectrum", "a Spectrum",
            type(stiffness_spectrum).__name__)
    n = stiffness_spectrum.n
    n_trivial = check_int(n_trivial, "n_trivial", 0, n)
    zm = count_zero_modes(stiffness_spectrum, tol=tol, n_trivial=0)
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
    tol = check_rtol(tol)
    threshold = tol * spec.scale
    ev = np.asarray(spec.eigenvalues)
    n_neg = int(np.count_nonzero(ev < -threshold))
    complete = spec.complete or (spec.method == "eigsh-SA" and n_neg < ev.size)
    return NegativeModes(n_neg, bool(complete), threshold)
