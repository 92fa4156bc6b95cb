"""Exact Perram–Wertheim contact of two soft ellipses in 2D (private numba kernels).

Contact function
----------------
Ellipse k has centre x_k, semi-axes (a_k, b_k) and major axis at angle θ_k from the x axis; its
matrix is A_k = R(θ_k) diag(a_k², b_k²) R(θ_k)ᵀ, so the ellipse is {x : xᵀ A_k⁻¹ x ≤ 1}. With
r = x_j − x_i, Perram & Wertheim [PW85] define

    S(λ) = λ(1−λ) rᵀ C(λ)⁻¹ r,   C(λ) = (1−λ) A_i + λ A_j,   μ² = max_{λ∈[0,1]} S(λ).

μ is the factor by which both ellipses must be scaled about their centres to touch: overlap iff
μ < 1, and the contact distance along r̂ is σ_ij = r/μ. S is strictly concave on [0,1] with
S(0) = S(1) = 0 [PW85], so the maximiser λ* is the unique root of S'(λ) on (0,1); it is found by
Newton's method safeguarded by the bracket S'(lo) > 0 > S'(hi) (bisection when a step leaves it).
The gap used by the engine is Δ = 1 − μ (Δ > 0: overlap), the soft-particle form of Perram,
Rasmussen, Præstgaard & Lebowitz [PRPL96]; for a_k = b_k it is exactly the disc gap 1 − r/(a_i + a_j).
The distance σ_ij agrees with the closed form of Zheng & Palffy-Muhoray [ZPM07] (checked in tests).

Derivatives
-----------
Coordinates q = (r_x, r_y, θ_i, θ_j); M = μ² = S(λ*(q), q).
* Gradient (envelope theorem): S_λ = 0 at λ*, so dM/dq = ∂S/∂q at fixed λ = λ* — the motion of λ*
  does not enter at first order.
* Hessian (implicit function theorem): differentiating S_λ(λ*(q), q) = 0 gives
  dλ*/dq = −S_λq / S_λλ, hence d²M/dq² = S_qq − S_λq S_λqᵀ / S_λλ.
* With Q = rᵀC⁻¹r, u = C⁻¹r and C_a = ∂C/∂a (a ∈ {λ, θ_i, θ_j}):
  ∂Q/∂r = 2u, ∂²Q/∂r² = 2C⁻¹, ∂Q/∂a = −uᵀC_a u, ∂²Q/∂r∂a = −2C⁻¹C_a u,
  ∂²Q/∂a∂b = 2(C_a u)ᵀ C⁻¹ (C_b u) − uᵀ C_ab u.
* Finally Δ = 1 − √M: ∇Δ = −∇M/(2μ), ∇²Δ = −∇²M/(2μ) + ∇M ∇Mᵀ/(4μ³).

All 2×2 algebra is written out on scalars (symmetric matrices as (xx, xy, yy) tuples), so the
kernels allocate nothing.

Force fast path
---------------
The kernels above serve the Hessian, contacts and the generic engine loop. The engine's force
loop for ellipses (`_engine._ellipse_energy_forces_2d`) uses the same mathematics in a form that
runs in SIMD lanes (numba's `error_model="numpy"`, so divisions carry no zero checks):
* `_frames`: A_k = m_k I + [[hc_k, hs_k], [hs_k, −hc_k]] (hc = h cos2θ, hs = h sin2θ) once per
  particle and call, with a polynomial cos/sin (`_cos_sin_reduced`, ~1 ulp) that vectorizes;
* `_pw_force_batch`: per candidate pair N(λ), E(λ) from the frames, exact early rejection
  (S(λ) ≤ μ² for every λ, so S ≥ 1 at any trial λ proves no overlap), λ* by two Halley steps on
  F = S'E² from the disc-exact λ0 and a final Newton step that carries `_solve_lambda`'s
  acceptance test, then μ and ∇Δ with one square root and one division;
* `_pw_force`: the same for one pair with the safeguarded `_solve_lambda`, for the lanes that the
  fixed Halley/Newton sequence did not bring to the tolerance.
The results equal `_gap_grad_scalar`'s to round-off (tests/test_ellipse_fastpath.py).

References
----------
[PW85]   J. W. Perram and M. S. Wertheim, J. Comput. Phys. 58, 409 (1985).
[PRPL96] J. W. Perram, J. Rasmussen, E. Præstgaard and J. L. Lebowitz, Phys. Rev. E 54, 6565 (1996).
[ZPM07]  X. Zheng and P. Palffy-Muhoray, Phys. Rev. E 75, 061709 (2007).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

# Newton stops once a step is below this; with quadratic convergence the returned λ* + step is
# then accurate to round-off (error ~ K·step², K = |S‴/(2S″)| = O(1–10) for aspect ratios ≤ 10).
_LAMBDA_STEP_TOL = 1e-8
_LAMBDA_MAXIT = 100


# --------------------------------------------------------------------------------------------
# 2×2 helpers: a symmetric matrix is the tuple (xx, xy, yy), a vector the pair (x, y)
# --------------------------------------------------------------------------------------------
@njit(cache=True)
def _shape(theta, a, b):
    """A = R(θ) diag(a², b²) R(θ)ᵀ, dA/dθ and d²A/dθ², each as (xx, xy, yy).

    A = m I + h [[cos2θ, sin2θ], [sin2θ, −cos2θ]] with m = (a² + b²)/2, h = (a² − b²)/2.
    """
    c2 = math.cos(2.0 * theta)
    s2 = math.sin(2.0 * theta)
    m = 0.5 * (a * a + b * b)
    h = 0.5 * (a * a - b * b)
    return (
        (m + h * c2, h * s2, m - h * c2),
        (-2.0 * h * s2, 2.0 * h * c2, 2.0 * h * s2),
        (-4.0 * h * c2, -4.0 * h * s2, 4.0 * h * c2),
    )


@njit(cache=True)
def _lin(alpha, m, beta, n):
    """alpha·m + beta·n for symmetric 2×2 matrices m, n."""
    return (alpha * m[0] + beta * n[0], alpha * m[1] + beta * n[1], alpha * m[2] + beta * n[2])


@njit(cache=True)
def _inv(m):
    """Inverse of a symmetric positive-definite 2×2 matrix."""
    det = m[0] * m[2] - m[1] * m[1]
    return (m[2] / det, -m[1] / det, m[0] / det)


@njit(cache=True)
def _mv(m, x, y):
    """Matrix–vector product m·(x, y)."""
    return m[0] * x + m[1] * y, m[1] * x + m[2] * y


@njit(cache=True)
def _quad(m, x, y):
    """Quadratic form (x, y)ᵀ m (x, y)."""
    return m[0] * x * x + 2.0 * m[1] * x * y + m[2] * y * y


# --------------------------------------------------------------------------------------------
# λ* by safeguarded Newton
# --------------------------------------------------------------------------------------------
@njit(cache=True)
def _pw_coefficients(rx, ry, ai, aj, det_i, det_j):
    """Polynomial form of S in 2D: S(λ) = λ(1−λ) N(λ)/E(λ), N = n0 + n1 λ, E = e0 + e1 λ + e2 λ².

    In 2D C⁻¹ = adj(C)/det C with adj linear in C, so N = rᵀ adj(C(λ)) r is linear and
    E = det C(λ) quadratic in λ. det_i = (a_i b_i)², det_j = (a_j b_j)² are passed exactly so that
    E(0) and E(1) carry no cancellation. Returns (n0, n1, e0, e1, e2).
    """
    d0 = aj[0] - ai[0]
    d1 = aj[1] - ai[1]
    d2 = aj[2] - ai[2]
    n0 = ai[2] * rx * rx - 2.0 * ai[1] * rx * ry + ai[0] * ry * ry
    n1 = d2 * rx * rx - 2.0 * d1 * rx * ry + d0 * ry * ry
    e2 = d0 * d2 - d1 * d1
    return n0, n1, det_i, det_j - det_i - e2, e2


@njit(cache=True)
def _initial_lambda(n0, n1, det_i, det_j):
    """Disc-exact guess λ0 = ρ_i/(ρ_i + ρ_j), ρ_k = (r̂ᵀA_k⁻¹r̂)^(-1/2) the centre-to-edge length along r̂.

    rᵀA_i⁻¹r = N(0)/det_i and rᵀA_j⁻¹r = N(1)/det_j; the common factor |r| cancels in the ratio.
    """
    rho_i = math.sqrt(det_i / n0)
    rho_j = math.sqrt(det_j / (n0 + n1))
    return rho_i / (rho_i + rho_j)


@njit(cache=True, inline="always")
def _s_prime_2d(lam, n0, n1, e0, e1, e2):
    """(F, F'E − 2FE', E) at λ for S = pN/E in 2D (N linear, E quadratic): S' = F/E²,
    S'' = (F'E − 2FE')/E³, so a Newton step on S' is −FE/(F'E − 2FE') (`_solve_lambda`)."""
    nn = n0 + n1 * lam
    ee = e0 + lam * (e1 + lam * e2)
    ee1 = e1 + 2.0 * e2 * lam
    p = lam * (1.0 - lam)
    p1 = 1.0 - 2.0 * lam
    f = (p1 * nn + p * n1) * ee - p * nn * ee1
    f1 = 2.0 * (p1 * n1 - nn) * ee - 2.0 * e2 * p * nn
    return f, f1 * ee - 2.0 * f * ee1, ee


@njit(cache=True, inline="always")
def bracketed_newton(lam, f, den, ee, lo, hi):
    """One iteration of the safeguarded Newton on S'(λ) shared by the 2D and 3D solvers.

    f = F(λ) (S' = F/E²), den = F'E − 2FE' (∝ S''), ee = E(λ); [lo, hi] brackets the root
    (S' > 0 below it, < 0 above). Takes the Newton step −FE/den when S'' < 0 and it stays in the
    bracket, else bisects. Returns (λ, lo, hi, done); done when S' = 0, the step is at most
    _LAMBDA_STEP_TOL (λ + step is then accurate to round-off) or the bracket is 4e-16 wide.
    """
    if f > 0.0:
        lo = lam
    elif f < 0.0:
        hi = lam
    else:
        return lam, lo, hi, True
    new = -1.0
    if den < 0.0:
        step = -f * ee / den
        if abs(step) <= _LAMBDA_STEP_TOL:
            return lam + step, lo, hi, True
        new = lam + step
    if not (lo < new < hi):
        new = 0.5 * (lo + hi)
        if hi - lo <= 4e-16:
            return new, lo, hi, True
    return new, lo, hi, False


@njit(cache=True)
def _solve_lambda(n0, n1, e0, e1, e2, lam0):
    """Maximiser λ* ∈ (0, 1) of S = λ(1−λ)N/E by Newton on S'(λ) = 0, safeguarded by bisection.

    S' = F/E² and S'' = (F'E − 2FE')/E³ with F = (p'N + pN')E − pNE', p = λ(1−λ), so one Newton step
    is −FE/(F'E − 2FE'). S'(0) = N(0)/E(0) > 0 and S'(1) = −N(1)/E(1) < 0 bracket the root, which
    is unique as S is concave [PW85]. Returns (λ*, number of S' evaluations).
    """
    lo = 0.0
    hi = 1.0
    lam = lam0
    for it in range(1, _LAMBDA_MAXIT + 1):
        f, den, ee = _s_prime_2d(lam, n0, n1, e0, e1, e2)
        lam, lo, hi, done = bracketed_newton(lam, f, den, ee, lo, hi)
        if done:
            return lam, it
    return lam, _LAMBDA_MAXIT


@njit(cache=True)
def _lambda_star(rx, ry, ai, aj, det_i, det_j):
    """λ* and its evaluation count for r = (rx, ry) ≠ 0 and matrices A_i, A_j (det = (ab)²)."""
    n0, n1, e0, e1, e2 = _pw_coefficients(rx, ry, ai, aj, det_i, det_j)
    return _solve_lambda(n0, n1, e0, e1, e2, _initial_lambda(n0, n1, det_i, det_j))


# --------------------------------------------------------------------------------------------
# Public kernels (engine interface)
# --------------------------------------------------------------------------------------------
@njit(cache=True)
def ellipse_lambda(dr, rot_i, rot_j, shp_i, shp_j):
    """Perram–Wertheim maximiser λ* and the number of Newton evaluations used.

    dr (2,) = x_j − x_i, rot (1,) = θ, shp (2,) = (a, b). Returns (λ*, n_evals); (nan, 0) if dr = 0.
    """
    rx = dr[0]
    ry = dr[1]
    if rx == 0.0 and ry == 0.0:
        return np.nan, 0
    ai, _, _ = _shape(rot_i[0], shp_i[0], shp_i[1])
    aj, _, _ = _shape(rot_j[0], shp_j[0], shp_j[1])
    return _lambda_star(rx, ry, ai, aj, (shp_i[0] * shp_i[1]) ** 2, (shp_j[0] * shp_j[1]) ** 2)


@njit(cache=True)
def _mu_scalar(rx, ry, th_i, th_j, a_i, b_i, a_j, b_j):
    """μ for r = (rx, ry), angles θ_i, θ_j and semi-axes (a_i, b_i), (a_j, b_j); 0 when r = 0."""
    if rx == 0.0 and ry == 0.0:
        return 0.0
    ai, _, _ = _shape(th_i, a_i, b_i)
    aj, _, _ = _shape(th_j, a_j, b_j)
    lam, _ = _lambda_star(rx, ry, ai, aj, (a_i * b_i) ** 2, (a_j * b_j) ** 2)
    c_inv = _inv(_lin(1.0 - lam, ai, lam, aj))
    return math.sqrt(lam * (1.0 - lam) * _quad(c_inv, rx, ry))


@njit(cache=True)
def ellipse_mu(dr, rot_i, rot_j, shp_i, shp_j):
    """Perram–Wertheim range μ = √(max_λ S(λ)) (μ < 1: overlap). Arguments as ellipse_gap."""
    return _mu_scalar(dr[0], dr[1], rot_i[0], rot_j[0], shp_i[0], shp_i[1], shp_j[0], shp_j[1])


@njit(cache=True)
def ellipse_contact_distance(dr, rot_i, rot_j, shp_i, shp_j):
    """Centre distance σ_ij = r/μ at which the ellipses touch along r̂ = dr/|dr|."""
    return math.sqrt(dr[0] * dr[0] + dr[1] * dr[1]) / ellipse_mu(dr, rot_i, rot_j, shp_i, shp_j)


@njit(cache=True)
def ellipse_gap(dr, rot_i, rot_j, shp_i, shp_j):
    """Gap Δ = 1 − μ_ij of two ellipses (Δ > 0: overlap).

    dr (2,): x_j − x_i, minimum-imaged; rot_i, rot_j (1,): angle θ of the major axis from x;
    shp_i, shp_j (2,): semi-axes (a, b). Coincident centres give Δ = 1.
    """
    return 1.0 - ellipse_mu(dr, rot_i, rot_j, shp_i, shp_j)


@njit(cache=True)
def _gap_grad_scalar(rx, ry, th_i, th_j, a_i, b_i, a_j, b_j, g):
    """ellipse_gap_grad on scalar arguments (r = (rx, ry), angles, semi-axes): no array views."""
    if rx == 0.0 and ry == 0.0:
        for k in range(4):
            g[k] = 0.0
        return 1.0
    ai, dai, _ = _shape(th_i, a_i, b_i)
    aj, daj, _ = _shape(th_j, a_j, b_j)
    lam, _ = _lambda_star(rx, ry, ai, aj, (a_i * b_i) ** 2, (a_j * b_j) ** 2)
    c_inv = _inv(_lin(1.0 - lam, ai, lam, aj))
    ux, uy = _mv(c_inv, rx, ry)
    p = lam * (1.0 - lam)
    mu = math.sqrt(p * (rx * ux + ry * uy))
    # dΔ/dq = −(∂S/∂q)/(2μ) with ∂S/∂r = 2p u, ∂S/∂θ_i = −p(1−λ) uᵀA_i'u, ∂S/∂θ_j = −pλ uᵀA_j'u
    s = -0.5 / mu
    g[0] = s * 2.0 * p * ux
    g[1] = s * 2.0 * p * uy
    g[2] = -s * p * (1.0 - lam) * _quad(dai, ux, uy)
    g[3] = -s * p * lam * _quad(daj, ux, uy)
    return 1.0 - mu


@njit(cache=True)
def ellipse_gap_grad(dr, rot_i, rot_j, shp_i, shp_j, g):
    """Gap Δ and, into g[:4], ∂Δ/∂(dr_x, dr_y, θ_i, θ_j) by the envelope theorem.

    Arguments as ellipse_gap. Coincident centres: Δ = 1, g = 0 (direction undefined).
    """
    return _gap_grad_scalar(dr[0], dr[1], rot_i[0], rot_j[0], shp_i[0], shp_i[1], shp_j[0],
                            shp_j[1], g)


@njit(cache=True)
def ellipse_gap_hess(dr, rot_i, rot_j, shp_i, shp_j, g, H):
    """Gap Δ, its gradient into g[:4] and its Hessian into H[:4, :4], order (dr_x, dr_y, θ_i, θ_j).

    The Hessian includes the implicit motion of λ*: d²M = S_qq − S_λq S_λqᵀ / S_λλ (module
    docstring). Arguments as ellipse_gap. Coincident centres: Δ = 1, g = 0, H = 0.
    """
    return _gap_hess_scalar(dr[0], dr[1], rot_i[0], rot_j[0], shp_i[0], shp_i[1], shp_j[0],
                            shp_j[1], g, H)


@njit(cache=True)
def _gap_hess_scalar(rx, ry, th_i, th_j, a_i, b_i, a_j, b_j, g, H):
    """ellipse_gap_hess on scalar arguments (r = (rx, ry), angles, semi-axes): no array views."""
    if rx == 0.0 and ry == 0.0:
        for k in range(4):
            g[k] = 0.0
            for l in range(4):
                H[k, l] = 0.0
        return 1.0
    ai, dai, ddai = _shape(th_i, a_i, b_i)
    aj, daj, ddaj = _shape(th_j, a_j, b_j)
    lam, _ = _lambda_star(rx, ry, ai, aj, (a_i * b_i) ** 2, (a_j * b_j) ** 2)
    lm = 1.0 - lam
    p = lam * lm
    p1 = 1.0 - 2.0 * lam
    c_inv = _inv(_lin(lm, ai, lam, aj))
    ux, uy = _mv(c_inv, rx, ry)
    q = rx * ux + ry * uy
    d = _lin(-1.0, ai, 1.0, aj)

    # C_a u for a = λ, θ_i, θ_j (C_λ = D, C_θi = (1−λ)A_i', C_θj = λA_j') and w_a = C⁻¹ C_a u
    dux, duy = _mv(d, ux, uy)
    eix, eiy = _mv(dai, ux, uy)
    eix *= lm
    eiy *= lm
    ejx, ejy = _mv(daj, ux, uy)
    ejx *= lam
    ejy *= lam
    wlx, wly = _mv(c_inv, dux, duy)
    wix, wiy = _mv(c_inv, eix, eiy)
    wjx, wjy = _mv(c_inv, ejx, ejy)

    # first derivatives of Q
    q_l = -(ux * dux + uy * duy)
    q_i = -(ux * eix + uy * eiy)
    q_j = -(ux * ejx + uy * ejy)
    # mixed λ derivatives of Q (C_λλ = 0, C_λθi = −A_i', C_λθj = A_j')
    q_ll = 2.0 * (dux * wlx + duy * wly)
    q_lrx = -2.0 * wlx
    q_lry = -2.0 * wly
    q_li = 2.0 * (dux * wix + duy * wiy) + _quad(dai, ux, uy)
    q_lj = 2.0 * (dux * wjx + duy * wjy) - _quad(daj, ux, uy)

    s_ll = -2.0 * q + 2.0 * p1 * q_l + p * q_ll
    # S_λq = p'Q_q + pQ_λq
    sl0 = p1 * 2.0 * ux + p * q_lrx
    sl1 = p1 * 2.0 * uy + p * q_lry
    sl2 = p1 * q_i + p * q_li
    sl3 = p1 * q_j + p * q_lj

    # M = pQ and its gradient at fixed λ
    m = p * q
    mu = math.sqrt(m)
    gm0 = 2.0 * p * ux
    gm1 = 2.0 * p * uy
    gm2 = p * q_i
    gm3 = p * q_j

    # S_qq = p Q_qq (C_θiθi = (1−λ)A_i'', C_θjθj = λA_j'', C_θiθj = 0)
    h00 = 2.0 * p * c_inv[0]
    h01 = 2.0 * p * c_inv[1]
    h11 = 2.0 * p * c_inv[2]
    h02 = -2.0 * p * wix
    h12 = -2.0 * p * wiy
    h03 = -2.0 * p * wjx
    h13 = -2.0 * p * wjy
    h22 = p * (2.0 * (eix * wix + eiy * wiy) - lm * _quad(ddai, ux, uy))
    h33 = p * (2.0 * (ejx * wjx + ejy * wjy) - lam * _quad(ddaj, ux, uy))
    h23 = p * 2.0 * (eix * wjx + eiy * wjy)

    # d²M = S_qq − S_λq S_λqᵀ/S_λλ;  ∇²Δ = −d²M/(2μ) + ∇M∇Mᵀ/(4μ³)
    inv_sll = 1.0 / s_ll
    a1 = -0.5 / mu
    a2 = 0.25 / (mu * m)
    sl = (sl0, sl1, sl2, sl3)
    gm = (gm0, gm1, gm2, gm3)
    hq = ((h00, h01, h02, h03), (h01, h11, h12, h13), (h02, h12, h22, h23), (h03, h13, h23, h33))
    for k in range(4):
        g[k] = a1 * gm[k]
        for l in range(k, 4):
            v = a1 * (hq[k][l] - sl[k] * sl[l] * inv_sll) + a2 * gm[k] * gm[l]
            H[k, l] = v
            H[l, k] = v
    return 1.0 - mu


# --------------------------------------------------------------------------------------------
# Force-only fast path (engine's `_ellipse_energy_forces_2d`)
# --------------------------------------------------------------------------------------------
# The engine computes per particle, once per force evaluation, the frame of A_k written as
# A_k = m_k I + [[hc_k, hs_k], [hs_k, −hc_k]] with m = (a² + b²)/2, hc = h cos2θ, hs = h sin2θ,
# h = (a² − b²)/2 (the same numbers `_shape` builds per pair), and det A_k = (a_k b_k)². The pair
# kernels below then need no trigonometry and a single square root and division after λ*.
@njit(cache=True)
def _frame(theta, a, b):
    """(m, hc, hs, det) of A = m I + [[hc, hs], [hs, −hc]] for an ellipse at angle θ, semi-axes a, b
    (libm cos/sin; `_frames` does all particles in SIMD lanes)."""
    c2 = math.cos(2.0 * theta)
    s2 = math.sin(2.0 * theta)
    h = 0.5 * (a * a - b * b)
    return 0.5 * (a * a + b * b), h * c2, h * s2, (a * b) ** 2


@njit(cache=True, inline="always")
def _frame_polynomials(rx, ry, m_i, hc_i, hs_i, det_i, m_j, hc_j, hs_j, det_j):
    """(N(0), N(1), e1, e2) of S = pN/E from the frames: N(λ) = N(0) + (N(1) − N(0))λ with
    N(k) = rᵀadj(A_k)r (adj A = m I − [[hc, hs], [hs, −hc]]), E(λ) = det_i + e1 λ + e2 λ²."""
    r2 = rx * rx + ry * ry
    cc = rx * rx - ry * ry
    ss = 2.0 * rx * ry
    n0 = m_i * r2 - (hc_i * cc + hs_i * ss)
    nj = m_j * r2 - (hc_j * cc + hs_j * ss)
    dm = m_j - m_i
    dhc = hc_j - hc_i
    dhs = hs_j - hs_i
    e2 = dm * dm - dhc * dhc - dhs * dhs
    return n0, nj, det_j - det_i - e2, e2


@njit(cache=True, inline="always")
def _frame_gradient(lam, n0, n1, e0, e1, e2, rx, ry, m_i, hc_i, hs_i, m_j, hc_j, hs_j):
    """(μ, t, E, g0, g1, g2, g3) at λ* (t = pN, E = E(λ*), g = ∂Δ/∂(r_x, r_y, θ_i, θ_j)) with
    C = (1−λ)A_i + λA_j = mc I + [[hcc, hsc], [hsc, −hcc]] and v = adj(C) r (see `_pw_force`)."""
    lm = 1.0 - lam
    p = lam * lm
    nn = n0 + n1 * lam
    ee = e0 + lam * (e1 + lam * e2)
    t = p * nn
    k = 1.0 / math.sqrt(t * ee)
    mc = lm * m_i + lam * m_j
    hcc = lm * hc_i + lam * hc_j
    hsc = lm * hs_i + lam * hs_j
    vx = (mc - hcc) * rx - hsc * ry
    vy = (mc + hcc) * ry - hsc * rx
    pk = p * k
    c3 = pk * t * k * k
    vv = vy * vy - vx * vx
    vxy = 2.0 * vx * vy
    return (t * k, t, ee, -pk * vx, -pk * vy, c3 * lm * (hs_i * vv + hc_i * vxy),
            c3 * lam * (hs_j * vv + hc_j * vxy))


@njit(cache=True, inline="always", error_model="numpy")
def _pw_force(rx, ry, m_i, hc_i, hs_i, det_i, m_j, hc_j, hs_j, det_j):
    """Gap Δ = 1 − μ and, when Δ > 0, ∂Δ/∂(r_x, r_y, θ_i, θ_j) for a pair given by its frames.

    Returns (Δ, g0, g1, g2, g3); for Δ ≤ 0 the gradient is not computed (zeros) and Δ may be any
    value ≤ 0 (only the sign is meaningful then). Same mathematics as `_gap_grad_scalar`, with
    three shortcuts that keep it exact:
    * N(0) = rᵀadj(A_i)r, N(1) = rᵀadj(A_j)r and E = det C(λ) come straight from the frames;
    * exact early rejection: S(λ) ≤ μ² for every λ, so S(λ0) ≥ 1 at the starting guess proves
      μ ≥ 1 (no overlap) before any Newton step (a 1e-12 margin keeps round-off out of the test);
    * after λ*, with N = N(λ*), E = E(λ*), t = pN (p = λ(1−λ)) and k = 1/√(tE):
      μ = √(t/E) = t k, u = C⁻¹r = adj(C)r/E, ∂Δ/∂r = −p u/μ = −p k adj(C)r, and
      ∂Δ/∂θ_i = p(1−λ) uᵀA_i'u/(2μ) = ½ p(1−λ) t k³ vᵀA_i'v with v = adj(C)r (1/E = t k²).
    A' = dA/dθ = [[−2hs, 2hc], [2hc, 2hs]], so vᵀA'v = 2 hs (v_y² − v_x²) + 4 hc v_x v_y.
    """
    if rx * rx + ry * ry == 0.0:  # coincident centres: Δ = 1, direction undefined (as `_gap_grad_scalar`)
        return 1.0, 0.0, 0.0, 0.0, 0.0
    n0, nj, e1, e2 = _frame_polynomials(rx, ry, m_i, hc_i, hs_i, det_i, m_j, hc_j, hs_j, det_j)
    n1 = nj - n0
    # disc-exact start λ0 = ρ_i/(ρ_i + ρ_j) (`_initial_lambda`)
    rho_i = math.sqrt(det_i / n0)
    rho_j = math.sqrt(det_j / nj)
    lam0 = rho_i / (rho_i + rho_j)
    if lam0 * (1.0 - lam0) * (n0 + n1 * lam0) >= (1.0 + 1e-12) * (det_i + lam0 * (e1 + lam0 * e2)):
        return -1.0, 0.0, 0.0, 0.0, 0.0
    lam, _ = _solve_lambda(n0, n1, det_i, e1, e2, lam0)
    mu, _, _, g0, g1, g2, g3 = _frame_gradient(lam, n0, n1, det_i, e1, e2, rx, ry,
                                               m_i, hc_i, hs_i, m_j, hc_j, hs_j)
    if mu >= 1.0:
        return 1.0 - mu, 0.0, 0.0, 0.0, 0.0
    return 1.0 - mu, g0, g1, g2, g3


@njit(cache=True, error_model="numpy")
def _pw_force_batch(pd, lam_io, K, out):
    """`_pw_force` for a batch of K candidate pairs, written without branches so that the loop
    runs in SIMD lanes; out[:, k] = (Δ, g0, g1, g2, g3, ok), out (6, ≥K).

    pd (10, ≥K): column k holds the pair's r = x_j − x_i (2 rows) and the frames of `_frame` of
    particle i (4 rows) and j (4 rows), copied contiguously (gathers would stop the vectorizer).
    lam_io (≥K,): on entry a starting λ, used where it lies in (0, 1) (else the disc-exact λ0
    of `_initial_lambda`, written as √(det_i N(1)) / (√(det_i N(1)) + √(det_j N(0)))); on exit
    the λ reached, so that a lane that was not accepted can be rerun from there.
    λ* is found by two Halley steps on the quartic F(λ) = S'(λ)E(λ)² (cubic convergence) and one
    Newton step on S', which is the last step of `_solve_lambda` and carries its acceptance test:
    the lane is accepted (ok = 1) when that step is at most _LAMBDA_STEP_TOL, S'' < 0 there and λ
    lies in (0, 1) (so λ is the unique maximiser [PW85], to round-off as in `_solve_lambda`);
    otherwise ok = 0. Pairs shown not to overlap get Δ = −1, ok = 1 whatever the test: S(λ) ≤ μ²
    for every λ in [0, 1], so S ≥ 1 at the start (as in `_pw_force`) or at the λ reached proves
    μ ≥ 1 (a 1e-12 margin keeps round-off out). Where ok = 1 and Δ > 0, Δ and the gradient are
    those of `_pw_force`.
    """
    for k in range(K):
        rx = pd[0, k]
        ry = pd[1, k]
        m_i = pd[2, k]
        hc_i = pd[3, k]
        hs_i = pd[4, k]
        det_i = pd[5, k]
        m_j = pd[6, k]
        hc_j = pd[7, k]
        hs_j = pd[8, k]
        det_j = pd[9, k]
        n0, nj, e1, e2 = _frame_polynomials(rx, ry, m_i, hc_i, hs_i, det_i, m_j, hc_j, hs_j,
                                            det_j)
        n1 = nj - n0
        e0 = det_i
        rho_i = math.sqrt(det_i * nj)
        rho_j = math.sqrt(det_j * n0)
        lam = lam_io[k]
        if not (0.0 < lam < 1.0):
            lam = rho_i / (rho_i + rho_j)
        far = lam * (1.0 - lam) * (n0 + n1 * lam) >= (1.0 + 1e-12) * (e0 + lam * (e1 + lam * e2))
        # two Halley steps on F = H'E − HE' (H = pN): F' = H''E − HE'', F'' = H'''E + H''E' − H'E''
        for _ in range(2):
            nn = n0 + n1 * lam
            ee = e0 + lam * (e1 + lam * e2)
            ee1 = e1 + 2.0 * e2 * lam
            p = lam * (1.0 - lam)
            p1 = 1.0 - 2.0 * lam
            h1 = p1 * nn + p * n1
            h2 = 2.0 * (p1 * n1 - nn)
            hh = p * nn
            f = h1 * ee - hh * ee1
            f1 = h2 * ee - 2.0 * e2 * hh
            f2 = -6.0 * n1 * ee + h2 * ee1 - 2.0 * e2 * h1
            lam = lam - 2.0 * f * f1 / (2.0 * f1 * f1 - f * f2)
        # Newton step on S' = F/E² with the acceptance test of `_solve_lambda`
        f, den, ee = _s_prime_2d(lam, n0, n1, e0, e1, e2)
        step = -f * ee / den
        ok = (den < 0.0) & (abs(step) <= _LAMBDA_STEP_TOL) & (lam > 0.0) & (lam < 1.0)
        lam = lam + step
        lam_io[k] = lam
        mu, t, ee, g0, g1, g2, g3 = _frame_gradient(lam, n0, n1, e0, e1, e2, rx, ry,
                                                    m_i, hc_i, hs_i, m_j, hc_j, hs_j)
        # S(λ) ≤ μ² at any λ in (0, 1): S(λ) = t/E ≥ 1 there also proves no overlap
        far = far | ((lam > 0.0) & (lam < 1.0) & (t >= (1.0 + 1e-12) * ee))
        delta = 1.0 - mu
        if far:
            delta = -1.0
        out[0, k] = delta
        out[1, k] = g0
        out[2, k] = g1
        out[3, k] = g2
        out[4, k] = g3
        out[5, k] = 1.0 if (ok or far) else 0.0


# π/2 = _PIO2_1 + _PIO2_2 + _PIO2_3 to 1e-37 (Cody–Waite split: the first two parts have 33
# significant bits, so k·part is exact for |k| < 2^20) and 2/π, all as exact binary literals.
_PIO2_1 = float.fromhex("0x1.921fb54400000p+0")
_PIO2_2 = float.fromhex("0x1.0b4611a600000p-34")
_PIO2_3 = float.fromhex("0x1.3198a2e037073p-69")
_TWO_OVER_PI = float.fromhex("0x1.45f306dc9c883p-1")
_SINCOS_MAX_ARG = 5.0e5  # |t| beyond which `_frames` uses libm (k·part stops being exact at 2^20)


@njit(cache=True, inline="always")
def _cos_sin_reduced(t):
    """(cos t, sin t) for |t| ≤ _SINCOS_MAX_ARG without library calls, so that loops over it run
    in SIMD lanes: t = kπ/2 + r with |r| ≤ π/4 (Cody–Waite), then the Taylor series of sin r to
    r¹⁷ and cos r to r¹⁸ (truncation < 1e-19 on |r| ≤ π/4) and the quadrant k mod 4.
    Agrees with libm to ~1 ulp (tests/test_ellipse_fastpath.py)."""
    k = np.floor(t * _TWO_OVER_PI + 0.5)  # np.floor stays a float (math.floor gives an int)
    r = ((t - k * _PIO2_1) - k * _PIO2_2) - k * _PIO2_3
    z = r * r
    # Horner in z with the exact reciprocals of factorials (1/n! rounded once)
    s = r + r * z * (-1.0 / 6.0 + z * (1.0 / 120.0 + z * (-1.0 / 5040.0 + z * (
        1.0 / 362880.0 + z * (-1.0 / 39916800.0 + z * (1.0 / 6227020800.0 + z * (
            -1.0 / 1307674368000.0 + z * (1.0 / 355687428096000.0))))))))
    c = 1.0 - 0.5 * z + z * z * (1.0 / 24.0 + z * (-1.0 / 720.0 + z * (1.0 / 40320.0 + z * (
        -1.0 / 3628800.0 + z * (1.0 / 479001600.0 + z * (-1.0 / 87178291200.0 + z * (
            1.0 / 20922789888000.0 + z * (-1.0 / 6402373705728000.0))))))))
    q = k - 4.0 * np.floor(0.25 * k)  # k mod 4 in {0, 1, 2, 3}
    odd = (q == 1.0) | (q == 3.0)
    cos_t = s if odd else c
    sin_t = c if odd else s
    if (q == 1.0) | (q == 2.0):
        cos_t = -cos_t
    if q >= 2.0:
        sin_t = -sin_t
    return cos_t, sin_t


@njit(cache=True, error_model="numpy")
def _frames(rot, shp, fr):
    """fr[:, k] ← `_frame`(θ_k, a_k, b_k) for all particles (rot (N, 1), shp (N, 2), fr (4, N);
    rows, not columns, so that the loop runs in SIMD lanes), with `_cos_sin_reduced` (libm for
    the rare |2θ| > _SINCOS_MAX_ARG)."""
    n = rot.shape[0]
    for k in range(n):  # the trigonometry alone: this loop vectorizes, one reading shp does not
        c2, s2 = _cos_sin_reduced(2.0 * rot[k, 0])
        fr[1, k] = c2
        fr[2, k] = s2
    for k in range(n):
        a = shp[k, 0]
        b = shp[k, 1]
        if not abs(2.0 * rot[k, 0]) <= _SINCOS_MAX_ARG:
            fr[1, k] = math.cos(2.0 * rot[k, 0])
            fr[2, k] = math.sin(2.0 * rot[k, 0])
        h = 0.5 * (a * a - b * b)
        fr[0, k] = 0.5 * (a * a + b * b)
        fr[1, k] *= h
        fr[2, k] *= h
        fr[3, k] = (a * b) ** 2
