"""Ellipse packings through the shared engine: the Packing container, the pair dispatch, equality
with the disc code at a = b, forces/torques and the Hessian against finite differences, FIRE with
rotations, contact counting (N_dof = 3N′ − 2) and the HDF5 output of ``packing jam``."""
from __future__ import annotations

import contextlib

import h5py
import numpy as np
import pytest
from naive import FD_STEP, central_differences, minimum_image, pair_gradient_row

from packing import _pairs
from packing._ellipse import ellipse_gap, ellipse_gap_grad, ellipse_gap_hess
from packing.analysis import count_zero_modes, spectrum
from packing.cli import main as cli_main
from packing.contacts import contact_network, default_min_contacts
from packing.errors import ParameterError
from packing.hessian import hessian
from packing.minimize import energy_and_forces, minimize, virial_pressure
from packing.protocol import find_jamming, states_above_jamming
from packing.system import Packing, bidisperse_semi_axes, random_packing


def _ellipses(n=32, phi=0.95, aspect=1.7, seed=2):
    """Overlapping bidisperse ellipses at random positions and orientations."""
    return random_packing(n, phi, 2, shape="ellipse", aspect=aspect, seed=seed)


def _generalized_forces(p):
    """Flat generalized force (x particle-major, then s = ℓθ), the Hessian's row order."""
    _, F, Fr = energy_and_forces(p)
    return np.concatenate([F.ravel(), Fr.ravel()])


def _displaced(p, c, h):
    """p with generalized coordinate c moved by h (c < N·d: a position; else s = ℓθ of a particle)."""
    x = p.positions.copy()
    th = p.orientations.copy()
    nd = p.n * p.dim
    if c < nd:
        x.flat[c] += h
    else:
        i = c - nd
        th[i] += h / p.rotational_lengths[i]
    return p.with_coordinates(x, th[:, None])


# ------------------------------------------------------------------------------ container
def test_packing_geometry_and_sizes():
    """φ = Σπab/V, bound = a, ℓ = √((a²+b²)/4), size convention 2√(ab) = 1 for the small ones."""
    p = _ellipses(n=40, phi=0.83, aspect=1.5, seed=0)
    a, b = p.semi_axes.T
    assert p.shape == "ellipse" and p.n_rot == 1 and p.dim == 2
    assert p.phi == pytest.approx(np.sum(np.pi * a * b) / np.prod(p.box), rel=1e-14)
    assert p.phi == pytest.approx(0.83, rel=1e-14)
    np.testing.assert_allclose(a / b, 1.5, rtol=1e-15)
    np.testing.assert_allclose(2 * np.sqrt(a[:20] * b[:20]), 1.0, rtol=1e-15)
    np.testing.assert_allclose(a[20:] / a[:20], 1.4, rtol=1e-15)
    kind, x, rot, shp, bound, rot_len = p.kernel_arrays()
    assert kind == _pairs.KIND_ELLIPSE and rot.shape == (40, 1) and shp.shape == (40, 2)
    np.testing.assert_array_equal(bound, a)
    np.testing.assert_allclose(rot_len, np.sqrt((a**2 + b**2) / 4), rtol=1e-15)
    assert p.aspect_ratio == 1.5
    # at_phi rescales positions and box, nothing else
    q = p.at_phi(0.9)
    assert q.phi == pytest.approx(0.9, rel=1e-14)
    np.testing.assert_array_equal(q.semi_axes, p.semi_axes)
    np.testing.assert_array_equal(q.orientations, p.orientations)
    s = q.box[0] / p.box[0]
    np.testing.assert_allclose(q.positions, p.positions * s, rtol=1e-15)
    # the seed gives the disc positions: aspect 1 ellipses sit where the discs sit
    d = random_packing(40, 0.83, 2, seed=0)
    np.testing.assert_allclose(random_packing(40, 0.83, 2, shape="ellipse", aspect=1.0,
                                              seed=0).positions, d.positions, rtol=1e-15)


def test_packing_validation():
    ax = bidisperse_semi_axes(8, 1.5)
    box = np.array([20.0, 20.0])
    pos = np.random.default_rng(0).uniform(0, 20, (8, 2))
    with pytest.raises(ParameterError, match="semi_axes"):
        Packing(pos, box, None, "ellipse", semi_axes=ax[:, ::-1])  # a < b
    with pytest.raises(ParameterError, match="semi_axes"):
        Packing(pos, box, None, "ellipse")
    with pytest.raises(ParameterError, match="diameters"):
        Packing(pos, box, np.ones(8), "ellipse", semi_axes=ax)
    with pytest.raises(ParameterError, match="orientations"):
        Packing(pos, box, None, "ellipse", semi_axes=ax, orientations=np.zeros(7))
    with pytest.raises(ParameterError, match="semi_axes"):
        Packing(pos, box, np.ones(8), "disk", semi_axes=ax)
    with pytest.raises(ParameterError, match="positions"):
        Packing(np.zeros((8, 3)), np.full(3, 20.0), None, "ellipse", semi_axes=ax)
    # the box guard uses the bounding (major-axis) size: 3 × 2a_max = 3 × 1.4 √10 ≈ 13.3
    long = bidisperse_semi_axes(8, 10.0)
    with pytest.raises(ParameterError, match="bounding"):
        Packing(pos * 0.6, np.array([12.0, 12.0]), None, "ellipse", semi_axes=long)
    Packing(pos * 0.7, np.array([14.0, 14.0]), None, "ellipse", semi_axes=long)
    with pytest.raises(ParameterError, match="aspect"):
        random_packing(16, 0.8, shape="ellipse", aspect=0.5)
    with pytest.raises(ParameterError, match="aspect"):
        random_packing(16, 0.8, aspect=1.5)
    with pytest.raises(ParameterError, match="dim"):
        random_packing(64, 0.6, dim=3, shape="ellipse", aspect=1.5)
    p = _ellipses()
    with pytest.raises(ParameterError, match="rot"):
        p.with_coordinates(p.positions, np.zeros((p.n, 2)))


# ------------------------------------------------------------------------------ dispatch
def test_pair_dispatch_equals_the_ellipse_kernel():
    """_pairs.pair_gap* with KIND_ELLIPSE return the validated `_ellipse` kernels bit for bit."""
    rng = np.random.default_rng(7)
    n = 30
    shp = np.column_stack([rng.uniform(0.5, 2.0, n), rng.uniform(0.2, 0.5, n)])
    rot = rng.uniform(-4, 4, (n, 1))
    for _ in range(200):
        i, j = rng.choice(n, 2, replace=False)
        dr = rng.normal(size=2)
        g1, g2 = np.zeros(4), np.zeros(4)
        H1, H2 = np.zeros((4, 4)), np.zeros((4, 4))
        assert (_pairs.pair_gap(_pairs.KIND_ELLIPSE, dr, rot, shp, i, j)
                == ellipse_gap(dr, rot[i], rot[j], shp[i], shp[j]))
        assert (_pairs.pair_gap_grad(_pairs.KIND_ELLIPSE, dr, rot, shp, i, j, g1)
                == ellipse_gap_grad(dr, rot[i], rot[j], shp[i], shp[j], g2))
        np.testing.assert_array_equal(g1, g2)
        assert (_pairs.pair_gap_hess(_pairs.KIND_ELLIPSE, dr, rot, shp, i, j, g1, H1)
                == ellipse_gap_hess(dr, rot[i], rot[j], shp[i], shp[j], g2, H2))
        np.testing.assert_array_equal(g1, g2)
        np.testing.assert_array_equal(H1, H2)


# ------------------------------------------------------------------------------ a = b: discs
def _disc_twin(n, phi, seed):
    """(disc packing, ellipse packing with a = b = d/2 at the same positions)."""
    d = random_packing(n, phi, 2, seed=seed)
    e = random_packing(n, phi, 2, shape="ellipse", aspect=1.0, seed=seed)
    np.testing.assert_allclose(2 * e.semi_axes[:, 0], d.diameters, rtol=1e-15)
    return d, e


def test_equal_axes_energy_forces_hessian_equal_discs():
    d, e = _disc_twin(48, 0.95, 4)
    Ud, Fd, _ = energy_and_forces(d)
    Ue, Fe, Fr = energy_and_forces(e)
    assert Ud > 0
    assert Ue == pytest.approx(Ud, rel=1e-13)
    np.testing.assert_allclose(Fe, Fd, rtol=0, atol=1e-13 * np.abs(Fd).max())
    assert np.all(Fr == 0.0)  # dA/dθ = 0 exactly when a = b
    assert virial_pressure(e) == pytest.approx(virial_pressure(d), rel=1e-13)
    hd = hessian(d, remove_rattlers=False)
    he = hessian(e, remove_rattlers=False, network=contact_network(e))
    nd = d.n * 2
    for part in ("total", "stiffness", "stress"):
        A = getattr(he, part).toarray()
        B = getattr(hd, part).toarray()
        np.testing.assert_allclose(A[:nd, :nd], B, rtol=0, atol=1e-12 * np.abs(B).max())
        assert np.abs(A[nd:, :]).max() <= 1e-12 * np.abs(B).max()


def test_equal_axes_phi_j_and_contacts_equal_discs():
    d, e = _disc_twin(32, 0.80, 1)
    jd = find_jamming(d, rtol=1e-7)
    je = find_jamming(e, rtol=1e-7)
    assert je.phi_j == pytest.approx(jd.phi_j, rel=1e-10)  # same path, round-off apart
    sd = states_above_jamming(jd, [1e-4])[0]
    se = states_above_jamming(je, [1e-4])[0]
    nd, ne = contact_network(sd.packing), contact_network(se.packing)
    assert ne.n_constraints == nd.n_constraints and ne.n_rattlers == nd.n_rattlers
    # one more coordinate per particle: N_dof = 3N′ − 2 versus 2N′ − 2 for the discs
    assert ne.n_dof == 3 * (e.n - ne.n_rattlers) - 2
    assert nd.n_dof == 2 * (d.n - nd.n_rattlers) - 2


# ------------------------------------------------------------------------------ derivatives
@pytest.mark.parametrize("potential", ["harmonic", "hertz"])
def test_forces_and_torques_equal_energy_finite_differences(potential):
    p = random_packing(32, 0.95, 2, potential=potential, shape="ellipse", aspect=1.7, seed=2)
    f = _generalized_forces(p)
    assert np.abs(f[2 * p.n:]).max() > 1e-3  # real torques
    fd = -central_differences(lambda c, s: energy_and_forces(_displaced(p, c, s))[0], 3 * p.n, FD_STEP)
    np.testing.assert_allclose(f, fd, rtol=0, atol=1e-8 * np.abs(f).max())


@pytest.mark.parametrize("aspect", [1.2, 2.5])
def test_hessian_with_rotations_equals_force_finite_differences(aspect):
    p = _ellipses(n=40, phi=0.92, aspect=aspect, seed=3)
    H = hessian(p, remove_rattlers=False, network=contact_network(p)).total.toarray()
    ref = -central_differences(lambda c, s: _generalized_forces(_displaced(p, c, s)), 3 * p.n, FD_STEP)
    assert np.abs(H[2 * p.n:, 2 * p.n:]).max() > 1e-2 * np.abs(H).max()  # rotations matter
    np.testing.assert_allclose(H, ref, rtol=0, atol=2e-8 * np.abs(H).max())


def test_stiffness_is_sum_of_gap_gradient_outer_products():
    """Independent assembly of Σ ∇Δ∇Δᵀ from the pair kernel, the x/s chain rule written out in
    naive.pair_gradient_row."""
    p = _ellipses(n=32, phi=0.95, aspect=1.5, seed=5)
    net = contact_network(p)
    parts = hessian(p, remove_rattlers=False, network=net)
    n = p.n
    ell = p.rotational_lengths
    K = np.zeros((3 * n, 3 * n))
    g = np.zeros(4)
    for i, j in net.contacts:
        dr = minimum_image(p.positions[j] - p.positions[i], p.box)
        ellipse_gap_grad(dr, p.orientations[i:i + 1], p.orientations[j:j + 1], p.semi_axes[i],
                         p.semi_axes[j], g)
        v = pair_gradient_row(n, 2, 1, i, j, g, ell)
        K += np.outer(v, v)
    np.testing.assert_allclose(parts.stiffness.toarray(), K, rtol=0, atol=1e-13 * np.abs(K).max())


# ------------------------------------------------------------------------------ FIRE
@pytest.mark.parametrize("method", ["fire", "fire2"])
def test_fire_relaxes_rotations_to_tolerance(method):
    p = _ellipses(n=40, phi=0.90, aspect=1.5, seed=6)
    r = minimize(p, method=method)
    assert r.converged and r.max_force < 1e-12
    f = _generalized_forces(r.packing)  # independent re-evaluation of all generalized forces
    assert np.abs(f).max() < 1e-12
    assert np.abs(r.packing.orientations - p.orientations).max() > 1e-2  # angles did move
    assert r.energy > 0 and r.energy < energy_and_forces(p)[0]


def test_minimised_packing_keeps_shapes_and_box():
    p = _ellipses(n=40, phi=0.90, aspect=2.0, seed=8)
    q = minimize(p).packing
    np.testing.assert_array_equal(q.semi_axes, p.semi_axes)
    np.testing.assert_array_equal(q.box, p.box)
    assert q.shape == "ellipse" and q.phi == p.phi


# ------------------------------------------------------------------------------ counting
def test_contact_network_counts_rotations():
    r = minimize(_ellipses(n=40, phi=0.92, aspect=1.5, seed=9))
    net = contact_network(r.packing)
    assert default_min_contacts(r.packing) == 3 and net.min_contacts == 3
    assert net.n_rot == 1
    assert net.n_dof == 3 * (40 - net.n_rattlers) - 2
    counts = np.bincount(net.active_contacts.ravel(), minlength=40)
    assert np.all(counts[~net.rattler] >= 3)
    assert net.z == pytest.approx(2 * net.n_constraints / (40 - net.n_rattlers))


def test_quartic_modes_of_a_small_jammed_packing():
    """Just above jamming: the stiffness matrix has exactly N_dof + 1 − N_Δ zero modes beyond the
    two translations (the isostatic deficit), and the full Hessian has none (stress-stabilised)."""
    jam = find_jamming(random_packing(32, 0.84, shape="ellipse", aspect=1.5, seed=3), rtol=1e-5)
    s = states_above_jamming(jam, [1e-5])[0]
    net = contact_network(s.packing)
    assert net.n_constraints < net.n_dof  # hypostatic
    parts = hessian(s.packing, network=net)
    k = spectrum(parts.stiffness)
    zk = count_zero_modes(k, n_trivial=2)
    assert zk.n_floppy == net.n_dof + 1 - net.n_constraints > 0
    zh = count_zero_modes(spectrum(parts.total), n_trivial=2)
    assert zh.n_floppy == 0


# ------------------------------------------------------------------------------ CLI / HDF5
def test_cli_jam_ellipses_writes_contract(tmp_path, capsys):
    out = tmp_path / "e.h5"
    rc = cli_main(["jam", "--shape", "ellipse", "--aspect", "1.5", "--n", "24", "--rtol", "1e-4",
                   "--delta-phi", "1e-3", "--out", str(out), "--no-progress", "--hessian"])
    assert rc == 0
    with h5py.File(out, "r") as f:
        g = f["runs/ellipse_d2_n24_a1.5_harmonic_r1.4/seed0/dphi_1.000e-03"]
        a = dict(g.attrs)
        assert a["shape"] == "ellipse" and a["aspect_ratio"] == 1.5 and a["dim"] == 2
        assert a["n_dof"] == 3 * (24 - a["n_rattlers"]) - 2
        assert g["semi_axes"].shape == (24, 2) and g["orientations"].shape == (24,)
        assert "diameters" not in g
        ax = g["semi_axes"][()]
        assert a["phi"] == pytest.approx(np.pi * np.sum(ax[:, 0] * ax[:, 1]) / np.prod(g["box"][()]),
                                         rel=1e-12)
        n_h = 3 * (24 - a["n_rattlers"])
        assert g["hessian_eigenvalues"].shape == (n_h,)
        # stored state reproduces the stored energy
        p = Packing(g["positions"][()], g["box"][()], None, "ellipse", semi_axes=ax,
                    orientations=g["orientations"][()])
        assert energy_and_forces(p)[0] == pytest.approx(a["energy"], rel=1e-12)


@pytest.mark.parametrize("argv,word", [
    (["--shape", "ellipse", "--dim", "3"], "--dim"),
    (["--aspect", "2"], "--aspect"),
    (["--shape", "ellipse", "--aspect", "0.5"], "--aspect"),
])
def test_cli_rejects_bad_ellipse_options(tmp_path, capsys, argv, word):
    argparse_error = "0.5" in argv  # rejected by the argument parser itself (exit 2)
    with pytest.raises(SystemExit) if argparse_error else contextlib.nullcontext():
        rc = cli_main(["jam", *argv, "--out", str(tmp_path / "x.h5"), "--no-progress"])
        assert rc == 2
    err = capsys.readouterr().err
    assert word in err and len(err.strip().splitlines()) == 1
