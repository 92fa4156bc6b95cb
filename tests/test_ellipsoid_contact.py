"""Perram–Wertheim contact of two ellipsoids of revolution (packing/_ellipsoid.py) against
independent references.

References used here, none sharing code with the kernel:
* brute-force maximisation of S(λ) = λ(1−λ) rᵀ[(1−λ)A_i + λA_j]⁻¹ r with scipy (bounded Brent) on
  dense numpy 3×3 matrices A = b²I + (a² − b²)ûûᵀ, and the root of S'(λ) in 40-digit mpmath;
* contact distances known by inspection (tip to tip, side by side, T, ellipsoid–sphere);
* the sphere formulas Δ = 1 − r/σ, ∇Δ = −r̂/σ, ∇²Δ = −(I − r̂r̂ᵀ)/(rσ) for a = b;
* central finite differences for the gradient and the Hessian, in the exponential-map chart
  û(ε) = cos|ε| û + sin|ε| (ε₁e₁ + ε₂e₂)/|ε| written out here in numpy.
Pairs are drawn prolate and oblate (a/b in [0.3, 3]).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from naive import central_derivative, central_gradient, hessian_from_gradient
from scipy.optimize import minimize_scalar
from sphere_chart import chart, chart_jacobian

from packing import _pairs
from packing._ellipsoid import (
    ellipsoid_contact_distance,
    ellipsoid_gap,
    ellipsoid_gap_grad,
    ellipsoid_gap_hess,
    ellipsoid_lambda,
    ellipsoid_mu,
    tangent_basis,
)


# ---------------------------------------------------------------------------------------------
# random pairs and the exp-map chart
# ---------------------------------------------------------------------------------------------
def _unit(v):
    return v / np.linalg.norm(v)


def random_pair(rng, aspect=(0.3, 3.0), dist=(0.3, 1.5)):
    """dr (3,), û_i, û_j (3,), shp_i, shp_j = (a, b): a/b uniform in `aspect`, b in [0.5, 1],
    isotropic axes and direction, |dr| a random fraction `dist` of the sum of bounding radii."""
    shp = []
    for _ in range(2):
        b = rng.uniform(0.5, 1.0)
        shp.append(np.array([b * rng.uniform(*aspect), b]))
    u_i = _unit(rng.normal(size=3))
    u_j = _unit(rng.normal(size=3))
    r = rng.uniform(*dist) * (max(shp[0]) + max(shp[1]))
    return _unit(rng.normal(size=3)) * r, u_i, u_j, shp[0], shp[1]


def spheroid_matrix(u, a, b):
    """A = b²I + (a² − b²)ûûᵀ as a dense numpy (3, 3) array."""
    return b * b * np.eye(3) + (a * a - b * b) * np.outer(u, u)


def pw_function(lam, dr, u_i, u_j, shp_i, shp_j):
    """Perram–Wertheim S(λ) with dense linear algebra (independent of the kernel's closed form)."""
    c = (1.0 - lam) * spheroid_matrix(u_i, *shp_i) + lam * spheroid_matrix(u_j, *shp_j)
    return lam * (1.0 - lam) * dr @ np.linalg.solve(c, dr)


def _gap_q(q, base, shp_i, shp_j):
    """Δ as a function of q = (dr (3), ε_i (2), ε_j (2)) about the axes of `base`."""
    (u_i, b_i), (u_j, b_j) = base
    return ellipsoid_gap(q[:3], chart(u_i, b_i, q[3:5]), chart(u_j, b_j, q[5:7]), shp_i, shp_j)


def _grad_q(q, base, shp_i, shp_j):
    """∂Δ/∂q from the gradient kernel (tangent 3-vectors) through the chart's Jacobian."""
    (u_i, b_i), (u_j, b_j) = base
    ui = chart(u_i, b_i, q[3:5])
    uj = chart(u_j, b_j, q[5:7])
    g = np.empty(9)
    ellipsoid_gap_grad(q[:3].copy(), ui, uj, shp_i, shp_j, g)
    out = np.empty(7)
    out[:3] = g[:3]
    for l in range(2):
        out[3 + l] = g[3:6] @ chart_jacobian(u_i, b_i, q[3:5], l)
        out[5 + l] = g[6:9] @ chart_jacobian(u_j, b_j, q[5:7], l)
    return out


def _random_q(rng, **kw):
    dr, u_i, u_j, shp_i, shp_j = random_pair(rng, **kw)
    base = ((u_i, tangent_basis(u_i)), (u_j, tangent_basis(u_j)))
    return np.concatenate([dr, np.zeros(4)]), base, shp_i, shp_j


# ---------------------------------------------------------------------------------------------
# accuracy of μ and λ*
# ---------------------------------------------------------------------------------------------
def test_mu_matches_bruteforce_maximisation():
    """μ² = max_λ S(λ): kernel vs scipy bounded Brent (xatol 1e-14) on dense numpy S, 400 pairs."""
    rng = np.random.default_rng(20240602)
    errs = []
    for _ in range(400):
        dr, u_i, u_j, shp_i, shp_j = random_pair(rng)
        res = minimize_scalar(lambda lam: -pw_function(lam, dr, u_i, u_j, shp_i, shp_j),
                              bounds=(0.0, 1.0), method="bounded", options={"xatol": 1e-14})
        mu_ref = math.sqrt(-res.fun)
        errs.append(abs(ellipsoid_mu(dr, u_i, u_j, shp_i, shp_j) - mu_ref) / mu_ref)
        lam, _ = ellipsoid_lambda(dr, u_i, u_j, shp_i, shp_j)
        assert abs(lam - res.x) < 1e-6  # Brent locates a flat maximum only to ~√eps
    assert max(errs) < 1e-10, max(errs)


def test_lambda_matches_high_precision_root():
    """λ* is the root of S'(λ) and μ = √S(λ*) to round-off (40-digit mpmath), a/b up to 10."""
    mp = pytest.importorskip("mpmath")
    rng = np.random.default_rng(7)

    def s_mp(lam, dr, u_i, u_j, shp_i, shp_j):
        def mat(u, a, b):
            uu = mp.matrix([mp.mpf(x) for x in u])
            return (mp.mpf(b) ** 2 * mp.eye(3) + (mp.mpf(a) ** 2 - mp.mpf(b) ** 2) * (uu * uu.T))

        cmat = (1 - lam) * mat(u_i, *shp_i) + lam * mat(u_j, *shp_j)
        r = mp.matrix([mp.mpf(x) for x in dr])
        return lam * (1 - lam) * (r.T * mp.lu_solve(cmat, r))[0]

    with mp.workdps(40):
        for aspect in ((0.3, 3.0), (0.1, 10.0)):
            for _ in range(8):
                dr, u_i, u_j, shp_i, shp_j = random_pair(rng, aspect=aspect)
                lam, n_eval = ellipsoid_lambda(dr, u_i, u_j, shp_i, shp_j)
                f = lambda x: s_mp(x, dr, u_i, u_j, shp_i, shp_j)  # noqa: E731
                lam_ref = mp.findroot(lambda x: mp.diff(f, x), mp.mpf(lam))
                assert abs(lam - float(lam_ref)) < 1e-14, (lam, lam_ref)
                assert n_eval <= 15
                mu_ref = float(mp.sqrt(f(lam_ref)))
                mu = ellipsoid_mu(dr, u_i, u_j, shp_i, shp_j)
                assert abs(mu - mu_ref) < 2e-16 * aspect[1] ** 2 * mu_ref


def test_newton_is_safeguarded_from_bad_starting_points():
    """From λ0 at either end of [0, 1] the bracketed Newton still reaches the same λ*."""
    from packing._ellipsoid import _invariants, _solve_lambda

    rng = np.random.default_rng(3)
    for _ in range(50):
        dr, u_i, u_j, (a_i, b_i), (a_j, b_j) = random_pair(rng, aspect=(0.1, 10.0))
        r2, pi2, pj2, t2, _, s2 = _invariants(*dr, *u_i, *u_j)
        args = (r2, pi2, pj2, t2, s2, b_i**2, b_j**2, a_i**2 - b_i**2, a_j**2 - b_j**2)
        lam, _ = ellipsoid_lambda(dr, u_i, u_j, np.array([a_i, b_i]), np.array([a_j, b_j]))
        for lam0 in (1e-12, 0.5, 1.0 - 1e-12):
            lam_b, n_eval = _solve_lambda(*args, lam0)
            assert abs(lam_b - lam) < 1e-13
            assert n_eval < 60


# ---------------------------------------------------------------------------------------------
# contact distances known by inspection
# ---------------------------------------------------------------------------------------------
X, Y, Z = np.eye(3)


@pytest.mark.parametrize(
    "shp_i, shp_j, u_i, u_j, direction, expected",
    [
        ((2.0, 1.0), (2.0, 1.0), X, X, X, 4.0),          # parallel prolates tip to tip: 2a
        ((2.0, 1.0), (2.0, 1.0), X, X, Y, 2.0),          # side by side: 2b
        ((2.0, 1.0), (2.0, 1.0), X, X, _unit(Y + Z), 2.0),  # side by side, any azimuth
        ((2.0, 1.0), (1.5, 0.5), X, Y, X, 2.5),          # T: tip of i on the side of j: a_i + b_j
        ((2.0, 1.0), (1.5, 0.5), X, Z, Y, 1.5),          # crossed, side on side: b_i + b_j
        ((3.0, 1.0), (0.7, 0.7), _unit(X + Y), Z, _unit(X + Y), 3.7),  # ellipsoid–sphere: a + R
        ((3.0, 1.0), (0.7, 0.7), _unit(X + Y), Z, Z, 1.7),  # ellipsoid–sphere across: b + R
        ((0.5, 1.0), (0.5, 1.0), Z, Z, Z, 1.0),          # oblate discs face to face: 2a
        ((0.5, 1.0), (0.5, 1.0), Z, Z, X, 2.0),          # oblate edge to edge: 2b
    ],
)
def test_contact_distance_special_configurations(shp_i, shp_j, u_i, u_j, direction, expected):
    sigma = ellipsoid_contact_distance(direction * 0.9, u_i, u_j, np.array(shp_i), np.array(shp_j))
    assert sigma == pytest.approx(expected, rel=1e-13)


def test_contact_distance_is_that_of_the_dense_reference_and_scale_free():
    """σ = r/μ does not depend on |dr| (μ is homogeneous of degree one in r)."""
    rng = np.random.default_rng(11)
    for _ in range(100):
        dr, u_i, u_j, shp_i, shp_j = random_pair(rng)
        s1 = ellipsoid_contact_distance(dr, u_i, u_j, shp_i, shp_j)
        s2 = ellipsoid_contact_distance(0.37 * dr, u_i, u_j, shp_i, shp_j)
        assert abs(s1 - s2) < 1e-13 * s1


# ---------------------------------------------------------------------------------------------
# spheres and symmetries
# ---------------------------------------------------------------------------------------------
def test_spheres_reduce_to_sphere_formulas():
    """a = b: Δ = 1 − r/σ, ∇_rΔ = −r̂/σ, ∇²_rΔ = −(I − r̂r̂ᵀ)/(rσ), σ = b_i + b_j, and every
    orientation derivative vanishes exactly."""
    rng = np.random.default_rng(9)
    for _ in range(100):
        ri, rj = rng.uniform(0.3, 1.4, 2)
        sigma = ri + rj
        n = _unit(rng.normal(size=3))
        r = rng.uniform(0.5, 1.2) * sigma
        dr = r * n
        u_i, u_j = _unit(rng.normal(size=3)), _unit(rng.normal(size=3))
        shp_i, shp_j = np.array([ri, ri]), np.array([rj, rj])
        g9 = np.empty(9)
        g = np.empty(7)
        hess = np.empty((7, 7))
        gap = ellipsoid_gap_hess(dr, u_i, u_j, shp_i, shp_j, g, hess)
        assert abs(gap - (1.0 - r / sigma)) < 1e-15
        gap9 = ellipsoid_gap_grad(dr, u_i, u_j, shp_i, shp_j, g9)
        assert ellipsoid_gap(dr, u_i, u_j, shp_i, shp_j) == gap9  # same arithmetic
        assert abs(gap9 - (1.0 - r / sigma)) < 1e-15
        np.testing.assert_allclose(g[:3], -n / sigma, rtol=0, atol=1e-15 / sigma)
        np.testing.assert_allclose(g9[:3], g[:3], rtol=0, atol=1e-15 / sigma)
        np.testing.assert_array_equal(g[3:], 0.0)
        np.testing.assert_array_equal(g9[3:], 0.0)
        h_rr = -(np.eye(3) - np.outer(n, n)) / (r * sigma)
        np.testing.assert_allclose(hess[:3, :3], h_rr, rtol=0, atol=2e-15 / (r * sigma))
        np.testing.assert_array_equal(hess[3:, :], 0.0)
        np.testing.assert_array_equal(hess[:, 3:], 0.0)


def _rotation(rng):
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    return q * np.sign(np.linalg.det(q))


def test_rotation_reflection_and_exchange_invariance():
    """Δ is unchanged by a global rotation, by û → −û and by exchanging i ↔ j (dr → −dr); the
    gradient rotates with the configuration, and under the exchange the force is reversed and the
    tangent torques swap (Newton's third law)."""
    rng = np.random.default_rng(10)
    for _ in range(100):
        dr, u_i, u_j, shp_i, shp_j = random_pair(rng)
        g = np.empty(9)
        gap = ellipsoid_gap_grad(dr, u_i, u_j, shp_i, shp_j, g)
        rot = _rotation(rng)
        g_rot = np.empty(9)
        gap_rot = ellipsoid_gap_grad(rot @ dr, rot @ u_i, rot @ u_j, shp_i, shp_j, g_rot)
        assert abs(gap_rot - gap) < 1e-14
        for k in range(3):
            np.testing.assert_allclose(g_rot[3 * k:3 * k + 3], rot @ g[3 * k:3 * k + 3], rtol=0, atol=1e-13)
        assert abs(ellipsoid_gap(dr, -u_i, -u_j, shp_i, shp_j) - gap) < 1e-14
        g_sw = np.empty(9)
        gap_sw = ellipsoid_gap_grad(-dr, u_j, u_i, shp_j, shp_i, g_sw)
        assert abs(gap_sw - gap) < 1e-14
        np.testing.assert_allclose(g_sw, np.concatenate([-g[:3], g[6:], g[3:6]]), rtol=0, atol=1e-13)
        # the tangent gradients are tangent
        assert abs(g[3:6] @ u_i) < 1e-14 and abs(g[6:] @ u_j) < 1e-14


def test_coincident_centres_are_finite():
    """dr = 0: Δ = 1 with zero gradient and Hessian (the contact direction is undefined)."""
    g = np.full(7, np.nan)
    g9 = np.full(9, np.nan)
    hess = np.full((7, 7), np.nan)
    args = (np.zeros(3), X, _unit(Y + Z), np.array([2.0, 1.0]), np.array([1.5, 1.0]))
    assert ellipsoid_gap(*args) == 1.0
    assert ellipsoid_gap_grad(*args, g9) == 1.0
    assert ellipsoid_gap_hess(*args, g, hess) == 1.0
    assert not g.any() and not g9.any() and not hess.any()


def test_tangent_basis_is_orthonormal_and_right_handed():
    rng = np.random.default_rng(12)
    for u in list(np.eye(3)) + list(-np.eye(3)) + [_unit(rng.normal(size=3)) for _ in range(100)]:
        e = tangent_basis(u)
        np.testing.assert_allclose(e @ e.T, np.eye(2), rtol=0, atol=1e-15)
        np.testing.assert_allclose(e @ u, 0.0, rtol=0, atol=1e-15)
        np.testing.assert_allclose(np.cross(e[0], e[1]), u, rtol=0, atol=1e-15)


# ---------------------------------------------------------------------------------------------
# derivatives
# ---------------------------------------------------------------------------------------------
def test_gradient_matches_finite_differences():
    """∂Δ/∂(dr, ε_i, ε_j) vs central differences of Δ in the exp-map chart (h = 1e-6), 150 pairs;
    the gradient kernel's tangent 3-vectors agree with the Hessian kernel's 2-component gradient."""
    rng = np.random.default_rng(5)
    worst = 0.0
    for _ in range(150):
        q, base, shp_i, shp_j = _random_q(rng)
        g = np.empty(7)
        hess = np.empty((7, 7))
        gap = ellipsoid_gap_hess(q[:3], base[0][0], base[1][0], shp_i, shp_j, g, hess)
        assert gap == pytest.approx(_gap_q(q, base, shp_i, shp_j), abs=1e-15)
        np.testing.assert_allclose(_grad_q(q, base, shp_i, shp_j), g, rtol=0, atol=1e-14 * np.abs(g).max())
        fd = central_gradient(lambda x: _gap_q(x, base, shp_i, shp_j), q, 1e-6)
        worst = max(worst, np.abs(g - fd).max() / np.abs(g).max())
    assert worst < 1e-7, worst


def test_hessian_matches_finite_differences_and_is_symmetric():
    """∂²Δ in the exp-map chart (implicit dλ*/dq and the −δ_kl û·∂Δ/∂û terms included) vs
    central differences of the analytic gradient through the chart's Jacobian."""
    rng = np.random.default_rng(6)
    h = 1e-6
    worst = 0.0
    for _ in range(150):
        q, base, shp_i, shp_j = _random_q(rng)
        g = np.empty(7)
        hess = np.empty((7, 7))
        ellipsoid_gap_hess(q[:3], base[0][0], base[1][0], shp_i, shp_j, g, hess)
        assert np.array_equal(hess, hess.T)
        fd = hessian_from_gradient(lambda x: _grad_q(x, base, shp_i, shp_j), q, h)
        assert np.abs(fd - fd.T).max() < 1e-7 * np.abs(hess).max()
        worst = max(worst, np.abs(hess - fd).max() / np.abs(hess).max())
    assert worst < 1e-7, worst


def test_hessian_without_the_sphere_curvature_term_is_wrong():
    """Control: the embedding Hessian projected on the tangent planes (no −δ_kl û·∂Δ/∂û term)
    differs from the finite differences by far more than their error, so the test above sees the
    curvature of the orientation sphere."""
    rng = np.random.default_rng(8)
    q, base, shp_i, shp_j = _random_q(rng, dist=(0.8, 1.0), aspect=(1.5, 3.0))
    (u_i, b_i), (u_j, b_j) = base
    g = np.empty(7)
    hess = np.empty((7, 7))
    ellipsoid_gap_hess(q[:3], u_i, u_j, shp_i, shp_j, g, hess)
    fd = hessian_from_gradient(lambda x: _grad_q(x, base, shp_i, shp_j), q, 1e-6)
    # û·∂Δ/∂û (embedding gradient, normal part) by central differences along û itself (Δ(tû) at t = 1)
    normal = [central_derivative(lambda t: ellipsoid_gap(q[:3], u_i * t, u_j, shp_i, shp_j), 1.0, 1e-6),
              central_derivative(lambda t: ellipsoid_gap(q[:3], u_i, u_j * t, shp_i, shp_j), 1.0, 1e-6)]
    projected = hess.copy()
    for k in range(2):
        projected[3 + k, 3 + k] += normal[0]
        projected[5 + k, 5 + k] += normal[1]
    assert np.abs(hess - fd).max() < 1e-7 * np.abs(fd).max()
    assert np.abs(projected - fd).max() > 1e-2 * np.abs(fd).max()


# ---------------------------------------------------------------------------------------------
# dispatch
# ---------------------------------------------------------------------------------------------
def test_pair_dispatch_equals_the_ellipsoid_kernel():
    """_pairs.pair_gap* with KIND_ELLIPSOID return the `_ellipsoid` kernels bit for bit."""
    rng = np.random.default_rng(7)
    n = 30
    shp = np.column_stack([rng.uniform(0.3, 2.0, n), rng.uniform(0.3, 1.0, n)])
    rot = rng.normal(size=(n, 3))
    rot /= np.linalg.norm(rot, axis=1)[:, None]
    for _ in range(200):
        i, j = rng.choice(n, 2, replace=False)
        dr = rng.normal(size=3)
        g1, g2 = np.zeros(9), np.zeros(9)
        h1, h2 = np.zeros(7), np.zeros(7)
        H1, H2 = np.zeros((7, 7)), np.zeros((7, 7))
        assert (_pairs.pair_gap(_pairs.KIND_ELLIPSOID, dr, rot, shp, i, j)
                == ellipsoid_gap(dr, rot[i], rot[j], shp[i], shp[j]))
        assert (_pairs.pair_gap_grad(_pairs.KIND_ELLIPSOID, dr, rot, shp, i, j, g1)
                == ellipsoid_gap_grad(dr, rot[i], rot[j], shp[i], shp[j], g2))
        np.testing.assert_array_equal(g1, g2)
        assert (_pairs.pair_gap_hess(_pairs.KIND_ELLIPSOID, dr, rot, shp, i, j, h1, H1)
                == ellipsoid_gap_hess(dr, rot[i], rot[j], shp[i], shp[j], h2, H2))
        np.testing.assert_array_equal(h1, h2)
        np.testing.assert_array_equal(H1, H2)


# ---------------------------------------------------------------------------------------------
# batched kernel of the engine's fast path
# ---------------------------------------------------------------------------------------------
def _batch_columns(rng, k, **kw):
    cols = []
    for _ in range(k):
        dr, u_i, u_j, shp_i, shp_j = random_pair(rng, **kw)
        cols.append(np.concatenate([dr, u_i, u_j, shp_i, shp_j]))
    return np.ascontiguousarray(np.array(cols).T)


@pytest.mark.parametrize("aspect", [(0.3, 3.0), (0.1, 10.0)])
def test_batched_kernel_equals_scalar_kernel(aspect):
    """pw_force_batch (+ redo_rejected, + gradient_from_u) gives Δ and ∂Δ of the scalar kernel to
    round-off for overlapping pairs, and never a positive Δ for a non-overlapping one; rerunning
    every lane through the safeguarded scalar solver gives the same."""
    from packing._ellipsoid import _gap_grad_scalar, gradient_from_u, pw_force_batch, redo_rejected

    rng = np.random.default_rng(21)
    K = 2000
    pd = _batch_columns(rng, K, aspect=aspect, dist=(0.2, 1.2))
    pd[:3, 0] = 0.0  # coincident centres: Δ = 1, zero force
    out = np.empty((6, K))
    pw_force_batch(pd, K, out)
    n_redo = redo_rejected(pd, K, out)
    assert np.all(out[5] == 1.0)
    out_all = out.copy()
    out_all[5] = 0.0
    assert redo_rejected(pd, K, out_all) == K
    g = np.empty(9)
    worst = 0.0
    n_overlap = 0
    for k in range(K):
        ref = _gap_grad_scalar(*pd[:, k], g)
        for o in (out, out_all):
            if ref <= 0.0:
                assert o[0, k] <= 0.0
                continue
            assert abs(o[0, k] - ref) < 1e-14
            e_i = (pd[9, k] - pd[10, k]) * (pd[9, k] + pd[10, k])
            e_j = (pd[11, k] - pd[12, k]) * (pd[11, k] + pd[12, k])
            if k == 0:
                assert o[0, k] == 1.0 and not o[2:5, k].any()
                continue
            gb = np.array(gradient_from_u(o[1, k], 1.0 - o[0, k], *o[2:5, k], *pd[3:9, k], e_i, e_j))
            worst = max(worst, np.abs(gb - g).max() / np.abs(g).max())
        n_overlap += ref > 0.0
    assert n_overlap > K // 10
    assert worst < 1e-12, worst
    if aspect[1] <= 3.0:
        assert n_redo <= K // 100  # the plain Newton steps almost always suffice
