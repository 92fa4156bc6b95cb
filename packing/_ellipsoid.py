"""Exact Perram–Wertheim contact of two soft ellipsoids of revolution in 3D (private numba kernels).

Contact function
----------------
Ellipsoid k has centre x_k, semi-axis a_k along its unit symmetry axis û_k and b_k across it
(prolate a > b, oblate a < b, sphere a = b); its matrix is A_k = b_k² I + (a_k² − b_k²) û_k û_kᵀ,
so the body is {x : xᵀ A_k⁻¹ x ≤ 1}. With r = x_j − x_i, Perram & Wertheim [PW85] define

    S(λ) = λ(1−λ) rᵀ C(λ)⁻¹ r,   C(λ) = (1−λ) A_i + λ A_j,   μ² = max_{λ∈[0,1]} S(λ),

exactly as for the 2D ellipses of `packing._ellipse`: μ is the factor by which both bodies must be
scaled about their centres to touch, the gap is Δ = 1 − μ (Δ > 0: overlap) and σ_ij = r/μ is the
contact distance along r̂. S is strictly concave on [0, 1] in any dimension [PW85], so λ* is the
unique root of S'(λ), found by Newton's method safeguarded by the bracket S'(lo) > 0 > S'(hi).

Closed form for uniaxial bodies
-------------------------------
Write p = û_i, q = û_j, e_k = a_k² − b_k², β(λ) = (1−λ) b_i² + λ b_j², α_i = (1−λ) e_i,
α_j = λ e_j, so that C = β I + α_i p pᵀ + α_j q qᵀ (β, α linear in λ). By the Woodbury identity
(a rank-2 update of β I),

    C⁻¹ v = (v − c_p p − c_q q)/β,   (c_p, c_q) = K⁻¹ ( α_i(β+α_j) p·v − c α_iα_j q·v,
                                                       α_j(β+α_i) q·v − c α_iα_j p·v ),
    K = det C / β = β² + β(α_i + α_j) + α_iα_j |p×q|²,   c = p·q,

and S = λ(1−λ) N/E with

    N(λ) = β² r² + β (α_i |r×p|² + α_j |r×q|²) + α_iα_j (r·(p×q))²      (quadratic in λ),
    E(λ) = β K = det C                                                     (cubic in λ),

every term of which is ≥ 0 for prolate bodies (no cancellation). N, E and their λ-derivatives are
evaluated directly from β, α_i, α_j in the Newton iteration; the starting point is the sphere-exact
λ0 = ρ_i/(ρ_i + ρ_j), ρ_k = (r̂ᵀA_k⁻¹r̂)^(−1/2). For a_k = b_k the gap is exactly the sphere gap
1 − r/(b_i + b_j) and the orientations drop out (e_k = 0).

Orientation coordinates and derivatives
---------------------------------------
A body of revolution has two rotational degrees of freedom: the direction of û on the unit sphere
(spins about û change nothing). Two sets of derivatives are provided.

* Gradient (the engine's hot path): ∂Δ/∂dr and the *tangent* gradients G_k = (I − û_kû_kᵀ) ∂Δ/∂û_k
  (3-vectors ⊥ û_k), by the envelope theorem (λ* fixed at first order):
  ∂Δ/∂dr = −p(λ) u/μ and G_i = p(λ)(1−λ) e_i (u·p)(u − (u·p)p)/μ (j: λ e_j, q), u = C⁻¹r,
  p(λ) = λ(1−λ). Moving û_k along a tangent direction t by an angle δ changes Δ by δ G_k·t.
* Hessian with respect to u = (dr (3), ε_i (2), ε_j (2)), the local exponential-map coordinates
  û(ε) = cos|ε| û + sin|ε| (ε₁e₁ + ε₂e₂)/|ε| about the current axis, with the orthonormal tangent
  basis (e₁, e₂) of :func:`tangent_basis` (a deterministic function of û, so that every pair of a
  particle uses the same basis). Since d²û/dε_k dε_l = −δ_kl û at ε = 0, the second derivative
  contains, besides the embedding Hessian projected on the tangent plane, the term
  −δ_kl û·∂Δ/∂û: this is the Riemannian Hessian on the sphere (the exp-map chart has no other
  second-order term), and it is what makes the Hessian equal the finite differences of the tangent
  forces. At a = b it vanishes with e_k. The general formulas are those of `_ellipse`:
  with Q = rᵀC⁻¹r and C_a = ∂C/∂a,
  ∂Q/∂r = 2u, ∂²Q/∂r² = 2C⁻¹, ∂Q/∂a = −uᵀC_a u, ∂²Q/∂r∂a = −2C⁻¹C_a u,
  ∂²Q/∂a∂b = 2(C_a u)ᵀ C⁻¹ (C_b u) − uᵀ C_ab u, and with M = μ² = S(λ*(q), q):
  d²M/dq² = S_qq − S_λq S_λqᵀ / S_λλ (implicit derivative of λ*), Δ = 1 − √M.
  Here ∂A_i/∂ε_k = e_i(e_k pᵀ + p e_kᵀ) and ∂²A_i/∂ε_k∂ε_l = e_i(e_k e_lᵀ + e_l e_kᵀ − 2δ_kl p pᵀ).

Engine fast path
----------------
`_engine._ellipsoid_energy_forces_3d` gathers the candidate pairs (bounding spheres overlap and no
separating axis along r̂, :func:`_separated`) and evaluates λ*, μ and u for all of them in one
branch-free loop that runs in SIMD lanes (:func:`pw_force_batch`: plain Newton steps from the
sphere-exact λ0 with the acceptance test of `_solve_lambda`, the rare rejected lanes redone by the
safeguarded solver, :func:`redo_rejected`), then assembles the gradients (:func:`gradient_from_u`).
It equals the generic pair loop to round-off (tests).

References
----------
[PW85]   J. W. Perram and M. S. Wertheim, J. Comput. Phys. 58, 409 (1985).
[PRPL96] J. W. Perram, J. Rasmussen, E. Præstgaard and J. L. Lebowitz, Phys. Rev. E 54, 6565 (1996).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

# the stopping rule and the safeguarded iteration are those of the 2D kernel
from ._ellipse import _LAMBDA_MAXIT, _LAMBDA_STEP_TOL, bracketed_newton


# --------------------------------------------------------------------------------------------
# pair invariants and the polynomial form of S
# --------------------------------------------------------------------------------------------
@njit(cache=True, inline="always")
def _cross2(ax, ay, az, bx, by, bz):
    """|a × b|²."""
    cx = ay * bz - az * by
    cy = az * bx - ax * bz
    cz = ax * by - ay * bx
    return cx * cx + cy * cy + cz * cz


@njit(cache=True)
def _invariants(rx, ry, rz, px, py, pz, qx, qy, qz):
    """(r², |r×p|², |r×q|², (r·(p×q))², p·q, |p×q|²) of a pair (p, q unit axes)."""
    r2 = rx * rx + ry * ry + rz * rz
    pi2 = _cross2(rx, ry, rz, px, py, pz)
    pj2 = _cross2(rx, ry, rz, qx, qy, qz)
    nx = py * qz - pz * qy
    ny = pz * qx - px * qz
    nz = px * qy - py * qx
    t = rx * nx + ry * ny + rz * nz
    return r2, pi2, pj2, t * t, px * qx + py * qy + pz * qz, nx * nx + ny * ny + nz * nz


@njit(cache=True, inline="always")
def _coeffs(lam, bi2, bj2, e_i, e_j):
    """β, α_i, α_j at λ."""
    return (1.0 - lam) * bi2 + lam * bj2, (1.0 - lam) * e_i, lam * e_j


@njit(cache=True, inline="always", error_model="numpy")
def _s_prime(lam, r2, pi2, pj2, t2, s2, bi2, bj2, e_i, e_j):
    """(F, F'E − 2FE', E) at λ for S = pN/E of two spheroids: S' = F/E², S'' = (F'E − 2FE')/E³,
    so a Newton step on S' is −FE/(F'E − 2FE') (`_solve_lambda`, `_newton_step`)."""
    db = bj2 - bi2          # β'
    dai = -e_i              # α_i'
    daj = e_j               # α_j'
    be, ai, aj = _coeffs(lam, bi2, bj2, e_i, e_j)
    w = ai * pi2 + aj * pj2
    w1 = dai * pi2 + daj * pj2
    nn = be * be * r2 + be * w + ai * aj * t2
    n1 = 2.0 * be * db * r2 + db * w + be * w1 + (dai * aj + ai * daj) * t2
    n2 = 2.0 * db * db * r2 + 2.0 * db * w1 + 2.0 * dai * daj * t2
    kk = be * be + be * (ai + aj) + ai * aj * s2
    k1 = 2.0 * be * db + db * (ai + aj) + be * (dai + daj) + (dai * aj + ai * daj) * s2
    k2 = 2.0 * db * db + 2.0 * db * (dai + daj) + 2.0 * dai * daj * s2
    ee = be * kk
    ee1 = db * kk + be * k1
    ee2 = 2.0 * db * k1 + be * k2
    p = lam * (1.0 - lam)
    p1 = 1.0 - 2.0 * lam
    f = (p1 * nn + p * n1) * ee - p * nn * ee1
    f1 = (-2.0 * nn + 2.0 * p1 * n1 + p * n2) * ee - p * nn * ee2
    return f, f1 * ee - 2.0 * f * ee1, ee


@njit(cache=True)
def _solve_lambda(r2, pi2, pj2, t2, s2, bi2, bj2, e_i, e_j, lam0):
    """Maximiser λ* ∈ (0, 1) of S = λ(1−λ)N/E by Newton on S'(λ) = 0, safeguarded by bisection.

    S' = F/E², F = (p'N + pN')E − pNE', p = λ(1−λ); S'' = (F'E − 2FE')/E³ with
    F' = (p''N + 2p'N' + pN'')E − pNE''; one Newton step is −FE/(F'E − 2FE'). Returns
    (λ*, number of S' evaluations).
    """
    lo = 0.0
    hi = 1.0
    lam = lam0
    for it in range(1, _LAMBDA_MAXIT + 1):
        f, den, ee = _s_prime(lam, r2, pi2, pj2, t2, s2, bi2, bj2, e_i, e_j)
        lam, lo, hi, done = bracketed_newton(lam, f, den, ee, lo, hi)
        if done:
            return lam, it
    return lam, _LAMBDA_MAXIT


@njit(cache=True)
def _initial_lambda(r2, pi2, pj2, a_i, b_i, a_j, b_j):
    """Sphere-exact guess λ0 = ρ_i/(ρ_i + ρ_j), ρ_k = (r̂ᵀA_k⁻¹r̂)^(−1/2).

    rᵀA⁻¹r = (r·û)²/a² + |r×û|²/b² = (r² − |r×û|²)/a² + |r×û|²/b²; the factor |r| cancels.
    """
    qi = max(r2 - pi2, 0.0) / (a_i * a_i) + pi2 / (b_i * b_i)
    qj = max(r2 - pj2, 0.0) / (a_j * a_j) + pj2 / (b_j * b_j)
    rho_i = 1.0 / math.sqrt(qi)
    rho_j = 1.0 / math.sqrt(qj)
    return rho_i / (rho_i + rho_j)


@njit(cache=True)
def _lambda_star(rx, ry, rz, px, py, pz, qx, qy, qz, a_i, b_i, a_j, b_j):
    """(λ*, n_evals) for r ≠ 0, unit axes p, q and semi-axes (a, b) of each body."""
    r2, pi2, pj2, t2, _, s2 = _invariants(rx, ry, rz, px, py, pz, qx, qy, qz)
    e_i = (a_i - b_i) * (a_i + b_i)
    e_j = (a_j - b_j) * (a_j + b_j)
    lam0 = _initial_lambda(r2, pi2, pj2, a_i, b_i, a_j, b_j)
    return _solve_lambda(r2, pi2, pj2, t2, s2, b_i * b_i, b_j * b_j, e_i, e_j, lam0)


@njit(cache=True, inline="always")
def _csolve(vx, vy, vz, px, py, pz, qx, qy, qz, be, ai, aj, c, kk):
    """C⁻¹ v by the Woodbury form of the module docstring."""
    xv = px * vx + py * vy + pz * vz
    yv = qx * vx + qy * vy + qz * vz
    cp = (ai * (be + aj) * xv - c * ai * aj * yv) / kk
    cq = (aj * (be + ai) * yv - c * ai * aj * xv) / kk
    return ((vx - cp * px - cq * qx) / be, (vy - cp * py - cq * qy) / be,
            (vz - cp * pz - cq * qz) / be)


# --------------------------------------------------------------------------------------------
# scalar kernels (engine interface through `_pairs`)
# --------------------------------------------------------------------------------------------
@njit(cache=True, inline="always")
def _separated(rx, ry, rz, px, py, pz, qx, qy, qz, a_i, b_i, a_j, b_j, r2):
    """True when the projections of the two bodies on r̂ do not overlap (a separating axis), which
    proves Δ ≤ 0: body k spans ±h_k(r̂) about its centre, h_k² = r̂ᵀA_k r̂ = b_k² + (a_k² − b_k²)(û_k·r̂)²
    (its support function), so h_i + h_j ≤ r means disjoint (at most touching) bodies. A cheap test
    that lets the force loop skip the Newton solve for most non-contacting neighbours."""
    xi = rx * px + ry * py + rz * pz
    xj = rx * qx + ry * qy + rz * qz
    hi = math.sqrt(b_i * b_i + (a_i - b_i) * (a_i + b_i) * xi * xi / r2)
    hj = math.sqrt(b_j * b_j + (a_j - b_j) * (a_j + b_j) * xj * xj / r2)
    s = hi + hj
    return s * s <= r2


@njit(cache=True, inline="always")
def _solved_pair(rx, ry, rz, px, py, pz, qx, qy, qz, a_i, b_i, a_j, b_j):
    """(λ*, u = C(λ*)⁻¹r, e_i, e_j) of a pair with r ≠ 0 (e_k = a_k² − b_k²): the one arithmetic
    shared by μ, the gradient and the batch fallback, so that they agree bit for bit."""
    r2, pi2, pj2, t2, c, s2 = _invariants(rx, ry, rz, px, py, pz, qx, qy, qz)
    e_i = (a_i - b_i) * (a_i + b_i)
    e_j = (a_j - b_j) * (a_j + b_j)
    bi2 = b_i * b_i
    bj2 = b_j * b_j
    lam0 = _initial_lambda(r2, pi2, pj2, a_i, b_i, a_j, b_j)
    lam, _ = _solve_lambda(r2, pi2, pj2, t2, s2, bi2, bj2, e_i, e_j, lam0)
    be, ai, aj = _coeffs(lam, bi2, bj2, e_i, e_j)
    kk = be * be + be * (ai + aj) + ai * aj * s2
    ux, uy, uz = _csolve(rx, ry, rz, px, py, pz, qx, qy, qz, be, ai, aj, c, kk)
    return lam, ux, uy, uz, e_i, e_j


@njit(cache=True)
def _mu_scalar(rx, ry, rz, px, py, pz, qx, qy, qz, a_i, b_i, a_j, b_j):
    """μ for r, unit axes p = û_i, q = û_j and semi-axes (a, b); 0 when r = 0."""
    if rx == 0.0 and ry == 0.0 and rz == 0.0:
        return 0.0
    lam, ux, uy, uz, _, _ = _solved_pair(rx, ry, rz, px, py, pz, qx, qy, qz, a_i, b_i, a_j, b_j)
    return math.sqrt(lam * (1.0 - lam) * (rx * ux + ry * uy + rz * uz))


@njit(cache=True)
def _gap_grad_scalar(rx, ry, rz, px, py, pz, qx, qy, qz, a_i, b_i, a_j, b_j, g):
    """Δ and, into g[:9], (∂Δ/∂dr, G_i, G_j) with G_k the tangent gradients (module docstring)."""
    if rx == 0.0 and ry == 0.0 and rz == 0.0:
        for k in range(9):
            g[k] = 0.0
        return 1.0
    lam, ux, uy, uz, e_i, e_j = _solved_pair(rx, ry, rz, px, py, pz, qx, qy, qz, a_i, b_i,
                                             a_j, b_j)
    p = lam * (1.0 - lam)
    mu = math.sqrt(p * (rx * ux + ry * uy + rz * uz))
    s = -p / mu
    g[0] = s * ux
    g[1] = s * uy
    g[2] = s * uz
    up = ux * px + uy * py + uz * pz
    ci = p * (1.0 - lam) * e_i * up / mu
    g[3] = ci * (ux - up * px)
    g[4] = ci * (uy - up * py)
    g[5] = ci * (uz - up * pz)
    uq = ux * qx + uy * qy + uz * qz
    cj = p * lam * e_j * uq / mu
    g[6] = cj * (ux - uq * qx)
    g[7] = cj * (uy - uq * qy)
    g[8] = cj * (uz - uq * qz)
    return 1.0 - mu


@njit(cache=True)
def _tangent_basis_scalar(ux, uy, uz):
    """Orthonormal (e₁, e₂) ⊥ û with e₁ × e₂ = û: e₁ ∝ û × x̂_k, x̂_k the lab axis along which |û|
    has its smallest component (first such axis on ties), e₂ = û × e₁."""
    ax = abs(ux)
    ay = abs(uy)
    az = abs(uz)
    if ax <= ay and ax <= az:      # û × x̂ = (0, uz, −uy)
        e1x, e1y, e1z = 0.0, uz, -uy
    elif ay <= az:                 # û × ŷ = (−uz, 0, ux)
        e1x, e1y, e1z = -uz, 0.0, ux
    else:                          # û × ẑ = (uy, −ux, 0)
        e1x, e1y, e1z = uy, -ux, 0.0
    n = math.sqrt(e1x * e1x + e1y * e1y + e1z * e1z)
    e1x /= n
    e1y /= n
    e1z /= n
    e2x = uy * e1z - uz * e1y
    e2y = uz * e1x - ux * e1z
    e2z = ux * e1y - uy * e1x
    return e1x, e1y, e1z, e2x, e2y, e2z


@njit(cache=True)
def _gap_hess_scalar(rx, ry, rz, px, py, pz, qx, qy, qz, a_i, b_i, a_j, b_j, g, H):
    """Δ, its gradient into g[:7] and Hessian into H[:7, :7] in the local coordinates
    (dr_x, dr_y, dr_z, ε_i1, ε_i2, ε_j1, ε_j2) of the module docstring (exp-map chart about the
    current axes, tangent bases of :func:`tangent_basis`)."""
    if rx == 0.0 and ry == 0.0 and rz == 0.0:
        for k in range(7):
            g[k] = 0.0
            for l in range(7):
                H[k, l] = 0.0
        return 1.0
    r2, pi2, pj2, t2, c, s2 = _invariants(rx, ry, rz, px, py, pz, qx, qy, qz)
    e_i = (a_i - b_i) * (a_i + b_i)
    e_j = (a_j - b_j) * (a_j + b_j)
    bi2 = b_i * b_i
    bj2 = b_j * b_j
    lam0 = _initial_lambda(r2, pi2, pj2, a_i, b_i, a_j, b_j)
    lam, _ = _solve_lambda(r2, pi2, pj2, t2, s2, bi2, bj2, e_i, e_j, lam0)
    lm = 1.0 - lam
    be, ai, aj = _coeffs(lam, bi2, bj2, e_i, e_j)
    kk = be * be + be * (ai + aj) + ai * aj * s2

    r = np.array((rx, ry, rz))
    pv = np.array((px, py, pz))
    qv = np.array((qx, qy, qz))
    basis = np.empty((4, 3))  # rows: e_i1, e_i2, e_j1, e_j2
    b0, b1, b2, b3, b4, b5 = _tangent_basis_scalar(px, py, pz)
    basis[0, 0], basis[0, 1], basis[0, 2] = b0, b1, b2
    basis[1, 0], basis[1, 1], basis[1, 2] = b3, b4, b5
    b0, b1, b2, b3, b4, b5 = _tangent_basis_scalar(qx, qy, qz)
    basis[2, 0], basis[2, 1], basis[2, 2] = b0, b1, b2
    basis[3, 0], basis[3, 1], basis[3, 2] = b3, b4, b5

    cinv = np.empty((3, 3))
    for a in range(3):
        v0 = 1.0 if a == 0 else 0.0
        v1 = 1.0 if a == 1 else 0.0
        v2 = 1.0 if a == 2 else 0.0
        cinv[0, a], cinv[1, a], cinv[2, a] = _csolve(v0, v1, v2, px, py, pz, qx, qy, qz, be, ai, aj, c, kk)
    u = cinv @ r
    up = u @ pv
    uq = u @ qv
    ub = basis @ u  # u·e for the four tangent vectors

    # C_a u for the four angles (a = 0, 1: ε_i; 2, 3: ε_j) and C_λ u = D u
    cu = np.empty((4, 3))
    for k in range(2):
        cu[k] = lm * e_i * (up * basis[k] + ub[k] * pv)
        cu[2 + k] = lam * e_j * (uq * basis[2 + k] + ub[2 + k] * qv)
    du = (bj2 - bi2) * u + e_j * uq * qv - e_i * up * pv
    w = cu @ cinv          # rows C⁻¹ C_a u (C⁻¹ symmetric)
    wl = cinv @ du

    q = r @ u
    q_a = -(cu @ u)
    q_l = -(u @ du)
    q_ll = 2.0 * (du @ wl)
    # uᵀ C_λa u: C_λ,εi = −∂A_i/∂ε, C_λ,εj = +∂A_j/∂ε; uᵀ ∂A/∂ε_k u = 2 e (u·û)(u·e_k)
    q_la = np.empty(4)
    for k in range(2):
        q_la[k] = 2.0 * (du @ w[k]) + 2.0 * e_i * up * ub[k]
        q_la[2 + k] = 2.0 * (du @ w[2 + k]) - 2.0 * e_j * uq * ub[2 + k]

    # Q_qq over (r, ε_i, ε_j), with uᵀ C_ab u = ±… (exp-map second derivative, docstring)
    qqq = np.zeros((7, 7))
    for a in range(3):
        for b in range(3):
            qqq[a, b] = 2.0 * cinv[a, b]
        for k in range(4):
            qqq[a, 3 + k] = -2.0 * w[k, a]
            qqq[3 + k, a] = qqq[a, 3 + k]
    for k in range(4):
        for l in range(4):
            v = 2.0 * (cu[k] @ w[l])
            if k < 2 and l < 2:
                v -= lm * e_i * (2.0 * ub[k] * ub[l] - (2.0 * up * up if k == l else 0.0))
            elif k >= 2 and l >= 2:
                v -= lam * e_j * (2.0 * ub[k] * ub[l] - (2.0 * uq * uq if k == l else 0.0))
            qqq[3 + k, 3 + l] = v
    qq = np.empty(7)
    qlq = np.empty(7)
    for a in range(3):
        qq[a] = 2.0 * u[a]
        qlq[a] = -2.0 * wl[a]
    for k in range(4):
        qq[3 + k] = q_a[k]
        qlq[3 + k] = q_la[k]

    p = lam * lm
    p1 = 1.0 - 2.0 * lam
    s_ll = -2.0 * q + 2.0 * p1 * q_l + p * q_ll
    inv_sll = 1.0 / s_ll
    m = p * q
    mu = math.sqrt(m)
    a1 = -0.5 / mu
    a2 = 0.25 / (mu * m)
    for k in range(7):
        gk = p * qq[k]
        slk = p1 * qq[k] + p * qlq[k]
        g[k] = a1 * gk
        for l in range(k, 7):
            gl = p * qq[l]
            sll = p1 * qq[l] + p * qlq[l]
            v = a1 * (p * 0.5 * (qqq[k, l] + qqq[l, k]) - slk * sll * inv_sll) + a2 * gk * gl
            H[k, l] = v
            H[l, k] = v
    return 1.0 - mu


# --------------------------------------------------------------------------------------------
# array-argument wrappers (tests, Python callers)
# --------------------------------------------------------------------------------------------
@njit(cache=True)
def ellipsoid_lambda(dr, rot_i, rot_j, shp_i, shp_j):
    """Perram–Wertheim maximiser λ* and the number of Newton evaluations used.

    dr (3,) = x_j − x_i; rot (3,) = unit axis û; shp (2,) = (a, b), a along û.
    Returns (λ*, n_evals); (nan, 0) if dr = 0.
    """
    if dr[0] == 0.0 and dr[1] == 0.0 and dr[2] == 0.0:
        return np.nan, 0
    return _lambda_star(dr[0], dr[1], dr[2], rot_i[0], rot_i[1], rot_i[2], rot_j[0], rot_j[1],
                        rot_j[2], shp_i[0], shp_i[1], shp_j[0], shp_j[1])


@njit(cache=True)
def ellipsoid_mu(dr, rot_i, rot_j, shp_i, shp_j):
    """Perram–Wertheim range μ = √(max_λ S(λ)) (μ < 1: overlap). Arguments as ellipsoid_lambda."""
    return _mu_scalar(dr[0], dr[1], dr[2], rot_i[0], rot_i[1], rot_i[2], rot_j[0], rot_j[1],
                      rot_j[2], shp_i[0], shp_i[1], shp_j[0], shp_j[1])


@njit(cache=True)
def ellipsoid_gap(dr, rot_i, rot_j, shp_i, shp_j):
    """Gap Δ = 1 − μ_ij (Δ > 0: overlap); coincident centres give Δ = 1."""
    return 1.0 - ellipsoid_mu(dr, rot_i, rot_j, shp_i, shp_j)


@njit(cache=True)
def ellipsoid_contact_distance(dr, rot_i, rot_j, shp_i, shp_j):
    """Centre distance σ_ij = r/μ at which the bodies touch along r̂."""
    return math.sqrt(dr[0] * dr[0] + dr[1] * dr[1] + dr[2] * dr[2]) / ellipsoid_mu(
        dr, rot_i, rot_j, shp_i, shp_j)


@njit(cache=True)
def ellipsoid_gap_grad(dr, rot_i, rot_j, shp_i, shp_j, g):
    """Δ and, into g[:9], (∂Δ/∂dr, G_i, G_j), G_k = (I − û_kû_kᵀ)∂Δ/∂û_k the tangent gradients."""
    return _gap_grad_scalar(dr[0], dr[1], dr[2], rot_i[0], rot_i[1], rot_i[2], rot_j[0], rot_j[1],
                            rot_j[2], shp_i[0], shp_i[1], shp_j[0], shp_j[1], g)


@njit(cache=True)
def ellipsoid_gap_hess(dr, rot_i, rot_j, shp_i, shp_j, g, H):
    """Δ, the gradient g[:7] and the Hessian H[:7, :7] in (dr, ε_i, ε_j) (exp-map coordinates in
    the tangent bases of :func:`tangent_basis`; module docstring)."""
    return _gap_hess_scalar(dr[0], dr[1], dr[2], rot_i[0], rot_i[1], rot_i[2], rot_j[0], rot_j[1],
                            rot_j[2], shp_i[0], shp_i[1], shp_j[0], shp_j[1], g, H)


@njit(cache=True)
def tangent_basis(u):
    """(2, 3) orthonormal tangent basis (e₁, e₂) of the unit vector u (rows), e₁ × e₂ = u."""
    out = np.empty((2, 3))
    b = _tangent_basis_scalar(u[0], u[1], u[2])
    for k in range(3):
        out[0, k] = b[k]
        out[1, k] = b[3 + k]
    return out


# --------------------------------------------------------------------------------------------
# batched force kernel (engine fast path `_engine._ellipsoid_energy_forces_3d`)
# --------------------------------------------------------------------------------------------
_BATCH_NEWTON_STEPS = 3  # plus the accepting step; `pw_force_batch` writes them out


@njit(cache=True, inline="always", error_model="numpy")
def _newton_step(lam, r2, pi2, pj2, t2, s2, bi2, bj2, e_i, e_j):
    """One unsafeguarded Newton step of `_solve_lambda` on S'(λ): returns (λ + step, step, den),
    den ∝ S''(λ) (< 0 where S is concave)."""
    f, den, ee = _s_prime(lam, r2, pi2, pj2, t2, s2, bi2, bj2, e_i, e_j)
    step = -f * ee / den
    return lam + step, step, den


@njit(cache=True, error_model="numpy")
def pw_force_batch(pd, K, out):
    """λ*, μ and u = C⁻¹r of `_gap_grad_scalar` for a batch of K candidate pairs, written without
    branches so that the loop runs in SIMD lanes; out[:, k] = (Δ, λ*, u_x, u_y, u_z, ok),
    out (6, ≥K). The gradient follows from these with :func:`gradient_from_u` (kept out of this
    loop: more output rows would exceed the vectorizer's budget of run-time alias checks).

    pd (13, ≥K): column k holds r = x_j − x_i (rows 0–2), û_i (3–5), û_j (6–8), a_i, b_i, a_j, b_j
    (9–12), copied contiguously. λ* is reached by _BATCH_NEWTON_STEPS plain Newton steps on S'
    from the sphere-exact λ0 and one more, the last step of `_solve_lambda` with its acceptance
    test: the lane is accepted (ok = 1) when that step is at most _LAMBDA_STEP_TOL, S'' < 0 there
    and λ lies in (0, 1) (so λ is the unique maximiser [PW85], to round-off as in
    `_solve_lambda`); otherwise ok = 0 and the caller redoes the pair with the safeguarded scalar
    solver (:func:`redo_rejected`). Pairs shown not to overlap get Δ = −1, ok = 1 whatever the
    test: S(λ) ≤ μ² for every λ in [0, 1], so S ≥ 1 at the λ reached proves μ ≥ 1 (a 1e-12
    margin keeps round-off out).
    """
    for k in range(K):
        rx = pd[0, k]
        ry = pd[1, k]
        rz = pd[2, k]
        px = pd[3, k]
        py = pd[4, k]
        pz = pd[5, k]
        qx = pd[6, k]
        qy = pd[7, k]
        qz = pd[8, k]
        a_i = pd[9, k]
        b_i = pd[10, k]
        a_j = pd[11, k]
        b_j = pd[12, k]
        r2 = rx * rx + ry * ry + rz * rz
        c1 = ry * pz - rz * py
        c2 = rz * px - rx * pz
        c3 = rx * py - ry * px
        pi2 = c1 * c1 + c2 * c2 + c3 * c3
        c1 = ry * qz - rz * qy
        c2 = rz * qx - rx * qz
        c3 = rx * qy - ry * qx
        pj2 = c1 * c1 + c2 * c2 + c3 * c3
        nx = py * qz - pz * qy
        ny = pz * qx - px * qz
        nz = px * qy - py * qx
        tt = rx * nx + ry * ny + rz * nz
        t2 = tt * tt
        s2 = nx * nx + ny * ny + nz * nz
        c = px * qx + py * qy + pz * qz
        bi2 = b_i * b_i
        bj2 = b_j * b_j
        e_i = (a_i - b_i) * (a_i + b_i)
        e_j = (a_j - b_j) * (a_j + b_j)
        qi = max(r2 - pi2, 0.0) / (a_i * a_i) + pi2 / bi2
        qj = max(r2 - pj2, 0.0) / (a_j * a_j) + pj2 / bj2
        rho_i = 1.0 / math.sqrt(qi)
        rho_j = 1.0 / math.sqrt(qj)
        lam = rho_i / (rho_i + rho_j)
        # _BATCH_NEWTON_STEPS + 1 Newton steps written out (an inner loop would stop the vectorizer)
        lam, step, den = _newton_step(lam, r2, pi2, pj2, t2, s2, bi2, bj2, e_i, e_j)
        lam, step, den = _newton_step(lam, r2, pi2, pj2, t2, s2, bi2, bj2, e_i, e_j)
        lam, step, den = _newton_step(lam, r2, pi2, pj2, t2, s2, bi2, bj2, e_i, e_j)
        lam, step, den = _newton_step(lam, r2, pi2, pj2, t2, s2, bi2, bj2, e_i, e_j)
        ok = (abs(step) <= _LAMBDA_STEP_TOL) & (den < 0.0) & (0.0 < lam) & (lam < 1.0)
        be = (1.0 - lam) * bi2 + lam * bj2
        ai = (1.0 - lam) * e_i
        aj = lam * e_j
        kk = be * be + be * (ai + aj) + ai * aj * s2
        xv = px * rx + py * ry + pz * rz
        yv = qx * rx + qy * ry + qz * rz
        cp = (ai * (be + aj) * xv - c * ai * aj * yv) / kk
        cq = (aj * (be + ai) * yv - c * ai * aj * xv) / kk
        ux = (rx - cp * px - cq * qx) / be
        uy = (ry - cp * py - cq * qy) / be
        uz = (rz - cp * pz - cq * qz) / be
        m = lam * (1.0 - lam) * (rx * ux + ry * uy + rz * uz)
        far = (m >= 1.0 + 1e-12) & (0.0 < lam) & (lam < 1.0)
        delta = 1.0 - math.sqrt(m)
        if far:
            delta = -1.0
        out[0, k] = delta
        out[1, k] = lam
        out[2, k] = ux
        out[3, k] = uy
        out[4, k] = uz
        out[5, k] = 1.0 if (ok | far) else 0.0


@njit(cache=True)
def redo_rejected(pd, K, out):
    """Recompute with the safeguarded scalar solver (`_solve_lambda`, then u and μ with the
    arithmetic of `_gap_grad_scalar`) every lane of `pw_force_batch` with ok = 0; returns how
    many there were. Coincident centres give Δ = 1 and u = 0 (zero force, as the scalar kernel)."""
    count = 0
    for k in range(K):
        if out[5, k] != 0.0:
            continue
        count += 1
        out[5, k] = 1.0
        rx, ry, rz = pd[0, k], pd[1, k], pd[2, k]
        if rx == 0.0 and ry == 0.0 and rz == 0.0:
            out[0, k] = 1.0
            out[1, k] = 0.5
            out[2, k] = 0.0
            out[3, k] = 0.0
            out[4, k] = 0.0
            continue
        px, py, pz, qx, qy, qz = pd[3, k], pd[4, k], pd[5, k], pd[6, k], pd[7, k], pd[8, k]
        a_i, b_i, a_j, b_j = pd[9, k], pd[10, k], pd[11, k], pd[12, k]
        lam, ux, uy, uz, _, _ = _solved_pair(rx, ry, rz, px, py, pz, qx, qy, qz, a_i, b_i,
                                             a_j, b_j)
        out[0, k] = 1.0 - math.sqrt(lam * (1.0 - lam) * (rx * ux + ry * uy + rz * uz))
        out[1, k] = lam
        out[2, k] = ux
        out[3, k] = uy
        out[4, k] = uz
    return count


@njit(cache=True, inline="always")
def gradient_from_u(lam, mu, ux, uy, uz, px, py, pz, qx, qy, qz, e_i, e_j):
    """(∂Δ/∂dr, G_i, G_j) as 9 scalars from λ*, μ and u = C⁻¹r (formulas of `_gap_grad_scalar`)."""
    p = lam * (1.0 - lam)
    s = -p / mu
    up = ux * px + uy * py + uz * pz
    ci = p * (1.0 - lam) * e_i * up / mu
    uq = ux * qx + uy * qy + uz * qz
    cj = p * lam * e_j * uq / mu
    return (s * ux, s * uy, s * uz,
            ci * (ux - up * px), ci * (uy - up * py), ci * (uz - up * pz),
            cj * (ux - uq * qx), cj * (uy - uq * qy), cj * (uz - uq * qz))
