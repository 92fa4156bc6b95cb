"""Slow, obviously correct reference implementations that the tests compare the package against.

Central finite differences (first and second derivatives, gradients, Jacobians, Hessians) and the
minimum-image pair geometry of discs/spheres, written with plain numpy loops and no code shared
with the package. Nothing here is used by the package; the tests import it as ``from naive import
...`` (pytest puts tests/ on sys.path, as for tests/sphere_chart.py).

Each difference is (f(x + h) − f(x − h)) / (2h) with x ± h formed by adding ±h to one coordinate
of a fresh copy of x, so the numbers are those of the loops the tests used to write out.
"""
from __future__ import annotations

import numpy as np

FD_STEP = 1e-6  # central-difference step of the packing tests (coordinates and lengths of order 1)


# ------------------------------------------------------------------------------ finite differences
def central_derivative(f, t, h):
    """df/dt of a scalar function of a scalar t: (f(t + h) − f(t − h)) / (2h)."""
    return (f(t + h) - f(t - h)) / (2 * h)


def central_second_derivative(f, t, h):
    """d²f/dt² of a scalar function of a scalar t: (f(t + h) − 2f(t) + f(t − h)) / h²."""
    return (f(t + h) - 2 * f(t) + f(t - h)) / h**2


def central_differences(value_after, n, h):
    """Central differences along n generalized coordinates whose displacement the caller defines.

    value_after(c, s) is the value (scalar or array of shape (m,)) after moving coordinate c by s.
    Returns (n,) for a scalar value, else (m, n) with column c = (value_after(c, h) −
    value_after(c, −h)) / (2h): the Jacobian in the caller's coordinates.
    """
    cols = [(value_after(c, h) - value_after(c, -h)) / (2 * h) for c in range(n)]
    return np.stack([np.asarray(col) for col in cols], axis=-1)


def _moved(x, c, s):
    """A copy of x with its flat entry c moved by s."""
    y = np.array(x, dtype=float, copy=True)
    y.flat[c] += s
    return y


def central_gradient(f, x, h):
    """∇f of f: R^n → R at x by central differences; returns x.shape ((n,) for a vector x).

    f receives arrays of the shape of x (so a (N, d) position array works as is)."""
    x = np.asarray(x, dtype=float)
    return central_differences(lambda c, s: f(_moved(x, c, s)), x.size, h).reshape(x.shape)


def central_jacobian(f, x, h):
    """∂f/∂x of f: R^n → R^m at x by central differences; returns (m, n), n = x.size.

    f receives arrays of the shape of x and returns an (m,) array."""
    x = np.asarray(x, dtype=float)
    return central_differences(lambda c, s: f(_moved(x, c, s)), x.size, h)


def hessian_from_gradient(grad, x, h):
    """(n, n) Hessian of a scalar function from central differences of its gradient grad: R^n → R^n;
    row k is the difference of grad along x_k (= central_jacobian(grad, x, h).T).

    Not symmetrised: its asymmetry estimates the difference error, which some tests check."""
    return central_jacobian(grad, x, h).T


def central_hessian(f, x, h):
    """(n, n) Hessian of f: R^n → R by the four-point second difference
    [f(x + h_k + h_l) − f(x + h_k − h_l) − f(x − h_k + h_l) + f(x − h_k − h_l)] / (4h²),
    h_k = h e_k (not symmetrised)."""
    x = np.asarray(x, dtype=float)
    steps = np.eye(x.size) * h

    def second(ek, el):
        return (f(x + ek + el) - f(x + ek - el) - f(x - ek + el) + f(x - ek - el)) / (4 * h * h)

    return np.array([[second(ek, el) for el in steps] for ek in steps])


# ------------------------------------------------------------------------------ pair geometry
def minimum_image(dr, box):
    """dr − L round(dr/L): the periodic image of separations dr (..., d) nearest the origin."""
    return dr - box * np.round(dr / box)


def disc_pairs(pos, box, dia, i, j):
    """Minimum-image geometry of disc/sphere pairs (i[k], j[k]), i, j index arrays of length K:
    dr = x_j − x_i (K, d), r = |dr| (K,), σ = (d_i + d_j)/2 (K,) and the gap Δ = 1 − r/σ (K,)."""
    dr = minimum_image(pos[j] - pos[i], box)
    r = np.linalg.norm(dr, axis=1)
    sigma = 0.5 * (dia[i] + dia[j])
    return dr, r, sigma, 1.0 - r / sigma


def pair_gradient_row(n, dim, n_rot, i, j, g, rot_len):
    """∇Δ of one pair on the generalized coordinates of n particles, (n·(dim + n_rot),): positions
    particle-major, then s = ℓθ per particle. g = (∂Δ/∂dr (dim,), ∂Δ/∂θ_i (n_rot,), ∂Δ/∂θ_j
    (n_rot,)) with dr = x_j − x_i, so x_i gets −∂Δ/∂dr and x_j +∂Δ/∂dr; angles are divided by ℓ."""
    v = np.zeros(n * (dim + n_rot))
    v[dim * i:dim * i + dim] = -g[:dim]
    v[dim * j:dim * j + dim] = g[:dim]
    rot = dim * n
    v[rot + n_rot * i:rot + n_rot * i + n_rot] = g[dim:dim + n_rot] / rot_len[i]
    v[rot + n_rot * j:rot + n_rot * j + n_rot] = g[dim + n_rot:dim + 2 * n_rot] / rot_len[j]
    return v
