"""Packings: frozen containers of particle coordinates, sizes and the periodic box.

A :class:`Packing` is immutable; every operation (compression, minimisation) returns a new one.
Round particles carry ``diameters`` (N,); ellipses/ellipsoids carry ``semi_axes`` (N, d) and
``orientations`` (angles (N,) for 2D ellipses, unit symmetry axes (N, 3) for 3D ellipsoids of
revolution). Units: lengths in units of the small diameter, energies in units of ε.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Literal, NamedTuple

import numpy as np

from .errors import ParameterError, require
from .shapes import (
    ELLIPSOID_ASPECT_RANGE,
    ROUND,
    SHAPE_TABLE,
    SHAPES,
    ParticleShape,
    bidisperse_diameters,
    bidisperse_semi_axes,
    bidisperse_spheroid_semi_axes,
    resolve_shape,
    round_shape,
)

POTENTIALS = {"harmonic": 2.0, "hertz": 2.5}
ROUND_SHAPES = ROUND
__all__ = ["POTENTIALS", "ROUND_SHAPES", "SHAPES", "ELLIPSOID_ASPECT_RANGE", "KernelArrays",
           "Packing", "random_packing", "bidisperse_diameters", "bidisperse_semi_axes",
           "bidisperse_spheroid_semi_axes"]


class KernelArrays(NamedTuple):
    """A packing as the numba kernels take it (:meth:`Packing.kernel_arrays`).

    kind : pair-kernel code (`packing._pairs`). x : (N, d) positions (a copy). rot : (N,
    n_rot_stored) orientations (a copy). shp : (N, n_s) per-particle sizes. bound : (N,) bounding
    radii. rot_len : (N,) rotational lengths ℓ.
    """

    kind: int
    x: np.ndarray
    rot: np.ndarray
    shp: np.ndarray
    bound: np.ndarray
    rot_len: np.ndarray


@dataclasses.dataclass(frozen=True)
class Packing:
    """A configuration of soft particles in a periodic orthorhombic box.

    Attributes
    ----------
    positions : (N, d) float64, particle centres (not necessarily wrapped into the box).
    box : (d,) float64, box side lengths.
    diameters : (N,) float64 for discs/spheres, None for ellipses/ellipsoids.
    shape : "disk" (d = 2) or "sphere" (d = 3) for round particles, "ellipse" (d = 2),
        "ellipsoid" (d = 3, ellipsoids of revolution).
    alpha : pair potential exponent, V = ε/α Δ^α θ(Δ): 2 harmonic, 2.5 Hertz, with the gap
        Δ = 1 − r/σ (round) or Δ = 1 − μ (ellipses/ellipsoids, Perram–Wertheim range
        μ = r/σ_ij(r̂, orientations), see `packing._ellipse` and `packing._ellipsoid`).
    semi_axes : (N, 2) float64 (a, b) with a ≥ b > 0 for ellipses; (N, 3) float64 (a, b, b) for
        ellipsoids, a along the symmetry axis (a > b prolate, a < b oblate); else None.
    orientations : ellipses: (N,) float64 angle θ of each major axis from the x axis (radians, not
        wrapped); ellipsoids: (N, 3) float64 unit symmetry axes û (any non-zero vectors given are
        normalised; default x̂); else None.

    Units: lengths in units of the small particle's diameter — for ellipses the area-equivalent
    diameter 2√(ab) of the small ones (see :func:`bidisperse_semi_axes`), for ellipsoids the
    volume-equivalent diameter 2(ab²)^(1/3) (:func:`bidisperse_spheroid_semi_axes`); both reduce to
    the disc/sphere convention at a = b.
    """

    positions: np.ndarray
    box: np.ndarray
    diameters: np.ndarray | None = None
    shape: str = "disk"
    alpha: float = 2.0
    semi_axes: np.ndarray | None = None
    orientations: np.ndarray | None = None

    def __post_init__(self) -> None:
        # private read-only copies: freezing must not touch the caller's arrays
        pos = np.array(self.positions, dtype=np.float64, order="C", copy=True)
        box = np.array(self.box, dtype=np.float64, order="C", copy=True)
        require(pos.ndim == 2 and pos.shape[1] in (2, 3), "positions", "an (N, d) array with d in {2, 3}",
                pos.shape)
        n, d = pos.shape
        require(n >= 2, "n_particles", ">= 2", n)
        require(box.shape == (d,), "box", f"a ({d},) array", box.shape)
        require(bool(np.all(np.isfinite(box)) and np.all(box > 0)), "box", "finite and > 0", box.tolist())
        require(bool(np.all(np.isfinite(pos))), "positions", "finite", "non-finite values")
        require(self.alpha in POTENTIALS.values(), "alpha", "2 (harmonic) or 2.5 (Hertz)", self.alpha)
        require(self.shape in SHAPES, "shape", f"one of {SHAPES}", self.shape)
        kind = SHAPE_TABLE[self.shape]
        kind = round_shape(d) if kind.round else kind
        arrays = kind.validate(n, d, self.diameters, self.semi_axes, self.orientations)
        shape = kind.name
        for a in (pos, box) + tuple(v for v in arrays.values() if v is not None):
            a.setflags(write=False)
        object.__setattr__(self, "positions", pos)
        object.__setattr__(self, "box", box)
        for name, value in arrays.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "shape", shape)
        # Minimum image must be unambiguous for every candidate pair of the neighbour list.
        # (the neighbour list reaches out to b_i + b_j + skin with skin ≤ max b, b the bounding radius)
        largest = 2.0 * float(self.bounding_radii.max())
        if float(box.min()) <= 3.0 * largest:
            raise ParameterError(
                f"box must be larger than 3 largest bounding diameters on every side (got "
                f"{box.min():.4g} for a largest bounding diameter {largest:.4g}); use more particles")

    # ------------------------------------------------------------------ geometry
    @property
    def n(self) -> int:
        return self.positions.shape[0]

    @property
    def dim(self) -> int:
        return self.positions.shape[1]

    @property
    def volume(self) -> float:
        return float(np.prod(self.box))

    @property
    def particle_shape(self) -> ParticleShape:
        """The :class:`~packing.shapes.ParticleShape` of these particles."""
        return SHAPE_TABLE[self.shape]

    @property
    def is_round(self) -> bool:
        """True for discs/spheres."""
        return self.particle_shape.round

    @property
    def bounding_radii(self) -> np.ndarray:
        """(N,) radius of the smallest centred circle/sphere containing each particle (a for ellipses,
        max(a, b) for ellipsoids)."""
        return self.particle_shape.bounding(self.diameters, self.semi_axes)

    @property
    def aspect_ratio(self) -> float:
        """Largest a/b over the particles (1 for discs/spheres; the common value in the default mixture;
        < 1 for oblate ellipsoids)."""
        if self.is_round:
            return 1.0
        return float(np.max(self.semi_axes[:, 0] / self.semi_axes[:, 1]))

    @property
    def particle_volumes(self) -> np.ndarray:
        """(N,) volume (area in 2D) of each particle: πd²/4, πd³/6, πab for ellipses, 4πab²/3 for
        ellipsoids."""
        return self.particle_shape.volumes(self.diameters, self.semi_axes)

    @property
    def phi(self) -> float:
        """Packing fraction φ = Σ v_i / V (overlaps not subtracted)."""
        return float(self.particle_volumes.sum() / self.volume)

    @property
    def potential(self) -> str:
        return "harmonic" if self.alpha == 2.0 else "hertz"

    @property
    def n_rot(self) -> int:
        """Rotational degrees of freedom per particle (0 for round particles, 1 for 2D ellipses, 2 for
        ellipsoids of revolution: the direction of the symmetry axis; spins about it change nothing).
        """
        return self.particle_shape.n_rot

    @property
    def n_rot_stored(self) -> int:
        """Orientation components per particle in :meth:`kernel_arrays`' ``rot`` (and
        :meth:`with_coordinates`): n_rot, except 3 for ellipsoids (the unit axis û)."""
        return self.particle_shape.n_rot_stored

    @property
    def rotational_lengths(self) -> np.ndarray:
        """(N,) length ℓ that makes the angle commensurate with positions: FIRE moves s = ℓθ.

        ℓ is the radius of gyration of the particle as a uniform body of unit mass: for an ellipse
        I = m(a² + b²)/4, so ℓ = √((a² + b²)/4) and ½ṡ² = ½Iθ̇² is its rotational kinetic energy.
        With s = ℓθ the FIRE dynamics is the Newtonian dynamics of unit-mass rigid bodies
        (mass-weighted coordinates), the generalized force −∂U/∂s = torque/ℓ has units of force, and
        the Hessian in (x, s) is the dynamical matrix whose eigenvalues are squared frequencies.
        Ellipsoids of revolution: the axis û turns about axes ⊥ û, with moment of inertia
        I⊥ = m(a² + b²)/5, so ℓ = √((a² + b²)/5) and FIRE moves s with ds = ℓ·(angle turned by û);
        the generalized force is the tangent gradient −(I − ûûᵀ)∂U/∂û divided by ℓ (a 3-vector ⊥ û,
        the torque ⊥ û rotated by 90° about û, over ℓ).
        Round particles have no rotations; 1 is returned for them (unused).
        """
        if self.is_round:
            return np.ones(self.n)
        a, b = self.semi_axes[:, 0], self.semi_axes[:, 1]
        return np.sqrt(self.particle_shape.gyration * (a * a + b * b))

    def wrapped_positions(self) -> np.ndarray:
        """(N, d) positions folded into [0, L)."""
        return self.positions - self.box * np.floor(self.positions / self.box)

    def at_phi(self, phi: float) -> "Packing":
        """The packing affinely rescaled to packing fraction ``phi``: positions and box are scaled,
        particle sizes and orientations are not."""
        phi = float(phi)
        require(math.isfinite(phi) and 0.0 < phi, "phi", "a finite number > 0", phi)
        s = (self.phi / phi) ** (1.0 / self.dim)
        return dataclasses.replace(self, positions=self.positions * s, box=self.box * s)

    def with_positions(self, positions: np.ndarray) -> "Packing":
        """The same particles at new positions (orientations kept)."""
        return dataclasses.replace(self, positions=positions)

    def with_coordinates(self, positions: np.ndarray, rot: np.ndarray) -> "Packing":
        """The same particles at new positions (N, d) and orientations rot (N, n_rot_stored), as
        `kernel_arrays` and the engine use them: the angles θ (N, 1) of ellipses, the unit axes û
        (N, 3) of ellipsoids."""
        rot = np.asarray(rot, dtype=np.float64)
        m = self.n_rot_stored
        require(rot.shape == (self.n, m), "rot", f"an ({self.n}, {m}) array", rot.shape)
        if m == 0:
            return self.with_positions(positions)
        return dataclasses.replace(self, positions=positions,
                                   orientations=rot if m > 1 else rot[:, 0])

    # ------------------------------------------------------------------ kernel view
    def kernel_arrays(self) -> KernelArrays:
        """:class:`KernelArrays` (kind, x, rot, shp, bound, rot_len) as the numba engine takes them
        (copies of x, rot).

        Round: shp = [diameter] (N, 1), rot (N, 0). Ellipses: shp = [a, b] (N, 2), rot = [θ] (N, 1).
        Ellipsoids: shp = [a, b] (N, 2), rot = û (N, 3).
        bound = bounding radii (N,), rot_len = :attr:`rotational_lengths` (N,).
        """
        n, kind = self.n, self.particle_shape
        bound = np.ascontiguousarray(self.bounding_radii, dtype=np.float64)
        rot_len = np.ones(n) if kind.round else np.ascontiguousarray(self.rotational_lengths)
        return KernelArrays(kind.kind, np.array(self.positions),
                            kind.kernel_rot(self.orientations, n),
                            kind.kernel_sizes(self.diameters, self.semi_axes), bound, rot_len)


def random_packing(n: int, phi: float, dim: int = 2, dispersity: float = 1.4,
                   potential: Literal["harmonic", "hertz"] = "harmonic",
                   seed: int = 0, shape: str | None = None, aspect: float = 1.0) -> Packing:
    """Uniformly random (infinite-temperature) start of ``n`` bidisperse particles at packing
    fraction ``phi`` in a cubic periodic box.

    ``dispersity`` is the large/small size ratio (1 = monodisperse). ``shape`` None means round
    ("disk"/"sphere" by ``dim``); "ellipse" (dim 2) gives ellipses of aspect ratio ``aspect`` with
    the sizes of :func:`bidisperse_semi_axes` and orientations uniform in [0, π); "ellipsoid"
    (dim 3) ellipsoids of revolution of aspect ratio a/b = ``aspect`` in [0.1, 10] with the sizes of
    :func:`bidisperse_spheroid_semi_axes` and axes uniform on the unit sphere. Positions are
    drawn first from the seeded generator, so an ellipse (ellipsoid) packing with aspect 1 has the
    positions of the disc (sphere) packing of the same seed.
    """
    require(dim in (2, 3), "dim", "2 or 3", dim)
    require(isinstance(n, (int, np.integer)) and n >= 2, "n", "an integer >= 2", n)
    phi = float(phi)
    require(math.isfinite(phi) and 0.0 < phi < 1.5, "phi", "a finite number in (0, 1.5)", phi)
    require(potential in POTENTIALS, "potential", f"one of {tuple(POTENTIALS)}", potential)
    require(shape in (None,) + SHAPES, "shape", f"None or one of {SHAPES}", shape)
    kind = resolve_shape(shape, dim)
    if shape is not None and not kind.round:
        require(dim == kind.dim, "dim", f"{kind.dim} for {shape}s", dim)
    else:
        require(shape is None or shape == kind.name, "shape",
                f"{kind.name} or {'ellipse' if dim == 2 else 'ellipsoid'} in {dim}D", shape)
    sizes, vol_p = kind.mixture(int(n), aspect, dispersity)
    side = (vol_p / phi) ** (1.0 / dim)
    rng = np.random.default_rng(seed)
    pos = rng.uniform(0.0, side, size=(int(n), dim))
    if kind.round:
        return Packing(pos, np.full(dim, side), sizes, kind.name, POTENTIALS[potential])
    return Packing(pos, np.full(dim, side), None, kind.name, POTENTIALS[potential],
                   semi_axes=sizes, orientations=kind.random_orientations(rng, int(n)))
