"""Hessian assembly (private, numba): COO triplets of the stiffness and stress parts.

For a pair (i, j) with local coordinates u = (dr, rot_i, rot_j), dr = x_j − x_i, and pair
coordinates w = (x_i, x_j, s_i, s_j) (s = ℓθ), u = T w with the constant (k × P) matrix
    T[a, x_i a] = −1,  T[a, x_j a] = +1,  T[d + b, s_i b] = 1/ℓ_i,  T[d + n_rot + b, s_j b] = 1/ℓ_j,
so ∇_w Δ = Tᵀ g and ∇²_w Δ = Tᵀ H T (u is affine in w: no second-derivative term from the map).
n_rot is the number of rotational coordinates per particle (dof_r.shape[1]), which for ellipsoids
(2: exponential-map coordinates ε of the axis, see `_ellipsoid`) differs from the stored rot (N, 3);
the kernel's Hessian is then already in (dr, ε_i, ε_j), s = ℓε.
Pair contributions: stiffness V''(Δ) ∇Δ∇Δᵀ, stress V'(Δ) ∇²Δ, with V = Δ^α/α; the gap Jacobian's
row of a pair, √V''(Δ) ∇_w Δ, comes out of the same pass (its JᵀJ is the stiffness part).
"""
from __future__ import annotations

import numba as nb
import numpy as np

from ._neighbors import minimum_image
from ._pairs import pair_gap_hess
from ._potential import d2V, dV


@nb.njit(cache=True)
def _pair_map(d, nr, li, lj):
    """(k, P) matrix T of the module docstring (k = d + 2 n_rot, P = 2 d + 2 n_rot)."""
    k = d + 2 * nr
    T = np.zeros((k, 2 * d + 2 * nr))
    for a in range(d):
        T[a, a] = -1.0
        T[a, d + a] = 1.0
    for b in range(nr):
        T[d + b, 2 * d + b] = 1.0 / li
        T[d + nr + b, 2 * d + nr + b] = 1.0 / lj
    return T


@nb.njit(cache=True)
def _pair_rows(i, j, d, nr, dof_x, dof_r, glob):
    """Global rows of the pair coordinates w = (x_i, x_j, s_i, s_j) into glob (P,)."""
    for a in range(d):
        glob[a] = dof_x[i, a]
        glob[d + a] = dof_x[j, a]
    for b in range(nr):
        glob[2 * d + b] = dof_r[i, b]
        glob[2 * d + nr + b] = dof_r[j, b]


@nb.njit(cache=True)
def _pull_back_gradient(T, g, k, P, gw):
    """∇_w Δ = Tᵀ g into gw (P,)."""
    for r in range(P):
        s = 0.0
        for a in range(k):
            s += T[a, r] * g[a]
        gw[r] = s


@nb.njit(cache=True)
def assemble_triplets(kind, x, rot, shp, rot_len, box, alpha, pairs, dof_x, dof_r):
    """Triplets of the stiffness and stress parts over the given pairs.

    Parameters
    ----------
    pairs : (M, 2) int64 pairs (i, j); pairs with Δ ≤ 0 contribute zeros.
    dof_x : (N, d) int64 global row of x_{i,a}; dof_r : (N, n_rot) global row of s_{i,b}. Every
        particle of ``pairs`` must have valid (≥ 0) rows.

    Returns (rows, cols, stiff, stress, jac): (M·P²,) arrays of the COO triplets, P = 2d + 2 n_rot,
    and (M·P,) the gap Jacobian's row of each pair, √V''(Δ) ∇_w Δ on the columns glob (the
    stiffness is the outer product of that row with itself; zeros for Δ ≤ 0).
    """
    n, d = x.shape
    nr = dof_r.shape[1]
    k = d + 2 * nr
    P = 2 * d + 2 * nr
    m = pairs.shape[0]
    rows = np.empty(m * P * P, np.int64)
    cols = np.empty(m * P * P, np.int64)
    stiff = np.zeros(m * P * P)
    stress = np.zeros(m * P * P)
    jac = np.zeros(m * P)
    dr = np.empty(d)
    g = np.zeros(k)
    H = np.zeros((k, k))
    gw = np.zeros(P)
    Hw = np.zeros((P, P))
    glob = np.empty(P, np.int64)
    for p in range(m):
        i = pairs[p, 0]
        j = pairs[p, 1]
        _pair_rows(i, j, d, nr, dof_x, dof_r, glob)
        off = p * P * P
        for r in range(P):
            for c in range(P):
                rows[off + r * P + c] = glob[r]
                cols[off + r * P + c] = glob[c]
        minimum_image(x, i, j, box, dr)
        delta = pair_gap_hess(kind, dr, rot, shp, i, j, g, H)
        if not delta > 0.0:
            continue
        T = _pair_map(d, nr, rot_len[i], rot_len[j])
        _pull_back_gradient(T, g, k, P, gw)  # ∇_w Δ = Tᵀ g ;  ∇²_w Δ = Tᵀ sym(H) T below
        for r in range(P):
            for c in range(r, P):
                s = 0.0
                for a in range(k):
                    if T[a, r] == 0.0:
                        continue
                    for b in range(k):
                        s += T[a, r] * 0.5 * (H[a, b] + H[b, a]) * T[b, c]
                Hw[r, c] = s
                Hw[c, r] = s  # exact symmetry
        v2 = d2V(delta, alpha)
        v1 = dV(delta, alpha)
        for r in range(P):
            for c in range(P):
                stiff[off + r * P + c] = v2 * gw[r] * gw[c]
                stress[off + r * P + c] = v1 * Hw[r, c]
        w = np.sqrt(v2)
        for r in range(P):
            jac[p * P + r] = w * gw[r]
    return rows, cols, stiff, stress, jac
