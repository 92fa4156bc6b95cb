"""Perram–Wertheim contact of two ellipses (packing/_ellipse.py) against independent references.

References used here, none sharing code with the kernel:
* brute-force maximisation of S(λ) = λ(1−λ) rᵀ[(1−λ)A_i + λA_j]⁻¹ r with scipy (bounded Brent) on
  dense numpy matrices, and the root of S'(λ) in 40-digit mpmath arithmetic;
* the closed-form distance of closest approach of two ellipses of Zheng & Palffy-Muhoray,
  Phys. Rev. E 75, 061709 (2007), written out below in numpy;
* central finite differences for the gradient and the Hessian;
* the disc formulas Δ = 1 − r/σ, ∇Δ = −r̂/σ, ∇²Δ = −(I − r̂r̂ᵀ)/(rσ) for a = b.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from naive import central_gradient, central_hessian, hessian_from_gradient
from scipy.optimize import minimize_scalar

from packing._ellipse import (
    _pw_coefficients,
    _shape,
    _solve_lambda,
    ellipse_contact_distance,
    ellipse_gap,
    ellipse_gap_grad,
    ellipse_gap_hess,
    ellipse_lambda,
    ellipse_mu,
)


# ---------------------------------------------------------------------------------------------
# random pairs
# ---------------------------------------------------------------------------------------------
def random_pair(rng, max_aspect=3.0, dist=(0.3, 1.5)):
    """dr (2,), rot_i (1,), rot_j (1,), shp_i (2,), shp_j (2,): aspect ratios uniform in
    [1, max_aspect], minor semi-axes in [0.5, 1], |dr| a random fraction `dist` of a_i + a_j."""
    shp = []
    for _ in range(2):
        b = rng.uniform(0.5, 1.0)
        shp.append(np.array([b * rng.uniform(1.0, max_aspect), b]))
    rot_i = np.array([rng.uniform(-np.pi, np.pi)])
    rot_j = np.array([rng.uniform(-np.pi, np.pi)])
    phi = rng.uniform(0.0, 2.0 * np.pi)
    r = rng.uniform(*dist) * (shp[0][0] + shp[1][0])
    dr = r * np.array([np.cos(phi), np.sin(phi)])
    return dr, rot_i, rot_j, shp[0], shp[1]


def ellipse_matrix(theta, a, b):
    """A = R(θ) diag(a², b²) R(θ)ᵀ as a dense numpy (2, 2) array."""
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    return rot @ np.diag([a * a, b * b]) @ rot.T


def pw_function(lam, dr, th_i, th_j, shp_i, shp_j):
    """Perram–Wertheim S(λ) with dense linear algebra (independent of the kernel's 2×2 code)."""
    c = (1.0 - lam) * ellipse_matrix(th_i, *shp_i) + lam * ellipse_matrix(th_j, *shp_j)
    return lam * (1.0 - lam) * dr @ np.linalg.solve(c, dr)


# ---------------------------------------------------------------------------------------------
# Zheng & Palffy-Muhoray (2007): distance of closest approach of two ellipses
# ---------------------------------------------------------------------------------------------
def zpm_distance(a1, b1, th1, a2, b2, th2, phi):
    """Distance of closest approach of ellipses 1 and 2 along d = (cos φ, sin φ), closed form.

    Zheng & Palffy-Muhoray, PRE 75, 061709 (2007). Ellipse 1 is mapped to the unit circle by an
    affine map (1/a1 along k1, 1/b1 across); ellipse 2 becomes ellipse 2' with matrix A' written in
    the orthonormal basis (k1 + k2, k1 − k2)/norm; the circle–ellipse distance R' solves a quartic
    in q, and the distance is d = R' b1 / √(1 − e1 (k1·d)²) with e = 1 − b²/a².
    """
    k1 = np.array([np.cos(th1), np.sin(th1)])
    k2 = np.array([np.cos(th2), np.sin(th2)])
    d = np.array([np.cos(phi), np.sin(phi)])
    k1d, k2d, k1k2 = k1 @ d, k2 @ d, k1 @ k2
    e1 = 1.0 - b1**2 / a1**2
    e2 = 1.0 - b2**2 / a2**2
    eta = a1 / b1 - 1.0
    s = b1**2 / b2**2
    a11 = s * (1.0 + 0.5 * (1.0 + k1k2) * (eta * (2.0 + eta) - e2 * (1.0 + eta * k1k2) ** 2))
    sin12 = abs(k1[0] * k2[1] - k1[1] * k2[0])  # √(1 − (k1·k2)²) without cancellation
    a12 = s * 0.5 * sin12 * (eta * (2.0 + eta) + e2 * (1.0 - eta**2 * k1k2**2))
    a22 = s * (1.0 + 0.5 * (1.0 - k1k2) * (eta * (2.0 + eta) - e2 * (1.0 - eta * k1k2) ** 2))
    root = np.sqrt((a11 - a22) ** 2 + 4.0 * a12**2)
    lam_p = 0.5 * (a11 + a22 + root)
    lam_m = 0.5 * (a11 + a22 - root)
    b2p = 1.0 / np.sqrt(lam_p)  # semi-axes of ellipse 2'
    a2p = 1.0 / np.sqrt(lam_m)
    delta_p = a2p**2 / b2p**2 - 1.0
    norm_d = np.sqrt(1.0 - e1 * k1d**2)  # |b1 T d|, T the affine map
    beta = b1 / a1
    # k_{b'}·d': cosine between d' and the minor axis of ellipse 2' (eigenvector of lam_p)
    if 1.0 - abs(k1k2) < 1e-14:
        if a11 > a22:
            kd = beta * k1d / norm_d
        else:
            kd = (k1[0] * d[1] - k1[1] * d[0]) / norm_d
    elif abs(delta_p) >= 1e-12:
        kd = (
            a12 / np.sqrt(1.0 + k1k2) * (beta * k1d + k2d + (beta - 1.0) * k1d * k1k2)
            + (lam_p - a11) / np.sqrt(1.0 - k1k2) * (beta * k1d - k2d - (beta - 1.0) * k1d * k1k2)
        ) / np.sqrt(2.0 * (a12**2 + (lam_p - a11) ** 2)) / norm_d
    else:
        kd = 0.0
    if kd == 0.0 or abs(delta_p) < 1e-12:  # 2' along its major axis, or a circle up to round-off
        r_p = a2p + 1.0
    else:
        t = 1.0 / kd**2 - 1.0
        coeffs = [
            -(1.0 + t) / b2p**2,
            -2.0 / b2p * (1.0 + t + delta_p),
            -t - (1.0 + delta_p) ** 2 + (1.0 + t + delta_p * t) / b2p**2,
            2.0 / b2p * (1.0 + t) * (1.0 + delta_p),
            (1.0 + t + delta_p) * (1.0 + delta_p),
        ]
        # q = h/b' with h the support length of ellipse 2' along the contact normal: 1 ≤ q ≤ a'/b'
        q_max = np.sqrt(1.0 + delta_p)
        roots = np.roots(coeffs)
        cand = [z.real for z in roots if abs(z.imag) < 1e-6 and 1.0 - 1e-6 <= z.real <= q_max + 1e-6]
        assert len(cand) == 1, roots
        q = cand[0]
        dpoly = np.polyder(coeffs)
        for _ in range(3):  # polish the companion-matrix root
            q -= np.polyval(coeffs, q) / np.polyval(dpoly, q)
        nx2 = (q**2 - 1.0) / delta_p
        r_p = np.sqrt(nx2 * (1.0 + b2p * (1.0 + delta_p) / q) ** 2 + (1.0 - nx2) * (1.0 + b2p / q) ** 2)
    return r_p * b1 / norm_d


# ---------------------------------------------------------------------------------------------
# accuracy of μ and λ*
# ---------------------------------------------------------------------------------------------
def test_mu_matches_bruteforce_maximisation():
    """μ² = max_λ S(λ): kernel vs scipy bounded Brent on dense numpy S, 300 random pairs."""
    rng = np.random.default_rng(20240601)
    errs = []
    for _ in range(300):
        dr, rot_i, rot_j, shp_i, shp_j = random_pair(rng)
        res = minimize_scalar(
            lambda lam: -pw_function(lam, dr, rot_i[0], rot_j[0], shp_i, shp_j),
            bounds=(0.0, 1.0),
            method="bounded",
            options={"xatol": 1e-14},
        )
        mu_ref = math.sqrt(-res.fun)
        mu = ellipse_mu(dr, rot_i, rot_j, shp_i, shp_j)
        errs.append(abs(mu - mu_ref) / mu_ref)
        lam, _ = ellipse_lambda(dr, rot_i, rot_j, shp_i, shp_j)
        assert abs(lam - res.x) < 1e-6  # Brent locates a flat maximum only to ~√eps
    assert max(errs) < 1e-10, max(errs)


def test_lambda_matches_high_precision_root():
    """λ* is the root of S'(λ) and μ = √S(λ*) to round-off (40-digit mpmath), aspect ratios up to 10."""
    mp = pytest.importorskip("mpmath")
    rng = np.random.default_rng(7)

    def s_mp(lam, dr, th_i, th_j, shp_i, shp_j):
        def mat(th, a, b):
            c, s = mp.cos(th), mp.sin(th)
            rot = mp.matrix([[c, -s], [s, c]])
            return rot * mp.diag([mp.mpf(a) ** 2, mp.mpf(b) ** 2]) * rot.T

        cmat = (1 - lam) * mat(mp.mpf(th_i), *shp_i) + lam * mat(mp.mpf(th_j), *shp_j)
        r = mp.matrix([mp.mpf(dr[0]), mp.mpf(dr[1])])
        return lam * (1 - lam) * (r.T * mp.lu_solve(cmat, r))[0]

    with mp.workdps(40):
        for max_aspect in (3.0, 10.0):
            for _ in range(15):
                dr, rot_i, rot_j, shp_i, shp_j = random_pair(rng, max_aspect=max_aspect)
                lam, n_eval = ellipse_lambda(dr, rot_i, rot_j, shp_i, shp_j)
                f = lambda x: s_mp(x, dr, rot_i[0], rot_j[0], shp_i, shp_j)  # noqa: E731
                lam_ref = mp.findroot(lambda x: mp.diff(f, x), mp.mpf(lam))
                assert abs(lam - float(lam_ref)) < 4e-15, (lam, lam_ref)
                assert n_eval <= 12
                mu_ref = float(mp.sqrt(f(lam_ref)))
                # round-off in μ grows with the condition number (a/b)² of A
                mu = ellipse_mu(dr, rot_i, rot_j, shp_i, shp_j)
                assert abs(mu - mu_ref) < 2e-16 * max_aspect**2 * mu_ref


def test_newton_is_safeguarded_from_bad_starting_points():
    """From λ0 at either end of [0, 1] the bracketed Newton still reaches the same λ*."""
    rng = np.random.default_rng(3)
    for _ in range(50):
        dr, rot_i, rot_j, shp_i, shp_j = random_pair(rng, max_aspect=10.0)
        ai, _, _ = _shape(rot_i[0], shp_i[0], shp_i[1])
        aj, _, _ = _shape(rot_j[0], shp_j[0], shp_j[1])
        det_i, det_j = (shp_i[0] * shp_i[1]) ** 2, (shp_j[0] * shp_j[1]) ** 2
        coeffs = _pw_coefficients(dr[0], dr[1], ai, aj, det_i, det_j)
        lam, _ = ellipse_lambda(dr, rot_i, rot_j, shp_i, shp_j)
        for lam0 in (1e-12, 0.5, 1.0 - 1e-12):
            lam_b, n_eval = _solve_lambda(*coeffs, lam0)
            assert abs(lam_b - lam) < 1e-14
            assert n_eval < 60


# ---------------------------------------------------------------------------------------------
# contact distance vs the closed form of Zheng & Palffy-Muhoray
# ---------------------------------------------------------------------------------------------
def test_contact_distance_matches_zheng_palffy_muhoray():
    """σ_ij = r/μ equals the ZPM (2007) distance of closest approach along r̂, 300 random pairs."""
    rng = np.random.default_rng(11)
    errs = []
    for _ in range(300):
        dr, rot_i, rot_j, shp_i, shp_j = random_pair(rng)
        phi = math.atan2(dr[1], dr[0])
        ref = zpm_distance(shp_i[0], shp_i[1], rot_i[0], shp_j[0], shp_j[1], rot_j[0], phi)
        sigma = ellipse_contact_distance(dr, rot_i, rot_j, shp_i, shp_j)
        errs.append(abs(sigma - ref) / ref)
        # the distance does not depend on |dr|: μ is homogeneous of degree one in r
        assert abs(ellipse_contact_distance(0.37 * dr, rot_i, rot_j, shp_i, shp_j) - sigma) < 1e-13 * sigma
    assert max(errs) < 1e-10, max(errs)


@pytest.mark.parametrize(
    "shp_i, shp_j, th_i, th_j, phi, expected",
    [
        ((2.0, 1.0), (2.0, 1.0), 0.3, 0.3, 0.3, 4.0),  # parallel, tip to tip: 2a
        ((2.0, 1.0), (2.0, 1.0), 0.3, 0.3, 0.3 + np.pi / 2, 2.0),  # parallel, side by side: 2b
        ((2.0, 1.0), (1.5, 0.5), 0.0, np.pi / 2, 0.0, 2.5),  # T: tip of i on the side of j, a_i + b_j
        ((3.0, 1.0), (0.7, 0.7), 1.1, 0.0, 1.1, 3.7),  # ellipse–disc along the major axis: a + R
        ((3.0, 1.0), (0.7, 0.7), 1.1, 0.0, 1.1 + np.pi / 2, 1.7),  # ellipse–disc across: b + R
    ],
)
def test_contact_distance_special_configurations(shp_i, shp_j, th_i, th_j, phi, expected):
    """Configurations whose contact distance is known by inspection; kernel and ZPM both agree."""
    dr = np.array([np.cos(phi), np.sin(phi)])
    sigma = ellipse_contact_distance(dr, np.array([th_i]), np.array([th_j]), np.array(shp_i), np.array(shp_j))
    assert sigma == pytest.approx(expected, rel=1e-13)
    assert zpm_distance(*shp_i, th_i, *shp_j, th_j, phi) == pytest.approx(expected, rel=1e-12)


# ---------------------------------------------------------------------------------------------
# derivatives
# ---------------------------------------------------------------------------------------------
def _gap_q(q, shp_i, shp_j):
    """Δ as a function of q = (dr_x, dr_y, θ_i, θ_j)."""
    return ellipse_gap(q[:2], q[2:3], q[3:4], shp_i, shp_j)


def _grad_q(q, shp_i, shp_j):
    """∇Δ from the gradient kernel as a function of q."""
    g = np.empty(4)
    ellipse_gap_grad(q[:2].copy(), q[2:3].copy(), q[3:4].copy(), shp_i, shp_j, g)
    return g


def _random_q(rng, **kw):
    """q = (dr_x, dr_y, θ_i, θ_j) and the semi-axes of a random pair (see random_pair)."""
    dr, rot_i, rot_j, shp_i, shp_j = random_pair(rng, **kw)
    return np.concatenate([dr, rot_i, rot_j]), shp_i, shp_j


def test_gradient_matches_finite_differences():
    """∂Δ/∂(dr, θ_i, θ_j) vs central differences (h = 1e-6), 150 random pairs."""
    rng = np.random.default_rng(5)
    h = 1e-6
    worst = 0.0
    for _ in range(150):
        q, shp_i, shp_j = _random_q(rng)
        g = np.empty(4)
        gap = ellipse_gap_grad(q[:2], q[2:3], q[3:4], shp_i, shp_j, g)
        assert gap == pytest.approx(_gap_q(q, shp_i, shp_j), abs=1e-15)
        fd = central_gradient(lambda x: _gap_q(x, shp_i, shp_j), q, h)
        worst = max(worst, np.abs(g - fd).max() / np.abs(g).max())
    assert worst < 1e-7, worst


def test_hessian_matches_finite_differences_and_is_symmetric():
    """∂²Δ (incl. the implicit dλ*/dq term) vs central differences of the analytic gradient."""
    rng = np.random.default_rng(6)
    h = 1e-6
    worst = 0.0
    for _ in range(150):
        q, shp_i, shp_j = _random_q(rng)
        g = np.empty(4)
        hess = np.empty((4, 4))
        gap = ellipse_gap_hess(q[:2], q[2:3], q[3:4], shp_i, shp_j, g, hess)
        assert gap == pytest.approx(_gap_q(q, shp_i, shp_j), abs=1e-15)
        g_ref = _grad_q(q, shp_i, shp_j)
        assert np.abs(g - g_ref).max() <= 1e-14 * np.abs(g_ref).max()
        assert np.array_equal(hess, hess.T)
        fd = hessian_from_gradient(lambda x: _grad_q(x, shp_i, shp_j), q, h)
        assert np.abs(fd - fd.T).max() < 1e-7 * np.abs(hess).max()
        worst = max(worst, np.abs(hess - fd).max() / np.abs(hess).max())
    assert worst < 1e-7, worst


def test_hessian_without_implicit_term_is_wrong():
    """Control: dropping −S_λq S_λqᵀ/S_λλ changes H by far more than the FD tolerance, so the
    finite-difference test above does see the implicit derivative of λ*."""
    rng = np.random.default_rng(8)
    q, shp_i, shp_j = _random_q(rng, dist=(0.8, 1.0))
    h = 1e-6
    fd = hessian_from_gradient(lambda x: _grad_q(x, shp_i, shp_j), q, h)
    # Hessian of Δ = 1 − √S(λ, q) with λ frozen at λ*, by a second-order central difference
    lam, _ = ellipse_lambda(q[:2], q[2:3], q[3:4], shp_i, shp_j)

    def gap(x):
        return 1.0 - math.sqrt(pw_function(lam, x[:2], x[2], x[3], shp_i, shp_j))

    frozen = central_hessian(gap, q, 1e-4)
    g = np.empty(4)
    hess = np.empty((4, 4))
    ellipse_gap_hess(q[:2], q[2:3], q[3:4], shp_i, shp_j, g, hess)
    assert np.abs(hess - fd).max() < 1e-7 * np.abs(fd).max()
    assert np.abs(frozen - fd).max() > 1e-2 * np.abs(fd).max()


# ---------------------------------------------------------------------------------------------
# discs and symmetries
# ---------------------------------------------------------------------------------------------
def test_discs_reduce_to_disc_formulas():
    """a = b: Δ = 1 − r/σ, ∇_rΔ = −r̂/σ, ∇²_rΔ = −(I − r̂r̂ᵀ)/(rσ), σ = a_i + a_j, no angular terms."""
    rng = np.random.default_rng(9)
    for _ in range(100):
        ri, rj = rng.uniform(0.3, 1.4, 2)
        sigma = ri + rj
        phi = rng.uniform(0, 2 * np.pi)
        r = rng.uniform(0.5, 1.2) * sigma
        n = np.array([np.cos(phi), np.sin(phi)])
        dr = r * n
        rot_i, rot_j = rng.uniform(-np.pi, np.pi, (2, 1))
        shp_i, shp_j = np.array([ri, ri]), np.array([rj, rj])
        g = np.empty(4)
        hess = np.empty((4, 4))
        gap = ellipse_gap_hess(dr, rot_i, rot_j, shp_i, shp_j, g, hess)
        assert abs(gap - (1.0 - r / sigma)) < 1e-15
        assert ellipse_gap(dr, rot_i, rot_j, shp_i, shp_j) == gap
        np.testing.assert_allclose(g[:2], -n / sigma, rtol=0, atol=4e-16 / sigma)
        np.testing.assert_array_equal(g[2:], 0.0)
        h_rr = -(np.eye(2) - np.outer(n, n)) / (r * sigma)
        np.testing.assert_allclose(hess[:2, :2], h_rr, rtol=0, atol=1e-15 / (r * sigma))
        np.testing.assert_array_equal(hess[2:, :], 0.0)
        np.testing.assert_array_equal(hess[:, 2:], 0.0)


def test_rotation_and_exchange_invariance():
    """Δ is unchanged by a global rotation, by θ → θ + π and by exchanging i ↔ j (dr → −dr);
    under the exchange the force is reversed and the torques swap (Newton's third law)."""
    rng = np.random.default_rng(10)
    for _ in range(100):
        dr, rot_i, rot_j, shp_i, shp_j = random_pair(rng)
        g = np.empty(4)
        gap = ellipse_gap_grad(dr, rot_i, rot_j, shp_i, shp_j, g)
        alpha = rng.uniform(-np.pi, np.pi)
        rot = np.array([[np.cos(alpha), -np.sin(alpha)], [np.sin(alpha), np.cos(alpha)]])
        g_rot = np.empty(4)
        gap_rot = ellipse_gap_grad(rot @ dr, rot_i + alpha, rot_j + alpha, shp_i, shp_j, g_rot)
        assert abs(gap_rot - gap) < 1e-14
        np.testing.assert_allclose(g_rot[:2], rot @ g[:2], rtol=0, atol=1e-13)
        np.testing.assert_allclose(g_rot[2:], g[2:], rtol=0, atol=1e-13)
        assert abs(ellipse_gap(dr, rot_i + np.pi, rot_j - np.pi, shp_i, shp_j) - gap) < 1e-14
        g_sw = np.empty(4)
        gap_sw = ellipse_gap_grad(-dr, rot_j, rot_i, shp_j, shp_i, g_sw)
        assert abs(gap_sw - gap) < 1e-14
        np.testing.assert_allclose(g_sw, [-g[0], -g[1], g[3], g[2]], rtol=0, atol=1e-13)


def test_coincident_centres_are_finite():
    """dr = 0: Δ = 1 with zero gradient and Hessian (the contact direction is undefined)."""
    g = np.full(4, np.nan)
    hess = np.full((4, 4), np.nan)
    args = (np.zeros(2), np.array([0.2]), np.array([1.0]), np.array([2.0, 1.0]), np.array([1.5, 1.0]))
    assert ellipse_gap(*args) == 1.0
    assert ellipse_gap_hess(*args, g, hess) == 1.0
    assert not g.any() and not hess.any()
