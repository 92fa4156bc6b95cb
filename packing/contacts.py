"""Contact networks: candidate pairs and their gaps, contacts, iterative rattler removal and the
constraint count that decides isostaticity.

Generic over particle kind: gaps come from the shape's pair kernel (`packing._pairs`) through
`packing._engine.pair_table`, so discs, spheres and (later) ellipses share this code.

Counting (Goodrich, Liu, Nagel, PRL 109, 095704, 2012): rattlers are removed iteratively — a
particle with fewer than ``min_contacts`` contacts among the current non-rattlers is a rattler, and
removing it may turn its neighbours into rattlers. With N′ non-rattlers in a periodic box of
dimension d and n_rot rotational coordinates per particle, N_dof = (d + n_rot) N′ − d (the d global
translations removed) and the jammed state is isostatic when N_Δ = N_dof + 1, N_Δ being the number
of contacts between non-rattlers. For 2D ellipses (n_rot = 1) N_dof = 3N′ − 2 and jammed packings
are hypostatic, N_Δ < N_dof (see :func:`default_min_contacts` for their rattler rule); for 3D
ellipsoids of revolution (n_rot = 2) N_dof = 5N′ − 3.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from . import _engine
from .analysis import ConstraintCount
from .errors import ParameterError, require
from .minimize import default_skin
from .system import Packing


@dataclasses.dataclass(frozen=True)
class ContactNetwork:
    """Contacts and constraint count of a packing (see module docstring).

    Attributes
    ----------
    pairs : (M, 2) int64, every candidate pair (i < j) of the neighbour list with skin.
    gaps : (M,) float64, Δ of each candidate pair (> 0: overlap) — the HDF5 ``gaps`` dataset.
    contacts : (M_c, 2) int64, the candidate pairs with Δ > 0 (rattlers included).
    rattler : (N,) bool, rattlers after iterative removal.
    min_contacts : the rattler threshold used (a particle needs at least this many contacts).
    n_rattlers : number of rattlers; n_particles N; dim d; n_rot rotational coordinates per particle.
    z : mean contact number of the non-rattlers, 2 N_Δ / N′ (0 when N′ = 0).
    counts : the `packing.analysis.ConstraintCount` of the rigid cluster: N_Δ (contacts between
        two non-rattlers), N_dof = (d + n_rot) N′ − d (0 when N′ = 0) and isostatic offset 1.
    """

    pairs: np.ndarray
    gaps: np.ndarray
    contacts: np.ndarray
    rattler: np.ndarray
    min_contacts: int
    n_rattlers: int
    n_particles: int
    dim: int
    n_rot: int
    z: float
    counts: ConstraintCount

    @property
    def n_constraints(self) -> int:
        """N_Δ, contacts between two non-rattlers."""
        return self.counts.n_constraints

    @property
    def n_dof(self) -> int:
        """N_dof = (d + n_rot) N′ − d, 0 when N′ = 0."""
        return self.counts.n_dof

    @property
    def isostatic_count(self) -> int:
        """N_dof + 1."""
        return self.counts.isostatic_count

    @property
    def excess(self) -> int:
        """N_Δ − (N_dof + 1): 0 at isostaticity, > 0 above jamming, < 0 hypostatic."""
        return self.counts.excess

    @property
    def is_isostatic(self) -> bool:
        """True when N_Δ = N_dof + 1 exactly."""
        return self.counts.is_isostatic

    @property
    def n_contacts(self) -> int:
        """M_c, all contacts including those of rattlers."""
        return int(self.contacts.shape[0])

    @property
    def n_nonrattlers(self) -> int:
        """N′."""
        return self.n_particles - self.n_rattlers

    @property
    def active_contacts(self) -> np.ndarray:
        """(N_Δ, 2) contacts between non-rattlers."""
        keep = ~self.rattler[self.contacts[:, 0]] & ~self.rattler[self.contacts[:, 1]]
        return self.contacts[keep]


PERIODIC_ISOSTATIC_OFFSET = 1   # N_Δ = N_dof + 1 at jamming in a periodic box (Goodrich et al. 2012)


def default_min_contacts(packing: Packing) -> int:
    """Rattler threshold: a particle with fewer contacts than this (among non-rattlers) is a rattler.

    The threshold is the shape's (`packing.shapes.ParticleShape.rattler_threshold`):

    * Discs/spheres: d + 1 (Goodrich, Liu, Nagel, PRL 109, 095704, 2012).
    * 2D ellipses: 3 (= d + 1 as well). Reasoning: with ≤ 2 contacts an ellipse is never stable —
      one contact cannot balance a force; two opposite collinear forces leave the sliding motion
      perpendicular to their common line, which for two convex bodies in contact opens the gaps
      at second order (no restoring force). Three contacts suffice for a frictionless ellipse in a
      *hypostatic* packing when the three normal lines of force meet in one point (force and
      torque balance with 3 < d_f + 1 = 4 forces; second-order, curvature stabilisation: Donev,
      Connelly, Stillinger, Torquato, PRE 75, 051304, 2007), so the rigidity-counting threshold
      d_f + 1 = 4 would wrongly discard stable particles. At a = b the rule is the disc rule, so
      ellipse and disc contact counts coincide there. This rule is derived here, not taken from
      Mailman et al., PRL 102, 255501, 2009 or Schreck et al., PRE 85, 061305, 2012.
    * 3D ellipsoids of revolution: 4 (= d + 1, the sphere rule). Reasoning: a frictionless body in
      equilibrium under three contact forces has them coplanar and concurrent; the translation
      normal to their plane changes no gap at first order, and at second order it opens every gap,
      since for pure translations Δ = 1 − μ(r) with μ the gauge (Minkowski functional) of the
      convex Minkowski sum of the two bodies, a convex function of r: the stress term
      Σ f_c ∂²Δ_c/∂r² is negative along that direction, so a particle with ≤ 3 contacts is never
      stable, whatever its rotations do. With 4 or more contacts the first-order floppy motions
      (5 − rank of the contact normals, rotations included) can be stabilised at second order by
      curvature, which is how hypostatic ellipsoid packings are jammed (Donev, Connelly,
      Stillinger, Torquato, PRE 75, 051304, 2007). Counting d_f + 1 = 6 contacts would wrongly
      discard such particles. At a = b the rule is the sphere rule.
    """
    return packing.particle_shape.rattler_threshold


def iterative_rattlers(n: int, contacts: np.ndarray, min_contacts: int) -> np.ndarray:
    """(n,) bool rattler mask: repeatedly mark particles with fewer than ``min_contacts`` contacts
    among the non-rattlers until no particle changes.

    contacts : (M_c, 2) integer pairs (each contact once).
    """
    contacts = np.asarray(contacts, dtype=np.int64).reshape(-1, 2)
    rattler = np.zeros(n, dtype=bool)
    while True:
        live = ~rattler[contacts[:, 0]] & ~rattler[contacts[:, 1]]
        c = contacts[live]
        count = np.bincount(c.ravel(), minlength=n)
        new = (count < min_contacts) & ~rattler
        if not new.any():
            return rattler
        rattler |= new


def _rigid_cluster_count(gaps: np.ndarray, pairs: np.ndarray, rattler: np.ndarray, dim: int,
                         n_rot: int) -> tuple[float, ConstraintCount]:
    """(z, counts) of the pairs between non-rattlers: z = 2 N_Δ / N′ and the ConstraintCount with
    N_dof = (d + n_rot) N′ − d (≥ 0) and isostatic offset 1 (periodic box)."""
    live = ~rattler[pairs[:, 0]] & ~rattler[pairs[:, 1]]
    g = gaps[live]
    n_live = int(rattler.size - rattler.sum())
    n_constraints = int(np.count_nonzero(g > 0.0))
    z = 2.0 * n_constraints / n_live if n_live > 0 else 0.0
    n_dof = max(0, (dim + n_rot) * n_live - dim)
    counts = ConstraintCount.from_counts(n_constraints, int(np.count_nonzero(g < 0.0)), g.size,
                                         n_dof, PERIODIC_ISOSTATIC_OFFSET)
    return z, counts


def contact_network(packing: Packing, rattler_min_contacts: int | None = None,
                    skin: float | None = None) -> ContactNetwork:
    """The contact network of ``packing``.

    Parameters
    ----------
    packing : a :class:`~packing.system.Packing`.
    rattler_min_contacts : a particle with fewer contacts than this among non-rattlers is a
        rattler (default :func:`default_min_contacts`: d + 1 for discs/spheres, 3 for ellipses,
        4 for ellipsoids).
    skin : candidate pairs are those closer than b_i + b_j + skin (bounding radii b); default the
        minimiser's Verlet skin (0.3 × the smallest bounding diameter).

    Returns
    -------
    :class:`ContactNetwork`.
    """
    require(isinstance(packing, Packing), "packing", "a packing.system.Packing", type(packing).__name__)
    arr = packing.kernel_arrays()
    if rattler_min_contacts is None:
        min_contacts = default_min_contacts(packing)
    else:
        require(isinstance(rattler_min_contacts, (int, np.integer)) and 0 <= rattler_min_contacts <= 64,
                "rattler_min_contacts", "an integer in [0, 64]", rattler_min_contacts)
        min_contacts = int(rattler_min_contacts)
    if skin is None:
        skin = default_skin(packing)
    else:
        skin = float(skin)
        require(math.isfinite(skin) and 0.0 <= skin <= float(arr.bound.max()), "skin",
                "in [0, largest bounding radius]", skin)
    pairs, gaps = _engine.pair_table(arr.kind, arr.x, arr.rot, arr.shp, arr.bound, packing.box, skin)
    if not np.all(np.isfinite(gaps)):
        raise ParameterError(f"packing must have a pair kernel for its particle kind {arr.kind} "
                             f"(got non-finite gaps)")
    order = np.lexsort((pairs[:, 1], pairs[:, 0]))
    pairs, gaps = pairs[order], gaps[order]
    contacts = pairs[gaps > 0.0]
    rattler = iterative_rattlers(packing.n, contacts, min_contacts)
    z, counts = _rigid_cluster_count(gaps, pairs, rattler, packing.dim, packing.n_rot)
    for a in (pairs, gaps, contacts, rattler):
        a.setflags(write=False)
    return ContactNetwork(pairs=pairs, gaps=gaps, contacts=contacts, rattler=rattler,
                          min_contacts=min_contacts, n_rattlers=int(rattler.sum()),
                          n_particles=packing.n, dim=packing.dim, n_rot=packing.n_rot, z=z,
                          counts=counts)
