"""The particle shapes: one :class:`ParticleShape` per kind of particle, holding what the packing,
the engine, the contact rule and the run specs need to know about it, instead of branches on the
shape's name.

Round particles (discs, spheres) carry diameters; ellipses carry semi-axes (a, b) and an angle;
ellipsoids of revolution carry semi-axes (a, b, b) and a unit symmetry axis. Sizes of the default
50:50 mixtures: O'Hern, Silbert, Liu, Nagel, PRE 68, 011306, 2003 (discs, ratio 1.4); Mailman,
Schreck, O'Hern, Chakraborty, PRL 102, 255501, 2009 (ellipses of one aspect ratio, both axes
scaled by 1.4).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable

import numpy as np

from . import _pairs
from .errors import require

ROUND = ("disk", "sphere")


@dataclasses.dataclass(frozen=True)
class ParticleShape:
    """What one particle shape is.

    name : "disk", "sphere", "ellipse" or "ellipsoid". dim : its space dimension. round : a disc
    or sphere (diameters, no rotations). kind : the pair-kernel code (`packing._pairs`).
    n_rot : rotational degrees of freedom per particle (1 for an ellipse's angle, 2 for the
    direction of an ellipsoid's axis; spins about the axis change nothing). n_rot_stored :
    orientation components per particle in the kernels' arrays (3 for an ellipsoid's unit axis).
    gyration : ℓ² / (a² + b²) of the rotational length ℓ, the radius of gyration of a uniform
    body of unit mass about the axes it turns about (1/4 for an ellipse, 1/5 for an ellipsoid
    turning ⊥ its axis; unused for round particles). min_contacts : the rattler threshold of
    `packing.contacts.default_min_contacts` (None: d + 1). aspect_range : allowed a/b.
    validate : (n, d, diameters, semi_axes, orientations) → dict of read-only per-particle arrays
    (ParameterError otherwise). volumes, bounding : (diameters, semi_axes) → (N,) particle volumes
    (areas in 2D) and bounding radii. kernel_sizes, kernel_rot : the (N, n_s) sizes and (N,
    n_rot_stored) orientations the kernels take. mixture : (n, aspect, dispersity) → (sizes,
    total volume) of the default bidisperse mixture. random_orientations : (rng, n) → uniform
    random orientations, None for round particles.
    """

    name: str
    dim: int
    round: bool
    kind: int
    n_rot: int
    n_rot_stored: int
    gyration: float
    min_contacts: int | None
    aspect_range: tuple[float, float]
    validate: Callable
    volumes: Callable
    bounding: Callable
    kernel_sizes: Callable
    kernel_rot: Callable
    mixture: Callable
    random_orientations: Callable | None

    @property
    def rattler_threshold(self) -> int:
        """Contacts a particle needs among non-rattlers not to be a rattler."""
        return self.dim + 1 if self.min_contacts is None else self.min_contacts

    def check_aspect(self, aspect: float) -> bool:
        """True when ``aspect`` is a finite a/b this shape allows."""
        lo, hi = self.aspect_range
        return math.isfinite(aspect) and lo <= aspect <= hi


ELLIPSE_ASPECT_RANGE = (1.0, 10.0)     # a/b of the major over the minor axis
ELLIPSOID_ASPECT_RANGE = (0.1, 10.0)   # a/b: oblate (< 1) and prolate (> 1) ellipsoids of revolution


# ------------------------------------------------------------------------------ validation
def _validated_round(n: int, d: int, diameters, semi_axes, orientations) -> dict:
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



# ------------------------------------------------------------------------------ mixtures
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



def _round_mixture(dim: int):
    """(n, aspect, dispersity) → (diameters, total volume) of discs (dim 2) or spheres (3)."""
    def mixture(n: int, aspect: float, dispersity: float):
        require(float(aspect) == 1.0, "aspect", "1 for round particles", aspect)
        dia = bidisperse_diameters(n, dispersity) if dispersity != 1.0 else np.ones(n)
        vol = (math.pi / 4.0 * dia**2).sum() if dim == 2 else (math.pi / 6.0 * dia**3).sum()
        return dia, vol
    return mixture


def _ellipse_mixture(n: int, aspect: float, dispersity: float):
    axes = bidisperse_semi_axes(n, aspect, dispersity)
    return axes, float((math.pi * axes[:, 0] * axes[:, 1]).sum())


def _ellipsoid_mixture(n: int, aspect: float, dispersity: float):
    axes = bidisperse_spheroid_semi_axes(n, aspect, dispersity)
    return axes, float((4.0 / 3.0 * math.pi * axes[:, 0] * axes[:, 1] ** 2).sum())


def _isotropic_axes(rng, n: int) -> np.ndarray:
    """(n, 3) isotropic directions (normalised by Packing)."""
    return rng.normal(size=(n, 3))


# ------------------------------------------------------------------------------ the table
def _round(name: str, dim: int, volume) -> ParticleShape:
    return ParticleShape(
        name, dim, True, _pairs.KIND_SPHERE, 0, 0, 0.0, None, (1.0, 1.0), _validated_round,
        volumes=lambda dia, ax: volume(dia), bounding=lambda dia, ax: 0.5 * dia,
        kernel_sizes=lambda dia, ax: np.ascontiguousarray(dia.reshape(dia.size, 1)),
        kernel_rot=lambda ori, n: np.zeros((n, 0)), mixture=_round_mixture(dim),
        random_orientations=None)


SHAPE_TABLE = {s.name: s for s in (
    _round("disk", 2, lambda dia: math.pi * dia**2 / 4.0),
    _round("sphere", 3, lambda dia: math.pi * dia**3 / 6.0),
    ParticleShape(
        "ellipse", 2, False, _pairs.KIND_ELLIPSE, 1, 1, 0.25, 3, ELLIPSE_ASPECT_RANGE,
        _validated_ellipses, volumes=lambda dia, ax: math.pi * ax[:, 0] * ax[:, 1],
        bounding=lambda dia, ax: ax[:, 0], kernel_sizes=lambda dia, ax: np.ascontiguousarray(ax),
        kernel_rot=lambda ori, n: np.array(ori, dtype=np.float64).reshape(n, 1),
        mixture=_ellipse_mixture,
        random_orientations=lambda rng, n: rng.uniform(0.0, math.pi, size=n)),
    ParticleShape(
        "ellipsoid", 3, False, _pairs.KIND_ELLIPSOID, 2, 3, 0.2, 4, ELLIPSOID_ASPECT_RANGE,
        _validated_ellipsoids,
        volumes=lambda dia, ax: 4.0 / 3.0 * math.pi * ax[:, 0] * ax[:, 1] ** 2,
        bounding=lambda dia, ax: np.maximum(ax[:, 0], ax[:, 1]),
        kernel_sizes=lambda dia, ax: np.ascontiguousarray(ax[:, :2]),
        kernel_rot=lambda ori, n: np.array(ori, dtype=np.float64, order="C"),
        mixture=_ellipsoid_mixture, random_orientations=_isotropic_axes),
)}
SHAPES = tuple(SHAPE_TABLE)


def round_shape(dim: int) -> ParticleShape:
    """The round particle of dimension ``dim``: discs in 2D, spheres in 3D."""
    return SHAPE_TABLE["disk" if dim == 2 else "sphere"]


def resolve_shape(shape: str | None, dim: int) -> ParticleShape:
    """The shape named ``shape`` (None, "disk" or "sphere": the round particle of ``dim``)."""
    return round_shape(dim) if shape is None or shape in ROUND else SHAPE_TABLE[shape]
