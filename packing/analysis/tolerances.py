"""Every numerical tolerance of the shared analysis, in one place.

Each is relative to a scale of the matrix or sample it is applied to, so the same value serves a
packing's Hessian (entries ~ 1/σ²) and a net's (entries ~ 1/P).
"""
from __future__ import annotations

import numpy as np

ZERO_MODE_RTOL = 1e-10
"""An eigenvalue is zero when |λ| ≤ ZERO_MODE_RTOL · scale (scale ≥ max|λ|): dense eigenvalues
carry absolute errors ~ n · 1e-16 · scale, so 1e-10 separates round-off from the softest
physical modes of the systems measured here (λ_min/λ_max ≳ 1e-8 above jamming)."""

SYMMETRY_RTOL = 1e-12
"""A matrix is symmetric when max|A − Aᵀ| ≤ SYMMETRY_RTOL · |A|_∞."""

EIGSH_SHIFT = 1e-6
"""Shift-invert eigsh looks for the eigenvalues nearest σ = −EIGSH_SHIFT · |A|_∞ (just below 0,
so that the exact zero modes do not make A − σ singular)."""


def default_rank_rtol(m: int, n: int) -> float:
    """Singular values σ ≤ rtol · σ_max of an (m, n) matrix count as zero, rtol = max(m, n) · ε
    (the convention of numpy.linalg.matrix_rank; Press et al., Numerical Recipes §2.6)."""
    return max(m, n, 1) * float(np.finfo(np.float64).eps)

MARGINAL_RTOL = 1e-8
MARGINAL_ATOL = 1e-12
"""A constraint is marginal when |Δ| ≤ max(MARGINAL_RTOL · ⟨Δ⟩₊, MARGINAL_ATOL), ⟨Δ⟩₊ being the
mean of the Δ > 0 constraints (1 when none is positive). Δ is dimensionless on both sides
(1 − r/σ, 1 − y F). The absolute floor is the resolution of the minimisers: FIRE stops at a
largest force component of 1e-12 (ε/σ), so overlaps below ~1e-12 are not resolved; nets keep
clusters of |Δ| at 1e-16 … 1e-12, data points that approached Δ = 0 and stopped there. The
relative part: in 3D sphere packings (N = 1024, 8 seeds, Δφ = 1e-8 … 1e-4) the smallest contact
force of a non-rattler is f/⟨f⟩ ≈ 1e-4 and the smallest gap h/⟨Δ⟩₊ ≈ 1, while nets that fitted their
data keep points at |Δ| ≈ 1e-10 … 1e-8 where training stopped, four decades below their other
|Δ| ≳ 1e-4; 1e-8 lies in the empty decades between the two populations."""
