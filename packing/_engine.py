"""Energy, forces and FIRE over generalized coordinates (private, numba).

State: positions x (N, d) (unwrapped), orientation coordinates rot (N, n_rot) (empty for discs),
per-particle kernel shape parameters shp (N, n_s), bounding radii bound (N,), and for each particle
a rotational length ℓ_i that makes angles commensurate with lengths: FIRE integrates the scaled
coordinate s = ℓ θ, whose generalized force is the torque divided by ℓ (ℓ = radius of gyration, so
that ½|v|² + ½|ṡ|² is the kinetic energy of a unit-mass rigid body). Ellipsoids of revolution
store their unit axes û in rot (N, 3); their generalized rotational force and velocity are tangent
3-vectors ⊥ û (torque/ℓ rotated about û, ℓ dû/dt), and FIRE moves û along great circles
(`_drift_axes`); norms and powers of tangent 3-vectors equal those in any orthonormal tangent basis.

Pair energy V(Δ) = Δ^α/α for Δ > 0 (α = 2 harmonic, 5/2 Hertz), Δ from `_pairs`.
The FIRE loop works on flat views of the coordinate arrays and fuses the vector operations of a
step into two passes, so that the pair loop dominates the cost of a step.
"""
from __future__ import annotations

import math

import numba as nb
import numpy as np

from . import _ellipsoid
from ._ellipse import _frames, _pw_force, _pw_force_batch
from ._neighbors import build_neighbors
from ._pairs import KIND_ELLIPSE, KIND_ELLIPSOID, KIND_SPHERE, pair_gap_grad, pair_separated
from ._potential import V, dV


@nb.njit(cache=True)
def energy_forces(kind, x, rot, shp, bound, rot_len, alpha, start, idx, shift, F, Frot):
    """Total energy U = Σ_pairs V(Δ); F ← −∂U/∂x (N, d), Frot ← −∂U/∂s (N, n_rot), s = ℓθ,
    over the neighbour list (start, idx, shift) of `_neighbors.build_neighbors`.

    Returns (U, W) with W = Σ_pairs V'(Δ) dr·∂Δ/∂dr, so that the virial pressure is
    p = −W/(d·volume). Round particles take a scalar fast path (the generic loop's small
    per-pair arrays defeat register allocation); 2D ellipses take `_ellipse_energy_forces_2d`
    (the pair kernel in SIMD lanes); tests check both against the generic loop.
    """
    if kind == KIND_SPHERE and x.shape[1] == 2:
        return _sphere_energy_forces_2d(x, bound, alpha, start, idx, shift, F)
    if kind == KIND_SPHERE and x.shape[1] == 3:
        return _sphere_energy_forces_3d(x, bound, alpha, start, idx, shift, F)
    if kind == KIND_ELLIPSE and x.shape[1] == 2:
        return _ellipse_energy_forces_2d(x, rot, shp, bound, rot_len, alpha, start, idx, shift, F, Frot)
    if kind == KIND_ELLIPSOID:
        return _ellipsoid_energy_forces_3d(x, rot, shp, bound, rot_len, alpha, start, idx, shift, F, Frot)
    return energy_forces_generic(kind, x, rot, shp, bound, rot_len, alpha, start, idx, shift, F, Frot)


@nb.njit(cache=True, error_model="numpy")
def _ellipse_energy_forces_2d(x, rot, shp, bound, rot_len, alpha, start, idx, shift, F, Frot):
    """energy_forces for 2D ellipses (exact Perram–Wertheim gap) in passes that vectorize.

    1. the frame (m, hc, hs, det) of every A_k, once per call (`_ellipse._frames`: one cos/sin per
       particle instead of two per pair, in SIMD lanes);
    2. the pairs closer than b_i + b_j (candidates), with r and both frames copied into
       contiguous columns;
    3. Δ and ∂Δ for all candidates in a branch-free loop that runs in SIMD lanes
       (`_ellipse._pw_force_batch`, same acceptance test as the scalar λ* solver); candidates not
       accepted are rerun from the λ they reached, and those still not accepted are done one by
       one with the safeguarded scalar `_ellipse._pw_force`;
    4. the scatter of forces and torques.
    tests/test_ellipse_fastpath.py checks that this equals energy_forces_generic to round-off.
    """
    n = x.shape[0]
    F[:] = 0.0
    Frot[:] = 0.0
    fr = np.empty((4, n))
    _frames(rot, shp, fr)
    m_max = idx.shape[0]
    cstart = np.empty(n + 1, np.int64)
    cj = np.empty(m_max, np.int64)
    pd = np.empty((10, m_max))
    K = 0
    for i in range(n):
        cstart[i] = K
        bi = bound[i]
        xi = x[i, 0]
        yi = x[i, 1]
        f0 = fr[0, i]
        f1 = fr[1, i]
        f2 = fr[2, i]
        f3 = fr[3, i]
        for p in range(start[i], start[i + 1]):
            j = idx[p]
            dx = x[j, 0] - xi + shift[p, 0]
            dy = x[j, 1] - yi + shift[p, 1]
            rc = bi + bound[j]
            if dx * dx + dy * dy >= rc * rc:
                continue
            cj[K] = j
            pd[0, K] = dx
            pd[1, K] = dy
            pd[2, K] = f0
            pd[3, K] = f1
            pd[4, K] = f2
            pd[5, K] = f3
            pd[6, K] = fr[0, j]
            pd[7, K] = fr[1, j]
            pd[8, K] = fr[2, j]
            pd[9, K] = fr[3, j]
            K += 1
    cstart[n] = K
    out = np.empty((6, K))
    lam = np.full(K, -1.0)
    _pw_force_batch(pd, lam, K, out)
    nf = 0
    for k in range(K):
        if out[5, k] == 0.0:
            nf += 1
    if nf > 0:
        _redo_rejected_lanes(pd, lam, out, nf)
    inv_len = 1.0 / rot_len  # torque → generalized force −∂U/∂s = torque/ℓ, s = ℓθ
    U = 0.0
    W = 0.0
    for i in range(n):
        fx = 0.0
        fy = 0.0
        ti = 0.0
        for k in range(cstart[i], cstart[i + 1]):
            delta = out[0, k]
            if delta <= 0.0:
                continue
            j = cj[k]
            U += V(delta, alpha)
            f = dV(delta, alpha)
            tx = f * out[1, k]
            ty = f * out[2, k]
            fx += tx
            fy += ty
            F[j, 0] -= tx
            F[j, 1] -= ty
            W += tx * pd[0, k] + ty * pd[1, k]
            ti += f * out[3, k]
            Frot[j, 0] -= f * out[4, k] * inv_len[j]
        F[i, 0] += fx
        F[i, 1] += fy
        Frot[i, 0] -= ti * inv_len[i]
    return U, W


@nb.njit(cache=True, error_model="numpy")
def _redo_rejected_lanes(pd, lam, out, nf):
    """The nf candidates k with out[5, k] = 0 (not accepted by `_pw_force_batch`): rerun in SIMD
    lanes from the λ they reached, then, where still not accepted, with the scalar safeguarded
    `_pw_force`. Overwrites out[:5, k] with accepted values."""
    sel = np.empty(nf, np.int64)
    q = 0
    for k in range(out.shape[1]):
        if out[5, k] == 0.0:
            sel[q] = k
            q += 1
    pd2 = np.empty((10, nf))
    lam2 = np.empty(nf)
    for q in range(nf):
        for a in range(10):
            pd2[a, q] = pd[a, sel[q]]
        lam2[q] = lam[sel[q]]
    out2 = np.empty((6, nf))
    _pw_force_batch(pd2, lam2, nf, out2)
    for q in range(nf):
        k = sel[q]
        if out2[5, q] != 0.0:
            for a in range(5):
                out[a, k] = out2[a, q]
        else:
            d, g0, g1, g2, g3 = _pw_force(pd[0, k], pd[1, k], pd[2, k], pd[3, k], pd[4, k],
                                          pd[5, k], pd[6, k], pd[7, k], pd[8, k], pd[9, k])
            out[0, k] = d
            out[1, k] = g0
            out[2, k] = g1
            out[3, k] = g2
            out[4, k] = g3


@nb.njit(cache=True)
def _sphere_energy_forces_2d(x, bound, alpha, start, idx, shift, F):
    """energy_forces for discs (σ_ij = b_i + b_j, Δ = 1 − r/σ) written with scalars."""
    F[:] = 0.0
    U = 0.0
    W = 0.0
    for i in range(x.shape[0]):
        bi = bound[i]
        xi = x[i, 0]
        yi = x[i, 1]
        fx = 0.0
        fy = 0.0
        for p in range(start[i], start[i + 1]):
            j = idx[p]
            dx = x[j, 0] - xi + shift[p, 0]
            dy = x[j, 1] - yi + shift[p, 1]
            r2 = dx * dx + dy * dy
            sigma = bi + bound[j]
            if r2 >= sigma * sigma:
                continue
            r = math.sqrt(r2)
            delta = 1.0 - r / sigma
            U += V(delta, alpha)
            c = -dV(delta, alpha) / (r * sigma)  # V'(Δ) ∂Δ/∂dr = c dr
            tx = c * dx
            ty = c * dy
            fx += tx
            fy += ty
            F[j, 0] -= tx
            F[j, 1] -= ty
            W += tx * dx + ty * dy
        F[i, 0] += fx
        F[i, 1] += fy
    return U, W


@nb.njit(cache=True)
def _sphere_energy_forces_3d(x, bound, alpha, start, idx, shift, F):
    """energy_forces for spheres (σ_ij = b_i + b_j, Δ = 1 − r/σ) written with scalars."""
    F[:] = 0.0
    U = 0.0
    W = 0.0
    for i in range(x.shape[0]):
        bi = bound[i]
        xi = x[i, 0]
        yi = x[i, 1]
        zi = x[i, 2]
        fx = 0.0
        fy = 0.0
        fz = 0.0
        for p in range(start[i], start[i + 1]):
            j = idx[p]
            dx = x[j, 0] - xi + shift[p, 0]
            dy = x[j, 1] - yi + shift[p, 1]
            dz = x[j, 2] - zi + shift[p, 2]
            r2 = dx * dx + dy * dy + dz * dz
            sigma = bi + bound[j]
            if r2 >= sigma * sigma:
                continue
            r = math.sqrt(r2)
            delta = 1.0 - r / sigma
            U += V(delta, alpha)
            c = -dV(delta, alpha) / (r * sigma)
            tx = c * dx
            ty = c * dy
            tz = c * dz
            fx += tx
            fy += ty
            fz += tz
            F[j, 0] -= tx
            F[j, 1] -= ty
            F[j, 2] -= tz
            W += tx * dx + ty * dy + tz * dz
        F[i, 0] += fx
        F[i, 1] += fy
        F[i, 2] += fz
    return U, W


@nb.njit(cache=True)
def energy_forces_generic(kind, x, rot, shp, bound, rot_len, alpha, start, idx, shift, F, Frot):
    """energy_forces through the shape's pair-gap kernel (any kind, any d, rotations)."""
    n, d = x.shape
    nr = rot.shape[1]
    F[:] = 0.0
    Frot[:] = 0.0
    dr = np.empty(d)
    fi = np.empty(d)
    g = np.empty(d + 2 * nr)
    U = 0.0
    W = 0.0
    for i in range(n):
        bi = bound[i]
        fi[:] = 0.0
        for p in range(start[i], start[i + 1]):
            j = idx[p]
            r2 = 0.0
            for a in range(d):
                t = x[j, a] - x[i, a] + shift[p, a]
                dr[a] = t
                r2 += t * t
            rc = bi + bound[j]
            if r2 >= rc * rc or pair_separated(kind, dr, rot, shp, i, j, r2):
                continue
            delta = pair_gap_grad(kind, dr, rot, shp, i, j, g)
            if delta <= 0.0:
                continue
            U += V(delta, alpha)
            f = dV(delta, alpha)
            for a in range(d):
                t = f * g[a]
                fi[a] += t
                F[j, a] -= t
                W += t * dr[a]
            for a in range(nr):
                Frot[i, a] -= f * g[d + a] / rot_len[i]
                Frot[j, a] -= f * g[d + nr + a] / rot_len[j]
        for a in range(d):
            F[i, a] += fi[a]
    return U, W


@nb.njit(cache=True)
def _ellipsoid_energy_forces_3d(x, rot, shp, bound, rot_len, alpha, start, idx, shift, F, Frot):
    """energy_forces for 3D ellipsoids of revolution, with the pair kernel in SIMD lanes.

    1. the candidates: pairs closer than b_i + b_j and not proven apart by the separating-axis
       test along r̂ (`_ellipsoid._separated`), with r, both axes and both (a, b) copied into
       contiguous columns;
    2. Δ and ∂Δ for all candidates in a branch-free loop (`_ellipsoid.pw_force_batch`); the
       lanes it does not accept are redone with the safeguarded scalar kernel
       (`_ellipsoid.redo_rejected`);
    3. the scatter of forces and tangent generalized forces (G/ℓ), as energy_forces_generic.
    tests/test_ellipsoid_packing.py checks that this equals energy_forces_generic to round-off.
    """
    n = x.shape[0]
    F[:] = 0.0
    Frot[:] = 0.0
    m_max = idx.shape[0]
    cstart = np.empty(n + 1, np.int64)
    cj = np.empty(m_max, np.int64)
    pd = np.empty((13, m_max))
    K = 0
    for i in range(n):
        cstart[i] = K
        bi = bound[i]
        xi = x[i, 0]
        yi = x[i, 1]
        zi = x[i, 2]
        pix = rot[i, 0]
        piy = rot[i, 1]
        piz = rot[i, 2]
        a_i = shp[i, 0]
        b_i = shp[i, 1]
        for p in range(start[i], start[i + 1]):
            j = idx[p]
            dx = x[j, 0] - xi + shift[p, 0]
            dy = x[j, 1] - yi + shift[p, 1]
            dz = x[j, 2] - zi + shift[p, 2]
            r2 = dx * dx + dy * dy + dz * dz
            rc = bi + bound[j]
            if r2 >= rc * rc:
                continue
            if _ellipsoid._separated(dx, dy, dz, pix, piy, piz, rot[j, 0], rot[j, 1], rot[j, 2],
                                     a_i, b_i, shp[j, 0], shp[j, 1], r2):
                continue
            cj[K] = j
            pd[0, K] = dx
            pd[1, K] = dy
            pd[2, K] = dz
            pd[3, K] = pix
            pd[4, K] = piy
            pd[5, K] = piz
            pd[6, K] = rot[j, 0]
            pd[7, K] = rot[j, 1]
            pd[8, K] = rot[j, 2]
            pd[9, K] = a_i
            pd[10, K] = b_i
            pd[11, K] = shp[j, 0]
            pd[12, K] = shp[j, 1]
            K += 1
    cstart[n] = K
    out = np.empty((6, K))
    _ellipsoid.pw_force_batch(pd, K, out)
    _ellipsoid.redo_rejected(pd, K, out)
    U = 0.0
    W = 0.0
    for i in range(n):
        fx = 0.0
        fy = 0.0
        fz = 0.0
        inv_i = 1.0 / rot_len[i]
        e_i = (shp[i, 0] - shp[i, 1]) * (shp[i, 0] + shp[i, 1])
        for k in range(cstart[i], cstart[i + 1]):
            delta = out[0, k]
            if delta <= 0.0:
                continue
            j = cj[k]
            U += V(delta, alpha)
            f = dV(delta, alpha)
            e_j = (shp[j, 0] - shp[j, 1]) * (shp[j, 0] + shp[j, 1])
            g0, g1, g2, g3, g4, g5, g6, g7, g8 = _ellipsoid.gradient_from_u(
                out[1, k], 1.0 - delta, out[2, k], out[3, k], out[4, k], pd[3, k], pd[4, k],
                pd[5, k], pd[6, k], pd[7, k], pd[8, k], e_i, e_j)
            tx = f * g0
            ty = f * g1
            tz = f * g2
            fx += tx
            fy += ty
            fz += tz
            F[j, 0] -= tx
            F[j, 1] -= ty
            F[j, 2] -= tz
            W += tx * pd[0, k] + ty * pd[1, k] + tz * pd[2, k]
            c = f * inv_i
            Frot[i, 0] -= c * g3
            Frot[i, 1] -= c * g4
            Frot[i, 2] -= c * g5
            c = f / rot_len[j]
            Frot[j, 0] -= c * g6
            Frot[j, 1] -= c * g7
            Frot[j, 2] -= c * g8
        F[i, 0] += fx
        F[i, 1] += fy
        F[i, 2] += fz
    return U, W


@nb.njit(cache=True)
def _drift(x, v, F, dt, kick, x_ref):
    """x ← x + dt·(v + kick·F) with v ← v + kick·F first (kick = dt/2: velocity Verlet,
    kick = 0: plain drift). Works on (N, d) arrays; returns max_i |x_i − x_ref_i|²."""
    n, d = x.shape
    m = 0.0
    for i in range(n):
        s = 0.0
        for a in range(d):
            v[i, a] += kick * F[i, a]
            x[i, a] += dt * v[i, a]
            t = x[i, a] - x_ref[i, a]
            s += t * t
        m = max(m, s)
    return m


@nb.njit(cache=True)
def _drift_rot(rot, vrot, Frot, dt, kick, rot_len):
    """Same as _drift for the rotational coordinates: θ ← θ + dt·ṡ/ℓ."""
    for i in range(rot.shape[0]):
        for a in range(rot.shape[1]):
            vrot[i, a] += kick * Frot[i, a]
            rot[i, a] += dt * vrot[i, a] / rot_len[i]


@nb.njit(cache=True)
def _drift_axes(rot, vrot, Frot, dt, kick, rot_len):
    """_drift for the unit axes û (N, 3) of ellipsoids, moved on the unit sphere.

    vrot holds ṡ = ℓ dû/dt, a tangent vector ⊥ û, and Frot the tangent generalized force. After
    v ← v + kick·F, û moves along the great circle of its velocity by the angle φ = dt|v|/ℓ
    (exact exponential map: û ← cos φ û + sin φ v̂) and v is parallel-transported along it
    (v ← |v|(cos φ v̂ − sin φ û)), so that û stays a unit vector and v stays tangent; both are
    re-normalised/re-projected against round-off.
    """
    for i in range(rot.shape[0]):
        vx = vrot[i, 0] + kick * Frot[i, 0]
        vy = vrot[i, 1] + kick * Frot[i, 1]
        vz = vrot[i, 2] + kick * Frot[i, 2]
        ux = rot[i, 0]
        uy = rot[i, 1]
        uz = rot[i, 2]
        speed = math.sqrt(vx * vx + vy * vy + vz * vz)
        if speed > 0.0:
            phi = dt * speed / rot_len[i]
            c = math.cos(phi)
            s = math.sin(phi)
            tx = vx / speed
            ty = vy / speed
            tz = vz / speed
            nx = c * ux + s * tx
            ny = c * uy + s * ty
            nz = c * uz + s * tz
            vx = speed * (c * tx - s * ux)
            vy = speed * (c * ty - s * uy)
            vz = speed * (c * tz - s * uz)
            inv = 1.0 / math.sqrt(nx * nx + ny * ny + nz * nz)
            ux = nx * inv
            uy = ny * inv
            uz = nz * inv
            vu = vx * ux + vy * uy + vz * uz
            vx -= vu * ux
            vy -= vu * uy
            vz -= vu * uz
        rot[i, 0] = ux
        rot[i, 1] = uy
        rot[i, 2] = uz
        vrot[i, 0] = vx
        vrot[i, 1] = vy
        vrot[i, 2] = vz


@nb.njit(cache=True)
def _drift_rotations(kind, rot, vrot, Frot, dt, kick, rot_len):
    """The rotational drift of the particle kind: on the sphere for ellipsoid axes, else linear."""
    if kind == KIND_ELLIPSOID:
        _drift_axes(rot, vrot, Frot, dt, kick, rot_len)
    else:
        _drift_rot(rot, vrot, Frot, dt, kick, rot_len)


@nb.njit(cache=True)
def _kick_and_norms(v1, F1, kick):
    """v ← v + kick·F on flat arrays; returns (F·v, |v|², |F|², max|F_k|) after the kick."""
    P = 0.0
    vv = 0.0
    ff = 0.0
    fmax = 0.0
    for k in range(v1.size):
        f = F1[k]
        vk = v1[k] + kick * f
        v1[k] = vk
        P += f * vk
        vv += vk * vk
        ff += f * f
        fmax = max(fmax, abs(f))
    return P, vv, ff, fmax


@nb.njit(cache=True)
def _mix(v1, F1, a_mix, c):
    """v ← (1 − α) v + c F, c = α|v|/|F| (FIRE's velocity mixing) on a flat array."""
    for k in range(v1.size):
        v1[k] = (1.0 - a_mix) * v1[k] + c * F1[k]


@nb.njit(cache=True)
def fire(kind, x, rot, shp, bound, rot_len, box, alpha, ftol, max_steps, dt0, dt_max_factor,
         skin, fire2, u_floor):
    """Minimise U in place over x and rot with FIRE (Bitzek et al., PRL 97, 170201, 2006) or
    FIRE 2.0 (Guénolé et al., Comput. Mater. Sci. 175, 109584, 2020).

    Stops when max |generalized force component| < ftol, after max_steps force evaluations, or
    once the mechanical energy U + K falls below ``u_floor`` (FIRE does not raise U + K beyond
    Verlet's O(dt²) error, so the minimum it reaches lies below that floor; u_floor < 0 disables).
    Returns (U, W, fmax, steps, n_rebuilds, converged, below_floor).
    FIRE 1: velocity Verlet; N_min 5, f_inc 1.1, f_dec 0.5, α_start 0.1, f_α 0.99; on P ≤ 0
    v ← 0, dt ← dt·f_dec, α ← α_start.
    FIRE 2.0: semi-implicit Euler with mixing after the kick, half-step back on P ≤ 0,
    N_delay 20, α_start 0.25, f_α 0.99, f_inc 1.1, f_dec 0.5, dt_min 0.02 dt0, initial delay.
    """
    n, d = x.shape
    nr = rot.shape[1]
    F = np.zeros((n, d))
    Frot = np.zeros((n, nr))
    v = np.zeros((n, d))
    vrot = np.zeros((n, nr))
    F1 = F.reshape(n * d)
    v1 = v.reshape(n * d)
    Fr1 = Frot.reshape(n * nr)
    vr1 = vrot.reshape(n * nr)
    start, idx, shift = build_neighbors(x, bound, box, skin)
    x_ref = x.copy()
    half_skin2 = 0.25 * skin * skin
    n_rebuilds = 1
    U, W = energy_forces(kind, x, rot, shp, bound, rot_len, alpha, start, idx, shift, F, Frot)
    P, vv, ff, fmax = _kick_and_norms(v1, F1, 0.0)
    Pr, vvr, ffr, fmaxr = _kick_and_norms(vr1, Fr1, 0.0)
    fmax = max(fmax, fmaxr)

    dt = dt0
    dt_max = dt_max_factor * dt0
    dt_min = 0.02 * dt0
    if fire2:
        n_delay, f_inc, f_dec, a_start, f_a = 20, 1.1, 0.5, 0.25, 0.99
    else:
        n_delay, f_inc, f_dec, a_start, f_a = 5, 1.1, 0.5, 0.1, 0.99
    a_mix = a_start
    n_pos = 0
    steps = 0
    P = 0.0
    below_floor = False
    while fmax >= ftol and steps < max_steps:
        if fire2:
            if P > 0.0:
                n_pos += 1
                if n_pos > n_delay:
                    dt = min(dt * f_inc, dt_max)
                    a_mix *= f_a
            else:
                n_pos = 0
                if steps >= n_delay:
                    if dt * f_dec >= dt_min:
                        dt *= f_dec
                    a_mix = a_start
                _drift(x, v, F, -0.5 * dt, 0.0, x_ref)
                _drift_rotations(kind, rot, vrot, Frot, -0.5 * dt, 0.0, rot_len)
                v1[:] = 0.0
                vr1[:] = 0.0
            # semi-implicit Euler: kick, mix, drift
            _, vv, ff, _ = _kick_and_norms(v1, F1, dt)
            _, vvr, ffr, _ = _kick_and_norms(vr1, Fr1, dt)
            if ff + ffr > 0.0:
                c = a_mix * math.sqrt((vv + vvr) / (ff + ffr))
                _mix(v1, F1, a_mix, c)
                _mix(vr1, Fr1, a_mix, c)
            disp2 = _drift(x, v, F, dt, 0.0, x_ref)
            _drift_rotations(kind, rot, vrot, Frot, dt, 0.0, rot_len)
        else:
            disp2 = _drift(x, v, F, dt, 0.5 * dt, x_ref)
            _drift_rotations(kind, rot, vrot, Frot, dt, 0.5 * dt, rot_len)
        if disp2 > half_skin2:
            start, idx, shift = build_neighbors(x, bound, box, skin)
            x_ref[:] = x
            n_rebuilds += 1
        U, W = energy_forces(kind, x, rot, shp, bound, rot_len, alpha, start, idx, shift, F, Frot)
        steps += 1
        if fire2:
            # power of the new forces with the velocities that brought the system here
            P, _, _, fmax = _kick_and_norms(v1, F1, 0.0)
            Pr, _, _, fmaxr = _kick_and_norms(vr1, Fr1, 0.0)
            P += Pr
            fmax = max(fmax, fmaxr)
            if U + 0.5 * (vv + vvr) < u_floor:
                below_floor = True
                break
            continue
        P, vv, ff, fmax = _kick_and_norms(v1, F1, 0.5 * dt)
        Pr, vvr, ffr, fmaxr = _kick_and_norms(vr1, Fr1, 0.5 * dt)
        P += Pr
        fmax = max(fmax, fmaxr)
        if U + 0.5 * (vv + vvr) < u_floor:
            below_floor = True
            break
        if ff + ffr > 0.0:
            c = a_mix * math.sqrt((vv + vvr) / (ff + ffr))
            _mix(v1, F1, a_mix, c)
            _mix(vr1, Fr1, a_mix, c)
        if P > 0.0:
            n_pos += 1
            if n_pos > n_delay:
                dt = min(dt * f_inc, dt_max)
                a_mix *= f_a
        else:
            n_pos = 0
            dt *= f_dec
            a_mix = a_start
            v1[:] = 0.0
            vr1[:] = 0.0
    return U, W, fmax, steps, n_rebuilds, fmax < ftol, below_floor


@nb.njit(cache=True)
def pair_table(kind, x, rot, shp, bound, box, skin):
    """All neighbour-list pairs with their gaps: returns (pairs (M, 2), i < j, gaps (M,)).

    Candidates are pairs within b_i + b_j + skin; Δ is evaluated exactly for each.
    """
    n, d = x.shape
    nr = rot.shape[1]
    start, idx, shift = build_neighbors(x, bound, box, skin)
    m = idx.shape[0]
    pairs = np.empty((m, 2), np.int64)
    gaps = np.empty(m)
    dr = np.empty(d)
    g = np.empty(d + 2 * nr)
    for i in range(n):
        for p in range(start[i], start[i + 1]):
            j = idx[p]
            for a in range(d):
                dr[a] = x[j, a] - x[i, a] + shift[p, a]
            pairs[p, 0] = min(i, j)
            pairs[p, 1] = max(i, j)
            gaps[p] = pair_gap_grad(kind, dr, rot, shp, i, j, g)
    return pairs, gaps
