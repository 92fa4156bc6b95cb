"""The pair potential V(Δ) = Δ^α/α θ(Δ) and its derivatives (private, numba), shared by the
engine (energies, forces) and the Hessian assembly: α = 2 harmonic, α = 5/2 Hertz (ε = 1)."""
from __future__ import annotations

import numba as nb


@nb.njit(cache=True, inline="always")
def V(delta, alpha):
    """V(Δ) = Δ^α/α."""
    if alpha == 2.0:
        return 0.5 * delta * delta
    return delta ** alpha / alpha


@nb.njit(cache=True, inline="always")
def dV(delta, alpha):
    """V'(Δ) = Δ^(α−1)."""
    if alpha == 2.0:
        return delta
    return delta ** (alpha - 1.0)


@nb.njit(cache=True, inline="always")
def d2V(delta, alpha):
    """V''(Δ) = (α − 1) Δ^(α−2) (1 for the harmonic potential)."""
    if alpha == 2.0:
        return 1.0
    return (alpha - 1.0) * delta ** (alpha - 2.0)
