"""The 2D-ellipse force fast path (`_engine._ellipse_energy_forces_2d` with the SIMD pair kernel
`_ellipse._pw_force_batch` and its scalar fallback `_ellipse._pw_force`) against the generic
engine loop over the validated Perram–Wertheim kernel `_ellipse._gap_grad_scalar`."""
from __future__ import annotations

import numpy as np
import pytest

from packing import _engine, _pairs
from packing._ellipse import _frame, _gap_grad_scalar, _pw_force, _pw_force_batch
from packing._neighbors import build_neighbors
from packing.minimize import minimize
from packing.system import random_packing

RTOL = 1e-13


def _random_ellipses(n, phi, seed, aspect_range=(1.05, 3.0)):
    """Kernel arrays of N bidisperse (size ratio 1.4) ellipses, each with its own aspect ratio
    drawn uniformly from aspect_range, at random positions and angles, packing fraction phi."""
    rng = np.random.default_rng(seed)
    aspect = rng.uniform(*aspect_range, n)
    size = np.where(np.arange(n) % 2 == 0, 1.0, 1.4)
    a = 0.5 * size * np.sqrt(aspect)
    b = a / aspect
    shp = np.column_stack([a, b])
    side = np.sqrt(np.pi * np.sum(a * b) / phi)
    box = np.full(2, side)
    x = rng.uniform(0, side, (n, 2)) + rng.integers(-2, 3, (n, 2)) * side  # unwrapped
    rot = rng.uniform(-40.0, 40.0, (n, 1))
    rot_len = np.sqrt(0.25 * (a * a + b * b))
    return x, rot, shp, a.copy(), rot_len, box


def _both_paths(x, rot, shp, bound, rot_len, box, alpha):
    nbr = build_neighbors(x, bound, box, 0.3 * 2 * bound.min())
    out = []
    for fn in (_engine.energy_forces, _engine.energy_forces_generic):
        F, Fr = np.zeros_like(x), np.zeros_like(rot)
        U, W = fn(_pairs.KIND_ELLIPSE, x, rot, shp, bound, rot_len, alpha, *nbr, F, Fr)
        out.append((U, W, F, Fr))
    return out


def _assert_same(fast, ref, scale=None):
    """U and W to RTOL; forces and torques to RTOL × scale (default: their largest magnitude)."""
    (U1, W1, F1, T1), (U2, W2, F2, T2) = fast, ref
    assert U2 > 0
    assert U1 == pytest.approx(U2, rel=RTOL) and W1 == pytest.approx(W2, rel=RTOL)
    np.testing.assert_allclose(F1, F2, rtol=0, atol=RTOL * (scale or np.abs(F2).max()))
    np.testing.assert_allclose(T1, T2, rtol=0, atol=RTOL * (scale or np.abs(T2).max()))


@pytest.mark.parametrize("seed,phi", [(0, 0.85), (1, 0.95), (2, 1.1)])
@pytest.mark.parametrize("alpha", [2.0, 2.5])
def test_fast_path_equals_generic_on_random_overlapping_ellipses(seed, phi, alpha):
    x, rot, shp, bound, rot_len, box = _random_ellipses(400, phi, seed)
    _assert_same(*_both_paths(x, rot, shp, bound, rot_len, box, alpha))


@pytest.mark.parametrize("aspect", [1.05, 1.5, 3.0])
def test_fast_path_equals_generic_on_relaxed_bidisperse_packing(aspect):
    """Near force balance most candidate pairs barely touch or barely miss: the exact early
    rejection and the Δ > 0 test must pick the same contacts as the generic loop (3000 FIRE
    steps bring max|F| to 1e-10–1e-4 here, close to force balance)."""
    p = random_packing(256, 0.9, 2, shape="ellipse", aspect=aspect, seed=4)
    p = minimize(p, max_steps=3000).packing
    _, x, rot, shp, bound, rot_len = p.kernel_arrays()
    fast, ref = _both_paths(x, rot, shp, bound, rot_len, p.box, 2.0)
    # at force balance the net forces are cancellation residuals of the contact forces: compare
    # them on the contact-force scale |W|/N (W = Σ f r over contacts, no cancellation)
    _assert_same(fast, ref, scale=abs(ref[1]) / p.n)


def test_pair_kernels_equal_gap_grad_scalar_including_fallback():
    """Every lane that the batch kernel accepts, and the scalar kernel on every pair, give the Δ
    and ∇Δ of `_gap_grad_scalar` (pairs from deep overlap to just beyond contact, aspect ≤ 10;
    for a pair that does not overlap only Δ ≤ 0 is required)."""
    rng = np.random.default_rng(11)
    n_rejected_lanes = 0
    for max_aspect in (1.5, 3.0, 10.0):
        k = 400
        pd = np.empty((10, k))
        params = []
        for c in range(k):
            axes = []
            for _ in range(2):
                b = rng.uniform(0.3, 1.0)
                axes.append((b * rng.uniform(1.0, max_aspect), b))
            th = rng.uniform(-np.pi, np.pi, 2)
            ang = rng.uniform(-np.pi, np.pi)
            dist = rng.uniform(0.2, 1.05) * (axes[0][0] + axes[1][0])
            rx, ry = dist * np.cos(ang), dist * np.sin(ang)
            pd[:, c] = (rx, ry, *_frame(th[0], *axes[0]), *_frame(th[1], *axes[1]))
            params.append((rx, ry, th[0], th[1], *axes[0], *axes[1]))
        out = np.empty((6, k))
        lam = np.full(k, -1.0)  # start: the disc-exact λ0
        _pw_force_batch(pd, lam, k, out)
        g = np.empty(4)
        for c in range(k):
            delta_ref = _gap_grad_scalar(*params[c], g)
            scalar = _pw_force(*pd[:, c])
            lanes = [scalar]
            if out[5, c] != 0.0:
                lanes.append(tuple(out[:5, c]))
            else:
                n_rejected_lanes += 1
            for delta, *grad in lanes:
                if delta_ref <= 0.0:
                    assert delta <= 0.0
                    continue
                assert delta == pytest.approx(delta_ref, rel=RTOL, abs=1e-15)
                np.testing.assert_allclose(grad, g, rtol=0, atol=RTOL * np.abs(g).max())
    assert n_rejected_lanes > 0  # the fallback path is exercised (aspect 10)


def test_coincident_centres_match_generic():
    """r = 0: Δ = 1 with no force, as the generic kernel (the batch lane falls back)."""
    fr = (*_frame(0.3, 1.0, 0.5), *_frame(1.1, 0.7, 0.7))
    assert _pw_force(0.0, 0.0, *fr) == (1.0, 0.0, 0.0, 0.0, 0.0)
    out = np.empty((6, 1))
    _pw_force_batch(np.array([[0.0], [0.0], *[[v] for v in fr]]), np.array([-1.0]), 1, out)
    assert out[5, 0] == 0.0


def test_coincident_centres_in_the_engine_match_generic():
    x, rot, shp, bound, rot_len, box = _random_ellipses(200, 0.9, 5)
    x[7] = x[3] + box * np.array([1.0, -2.0])  # same point, another image
    _assert_same(*_both_paths(x, rot, shp, bound, rot_len, box, 2.0))


def test_simd_cos_sin_agree_with_libm():
    """`_cos_sin_reduced` (Cody–Waite reduction + Taylor polynomials) to 2 ulp of 1 against libm,
    across quadrant boundaries and up to the largest argument it is used for; `_frames` switches
    to libm beyond it."""
    from packing._ellipse import _SINCOS_MAX_ARG, _cos_sin_reduced, _frames

    rng = np.random.default_rng(3)
    quarter = np.arange(-2000, 2001) * (np.pi / 4)
    t = np.concatenate([rng.uniform(-10, 10, 20000), rng.uniform(-_SINCOS_MAX_ARG, _SINCOS_MAX_ARG, 20000),
                        quarter, np.nextafter(quarter, np.inf), np.nextafter(quarter, -np.inf), [0.0, -0.0]])
    got = np.array([_cos_sin_reduced(v) for v in t])
    assert np.abs(got[:, 0] - np.cos(t)).max() <= 2.3e-16
    assert np.abs(got[:, 1] - np.sin(t)).max() <= 2.3e-16
    theta = np.array([[0.3], [-1.7], [0.6 * _SINCOS_MAX_ARG], [-3e7], [np.pi / 2],
                      [-0.49 * _SINCOS_MAX_ARG]])
    shp = np.array([[1.0, 0.5], [0.8, 0.7], [1.2, 0.4], [0.9, 0.3], [0.5, 0.5], [0.7, 0.2]])
    fr = np.empty((4, 6))
    _frames(theta, shp, fr)
    for k in range(6):
        np.testing.assert_allclose(fr[:, k], _frame(theta[k, 0], *shp[k]), rtol=0, atol=3e-16)
