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

from . import _pairs
from .errors import ParameterError, require

POTENTIALS = {"harmonic": 2.0, "hertz": 2.5}
ROUND_SHAPES = ("disk", "sphere")
SHAPES = ("disk", "sphere", "ellipse", "ellipsoid")
ELLIPSOID_ASPECT_RANGE = (0.1, 10.0)  # a/b: oblate (< 1) and prolate (> 1) ellipsoids of revolution


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
        if self.shape == "ellipse":
            arrays = _validated_ellipses(n, d, self.diameters, self.semi_axes, self.orientations)
            shape = "ellipse"
        elif self.shape == "ellipsoid":
            arrays = _validated_ellipsoids(n, d, self.diameters, self.semi_axes, self.orientations)
            shape = "ellipsoid"
        else:
            arrays = _validated_round(n, self.diameters, self.semi_axes, self.orientations)
            shape = "disk" if d == 2 else "sphere"
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
    def is_round(self) -> bool:
        """True for discs/spheres."""
        return self.shape in ROUND_SHAPES

    @property
    def bounding_radii(self) -> np.ndarray:
        """(N,) radius of the smallest centred circle/sphere containing each particle (a for ellipses,
        max(a, b) for ellipsoids)."""
        if self.is_round:
            return 0.5 * self.diameters
        if self.shape == "ellipsoid":
            return np.maximum(self.semi_axes[:, 0], self.semi_axes[:, 1])
        return self.semi_axes[:, 0]

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
        if self.shape == "ellipse":
            return math.pi * self.semi_axes[:, 0] * self.semi_axes[:, 1]
        if self.shape == "ellipsoid":
            return 4.0 / 3.0 * math.pi * self.semi_axes[:, 0] * self.semi_axes[:, 1] ** 2
        if self.dim == 2:
            return math.pi * self.diameters**2 / 4.0
        return math.pi * self.diameters**3 / 6.0

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
        if self.is_round:
            return 0
        return 2 if self.shape == "ellipsoid" else 1

    @property
    def n_rot_stored(self) -> int:
        """Orientation components per particle in :meth:`kernel_arrays`' ``rot`` (and
        :meth:`with_coordinates`): n_rot, except 3 for ellipsoids (the unit axis û)."""
        return 3 if self.shape == "ellipsoid" else self.n_rot

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
        if self.shape == "ellipsoid":
            return np.sqrt(0.2 * (a * a + b * b))
        return np.sqrt(0.25 * (a * a + b * b))

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
        if self.shape == "ellipsoid":
            return dataclasses.replace(self, positions=positions, orientations=rot)
        return dataclasses.replace(self, positions=positions, orientations=rot[:, 0])

    # ------------------------------------------------------------------ kernel view
    def kernel_arrays(self) -> KernelArrays:
        """:class:`KernelArrays` (kind, x, rot, shp, bound, rot_len) as the numba engine takes them
        (copies of x, rot).

        Round: shp = [diameter] (N, 1), rot (N, 0). Ellipses: shp = [a, b] (N, 2), rot = [θ] (N, 1).
        Ellipsoids: shp = [a, b] (N, 2), rot = û (N, 3).
        bound = bounding radii (N,), rot_len = :attr:`rotational_lengths` (N,).
        """
        n = self.n
        bound = np.ascontiguousarray(self.bounding_radii, dtype=np.float64)
        if self.is_round:
            return KernelArrays(_pairs.KIND_SPHERE, np.array(self.positions), np.zeros((n, 0)),
                    np.ascontiguousarray(self.diameters.reshape(n, 1)), bound, np.ones(n))
        if self.shape == "ellipsoid":
            return KernelArrays(_pairs.KIND_ELLIPSOID, np.array(self.positions),
                    np.array(self.orientations, dtype=np.float64, order="C"),
                    np.ascontiguousarray(self.semi_axes[:, :2]), bound,
                    np.ascontiguousarray(self.rotational_lengths))
        return KernelArrays(_pairs.KIND_ELLIPSE, np.array(self.positions),
                np.array(self.orientations, dtype=np.float64).reshape(n, 1),
                np.ascontiguousarray(self.semi_axes), bound,
                np.ascontiguousarray(self.rotational_lengths))


def _validated_round(n: int, diameters, semi_axes, orientations) -> dict:
    """Read-only copies of the per-particle arrays of discs/spheres (ParameterError otherwise)."""
    require(diameters is not None, "diameters", f"an ({n},) array for discs/spheres", None)
    require(semi_axes is None and orientations is None, "semi_axes",
            "None for discs/spheres (use shape='ellipse')", "an array")
    dia = np.array(diameters, dtype=np.float64, order="C", copy=True)
    require(dia.shape == (n,), "diameters", f"a ({n},) array", dia.shape)
    require(bool(np.all(np.isfinite(dia)) and np.all(dia > 0)), "diameters", "finite and > 0",
            f"min {dia.min() if dia.size else None}")
    return {"diameters": dia, "semi_axes": None, "orientations": None}


def _semi_axes_array(n: int, d: int, diameters, semi_axes, name: str, layout: str) -> np.ndarray:
    """A C-contiguous float64 copy of ``semi_axes``, checked to be (n, d), finite and > 0, for
    particles called ``name`` in dimension d (ParameterError otherwise)."""
    require(diameters is None, "diameters", f"None for {name} (give semi_axes)", "an array")
    require(semi_axes is not None, "semi_axes", f"an ({n}, {d}) array {layout} for {name}", None)
    ax = np.array(semi_axes, dtype=np.float64, order="C", copy=True)
    require(ax.shape == (n, d), "semi_axes", f"an ({n}, {d}) array {layout}", ax.shape)
    require(bool(np.all(np.isfinite(ax)) and np.all(ax > 0)), "semi_axes", "finite and > 0",
            f"min {ax.min() if ax.size else None}")
    return ax


def _validated_ellipses(n: int, d: int, diameters, semi_axes, orientations) -> dict:
    """Read-only copies of the per-particle arrays of 2D ellipses (ParameterError otherwise);
    orientations default to 0."""
    require(d == 2, "positions", "an (N, 2) array for ellipses (2D only)", (n, d))
    ax = _semi_axes_array(n, 2, diameters, semi_axes, "ellipses", "(a, b)")
    require(bool(np.all(ax[:, 0] >= ax[:, 1])), "semi_axes", "(a, b) with a >= b (a the major axis)",
            "a < b for some particle")
    ori = np.zeros(n) if orientations is None else np.array(orientations, dtype=np.float64,
                                                               order="C", copy=True)
    require(ori.shape == (n,), "orientations", f"a ({n},) array of angles", ori.shape)
    require(bool(np.all(np.isfinite(ori))), "orientations", "finite", "non-finite values")
    return {"diameters": None, "semi_axes": ax, "orientations": ori}


def _validated_ellipsoids(n: int, d: int, diameters, semi_axes, orientations) -> dict:
    """Read-only copies of the per-particle arrays of 3D ellipsoids of revolution (ParameterError
    otherwise): semi_axes (a, b, b), orientations normalised to unit axes (default x̂)."""
    require(d == 3, "positions", "an (N, 3) array for ellipsoids (3D only)", (n, d))
    ax = _semi_axes_array(n, 3, diameters, semi_axes, "ellipsoids", "(a, b, b)")
    require(bool(np.all(np.abs(ax[:, 2] - ax[:, 1]) <= 1e-12 * ax[:, 1])), "semi_axes",
            "(a, b, b): ellipsoids of revolution (equal second and third semi-axes)",
            "b != c for some particle")
    ax[:, 2] = ax[:, 1]
    aspect = ax[:, 0] / ax[:, 1]
    lo, hi = ELLIPSOID_ASPECT_RANGE
    require(bool(np.all((aspect >= lo) & (aspect <= hi))), "semi_axes",
            f"aspect ratios a/b in [{lo:g}, {hi:g}]", f"range [{aspect.min():.4g}, {aspect.max():.4g}]")
    if orientations is None:
        ori = np.zeros((n, 3))
        ori[:, 0] = 1.0
    else:
        ori = np.array(orientations, dtype=np.float64, order="C", copy=True)
    require(ori.shape == (n, 3), "orientations", f"an ({n}, 3) array of axis vectors", ori.shape)
    require(bool(np.all(np.isfinite(ori))), "orientations", "finite", "non-finite values")
    norm = np.sqrt(np.einsum("ij,ij->i", ori, ori))
    require(bool(np.all(norm > 0)), "orientations", "non-zero axis vectors", "a zero vector")
    off = np.abs(norm - 1.0) > 4e-16  # leave unit vectors bit for bit (copies, at_phi, …)
    ori[off] /= norm[off, None]
    return {"diameters": None, "semi_axes": ax, "orientations": ori}


def bidisperse_diameters(n: int, ratio: float = 1.4, fraction_small: float = 0.5) -> np.ndarray:
    """(n,) diameters: ⌊n·fraction_small⌉ small ones of diameter 1 and the rest of ``ratio``
    (O'Hern, Silbert, Liu, Nagel, PRE 68, 011306, 2003: 50:50 with ratio 1.4)."""
    require(int(n) >= 2, "n", ">= 2", n)
    require(math.isfinite(ratio) and ratio >= 1.0, "dispersity", "a finite ratio >= 1", ratio)
    require(0.0 <= fraction_small <= 1.0, "fraction_small", "in [0, 1]", fraction_small)
    n_small = int(round(n * fraction_small))
    return np.concatenate([np.ones(n_small), np.full(n - n_small, float(ratio))])


def bidisperse_semi_axes(n: int, aspect: float, ratio: float = 1.4,
                         fraction_small: float = 0.5) -> np.ndarray:
    """(n, 2) semi-axes (a, b) of a bidisperse ellipse mixture at one aspect ratio a/b.

    As Mailman, Schreck, O'Hern & Chakraborty, PRL 102, 255501 (2009): 50:50 small and large
    ellipses of equal aspect ratio, large/small size ratio 1.4 (both axes scaled by ``ratio``).
    Size convention: the small ellipses have area-equivalent diameter 2√(ab) = 1, i.e.
    a = √aspect / 2, b = 1 / (2√aspect), so that aspect = 1 gives exactly the discs of
    :func:`bidisperse_diameters` (diameters 1 and 1.4).
    """
    aspect = float(aspect)
    require(math.isfinite(aspect) and 1.0 <= aspect <= 10.0, "aspect", "a finite number in [1, 10]", aspect)
    dia = bidisperse_diameters(n, ratio, fraction_small) if ratio != 1.0 else np.ones(int(n))
    a = 0.5 * dia * math.sqrt(aspect)
    return np.column_stack([a, a / aspect])


def bidisperse_spheroid_semi_axes(n: int, aspect: float, ratio: float = 1.4,
                                  fraction_small: float = 0.5) -> np.ndarray:
    """(n, 3) semi-axes (a, b, b) of a bidisperse mixture of ellipsoids of revolution, a/b = aspect
    (prolate > 1, oblate < 1), 50:50 small and large with size ratio ``ratio`` (both axes scaled),
    as the ellipses of :func:`bidisperse_semi_axes`. Size convention: the small ones have
    volume-equivalent diameter 2(ab²)^(1/3) = 1, i.e. b = aspect^(−1/3)/2, a = aspect·b, so that
    aspect = 1 gives exactly the spheres of :func:`bidisperse_diameters`.
    """
    aspect = float(aspect)
    lo, hi = ELLIPSOID_ASPECT_RANGE
    require(math.isfinite(aspect) and lo <= aspect <= hi, "aspect", f"a finite number in [{lo:g}, {hi:g}]",
            aspect)
    dia = bidisperse_diameters(n, ratio, fraction_small) if ratio != 1.0 else np.ones(int(n))
    b = 0.5 * dia * aspect ** (-1.0 / 3.0)
    return np.column_stack([aspect * b, b, b])


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
    if shape == "ellipse":
        require(dim == 2, "dim", "2 for ellipses", dim)
        axes = bidisperse_semi_axes(int(n), aspect, dispersity)
        vol_p = float((math.pi * axes[:, 0] * axes[:, 1]).sum())
    elif shape == "ellipsoid":
        require(dim == 3, "dim", "3 for ellipsoids", dim)
        axes = bidisperse_spheroid_semi_axes(int(n), aspect, dispersity)
        vol_p = float((4.0 / 3.0 * math.pi * axes[:, 0] * axes[:, 1] ** 2).sum())
    else:
        require(shape is None or shape == ("disk" if dim == 2 else "sphere"), "shape",
                f"{'disk' if dim == 2 else 'sphere'} or {'ellipse' if dim == 2 else 'ellipsoid'} in {dim}D",
                shape)
        require(float(aspect) == 1.0, "aspect", "1 for round particles", aspect)
        dia = bidisperse_diameters(int(n), dispersity) if dispersity != 1.0 else np.ones(int(n))
        vol_p = (math.pi / 4.0 * dia**2).sum() if dim == 2 else (math.pi / 6.0 * dia**3).sum()
    side = (vol_p / phi) ** (1.0 / dim)
    rng = np.random.default_rng(seed)
    pos = rng.uniform(0.0, side, size=(int(n), dim))
    if shape == "ellipse":
        theta = rng.uniform(0.0, math.pi, size=int(n))
        return Packing(pos, np.full(dim, side), None, "ellipse", POTENTIALS[potential],
                       semi_axes=axes, orientations=theta)
    if shape == "ellipsoid":
        axis = rng.normal(size=(int(n), 3))  # isotropic directions (normalised by Packing)
        return Packing(pos, np.full(dim, side), None, "ellipsoid", POTENTIALS[potential],
                       semi_axes=axes, orientations=axis)
    return Packing(pos, np.full(dim, side), dia, "disk" if dim == 2 else "sphere", POTENTIALS[potential])
