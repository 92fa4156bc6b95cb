"""Energies and forces of the numba engine against a naive O(N²) numpy reference, and forces
against finite differences of the energy; FIRE reaches its tolerance."""
import numpy as np
import pytest
from naive import central_gradient

from packing.errors import ParameterError
from packing.minimize import energy_and_forces, minimize, virial_pressure
from packing.system import Packing, random_packing


def naive_energy_forces(pos, dia, box, alpha):
    """Every pair, every image within one box length: U = Σ (1 − r/σ)^α / α, F = −∂U/∂x."""
    n, d = pos.shape
    U = 0.0
    F = np.zeros_like(pos)
    shifts = np.array(np.meshgrid(*[[-1, 0, 1]] * d)).reshape(d, -1).T * box
    for i in range(n):
        for j in range(i + 1, n):
            sigma = 0.5 * (dia[i] + dia[j])
            for s in shifts:
                dr = pos[j] + s - pos[i]
                r = np.linalg.norm(dr)
                delta = 1.0 - r / sigma
                if delta > 0:
                    U += delta**alpha / alpha
                    fij = delta ** (alpha - 1) / sigma * dr / r  # force on j, pushing it away
                    F[j] += fij
                    F[i] -= fij
    return U, F


@pytest.mark.parametrize("dim,n,phi", [(2, 16, 0.9), (2, 40, 1.0), (2, 300, 0.95), (3, 70, 0.8),
                                       (3, 150, 0.75)])
@pytest.mark.parametrize("potential", ["harmonic", "hertz"])
def test_energy_forces_equal_naive_reference(dim, n, phi, potential):
    p = random_packing(n, phi, dim, potential=potential, seed=n + dim)
    # unwrapped coordinates: shift some particles by whole boxes, the physics must not change
    shifted = p.positions + np.random.default_rng(1).integers(-2, 3, size=p.positions.shape) * p.box
    U, F, Frot = energy_and_forces(p.with_positions(shifted))
    U0, F0 = naive_energy_forces(p.wrapped_positions(), p.diameters, p.box, p.alpha)
    assert U0 > 0
    assert U == pytest.approx(U0, rel=1e-12)
    np.testing.assert_allclose(F, F0, rtol=0, atol=1e-12 * np.abs(F0).max())
    assert Frot.shape == (n, 0)


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("potential", ["harmonic", "hertz"])
def test_forces_are_minus_energy_gradient(dim, potential):
    p = random_packing(30 if dim == 2 else 70, 0.9 if dim == 2 else 0.7, dim, potential=potential, seed=3)
    _, F, _ = energy_and_forces(p)
    fd = -central_gradient(lambda x: energy_and_forces(p.with_positions(x))[0], p.positions, 1e-6)
    np.testing.assert_allclose(F, fd, rtol=0, atol=1e-7 * np.abs(F).max())


def test_virial_pressure_equals_volume_derivative_of_energy():
    """p = −dU/dV under affine dilation (2D and 3D)."""
    for dim, phi in ((2, 0.95), (3, 0.75)):
        p = random_packing(60, phi, dim, seed=5)
        eps = 1e-6
        Vol = p.volume
        up = energy_and_forces(p.at_phi(p.phi * (1 - eps)))[0]  # V grows by factor 1/(1−eps)
        um = energy_and_forces(p.at_phi(p.phi * (1 + eps)))[0]
        dV = Vol / (1 - eps) - Vol / (1 + eps)
        assert virial_pressure(p) == pytest.approx(-(up - um) / dV, rel=1e-6)


@pytest.mark.parametrize("method", ["fire", "fire2"])
@pytest.mark.parametrize("dim,phi", [(2, 0.86), (3, 0.70)])
def test_fire_converges_to_force_tolerance(method, dim, phi):
    p = random_packing(128, phi, dim, seed=2)
    r = minimize(p, method=method, max_steps=200_000)
    assert r.converged and r.max_force < 1e-12
    U, F, _ = energy_and_forces(r.packing)
    assert np.abs(F).max() < 1e-12
    assert U == pytest.approx(r.energy, rel=1e-10)
    assert r.energy < energy_and_forces(p)[0]
    assert r.steps > 0


def test_fire_budget_reports_unconverged():
    r = minimize(random_packing(64, 0.9, 2, seed=0), max_steps=10)
    assert not r.converged and r.steps == 10


def test_below_jamming_relaxes_to_zero_energy():
    r = minimize(random_packing(128, 0.70, 2, seed=0))
    assert r.converged and r.energy / 128 < 1e-20


@pytest.mark.parametrize("method", ["fire", "fire2"])
def test_energy_floor_stops_an_unjammed_relaxation_early(method):
    """Below jamming FIRE may stop once (U + K)/N < floor: the state is then below the floor, the
    full relaxation from the same start ends below it too, and it took more steps."""
    start = random_packing(128, 0.80, 2, seed=0)
    full = minimize(start, method=method)
    early = minimize(start, method=method, energy_floor=1e-18)
    assert early.below_floor and not early.converged and not full.below_floor
    assert early.energy_per_particle < 1e-18 and full.energy_per_particle < 1e-18
    assert early.steps < full.steps


@pytest.mark.parametrize("method", ["fire", "fire2"])
def test_energy_floor_leaves_a_jammed_relaxation_bit_identical(method):
    start = random_packing(64, 0.90, 2, seed=1)
    full = minimize(start, method=method)
    floored = minimize(start, method=method, energy_floor=1e-18)
    assert full.converged and floored.converged and not floored.below_floor
    assert floored.steps == full.steps and floored.energy == full.energy
    np.testing.assert_array_equal(floored.packing.positions, full.packing.positions)


@pytest.mark.parametrize("kwargs,name", [
    (dict(n=1, phi=0.8), "n"), (dict(n=10, phi=-0.1), "phi"), (dict(n=10, phi=float("nan")), "phi"),
    (dict(n=10, phi=0.8, dim=4), "dim"), (dict(n=10, phi=0.8, dispersity=0.5), "dispersity"),
    (dict(n=10, phi=0.8, potential="lj"), "potential")])
def test_bad_input_names_the_parameter(kwargs, name):
    with pytest.raises(ParameterError, match=name):
        random_packing(**kwargs)


def test_negative_diameters_rejected():
    with pytest.raises(ParameterError, match="diameters"):
        Packing(np.zeros((4, 2)), np.array([10.0, 10.0]), np.array([1.0, -1.0, 1.0, 1.0]))


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("potential", ["harmonic", "hertz"])
def test_sphere_fast_path_equals_generic_kernel_loop(dim, potential):
    from packing import _engine
    from packing._neighbors import build_neighbors

    p = random_packing(200, 0.95 if dim == 2 else 0.75, dim, potential=potential, seed=9)
    kind, x, rot, shp, bound, rot_len = p.kernel_arrays()
    nbr = build_neighbors(x, bound, p.box, 0.2)
    F1, F2 = np.zeros_like(x), np.zeros_like(x)
    U1, W1 = _engine.energy_forces(kind, x, rot, shp, bound, rot_len, p.alpha, *nbr, F1, rot.copy())
    U2, W2 = _engine.energy_forces_generic(kind, x, rot, shp, bound, rot_len, p.alpha, *nbr, F2,
                                           rot.copy())
    assert U1 == pytest.approx(U2, rel=1e-14) and W1 == pytest.approx(W2, rel=1e-14)
    np.testing.assert_allclose(F1, F2, rtol=0, atol=1e-14 * np.abs(F2).max())
