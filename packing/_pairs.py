"""Pair gap kernels (private, numba).

Every particle shape enters the engine through one gap function Δ(u) of the pair's local
coordinates u = (dr, rot_i, rot_j), dr = x_j − x_i (minimum image), with Δ > 0 meaning overlap.
The pair energy is V = Δ^α / α (ε = 1), so that every shape shares the energy, force, Hessian and
contact code, and differs only here. Local layout: k = d + 2·n_rot coordinates.

The engine calls
    pair_gap(kind, dr, rot, shp, i, j) -> Δ
    pair_gap_grad(kind, dr, rot, shp, i, j, g) -> Δ        fills g[:k]   = ∂Δ/∂u
    pair_gap_hess(kind, dr, rot, shp, i, j, g, H) -> Δ     fills also H[:k, :k] = ∂²Δ/∂u∂u
with rot (N, n_rot) and shp (N, n_s) the per-particle arrays, and these dispatch on the integer
shape code to the shape's own kernel (numba cannot cache functions that take other jitted functions
as arguments, so the dispatch is an explicit branch on a code validated in Python; indices rather
than row views are passed so that the disc path creates no array views in the hot loop).

Kinds: KIND_SPHERE (discs/spheres, k = d), KIND_ELLIPSE (2D ellipses, exact Perram–Wertheim
gap of `packing._ellipse`, local coordinates u = (dr_x, dr_y, θ_i, θ_j), k = 4; the ellipse kernels
are called on scalars, again without row views) and KIND_ELLIPSOID (3D ellipsoids of revolution,
`packing._ellipsoid`; rot (N, 3) holds the unit symmetry axes û, shp = [a, b]). An ellipsoid has
two rotational degrees of freedom but three stored orientation components, so its two kernels use
different local layouts:
    pair_gap_grad: g[:9] = (∂Δ/∂dr, G_i, G_j), G_k = (I − û_kû_kᵀ)∂Δ/∂û_k tangent 3-vectors — the
        engine's generalized rotational forces are these vectors (÷ ℓ), FIRE moves û on the sphere;
    pair_gap_hess: k = 7, u = (dr, ε_i, ε_j) with ε the exponential-map coordinates of û in the
        tangent basis `_ellipsoid.tangent_basis(û)` (2 per particle, the Hessian's coordinates).

Note: numba's on-disk cache (cache=True) of a caller (`_engine`, `_hessian_kernels`) is keyed on
the caller's own source file only; after editing this module or `_ellipse`, delete the stale
``packing/__pycache__/*.nb[ic]`` files of the callers.
"""
from __future__ import annotations

import math

import numba as nb
import numpy as np

from . import _ellipsoid
from ._ellipse import _gap_grad_scalar, _gap_hess_scalar, _mu_scalar

KIND_SPHERE = 0   # discs (d = 2) and spheres (d = 3); shp = [diameter], rot (N, 0)
KIND_ELLIPSE = 1  # 2D ellipses, exact Perram–Wertheim gap Δ = 1 − μ (`_ellipse`); shp = [a, b], rot = [θ]
KIND_ELLIPSOID = 2  # 3D ellipsoids of revolution (`_ellipsoid`); shp = [a, b], rot = û (N, 3)

# ---------------------------------------------------------------- discs / spheres
# Δ = 1 − r/σ_ij with σ_ij = (d_i + d_j)/2;  ∂Δ/∂dr = −r̂/σ;  ∂²Δ/∂dr² = −(I − r̂r̂ᵀ)/(rσ).


@nb.njit(cache=True, inline="always")
def _sphere_gap(dr, sigma):
    r2 = 0.0
    for a in range(dr.shape[0]):
        r2 += dr[a] * dr[a]
    return 1.0 - math.sqrt(r2) / sigma


@nb.njit(cache=True, inline="always")
def _sphere_gap_grad(dr, sigma, g):
    r2 = 0.0
    for a in range(dr.shape[0]):
        r2 += dr[a] * dr[a]
    r = math.sqrt(r2)
    c = -1.0 / (r * sigma)
    for a in range(dr.shape[0]):
        g[a] = c * dr[a]
    return 1.0 - r / sigma


@nb.njit(cache=True)
def _sphere_gap_hess(dr, sigma, g, H):
    d = dr.shape[0]
    delta = _sphere_gap_grad(dr, sigma, g)
    r2 = 0.0
    for a in range(d):
        r2 += dr[a] * dr[a]
    r = math.sqrt(r2)
    c = -1.0 / (r * sigma)
    for a in range(d):
        for b in range(d):
            H[a, b] = c * ((1.0 if a == b else 0.0) - dr[a] * dr[b] / r2)
    return delta


# ---------------------------------------------------------------- dispatch


@nb.njit(cache=True, inline="always")
def pair_gap(kind, dr, rot, shp, i, j):
    """Δ for the pair (i, j) (see module docstring); NaN for an unknown kind."""
    if kind == KIND_SPHERE:
        return _sphere_gap(dr, 0.5 * (shp[i, 0] + shp[j, 0]))
    if kind == KIND_ELLIPSE:
        return 1.0 - _mu_scalar(dr[0], dr[1], rot[i, 0], rot[j, 0], shp[i, 0], shp[i, 1],
                                shp[j, 0], shp[j, 1])
    if kind == KIND_ELLIPSOID:
        return 1.0 - _ellipsoid._mu_scalar(dr[0], dr[1], dr[2], rot[i, 0], rot[i, 1], rot[i, 2],
                                           rot[j, 0], rot[j, 1], rot[j, 2], shp[i, 0], shp[i, 1],
                                           shp[j, 0], shp[j, 1])
    return np.nan


@nb.njit(cache=True, inline="always")
def pair_separated(kind, dr, rot, shp, i, j, r2):
    """True only when the pair provably does not overlap (Δ ≤ 0) by a test cheaper than the gap
    (ellipsoids: a separating axis along r̂, `_ellipsoid._separated`); False when undecided, and
    always False for the other kinds (whose gap is cheap, or whose bounding test is exact)."""
    if kind == KIND_ELLIPSOID:
        return _ellipsoid._separated(dr[0], dr[1], dr[2], rot[i, 0], rot[i, 1], rot[i, 2],
                                     rot[j, 0], rot[j, 1], rot[j, 2], shp[i, 0], shp[i, 1],
                                     shp[j, 0], shp[j, 1], r2)
    return False


@nb.njit(cache=True, inline="always")
def pair_gap_grad(kind, dr, rot, shp, i, j, g):
    """Δ and ∂Δ/∂u into g (see module docstring); NaN for an unknown kind."""
    if kind == KIND_SPHERE:
        return _sphere_gap_grad(dr, 0.5 * (shp[i, 0] + shp[j, 0]), g)
    if kind == KIND_ELLIPSE:
        return _gap_grad_scalar(dr[0], dr[1], rot[i, 0], rot[j, 0], shp[i, 0], shp[i, 1],
                                shp[j, 0], shp[j, 1], g)
    if kind == KIND_ELLIPSOID:
        return _ellipsoid._gap_grad_scalar(dr[0], dr[1], dr[2], rot[i, 0], rot[i, 1], rot[i, 2],
                                           rot[j, 0], rot[j, 1], rot[j, 2], shp[i, 0], shp[i, 1],
                                           shp[j, 0], shp[j, 1], g)
    return np.nan


@nb.njit(cache=True)
def pair_gap_hess(kind, dr, rot, shp, i, j, g, H):
    """Δ, ∂Δ/∂u into g and ∂²Δ/∂u² into H (see module docstring); NaN for an unknown kind."""
    if kind == KIND_SPHERE:
        return _sphere_gap_hess(dr, 0.5 * (shp[i, 0] + shp[j, 0]), g, H)
    if kind == KIND_ELLIPSE:
        return _gap_hess_scalar(dr[0], dr[1], rot[i, 0], rot[j, 0], shp[i, 0], shp[i, 1],
                                shp[j, 0], shp[j, 1], g, H)
    if kind == KIND_ELLIPSOID:
        return _ellipsoid._gap_hess_scalar(dr[0], dr[1], dr[2], rot[i, 0], rot[i, 1], rot[i, 2],
                                           rot[j, 0], rot[j, 1], rot[j, 2], shp[i, 0], shp[i, 1],
                                           shp[j, 0], shp[j, 1], g, H)
    return np.nan
