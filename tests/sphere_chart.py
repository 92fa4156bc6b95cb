"""The exponential-map chart of the unit sphere used by the ellipsoid tests (an independent
reference for the tangent coordinates of packing._ellipsoid): û(ε) = cos|ε| û + sin|ε| v/|ε|,
v = ε₁e₁ + ε₂e₂ with e₁, e₂ an orthonormal basis of the tangent plane at û."""
from __future__ import annotations

import math

import numpy as np


def chart(u, basis, eps):
    """û(ε) = cos|ε| û + sin|ε| v/|ε|, v = ε₁e₁ + ε₂e₂ (exponential map of the unit sphere)."""
    n = float(np.hypot(*eps))
    if n == 0.0:
        return u.copy()
    v = eps[0] * basis[0] + eps[1] * basis[1]
    return math.cos(n) * u + math.sin(n) * v / n


def chart_jacobian(u, basis, eps, l):
    """∂û(ε)/∂ε_l of :func:`chart` (written out; e_l at ε = 0)."""
    n = float(np.hypot(*eps))
    if n == 0.0:
        return basis[l].copy()
    v = eps[0] * basis[0] + eps[1] * basis[1]
    return (-math.sin(n) * eps[l] / n * u + math.cos(n) * eps[l] / n**2 * v
            + math.sin(n) * (basis[l] / n - v * eps[l] / n**3))
