"""The states ``dlbridge compare`` reads: one :class:`State` per HDF5 state group, validated
against the contract of `packing.io` (:data:`~packing.io.READ_ATTRS`, the side's system keys, a
``gaps`` dataset), grouped by :class:`SystemKey`.

Errors are one-line :class:`~packing.errors.ParameterError` naming the file and the attribute.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
import os
from typing import Any, Iterable, Sequence

import h5py
import numpy as np

from packing.analysis import (
    ZERO_MODE_RTOL,
    ConstraintCount,
    ContactPopulations,
    contact_populations,
    marginal_mask,
)
from packing.errors import ParameterError, require
from packing.io import OPTIONAL_SYSTEM_KEYS, READ_ATTRS, SCHEMA, iter_states, read_h5
from packing.shapes import ROUND

from .sides import SIDES, Side

SCHEMA_FAMILY = SCHEMA.split("/")[0]          # "jamming-bridge"; any version 1.x is read
SCHEMA_MAJOR = SCHEMA.split("/")[1].split(".")[0]
EIGENVALUE_SETS = ("hessian_eigenvalues", "stiffness_eigenvalues", "stress_eigenvalues")
POTENTIAL_EXPONENT = {"harmonic": 2.0, "hertz": 2.5}   # V ∝ Δ^α: force f ∝ Δ^(α−1)
CERTIFIED_RESIDUAL = 1e-8
"""Kink residual at and below which a stored ReLU net is a certified minimum (the ``ctol`` of
`dlbridge.nets.kinkfinish.SmoothingSettings`)."""


@dataclasses.dataclass(frozen=True, order=True)
class SystemKey:
    """What makes two states the same system: the side and the attributes of its side's
    ``system_keys``."""

    side: str
    fields: tuple[tuple[str, Any], ...]

    def get(self, name: str) -> Any:
        """Value of one key field (KeyError when absent)."""
        return dict(self.fields)[name]

    @property
    def label(self) -> str:
        """Short human-readable name, e.g. ``disk 2D N=64 harmonic`` or ``net random L=2 P=500``."""
        return self.description.label(dict(self.fields))

    @property
    def description(self) -> Side:
        """The side's :class:`~.sides.Side`."""
        return SIDES[self.side]


@dataclasses.dataclass(frozen=True, eq=False)
class State:
    """One state group, with the contract attributes compare needs.

    source : ``file:group``. realisation : (file, seed), one independent run of a system.
    transition : φ_J or N* (NaN when the file says "none"). gaps : every candidate Δ_c.
    test_error : networks only (NaN otherwise). *_eigenvalues : None when not stored.
    dim : space dimension of a packing (its d global translations), 0 for a net.
    n_particles : packings (NaN for nets). pairs, rattlers, diameters : a packing's candidate
    pairs (M, 2), rattler mask (N,) and particle diameters (N,) (None when not stored; diameters
    only for discs and spheres). dead : a ReLU net's dead training inputs (P,) bool (None when
    not stored). stop_reason : a net's (packings: "none"). pressure : a
    packing's virial pressure (NaN when not stored). converged : the stored ``converged``
    attribute (a packing's FIRE minimisation and φ_J search within their step budget; a net
    fitted or at a minimum, not stopped by its budget or stalled); True when absent.
    kink_residual : a ReLU net's residual of stationarity on its kink set (NaN when not stored;
    ≤ :data:`CERTIFIED_RESIDUAL` with no releasable kink: a certified minimum, `dlbridge.nets.kinkmin`).
    """

    source: str
    side: str
    system: SystemKey
    realisation: tuple[str, int]
    seed: int
    control: float
    transition: float
    n_constraints: int
    n_dof: int
    energy: float
    gaps: np.ndarray
    test_error: float
    dim: int
    n_particles: float
    potential: str
    hessian_eigenvalues: np.ndarray | None
    stiffness_eigenvalues: np.ndarray | None
    stress_eigenvalues: np.ndarray | None
    unjammed: bool = False
    pairs: np.ndarray | None = None
    rattlers: np.ndarray | None = None
    diameters: np.ndarray | None = None
    dead: np.ndarray | None = None
    stop_reason: str = "none"
    pressure: float = math.nan
    converged: bool = True
    kink_residual: float = math.nan
    n_releasable_kinks: int = 0

    @property
    def certified(self) -> bool:
        """A net whose stored kink certificate holds (a first-order minimum of the ReLU loss)."""
        return self.kink_residual <= CERTIFIED_RESIDUAL and self.n_releasable_kinks == 0

    @property
    def description(self) -> Side:
        """The side's :class:`~.sides.Side`."""
        return SIDES[self.side]

    @property
    def isostatic_offset(self) -> int:
        """N_Δ − N_dof of an isostatic state: 1 in a periodic box, 0 for a net."""
        return self.description.isostatic_offset

    @functools.cached_property
    def counts(self) -> ConstraintCount:
        """The `packing.analysis.ConstraintCount` of the stored N_Δ and N_dof (N_dof = 0 for an
        unjammed packing made only of rattlers gives a NaN index)."""
        return ConstraintCount.from_counts(self.n_constraints, int(np.count_nonzero(self.gaps < 0)),
                                           self.gaps.size, self.n_dof, self.isostatic_offset)

    @property
    def n_iso(self) -> int:
        """N_Δ of an isostatic state, N_dof + isostatic_offset."""
        return self.counts.isostatic_count

    @property
    def isostaticity_index(self) -> float:
        """Isostaticity index N_Δ/N_dof (NaN for N_dof = 0: an unjammed packing, all rattlers)."""
        return self.counts.isostaticity_index

    @property
    def distance(self) -> float:
        """Distance to the transition, > 0 on the jammed side (module docstring); NaN if unknown."""
        return self.description.distance(self.control, self.transition)

    @property
    def n_trivial(self) -> int:
        """Exact symmetry zero modes of the stiffness part: d translations (packing), 0 (net)."""
        return self.dim if self.description.translations_trivial else 0

    @functools.cached_property
    def populations(self) -> ContactPopulations | None:
        """A packing's extended and buckler forces and gaps (`packing.analysis.contact_populations`;
        f ∝ Δ^(α−1)/σ_ij for round particles, Δ^(α−1) otherwise; bucklers split off for round
        particles only); None for nets and for files without pairs and rattlers."""
        if self.pairs is None or self.rattlers is None or self.pairs.shape[0] != self.gaps.size:
            return None
        sigma = None
        if self.diameters is not None:
            sigma = 0.5 * (self.diameters[self.pairs[:, 0]] + self.diameters[self.pairs[:, 1]])
        return contact_populations(self.pairs, self.gaps, self.rattlers, self.dim, sigma,
                                   POTENTIAL_EXPONENT.get(self.potential, 2.0) - 1.0,
                                   split_bucklers=self.system.get("shape") in ROUND)

    @functools.cached_property
    def marginal(self) -> np.ndarray:
        """(M,) bool: the marginal constraints among ``gaps`` (`packing.analysis.marginal_mask`)."""
        return marginal_mask(self.gaps) if self.gaps.size else np.zeros(0, dtype=bool)

    @functools.cached_property
    def fitted_out(self) -> np.ndarray:
        """(M,) bool: the constraints left out of the gap distributions: the marginal ones and a
        net's dead inputs (no gradient: they constrain nothing, like a rattler's pairs)."""
        if self.dead is None or self.dead.shape != self.gaps.shape:
            return self.marginal
        return self.marginal | self.dead

    @property
    def n_dead_violations(self) -> int:
        """Unsatisfied dead inputs of a net (0 when none are stored)."""
        return 0 if self.dead is None else int(np.count_nonzero(self.dead & (self.gaps > 0)))

    @property
    def stress_at_roundoff(self) -> bool:
        """True when the stored stress part is round-off: max |λ_stress| ≤ ZERO_MODE_RTOL ×
        max |λ_stiffness| (False when either spectrum is not stored)."""
        ev, k = self.stress_eigenvalues, self.stiffness_eigenvalues
        if ev is None or k is None or not ev.size or not k.size:
            return False
        return float(np.abs(ev).max()) <= ZERO_MODE_RTOL * float(np.abs(k).max())

    @property
    def flat_violations(self) -> bool:
        """N_Δ > 0 while the stress part is round-off: no violated constraint has curvature.

        Hp = Σ_μ ℓ'(Δ_μ) ∇²Δ_μ (packings: Σ V'(Δ) ∇²Δ). A ReLU net whose unsatisfied inputs reach
        only dead units has ∇²f_μ = 0 at each of them, so Hp is float64 noise (≤ 1e-17 against an
        H0 of order one in the demo, whose H0 then often has rank 1–2: the output bias): a
        minimum of dead units, not a jammed one. Checked against the nets themselves
        (tests/test_demo.py): in every flagged net each unsatisfied datum is dead
        (`dlbridge.nets.diagnostics.dead_inputs`) or violated by less than 1e-8, and every other
        net has a live datum violated beyond that. Packings never qualify: their stress part is ∝
        the overlaps (6e-7 of the stiffness part at Δφ = 1e-6 for the demo discs).
        """
        return self.n_constraints > 0 and self.stress_at_roundoff

    @property
    def pressure_ratio(self) -> float:
        """p / Δφ^(α−1) of a packing above φ_J (p ∝ Δφ^(α−1), O'Hern et al., PRE 68, 011306,
        2003): about constant over the states of one system when φ_J is right; NaN otherwise."""
        d = self.distance
        if not (math.isfinite(self.pressure) and math.isfinite(d) and d > 0):
            return math.nan
        return self.pressure / d ** (POTENTIAL_EXPONENT.get(self.potential, 2.0) - 1.0)

    def gap_variable(self) -> np.ndarray:
        """|Δ| of the satisfied constraints (Δ < 0), :attr:`fitted_out` left out."""
        return -self.gaps[(self.gaps < 0.0) & ~self.fitted_out]

    def force_variable(self) -> np.ndarray:
        """Δ > 0 mapped to a quantity ∝ the constraint force, f ∝ Δ^(α−1), normalised to ⟨f⟩ = 1.

        α = 2 (harmonic packings, quadratic-hinge nets) leaves Δ/⟨Δ⟩; α = 5/2 (Hertz) gives Δ^1.5.
        :attr:`fitted_out` (marginal constraints, dead inputs) is left out.
        """
        pos = self.gaps[(self.gaps > 0.0) & ~self.fitted_out]
        if pos.size == 0:
            return pos
        f = pos ** (POTENTIAL_EXPONENT.get(self.potential, 2.0) - 1.0)
        return f / f.mean()


# ------------------------------------------------------------------------------------ reading
def _plain(value: Any) -> Any:
    """HDF5 attribute → plain Python (bytes → str, numpy scalar → int/float/bool/str)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.generic):
        return value.item()
    return value


def _as_float(value: Any) -> float:
    """Float of an attribute; "none" (the contract's None) and non-numbers give NaN."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _check_schema(f: h5py.File, path: str) -> None:
    """ParameterError unless the root ``schema`` attribute is jamming-bridge/<major>.x."""
    if "schema" not in f.attrs:
        raise ParameterError(f"FILE {path!r} must carry the root attribute 'schema' "
                             f"({SCHEMA!r}); it is not a file of this package")
    schema = str(_plain(f.attrs["schema"]))
    family, _, version = schema.partition("/")
    if family != SCHEMA_FAMILY or version.split(".")[0] != SCHEMA_MAJOR:
        raise ParameterError(f"FILE {path!r} must have schema {SCHEMA_FAMILY}/{SCHEMA_MAJOR}.x "
                             f"(got {schema!r})")


def _eigenvalues(group: h5py.Group, name: str) -> np.ndarray | None:
    """A stored eigenvalue set as float64, or None when absent or empty."""
    if name not in group:
        return None
    ev = np.asarray(group[name][()], dtype=np.float64).ravel()
    return ev if ev.size else None


def _packing_arrays(group: h5py.Group, where: str) -> dict:
    """A packing's pairs, rattler mask and diameters, each None when not stored; ParameterError
    when their shapes disagree."""
    out = {}
    for name, dtype in (("pairs", np.int64), ("rattlers", bool), ("diameters", np.float64)):
        out[name] = np.asarray(group[name][()], dtype=dtype) if name in group else None
    pairs, rattlers = out["pairs"], out["rattlers"]
    if pairs is not None and rattlers is not None:
        ok = pairs.ndim == 2 and pairs.shape[1] == 2 and (pairs.size == 0 or (
            pairs.min() >= 0 and pairs.max() < rattlers.size))
        require(ok, f"{where} dataset 'pairs'", f"an (M, 2) array of indices below {rattlers.size}",
                pairs.shape)
    if out["diameters"] is not None and rattlers is not None:
        require(out["diameters"].shape == rattlers.shape, f"{where} dataset 'diameters'",
                f"one value per particle {rattlers.shape}", out["diameters"].shape)
    return out


def _system_key(side: str, attrs: dict, where: str) -> SystemKey:
    """The SystemKey of a state; ParameterError naming a missing required attribute (the side's
    optional keys, `packing.io.OPTIONAL_SYSTEM_KEYS`, read as "none" when absent)."""
    fields = []
    for name in SIDES[side].system_keys:
        if name not in attrs and name not in OPTIONAL_SYSTEM_KEYS[side]:
            raise ParameterError(f"{where} must have the {side} attribute {name!r} "
                                 "(HDF5 contract, packing.io)")
        value = attrs.get(name, "none")
        fields.append((name, round(value, 12) if isinstance(value, float) else value))
    return SystemKey(side, tuple(fields))


def _read_state(group: h5py.Group, path: str) -> State:
    """One :class:`State` from a state group, validated against the contract."""
    where = f"{path}:{group.name}"
    attrs = {k: _plain(v) for k, v in group.attrs.items()}
    for name in READ_ATTRS:
        if name not in attrs:
            raise ParameterError(f"{where} must have the attribute {name!r} (HDF5 contract, "
                                 "packing.io)")
    side = str(attrs["side"])
    require(side in SIDES, f"{where} attribute 'side'", "'packing' or 'network'", side)
    packing_side = SIDES[side].translations_trivial
    if "gaps" not in group:
        raise ParameterError(f"{where} must have the dataset 'gaps' (HDF5 contract, packing.io)")
    gaps = np.asarray(group["gaps"][()], dtype=np.float64).ravel()
    n_dof = int(attrs["n_dof"])
    require(n_dof >= 0, f"{where} attribute 'n_dof'", "an integer >= 0", n_dof)
    require(bool(np.all(np.isfinite(gaps))), f"{where} dataset 'gaps'", "an array of finite "
            "numbers", "non-finite values")
    seed = int(attrs["seed"])
    return State(
        source=where, side=side, system=_system_key(side, attrs, where),
        realisation=(path, seed), seed=seed, control=_as_float(attrs["control"]),
        transition=_as_float(attrs.get("transition", "none")),
        n_constraints=int(attrs["n_constraints"]), n_dof=n_dof,
        energy=_as_float(attrs["energy"]), gaps=gaps,
        test_error=_as_float(attrs.get("test_error", "none")),
        dim=int(attrs.get("dim", 0)) if packing_side else 0,
        n_particles=_as_float(attrs.get("n_particles", "none")),
        potential=str(attrs.get("potential", "harmonic")),
        **{name: _eigenvalues(group, name) for name in EIGENVALUE_SETS},
        unjammed=packing_side and not bool(attrs.get("jammed", True)),
        **(_packing_arrays(group, where) if packing_side else {"dead": _dead(group, gaps)}),
        stop_reason=str(attrs.get("stop_reason", "none")),
        pressure=_as_float(attrs.get("pressure", "none")) if packing_side else math.nan,
        converged=_converged(attrs),
        kink_residual=_as_float(attrs.get("kink_residual", "none")),
        n_releasable_kinks=int(attrs.get("n_releasable_kinks", 0)))


def _dead(group: h5py.Group, gaps: np.ndarray) -> np.ndarray | None:
    """A net's stored dead-input mask (one per datum), None when absent."""
    if "dead_inputs" not in group:
        return None
    dead = np.asarray(group["dead_inputs"][()], dtype=bool).ravel()
    require(dead.shape == gaps.shape, f"{group.name} dataset 'dead_inputs'",
            f"one flag per datum {gaps.shape}", dead.shape)
    return dead


def _converged(attrs: dict) -> bool:
    """False when the state's ``converged`` or, for a packing, its φ_J search's
    ``search_converged`` is stored as false (absent: converged)."""
    return not any(attrs.get(name, True) in (False, 0)
                   for name in ("converged", "search_converged"))


def read_states(path: str | os.PathLike) -> list[State]:
    """Every state of one file, validated.

    Raises :class:`ParameterError` (one line, naming the file) for a missing file, a file that is
    not HDF5 or is truncated, a file without this package's ``schema`` attribute, a file with no
    state group under /runs, and a state lacking an attribute or dataset compare needs.
    """
    p = str(path)
    with read_h5(p) as f:
        _check_schema(f, p)
        states = [_read_state(g, p) for g in iter_states(f)]
    require(len(states) > 0, "FILE", "a file with at least one state group under /runs", p)
    return states


def _fingerprint(state: State) -> tuple:
    """What makes two stored states the same state: side, system, seed, control and the bytes of
    the gaps (a copy of a file under another name has the same fingerprints)."""
    digest = hashlib.sha256(np.ascontiguousarray(state.gaps).tobytes()).hexdigest()
    return state.side, state.system, state.seed, state.control, digest


def load_unique_states(paths: Iterable[str | os.PathLike]) -> tuple[list[State], list[str]]:
    """(states, notes): the states of all files in file order, each file read once (the same
    file under two names, e.g. ``a.h5 ./a.h5`` or a link, is read once) and each state kept once
    (a state whose fingerprint equals an earlier one's, e.g. in a copied file, is left out); the
    notes say what was left out."""
    paths = list(paths)
    require(len(paths) >= 1, "FILE", "at least one HDF5 file", paths)
    seen_files: dict[str, str] = {}
    seen_states: dict[tuple, str] = {}
    out: list[State] = []
    notes: list[str] = []
    for p in paths:
        real = os.path.realpath(p)
        if real in seen_files:
            notes.append(f"{p}: the same file as {seen_files[real]}; read once")
            continue
        seen_files[real] = str(p)
        for st in read_states(p):
            key = _fingerprint(st)
            if key in seen_states:
                notes.append(f"{st.source}: the same state as {seen_states[key]}; counted once")
                continue
            seen_states[key] = st.source
            out.append(st)
    return out, notes


def load_states(paths: Iterable[str | os.PathLike]) -> list[State]:
    """The states of all files, in file order, de-duplicated (:func:`load_unique_states`)."""
    return load_unique_states(paths)[0]


def group_systems(states: Sequence[State]) -> dict[SystemKey, tuple[State, ...]]:
    """States grouped by :class:`SystemKey`, packings first, then networks, each sorted by key."""
    groups: dict[SystemKey, list[State]] = {}
    for s in states:
        groups.setdefault(s.system, []).append(s)
    order = sorted(groups, key=lambda k: (list(SIDES).index(k.side), repr(k.fields)))
    return {k: tuple(groups[k]) for k in order}
