"""Ellipsoid-of-revolution packings through the shared engine: the Packing container, equality with
the sphere code at a = b, forces/torques and the Hessian against finite differences in the
exponential-map coordinates of the axes, FIRE on the unit sphere, contact counting
(N_dof = 5N′ − 3) and the HDF5 output of ``packing jam --shape ellipsoid``."""
from __future__ import annotations

import h5py
import numpy as np
import pytest
from naive import FD_STEP, central_differences, minimum_image, pair_gradient_row
from sphere_chart import chart, chart_jacobian

from packing import _pairs
from packing._ellipsoid import ellipsoid_gap_hess, tangent_basis
from packing.analysis import count_zero_modes, spectrum
from packing.cli import main as cli_main
from packing.contacts import contact_network, default_min_contacts
from packing.errors import ParameterError
from packing.hessian import hessian
from packing.minimize import energy_and_forces, minimize, virial_pressure
from packing.system import Packing, bidisperse_spheroid_semi_axes, random_packing


def _ellipsoids(n=100, phi=0.45, aspect=1.7, seed=2, potential="harmonic"):
    """Overlapping bidisperse ellipsoids at random positions and axes (the box guard of Packing,
    3 largest bounding diameters, limits φ at this N)."""
    return random_packing(n, phi, 3, shape="ellipsoid", aspect=aspect, seed=seed, potential=potential)


def _bases(p):
    return np.array([tangent_basis(u) for u in p.orientations])


def _state(p, c, h, bases):
    """(energy, flat generalized force (x particle-major, then s = ℓε per particle)) after moving
    generalized coordinate c of p by h: a position for c < 3N, else s_{i,l} = ℓ_i ε_{i,l} with the
    axis moved along the exp-map chart. Forces on axes are the engine's tangent 3-vectors
    projected on the chart's Jacobian ∂û/∂ε (e_l for the particles not moved)."""
    x = p.positions.copy()
    ori = p.orientations.copy()
    n3 = 3 * p.n
    moved, eps = -1, np.zeros(2)
    if c < n3:
        x.flat[c] += h
    elif h != 0.0:
        moved, l = divmod(c - n3, 2)
        eps[l] = h / p.rotational_lengths[moved]
        ori[moved] = chart(p.orientations[moved], bases[moved], eps)
    U, F, Fr = energy_and_forces(p.with_coordinates(x, ori))
    fr = np.einsum("ia,ika->ik", Fr, bases)
    if moved >= 0:
        for l in range(2):
            fr[moved, l] = Fr[moved] @ chart_jacobian(p.orientations[moved], bases[moved], eps, l)
    return U, np.concatenate([F.ravel(), fr.ravel()])


# ------------------------------------------------------------------------------ container
def test_packing_geometry_and_sizes():
    """φ = Σ 4πab²/3 / V, bound = max(a, b), ℓ = √((a²+b²)/5), volume-equivalent diameter 1 of the
    small ones, unit isotropic axes; aspect 1 has the sphere positions of the same seed."""
    p = _ellipsoids(n=100, phi=0.41, aspect=1.5, seed=0)
    a, b, c = p.semi_axes.T
    assert p.shape == "ellipsoid" and p.n_rot == 2 and p.n_rot_stored == 3 and p.dim == 3
    np.testing.assert_array_equal(b, c)
    assert p.phi == pytest.approx(np.sum(4 / 3 * np.pi * a * b * b) / np.prod(p.box), rel=1e-14)
    assert p.phi == pytest.approx(0.41, rel=1e-14)
    np.testing.assert_allclose(a / b, 1.5, rtol=1e-15)
    np.testing.assert_allclose(2 * np.cbrt(a[:50] * b[:50] ** 2), 1.0, rtol=1e-15)
    np.testing.assert_allclose(a[50:] / a[:50], 1.4, rtol=1e-15)
    np.testing.assert_allclose(np.linalg.norm(p.orientations, axis=1), 1.0, rtol=0, atol=1e-15)
    kind, x, rot, shp, bound, rot_len = p.kernel_arrays()
    assert kind == _pairs.KIND_ELLIPSOID and rot.shape == (100, 3) and shp.shape == (100, 2)
    np.testing.assert_array_equal(bound, a)
    np.testing.assert_allclose(rot_len, np.sqrt((a**2 + b**2) / 5), rtol=1e-15)
    assert p.aspect_ratio == pytest.approx(1.5, rel=1e-15)
    q = p.at_phi(0.4)
    assert q.phi == pytest.approx(0.4, rel=1e-14)
    np.testing.assert_array_equal(q.orientations, p.orientations)
    # oblate: the bounding radius is b
    ob = random_packing(100, 0.4, 3, shape="ellipsoid", aspect=0.5, seed=0)
    np.testing.assert_array_equal(ob.bounding_radii, ob.semi_axes[:, 1])
    assert ob.aspect_ratio == pytest.approx(0.5)
    s = random_packing(100, 0.41, 3, seed=0)
    np.testing.assert_allclose(random_packing(100, 0.41, 3, shape="ellipsoid", aspect=1.0,
                                              seed=0).positions, s.positions, rtol=1e-15)


def test_packing_validation():
    ax = bidisperse_spheroid_semi_axes(8, 1.5)
    box = np.full(3, 20.0)
    pos = np.random.default_rng(0).uniform(0, 20, (8, 3))
    with pytest.raises(ParameterError, match="semi_axes"):
        Packing(pos, box, None, "ellipsoid", semi_axes=ax * [1.0, 1.0, 1.1])  # not of revolution
    with pytest.raises(ParameterError, match="semi_axes"):
        Packing(pos, box, None, "ellipsoid", semi_axes=ax[:, :2])
    with pytest.raises(ParameterError, match="semi_axes"):
        Packing(pos, box, None, "ellipsoid", semi_axes=ax * [20.0, 1.0, 1.0])  # a/b = 30
    with pytest.raises(ParameterError, match="orientations"):
        Packing(pos, box, None, "ellipsoid", semi_axes=ax, orientations=np.zeros((8, 3)))
    with pytest.raises(ParameterError, match="orientations"):
        Packing(pos, box, None, "ellipsoid", semi_axes=ax, orientations=np.ones(8))
    with pytest.raises(ParameterError, match="diameters"):
        Packing(pos, box, np.ones(8), "ellipsoid", semi_axes=ax)
    with pytest.raises(ParameterError, match="positions"):
        Packing(pos[:, :2], box[:2], None, "ellipsoid", semi_axes=ax)
    with pytest.raises(ParameterError, match="dim"):
        random_packing(100, 0.4, dim=2, shape="ellipsoid", aspect=1.5)
    with pytest.raises(ParameterError, match="aspect"):
        random_packing(100, 0.4, dim=3, shape="ellipsoid", aspect=0.05)
    p = Packing(pos, box, None, "ellipsoid", semi_axes=ax, orientations=np.tile([0.0, 0.0, 3.0], (8, 1)))
    np.testing.assert_array_equal(p.orientations, np.tile([0.0, 0.0, 1.0], (8, 1)))  # normalised
    np.testing.assert_array_equal(Packing(pos, box, None, "ellipsoid", semi_axes=ax).orientations[:, 0], 1.0)
    with pytest.raises(ParameterError, match="rot"):
        p.with_coordinates(p.positions, np.zeros((8, 2)))


# ------------------------------------------------------------------------------ a = b: spheres
def test_equal_axes_energy_forces_hessian_equal_spheres():
    s = random_packing(100, 0.75, 3, seed=4)
    e = random_packing(100, 0.75, 3, shape="ellipsoid", aspect=1.0, seed=4)
    np.testing.assert_allclose(2 * e.semi_axes[:, 0], s.diameters, rtol=1e-15)
    Us, Fs, _ = energy_and_forces(s)
    Ue, Fe, Fr = energy_and_forces(e)
    assert Us > 0
    assert Ue == pytest.approx(Us, rel=1e-13)
    np.testing.assert_allclose(Fe, Fs, rtol=0, atol=1e-13 * np.abs(Fs).max())
    assert np.all(Fr == 0.0)  # e = a² − b² = 0: no torques
    assert virial_pressure(e) == pytest.approx(virial_pressure(s), rel=1e-13)
    hs = hessian(s, remove_rattlers=False)
    he = hessian(e, remove_rattlers=False, network=contact_network(e))
    n3 = 3 * s.n
    assert he.n == 5 * s.n
    for part in ("total", "stiffness", "stress"):
        A = getattr(he, part).toarray()
        B = getattr(hs, part).toarray()
        np.testing.assert_allclose(A[:n3, :n3], B, rtol=0, atol=1e-12 * np.abs(B).max())
        assert np.abs(A[n3:, :]).max() <= 1e-12 * np.abs(B).max()


def test_equal_axes_minimisation_and_contacts_equal_spheres():
    """FIRE with (idle) rotations follows the sphere trajectory; same contacts and rattlers, with
    N_dof = 5N′ − 3 against 3N′ − 3."""
    s = minimize(random_packing(100, 0.70, 3, seed=1))
    e = minimize(random_packing(100, 0.70, 3, shape="ellipsoid", aspect=1.0, seed=1))
    assert s.converged and e.converged and s.steps == e.steps
    np.testing.assert_allclose(e.packing.positions, s.packing.positions, rtol=0, atol=1e-10)
    ns, ne = contact_network(s.packing), contact_network(e.packing)
    assert ne.n_constraints == ns.n_constraints and ne.n_rattlers == ns.n_rattlers
    assert ne.n_dof == 5 * (100 - ne.n_rattlers) - 3 and ns.n_dof == 3 * (100 - ns.n_rattlers) - 3


# ------------------------------------------------------------------------------ engine fast path
@pytest.mark.parametrize("aspect,potential", [(1.7, "harmonic"), (0.5, "hertz"), (1.0, "harmonic")])
def test_fast_path_equals_generic_loop(aspect, potential):
    """energy_forces (SIMD-batched ellipsoid path) equals energy_forces_generic (scalar pair kernel
    through `_pairs`) to round-off: energy, virial, forces and tangent generalized forces."""
    from packing import _engine
    from packing._neighbors import build_neighbors

    p = _ellipsoids(n=150, phi=0.55 if aspect != 1.7 else 0.5, aspect=aspect, seed=7, potential=potential)
    kind, x, rot, shp, bound, rot_len = p.kernel_arrays()
    start, idx, shift = build_neighbors(x, bound, p.box, 0.3)
    F1, F2 = np.zeros_like(x), np.zeros_like(x)
    R1, R2 = np.zeros_like(rot), np.zeros_like(rot)
    U1, W1 = _engine.energy_forces(kind, x, rot, shp, bound, rot_len, p.alpha, start, idx, shift, F1, R1)
    U2, W2 = _engine.energy_forces_generic(kind, x, rot, shp, bound, rot_len, p.alpha, start, idx,
                                           shift, F2, R2)
    assert U1 > 0
    assert U1 == pytest.approx(U2, rel=1e-13) and W1 == pytest.approx(W2, rel=1e-13)
    np.testing.assert_allclose(F1, F2, rtol=0, atol=1e-13 * np.abs(F2).max())
    np.testing.assert_allclose(R1, R2, rtol=0, atol=1e-13 * max(np.abs(R2).max(), 1e-300))


# ------------------------------------------------------------------------------ derivatives
@pytest.mark.parametrize("potential", ["harmonic", "hertz"])
def test_forces_and_torques_equal_energy_finite_differences(potential):
    p = _ellipsoids(potential=potential)
    bases = _bases(p)
    _, f = _state(p, 0, 0.0, bases)
    assert np.abs(f[3 * p.n:]).max() > 1e-3  # real torques
    fd = -central_differences(lambda c, s: _state(p, c, s, bases)[0], 5 * p.n, FD_STEP)
    np.testing.assert_allclose(f, fd, rtol=0, atol=1e-8 * np.abs(f).max())


@pytest.mark.parametrize("aspect", [1.3, 0.6])
def test_hessian_equals_force_finite_differences(aspect):
    """Analytic sparse Hessian (stiffness + stress, rotations in exp-map coordinates s = ℓε) vs
    central differences of the generalized forces; symmetric; translations are exact zero modes."""
    p = _ellipsoids(aspect=aspect, phi=0.45 if aspect > 1 else 0.40, seed=3)
    parts = hessian(p, remove_rattlers=False, network=contact_network(p))
    H = parts.total.toarray()
    bases = _bases(p)
    ref = -central_differences(lambda c, s: _state(p, c, s, bases)[1], 5 * p.n, FD_STEP)
    assert np.abs(H[3 * p.n:, 3 * p.n:]).max() > 1e-2 * np.abs(H).max()  # rotations matter
    np.testing.assert_allclose(H, ref, rtol=0, atol=2e-8 * np.abs(H).max())
    assert np.array_equal(H, H.T)
    np.testing.assert_allclose((parts.stiffness + parts.stress).toarray(), H, rtol=0,
                               atol=1e-15 * np.abs(H).max())
    assert parts.translation_residual < 1e-14


def test_stiffness_is_sum_of_gap_gradient_outer_products():
    """Independent assembly of Σ ∇Δ∇Δᵀ from the pair kernel, the x/s chain rule written out in
    naive.pair_gradient_row."""
    p = _ellipsoids(seed=5)
    net = contact_network(p)
    parts = hessian(p, remove_rattlers=False, network=net)
    n = p.n
    ell = p.rotational_lengths
    K = np.zeros((5 * n, 5 * n))
    g = np.zeros(7)
    H = np.zeros((7, 7))
    for i, j in net.contacts:
        dr = minimum_image(p.positions[j] - p.positions[i], p.box)
        ellipsoid_gap_hess(dr, p.orientations[i], p.orientations[j], p.semi_axes[i, :2],
                           p.semi_axes[j, :2], g, H)
        v = pair_gradient_row(n, 3, 2, i, j, g, ell)
        K += np.outer(v, v)
    np.testing.assert_allclose(parts.stiffness.toarray(), K, rtol=0, atol=1e-13 * np.abs(K).max())


# ------------------------------------------------------------------------------ FIRE
@pytest.mark.parametrize("method", ["fire", "fire2"])
def test_fire_relaxes_rotations_to_tolerance(method):
    """A compressed packing (φ = 0.75, above jamming) relaxes to max|F| < 1e-12 with the axes
    moving on the unit sphere; an independent re-evaluation of the forces agrees."""
    p = random_packing(100, 0.75, 3, shape="ellipsoid", aspect=1.2, seed=6)
    r = minimize(p, method=method)
    assert r.converged and r.max_force < 1e-12
    _, F, Fr = energy_and_forces(r.packing)
    assert max(np.abs(F).max(), np.abs(Fr).max()) < 1e-12
    u = r.packing.orientations
    np.testing.assert_allclose(np.linalg.norm(u, axis=1), 1.0, rtol=0, atol=1e-15)
    assert np.abs(np.einsum("ij,ij->i", Fr, u)).max() < 1e-14  # tangent forces
    assert np.abs(u - p.orientations).max() > 1e-2  # axes did move
    assert r.energy_per_particle > 1e-6  # jammed
    np.testing.assert_array_equal(r.packing.semi_axes, p.semi_axes)
    np.testing.assert_array_equal(r.packing.box, p.box)
    # stress-stabilised: no zero modes besides the 3 translations
    net = contact_network(r.packing)
    parts = hessian(r.packing, network=net)
    zm = count_zero_modes(spectrum(parts.total), n_trivial=3)
    assert zm.n_zero_modes == 3 and zm.n_floppy == 0
    assert net.min_contacts == default_min_contacts(r.packing) == 4
    assert net.n_rot == 2 and net.n_dof == 5 * (100 - net.n_rattlers) - 3
    counts = np.bincount(net.active_contacts.ravel(), minlength=100)
    assert np.all(counts[~net.rattler] >= 4)


# ------------------------------------------------------------------------------ CLI / HDF5
def test_cli_jam_ellipsoids_writes_contract(tmp_path):
    out = tmp_path / "e.h5"
    rc = cli_main(["jam", "--shape", "ellipsoid", "--dim", "3", "--aspect", "1.1", "--n", "80",
                   "--rtol", "2e-2", "--phi-start", "0.70", "--delta-phi", "1e-2", "--out", str(out),
                   "--no-progress", "--hessian"])
    assert rc == 0
    with h5py.File(out, "r") as f:
        g = f["runs/ellipsoid_d3_n80_a1.1_harmonic_r1.4/seed0/dphi_1.000e-02"]
        a = dict(g.attrs)
        assert a["shape"] == "ellipsoid" and a["dim"] == 3
        assert a["aspect_ratio"] == pytest.approx(1.1, rel=1e-14)
        assert a["n_dof"] == 5 * (80 - a["n_rattlers"]) - 3
        assert a["rattler_min_contacts"] == 4
        assert g["semi_axes"].shape == (80, 3) and g["orientations"].shape == (80, 3)
        assert "diameters" not in g
        np.testing.assert_allclose(np.linalg.norm(g["orientations"][()], axis=1), 1.0, atol=1e-15)
        ax = g["semi_axes"][()]
        assert a["phi"] == pytest.approx(4 / 3 * np.pi * np.sum(ax[:, 0] * ax[:, 1] * ax[:, 2])
                                         / np.prod(g["box"][()]), rel=1e-12)
        assert g["hessian_eigenvalues"].shape == (5 * (80 - a["n_rattlers"]),)
        p = Packing(g["positions"][()], g["box"][()], None, "ellipsoid", semi_axes=ax,
                    orientations=g["orientations"][()])
        assert energy_and_forces(p)[0] == pytest.approx(a["energy"], rel=1e-12)


@pytest.mark.parametrize("argv,word,parser_error", [
    (["--shape", "ellipsoid", "--dim", "2"], "--dim", False),
    (["--shape", "ellipsoid", "--aspect", "20"], "--aspect", True),
    (["--shape", "ellipse", "--aspect", "0.5"], "--aspect", True),
    (["--shape", "sphere", "--dim", "3", "--aspect", "2"], "--aspect", False),
])
def test_cli_rejects_bad_ellipsoid_options(tmp_path, capsys, argv, word, parser_error):
    args = ["jam", *argv, "--out", str(tmp_path / "x.h5"), "--no-progress"]
    if parser_error:
        with pytest.raises(SystemExit):
            cli_main(args)
    else:
        assert cli_main(args) == 2
    err = capsys.readouterr().err
    assert word in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.h5").exists()
