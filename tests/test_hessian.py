"""Analytic Hessian: finite differences of the forces, a naive dense double loop, the
stiffness/stress split, symmetry, translation zero modes, and dense vs. sparse spectra."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from naive import FD_STEP, central_differences, central_jacobian, minimum_image

from packing import _pairs
from packing import hessian as hmod
from packing.analysis import count_zero_modes, spectrum
from packing.analysis import spectra as spectra_mod
from packing.contacts import contact_network
from packing.errors import ParameterError
from packing.hessian import hessian
from packing.minimize import energy_and_forces, minimize
from packing.system import Packing, random_packing


# ------------------------------------------------------------------------------ references
def fd_hessian(p: Packing, h: float = FD_STEP) -> np.ndarray:
    """−∂F/∂x by central differences of `energy_and_forces` (translations only: discs/spheres)."""
    return -central_jacobian(lambda x: energy_and_forces(p.with_positions(x))[1].ravel(), p.positions, h)


def naive_hessian(pos, box, dia, alpha):
    """Dense (stiffness, stress) of U = Σ Δ^α/α, Δ = 1 − r/σ, by a double loop over i < j.

    ∂Δ/∂x_j = −r̂/σ = −∂Δ/∂x_i;  ∂²Δ/∂x_j² = −(I − r̂r̂ᵀ)/(rσ), with the signs of the i/j blocks
    from dr = x_j − x_i. Stiffness V''∇Δ∇Δᵀ, stress V'∇²Δ, V' = Δ^(α−1), V'' = (α−1)Δ^(α−2).
    """
    n, d = pos.shape
    K = np.zeros((n * d, n * d))
    S = np.zeros((n * d, n * d))
    for i in range(n):
        for j in range(i + 1, n):
            dr = minimum_image(pos[j] - pos[i], box)
            r = np.linalg.norm(dr)
            sig = 0.5 * (dia[i] + dia[j])
            delta = 1 - r / sig
            if delta <= 0:
                continue
            rh = dr / r
            grad = np.zeros(n * d)
            grad[i * d:(i + 1) * d] = rh / sig
            grad[j * d:(j + 1) * d] = -rh / sig
            block = -(np.eye(d) - np.outer(rh, rh)) / (r * sig)
            hess = np.zeros((n * d, n * d))
            for a, sa in ((i, -1), (j, 1)):
                for b, sb in ((i, -1), (j, 1)):
                    hess[a * d:(a + 1) * d, b * d:(b + 1) * d] = sa * sb * block
            K += (alpha - 1) * delta ** (alpha - 2) * np.outer(grad, grad)
            S += delta ** (alpha - 1) * hess
    return K, S


def _minimised(n, phi, dim, potential, seed, dispersity=1.4):
    r = minimize(random_packing(n, phi, dim, dispersity=dispersity, potential=potential, seed=seed))
    assert r.converged
    return r.packing


@pytest.fixture(scope="module")
def jammed64():
    """N = 64 bidisperse harmonic discs at φ = 0.90, minimised (well above jamming)."""
    return _minimised(64, 0.90, 2, "harmonic", 1)


def _small_random(dim, seed, alpha):
    """10 particles (diameters 1 and 0.8) in a box of side 3.2: 7 crowded around the box corner
    (many overlaps, across the boundary), 3 scattered (rattler candidates); unwrapped images."""
    rng = np.random.default_rng(seed)
    dia = np.where(np.arange(10) % 2 == 0, 1.0, 0.8)
    box = np.full(dim, 3.2)
    pos = np.vstack([rng.uniform(-1.1, 1.1, size=(7, dim)), rng.uniform(0, 3.2, size=(3, dim))])
    pos += box * rng.integers(-2, 3, size=(10, dim))
    return Packing(pos, box, dia, "disk" if dim == 2 else "sphere", alpha)


# ------------------------------------------------------------------------------ finite differences
@pytest.mark.parametrize("n,phi,dim,dispersity", [(32, 0.90, 2, 1.4), (64, 0.75, 3, 1.0)])
@pytest.mark.parametrize("potential", ["harmonic", "hertz"])
def test_hessian_equals_finite_differences(n, phi, dim, dispersity, potential):
    p = _minimised(n, phi, dim, potential, 3, dispersity)
    net = contact_network(p)
    # central differences must not straddle a contact opening/closing (the kink of V'' at Δ = 0)
    assert np.abs(net.gaps).min() > 100 * FD_STEP
    parts = hessian(p, remove_rattlers=False, network=net)
    H = parts.total.toarray()
    ref = fd_hessian(p)
    assert np.abs(H - ref).max() <= 1e-6 * np.abs(H).max()
    # coordinates are particle-major translations, all particles kept
    np.testing.assert_array_equal(parts.dof_index[:, 0], np.repeat(np.arange(n), dim))
    np.testing.assert_array_equal(parts.dof_index[:, 1], np.tile(np.arange(dim), n))


# ------------------------------------------------------------------------------ naive double loop
@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("alpha", [2.0, 2.5])
def test_hessian_equals_naive_double_loop(dim, alpha):
    p = _small_random(dim, 11, alpha)
    K, S = naive_hessian(p.positions, p.box, p.diameters, alpha)
    parts = hessian(p, remove_rattlers=False)
    scale = np.abs(K + S).max()
    assert parts.n_contacts >= 5
    assert np.abs(parts.stiffness.toarray() - K).max() <= 1e-13 * scale
    assert np.abs(parts.stress.toarray() - S).max() <= 1e-13 * scale
    assert np.abs(parts.total.toarray() - (K + S)).max() <= 1e-13 * scale


@pytest.mark.parametrize("dim", [2, 3])
def test_removed_rattlers_equal_hessian_of_the_rigid_cluster(dim):
    """remove_rattlers=True is the naive Hessian of the packing with the rattlers deleted."""
    for seed in range(50):
        p = _small_random(dim, seed, 2.0)
        net = contact_network(p)
        if 0 < net.n_rattlers < p.n - dim - 1:
            break
    else:
        pytest.fail("no small configuration with rattlers found")
    keep = ~net.rattler
    parts = hessian(p, remove_rattlers=True, network=net)
    K, S = naive_hessian(p.positions[keep], p.box, p.diameters[keep], 2.0)
    np.testing.assert_allclose(parts.total.toarray(), K + S, rtol=0, atol=1e-13 * np.abs(K).max())
    np.testing.assert_array_equal(np.unique(parts.dof_index[:, 0]), np.flatnonzero(keep))
    np.testing.assert_array_equal(parts.rattler, net.rattler)
    assert parts.n == dim * keep.sum()


# ------------------------------------------------------------------------------ structure
@pytest.mark.parametrize("potential", ["harmonic", "hertz"])
def test_split_symmetry_and_translations(jammed64, potential):
    p = jammed64 if potential == "harmonic" else _minimised(64, 0.90, 2, "hertz", 1)
    parts = hessian(p)
    H, K, S = (m.toarray() for m in (parts.total, parts.stiffness, parts.stress))
    scale = np.abs(H).max()
    assert np.abs(K + S - H).max() <= 1e-14 * scale
    for m in (H, K, S):
        assert np.array_equal(m, m.T)
    assert parts.translation_residual < 1e-14
    t = parts.translations()
    assert np.abs(H @ t).max() <= 1e-14 * scale
    assert all(sp.isspmatrix_csr(m) or isinstance(m, sp.csr_array)
               for m in (parts.total, parts.stiffness, parts.stress))
    # stiffness is positive semi-definite; harmonic stress part is Σ Δ ∇²Δ (negative for discs)
    assert np.linalg.eigvalsh(K).min() >= -1e-13 * scale
    assert np.linalg.eigvalsh(S).max() <= 1e-13 * scale


def test_exactly_d_zero_modes_well_above_jamming(jammed64):
    parts = hessian(jammed64)
    spec = spectrum(parts.total)
    assert spec.method == "dense" and spec.complete and spec.n == parts.n
    zm = count_zero_modes(spec, n_trivial=parts.n_translations)
    assert (zm.n_zero_modes, zm.n_trivial, zm.n_floppy) == (2, 2, 0)
    # the two zero modes are far below the first vibrational mode
    assert np.abs(spec.eigenvalues[:2]).max() < 1e-13 * spec.scale
    assert spec.eigenvalues[2] > 1e-4 * spec.scale


def test_floppy_modes_are_not_translations():
    """A cluster of 4 mutually overlapping discs plus one isolated disc, all kept: the 2 global
    translations, and the isolated disc's 2 translations as floppy modes (the cluster is not in
    force balance, so its rigid rotation is not a zero mode of H)."""
    pos = np.array([[5.0, 5.0], [5.6, 5.0], [5.0, 5.6], [5.6, 5.6], [8.5, 8.5]])
    p = Packing(pos, np.array([10.0, 10.0]), np.ones(5))
    spec = spectrum(hessian(p, remove_rattlers=False).total)
    zm = count_zero_modes(spec, n_trivial=2)
    assert (zm.n_zero_modes, zm.n_trivial, zm.n_floppy) == (4, 2, 2)
    K, S = naive_hessian(pos, p.box, p.diameters, 2.0)
    ev = np.linalg.eigvalsh(K + S)
    assert zm.n_zero_modes == np.count_nonzero(np.abs(ev) <= 1e-10 * np.abs(ev).max())


def test_eigsh_low_modes_equal_dense(jammed64):
    H = hessian(jammed64).total
    dense = spectrum(H)
    low = spectrum(H, k=12, method="eigsh")
    assert low.method == "eigsh" and not low.complete
    np.testing.assert_allclose(low.eigenvalues, dense.eigenvalues[:12], rtol=0,
                               atol=1e-11 * dense.scale)
    assert low.scale >= dense.scale  # the ∞-norm bounds max|λ|
    zm = count_zero_modes(low, n_trivial=2)
    assert (zm.n_zero_modes, zm.n_trivial) == (2, 2)
    # k lowest through the dense path
    np.testing.assert_array_equal(spectrum(H, k=5).eigenvalues, dense.eigenvalues[:5])


# ------------------------------------------------------------------------------ errors
def test_eigsh_failure_is_reported(jammed64, monkeypatch):
    H = hessian(jammed64).total

    def fail(*args, **kwargs):
        raise spla.ArpackNoConvergence("no convergence", np.array([]), np.array([]))

    monkeypatch.setattr(spectra_mod.spla, "eigsh", fail)
    with pytest.raises(spectra_mod.SpectrumError, match="eigsh"):
        spectrum(H, k=4, method="eigsh")


def test_bad_input(jammed64):
    H = hessian(jammed64).total
    with pytest.raises(ParameterError, match="matrix"):
        spectrum(np.ones((3, 4)))
    with pytest.raises(ParameterError, match="matrix"):
        spectrum(np.array([[0.0, 1.0], [0.0, 0.0]]))
    with pytest.raises(ParameterError, match="k"):
        spectrum(H, k=0)
    with pytest.raises(ParameterError, match="k"):
        spectrum(H, k=H.shape[0], method="eigsh")
    with pytest.raises(ParameterError, match="method"):
        spectrum(H, method="lanczos")
    with pytest.raises(ParameterError, match="tol"):
        count_zero_modes(np.zeros(3), tol=0.0, n_trivial=2)
    with pytest.raises(ParameterError, match="n_trivial"):
        count_zero_modes(np.zeros(3), n_trivial=5)
    with pytest.raises(ParameterError, match="network"):
        hessian(jammed64, network=contact_network(random_packing(50, 0.5, 2, seed=0)))
    with pytest.raises(ParameterError, match="packing"):
        hessian(H)


# ------------------------------------------------------------------------------ rotations
@pytest.mark.skipif(not hasattr(_pairs, "KIND_ELLIPSE"),
                    reason="no ellipse pair kernel dispatched in packing._pairs yet")
def test_rotational_coordinates_against_finite_differences():
    """Generic assembly with n_rot = 1 (ellipses) against central differences of the engine's
    generalized forces, including the s = ℓθ scaling (arbitrary ℓ per particle)."""
    from packing import _engine, _hessian_kernels
    from packing._neighbors import build_neighbors

    kind = _pairs.KIND_ELLIPSE
    rng = np.random.default_rng(5)
    n, box = 12, np.array([5.0, 5.0])
    x = rng.uniform(0, 5, size=(n, 2))
    rot = rng.uniform(0, np.pi, size=(n, 1))
    shp = np.column_stack([np.full(n, 0.75), np.full(n, 0.4)])
    bound = shp[:, 0].copy()
    rot_len = rng.uniform(0.5, 1.5, size=n)

    def forces(x, rot):
        start, idx, shift = build_neighbors(x, bound, box, 0.0)
        F, Fr = np.zeros_like(x), np.zeros_like(rot)
        _engine.energy_forces(kind, x, rot, shp, bound, rot_len, 2.0, start, idx, shift, F, Fr)
        return np.concatenate([F.ravel(), Fr.ravel()])

    start, idx, _ = build_neighbors(x, bound, box, 0.0)
    pairs = np.array([(i, j) for i in range(n) for j in idx[start[i]:start[i + 1]]], np.int64)
    dof_x, dof_r, dof_index = hmod._dof_maps(n, 2, 1, np.ones(n, bool))
    rows, cols, kv, sv, _ = _hessian_kernels.assemble_triplets(kind, x, rot, shp, rot_len, box, 2.0,
                                                            pairs, dof_x, dof_r)
    H = (hmod._symmetric_csr(rows, cols, kv, 3 * n) + hmod._symmetric_csr(rows, cols, sv, 3 * n))
    H = H.toarray()

    def forces_after(c, s):
        xx, rr = x.copy(), rot.copy()
        if c < 2 * n:
            xx.flat[c] += s
        else:
            rr[c - 2 * n, 0] += s / rot_len[c - 2 * n]
        return forces(xx, rr)

    ref = -central_differences(forces_after, 3 * n, 1e-6)
    assert np.abs(H).max() > 0
    assert np.abs(H - ref).max() <= 1e-6 * np.abs(H).max()


@pytest.mark.slow
def test_auto_spectrum_beyond_dense_limit_uses_eigsh():
    """n > DENSE_MAX: spectrum() switches to eigsh; its low modes equal the dense ones."""
    p = _minimised(1700, 0.86, 2, "harmonic", 0)
    parts = hessian(p)
    assert parts.n > spectra_mod.DENSE_MAX
    low = spectrum(parts.total)
    assert low.method == "eigsh" and len(low.eigenvalues) == spectra_mod.DEFAULT_K
    dense = spectrum(parts.total, method="dense")
    np.testing.assert_allclose(low.eigenvalues, dense.eigenvalues[:spectra_mod.DEFAULT_K], rtol=0,
                               atol=1e-11 * dense.scale)
    zm = count_zero_modes(low, n_trivial=2)
    assert (zm.n_zero_modes, zm.n_trivial, zm.n_floppy) == (2, 2, 0)
