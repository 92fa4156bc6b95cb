"""A packing state as the tools outside this package see it: the particles, their contact list
with overlaps and forces, the rattlers and a few scalars (φ, φ_J, pressure), read from a state
group of a ``packing jam`` file or computed from a :class:`~packing.system.Packing`.

Contact forces are the magnitudes of the pair force of V = ε/α Δ^α: f = Δ^(α−1)/σ_ij for discs
and spheres (the force along the line of centres, in units of ε over the small diameter), and
f = Δ^(α−1) = −dV/dμ for ellipses and ellipsoids (the force conjugate to the Perram–Wertheim
range μ, whose gap is Δ = 1 − μ). Units as in `packing.system`.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Mapping

import h5py
import numpy as np

from .contacts import ContactNetwork, contact_network
from .errors import ParameterError, require
from .io import iter_states, read_h5
from .system import POTENTIALS, Packing

SCALARS = ("phi", "phi_j", "delta_phi", "pressure", "energy")
"""State attributes a snapshot carries (NaN where unknown)."""


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """One packing with its contact network, as exported (`packing.export`).

    packing : the :class:`Packing` (positions wrapped into [0, L)). contacts : (M, 2) int64
    pairs i < j with Δ > 0, rattlers' contacts included. overlaps : (M,) float64 Δ of each
    contact. rattlers : (N,) bool. info : the :data:`SCALARS` (float; NaN where unknown).
    """

    packing: Packing
    contacts: np.ndarray
    overlaps: np.ndarray
    rattlers: np.ndarray
    info: Mapping[str, float]

    def __post_init__(self) -> None:
        n = self.packing.n
        contacts = np.asarray(self.contacts, dtype=np.int64).reshape(-1, 2)
        overlaps = np.asarray(self.overlaps, dtype=np.float64).reshape(-1)
        rattlers = np.asarray(self.rattlers, dtype=bool).reshape(-1)
        require(len(overlaps) == len(contacts), "overlaps", f"one per contact ({len(contacts)})",
                len(overlaps))
        require(contacts.size == 0 or (contacts.min() >= 0 and contacts.max() < n
                                       and bool(np.all(contacts[:, 0] < contacts[:, 1]))),
                "contacts", f"pairs i < j of particle indices in [0, {n})", "out of range")
        require(rattlers.shape == (n,), "rattlers", f"one flag per particle ({n})", rattlers.shape)
        object.__setattr__(self, "contacts", contacts)
        object.__setattr__(self, "overlaps", overlaps)
        object.__setattr__(self, "rattlers", rattlers)
        object.__setattr__(self, "info", {k: float(self.info.get(k, np.nan)) for k in SCALARS})

    @property
    def pair_diameters(self) -> np.ndarray:
        """(M,) σ_ij = (d_i + d_j)/2 of each contact for discs/spheres, ones otherwise."""
        p = self.packing
        if not p.is_round:
            return np.ones(len(self.contacts))
        return 0.5 * (p.diameters[self.contacts[:, 0]] + p.diameters[self.contacts[:, 1]])

    @property
    def forces(self) -> np.ndarray:
        """(M,) contact force magnitudes (module docstring)."""
        return self.overlaps ** (self.packing.alpha - 1.0) / self.pair_diameters


def snapshot_of(packing: Packing, net: ContactNetwork | None = None,
                info: Mapping[str, float] | None = None) -> Snapshot:
    """The snapshot of ``packing``, its contact network computed (or ``net``)."""
    net = contact_network(packing) if net is None else net
    overlaps = net.gaps[net.gaps > 0.0]
    wrapped = packing.with_positions(packing.wrapped_positions())
    return Snapshot(wrapped, net.contacts, overlaps, net.rattler,
                    {"phi": packing.phi, **({} if info is None else info)})


def _dataset(group: h5py.Group, name: str) -> np.ndarray:
    if name not in group or not isinstance(group[name], h5py.Dataset):
        raise ParameterError(f"state group must hold a dataset {name!r} (got {group.name!r}: "
                             "not a packing state)")
    return np.asarray(group[name][()])


def _packing_of_state(group: h5py.Group) -> Packing:
    attrs = group.attrs
    require(attrs.get("side") == "packing", "state group", "a packing state (side = 'packing')",
            f"{group.name}: side {attrs.get('side')!r}")
    potential = str(attrs.get("potential", ""))
    require(potential in POTENTIALS, "state attribute potential", f"one of {sorted(POTENTIALS)}",
            potential)
    positions, box = _dataset(group, "positions"), _dataset(group, "box")
    shape = str(attrs.get("shape", ""))
    if "diameters" in group:
        return Packing(positions, box, _dataset(group, "diameters"), shape, POTENTIALS[potential])
    return Packing(positions, box, None, shape, POTENTIALS[potential],
                   _dataset(group, "semi_axes"), _dataset(group, "orientations"))


def read_state(group: h5py.Group) -> Snapshot:
    """The snapshot stored in one state group of a ``packing jam`` file (its contact list and
    rattlers as stored, not recomputed)."""
    packing = _packing_of_state(group)
    gaps, pairs = _dataset(group, "gaps"), _dataset(group, "pairs")
    contacts = _dataset(group, "contacts")
    require(gaps.shape == (len(pairs),) and np.array_equal(pairs[gaps > 0.0], contacts),
            "state datasets", "contacts equal to the pairs with gaps > 0", group.name)
    info = {k: float(group.attrs[k]) for k in SCALARS if k in group.attrs
            and isinstance(group.attrs[k], (float, np.floating, int, np.integer))}
    wrapped = packing.with_positions(packing.wrapped_positions())
    return Snapshot(wrapped, contacts, gaps[gaps > 0.0], _dataset(group, "rattlers"), info)


def read_state_file(path: str | os.PathLike, group: str | None = None) -> Snapshot:
    """The snapshot of state ``group`` (a path inside the file, e.g.
    ``runs/<system>/seed0/dphi_1e-06``) of a ``packing jam`` file; ``group`` may be omitted when
    the file holds one state. ParameterError (one line) for a missing, foreign or truncated file
    or group."""
    p = str(path)
    with read_h5(p) as f:
        if group is None:
            states = [g.name for g in iter_states(f) if g.attrs.get("side") == "packing"]
            require(len(states) == 1, "GROUP", "given when the file holds several states "
                    f"(e.g. {states[0]!r})" if states else "a file with a packing state",
                    f"{len(states)} states in {p}")
            group = states[0]
        require(group in f and isinstance(f[group], h5py.Group), "GROUP",
                "a state group of the file", f"{group!r} in {p}")
        return read_state(f[group])
