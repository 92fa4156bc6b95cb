"""Energy minimisation with FIRE over generalized coordinates (public wrapper)."""
from __future__ import annotations

import dataclasses
import math
import time

import numpy as np

from . import _engine
from .errors import ParameterError, require
from .system import Packing

METHODS = ("fire", "fire2")
DEFAULT_FTOL = 1e-12
DEFAULT_MAX_STEPS = 10_000_000


@dataclasses.dataclass(frozen=True)
class MinimizeResult:
    """Outcome of :func:`minimize`.

    energy : total U = Σ_pairs V (not per particle); pressure : virial pressure;
    max_force : max |component| of the generalized force at the end; steps : force evaluations;
    converged : max_force < ftol (``ftol``: the tolerance it ran with); below_floor : stopped early
    because the energy per particle (kinetic included) fell below the requested ``energy_floor``,
    so the minimum FIRE would reach lies below it; seconds : wall time of the kernel.
    """

    packing: Packing
    energy: float
    pressure: float
    max_force: float
    steps: int
    converged: bool
    n_rebuilds: int
    seconds: float
    below_floor: bool = False
    ftol: float = DEFAULT_FTOL

    @property
    def energy_per_particle(self) -> float:
        return self.energy / self.packing.n


def default_skin(packing: Packing) -> float:
    """Verlet skin: 0.3 × the smallest bounding diameter (rebuilds are rare near jamming)."""
    bound = packing.kernel_arrays().bound
    return 0.3 * 2.0 * float(bound.min())


def _neighbor_list(packing: Packing, bound: np.ndarray, skin: float):
    """Neighbour list (start, idx, shift) after checking that image shifts stay unambiguous:
    the box must exceed 4 b_max + 2 skin, b_max the largest bounding radius."""
    from ._neighbors import build_neighbors

    bmax = float(bound.max())
    if float(packing.box.min()) <= 4.0 * bmax + 2.0 * skin:
        raise ParameterError(f"box must be larger than 4 b_max + 2 skin = {4 * bmax + 2 * skin:.4g} "
                             f"(got {float(packing.box.min()):.4g}); use more particles")
    return build_neighbors(packing.positions, bound, packing.box, skin)


def energy_and_forces(packing: Packing) -> tuple[float, np.ndarray, np.ndarray]:
    """(U, F (N, d), F_rot (N, n_rot)) for the packing, forces = −∂U/∂(x, ℓθ). For ellipsoids
    F_rot is (N, 3): the tangent generalized forces −(I − ûûᵀ)∂U/∂û / ℓ, vectors ⊥ û (their
    components along a tangent basis e₁, e₂ are −∂U/∂(ℓε) in the exp-map coordinates ε)."""
    kind, x, rot, shp, bound, rot_len = packing.kernel_arrays()
    start, idx, shift = _neighbor_list(packing, bound, 0.0)
    F = np.zeros_like(x)
    Frot = np.zeros_like(rot)
    U, _ = _engine.energy_forces(kind, x, rot, shp, bound, rot_len, packing.alpha,
                                 start, idx, shift, F, Frot)
    return float(U), F, Frot


def virial_pressure(packing: Packing) -> float:
    """p = −(1/(d V)) Σ_pairs V'(Δ) dr·∂Δ/∂dr (= (1/(dV)) Σ r f for discs)."""
    kind, x, rot, shp, bound, rot_len = packing.kernel_arrays()
    start, idx, shift = _neighbor_list(packing, bound, 0.0)
    _, W = _engine.energy_forces(kind, x, rot, shp, bound, rot_len, packing.alpha,
                                 start, idx, shift, np.zeros_like(x), np.zeros_like(rot))
    return float(-W / (packing.dim * packing.volume))


def minimize(packing: Packing, method: str = "fire", ftol: float = DEFAULT_FTOL,
             max_steps: int = DEFAULT_MAX_STEPS, dt0: float = 0.05, dt_max_factor: float = 10.0,
             skin: float | None = None, energy_floor: float | None = None) -> MinimizeResult:
    """Relax ``packing`` to a local energy minimum with FIRE.

    Parameters
    ----------
    method : "fire" (Bitzek et al. 2006) or "fire2" (Guénolé et al. 2020).
    ftol : convergence when max |generalized force component| < ftol (default 1e-12).
    max_steps : budget of force evaluations; the result says whether it converged.
    dt0, dt_max_factor : initial time step (units of small diameter, unit mass) and dt_max/dt0.
    skin : Verlet skin (default 0.3 × smallest bounding diameter).
    energy_floor : stop as soon as (U + K)/N < energy_floor (None: never). Used to decide
        "unjammed" without relaxing the last residual overlaps to ftol.
    """
    require(method in METHODS, "method", f"one of {METHODS}", method)
    require(math.isfinite(ftol) and ftol > 0, "ftol", "a finite number > 0", ftol)
    require(int(max_steps) >= 0, "max_steps", ">= 0", max_steps)
    require(math.isfinite(dt0) and dt0 > 0, "dt0", "a finite number > 0", dt0)
    require(dt_max_factor >= 1, "dt_max_factor", ">= 1", dt_max_factor)
    if energy_floor is not None:
        require(math.isfinite(energy_floor) and energy_floor > 0, "energy_floor", "a finite number > 0",
                energy_floor)
    kind, x, rot, shp, bound, rot_len = packing.kernel_arrays()
    if skin is None:
        skin = default_skin(packing)
    require(0.0 <= skin <= float(bound.max()), "skin", "in [0, largest bounding radius]", skin)
    _neighbor_list(packing, bound, skin)  # validates the box against the cut-off (cheap, O(N))
    t0 = time.perf_counter()
    u_floor = -1.0 if energy_floor is None else float(energy_floor) * packing.n
    U, W, fmax, steps, nreb, conv, floor = _engine.fire(
        kind, x, rot, shp, bound, rot_len, packing.box, packing.alpha, float(ftol), int(max_steps),
        float(dt0), float(dt_max_factor), float(skin), method == "fire2", u_floor)
    seconds = time.perf_counter() - t0
    out = packing.with_positions(x) if rot.shape[1] == 0 else packing.with_coordinates(x, rot)
    return MinimizeResult(out, float(U), float(-W / (packing.dim * packing.volume)), float(fmax),
                          int(steps), bool(conv), int(nreb), seconds, bool(floor), float(ftol))
