"""Validation of the analysis' inputs (private): one-line ParameterError naming the parameter."""
from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ..errors import ParameterError, require


def check_int(value, name: str, lo: int, hi: float = math.inf) -> int:
    """int(value) if it is an integer in [lo, hi], else ParameterError."""
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    require(ok and lo <= value <= hi, name, f"an integer in [{lo}, {hi}]", value)
    return int(value)


def check_flag(value, name: str) -> bool:
    """bool(value) if it is True or False, else ParameterError."""
    require(isinstance(value, (bool, np.bool_)), name, "True or False", value)
    return bool(value)


def check_rtol(value, name: str = "tol") -> float:
    """float(value) if it is a finite number in (0, 1), else ParameterError."""
    require(isinstance(value, (int, float, np.floating)) and math.isfinite(value)
            and 0.0 < value < 1.0, name, "a finite number in (0, 1)", value)
    return float(value)


def check_gaps(gaps) -> np.ndarray:
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


def as_matrix_input(a, name: str, shape: tuple[int | None, int | None]):
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


def materialise(op: spla.LinearOperator) -> np.ndarray:
    """Dense float64 (m, n) matrix of a LinearOperator (op @ I, column by column in one matmat)."""
    return np.asarray(op.matmat(np.eye(op.shape[1])), dtype=np.float64)


def inf_norm(m) -> float:
    """max row sum of |m| (≥ max|λ| for a symmetric matrix); 0 for an empty matrix."""
    if m.shape[0] == 0:
        return 0.0
    return float(np.abs(m).sum(axis=1).max())
