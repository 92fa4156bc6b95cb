"""``dlbridge compare``: the two jamming transitions side by side, number by number.

Reads any number of HDF5 files written under the HDF5 contract of `packing.io` (packings from
``packing jam``, networks from ``dlbridge train``), groups their states by system, and per system
measures with the SHARED analysis of :mod:`packing.analysis` (no copy of it here):

* the transition location (φ_J or N*) as mean ± sample standard deviation over seeds;
* N_Δ/N_dof at the transition and N_Δ/N_iso with N_iso = N_dof + 1 for a periodic packing (the
  extra constraint of a jammed state in a periodic box, Goodrich, Liu, Nagel, PRL 109, 095704,
  2012) and N_iso = N for a net; the verdict isostatic / hypostatic / hyperstatic;
* θ and γ of P₊ ~ f^θ and P₋ ~ |Δ|^−γ from the pooled gaps of the states nearest the transition
  (:func:`packing.analysis.fit_theta` / :func:`~packing.analysis.fit_gamma`, KS range rule);
* the zero modes of the stiffness part (H0) at the transition (global translations excluded);
* the scaling exponents of N_Δ/N_dof − (its value at the transition) and of the energy with the
  distance to the transition (least squares on log-log axes, with the slope's standard error).

Distance to the transition: packings Δφ = φ − φ_J (> 0 on the jammed side); networks
1 − N/N* (> 0 on the jammed side N < N*, where N_Δ > 0), with N* the stored ensemble transition.

Which states are "at the transition", per seed: packings, the state with the smallest Δφ > 0;
networks, the largest N < N* with N_Δ > 0 (else the state nearest N* with N_Δ > 0).

The figures are drawn by :mod:`dlbridge.plots`. The command-line entry points are
:func:`add_compare_parser` and :func:`run_compare`; errors are one-line
:class:`~packing.errors.ParameterError`.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import math
import os
import sys
from pathlib import Path
from typing import Any, Iterable, Sequence

import h5py
import numpy as np
from scipy import stats

from packing.analysis import PowerLawFit, count_constraints, fit_gamma, fit_theta
from packing.errors import ParameterError, require
from packing.analysis import count_zero_modes
from packing.io import SCHEMA, iter_states

SCHEMA_FAMILY = SCHEMA.split("/")[0]          # "jamming-bridge"; any version 1.x is read
SCHEMA_MAJOR = SCHEMA.split("/")[1].split(".")[0]
SIDES = ("packing", "network")
COMMON_ATTRS = ("side", "control", "n_dof", "n_constraints", "energy", "seed")
SYSTEM_KEYS = {"packing": ("shape", "dim", "aspect_ratio", "potential", "n_particles"),
               "network": ("dataset", "depth", "n_train", "alpha")}
EIGENVALUE_SETS = ("hessian_eigenvalues", "stiffness_eigenvalues", "stress_eigenvalues")
POTENTIAL_EXPONENT = {"harmonic": 2.0, "hertz": 2.5}   # V ∝ Δ^α: force f ∝ Δ^(α−1)
DEFAULT_BOOTSTRAP = 200
DISTANCE_DEFINITION = {"packing": "dphi = phi - phi_J", "network": "1 - N/N*"}
TRANSITION_NAME = {"packing": "phi_J", "network": "N*"}
MD_DISTANCE = {"packing": "Δφ = φ − φ_J", "network": "1 − N/N*"}
MD_TRANSITION = {"packing": "φ_J", "network": "N*"}
LITERATURE_NOTES = (
    ("N_Delta_isostatic_periodic", "periodic packings at jamming"),
    ("exponent_Z_excess", "Z − Z_iso ∝ Δφ^b"),
    ("theta_force_meanfield", "θ (mean field, extended forces)"),
    ("gamma_gap_meanfield", "γ (mean field)"),
    ("net_theta_gamma_geiger", "nets at N* (θ, γ)"),
    ("hypostatic_no_powerlaw", "ellipses/ellipsoids (hypostatic)"),
)


# --------------------------------------------------------------------------------- data model
@dataclasses.dataclass(frozen=True, order=True)
class SystemKey:
    """What makes two states the same system: the side and the attributes of SYSTEM_KEYS."""

    side: str
    fields: tuple[tuple[str, Any], ...]

    def get(self, name: str) -> Any:
        """Value of one key field (KeyError when absent)."""
        return dict(self.fields)[name]

    @property
    def label(self) -> str:
        """Short human-readable name, e.g. ``disk 2D N=64 harmonic`` or ``net random L=2 P=500``."""
        f = dict(self.fields)
        if self.side == "packing":
            aspect = "" if f["shape"] in ("disk", "sphere") else f" a={f['aspect_ratio']:g}"
            return f"{f['shape']} {f['dim']}D N={f['n_particles']}{aspect} {f['potential']}"
        alpha = "" if f["alpha"] == 1 else f" α={f['alpha']:g}"
        return f"net {f['dataset']} L={f['depth']} P={f['n_train']}{alpha}"


@dataclasses.dataclass(frozen=True, eq=False)
class State:
    """One state group, with the contract attributes compare needs.

    source : ``file:group``. realisation : (file, seed), one independent run of a system.
    transition : φ_J or N* (NaN when the file says "none"). gaps : every candidate Δ_c.
    test_error : networks only (NaN otherwise). *_eigenvalues : None when not stored.
    dim : space dimension of a packing (its d global translations), 0 for a net.
    n_particles : packings (NaN for nets).
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

    @property
    def isostatic_offset(self) -> int:
        """N_Δ − N_dof of an isostatic state: 1 in a periodic box, 0 for a net."""
        return 1 if self.side == "packing" else 0

    @property
    def n_iso(self) -> int:
        """N_Δ of an isostatic state, N_dof + isostatic_offset."""
        return self.n_dof + self.isostatic_offset

    @property
    def index(self) -> float:
        """Isostaticity index N_Δ/N_dof (NaN for N_dof = 0: an unjammed packing, all rattlers)."""
        return self.n_constraints / self.n_dof if self.n_dof > 0 else math.nan

    @property
    def distance(self) -> float:
        """Distance to the transition, > 0 on the jammed side (module docstring); NaN if unknown."""
        if self.side == "packing":
            return self.control - self.transition
        return 1.0 - self.control / self.transition

    @property
    def n_trivial(self) -> int:
        """Exact symmetry zero modes of the stiffness part: d translations (packing), 0 (net)."""
        return self.dim if self.side == "packing" else 0

    def force_variable(self) -> np.ndarray:
        """Δ > 0 mapped to a quantity ∝ the constraint force, f ∝ Δ^(α−1), normalised to ⟨f⟩ = 1.

        α = 2 (harmonic packings, quadratic-hinge nets) leaves Δ/⟨Δ⟩; α = 5/2 (Hertz) gives Δ^1.5.
        """
        pos = self.gaps[self.gaps > 0.0]
        if pos.size == 0:
            return pos
        f = pos ** (POTENTIAL_EXPONENT.get(self.potential, 2.0) - 1.0)
        return f / f.mean()


@dataclasses.dataclass(frozen=True)
class Estimate:
    """mean ± sample standard deviation (ddof = 1; NaN for n = 1) of n values."""

    mean: float
    std: float
    n: int


@dataclasses.dataclass(frozen=True)
class ScalingFit:
    """Least-squares fit log10 y = log10 A + b log10 x: exponent b ± stderr (scipy linregress)."""

    exponent: float
    stderr: float
    prefactor: float
    n_points: int
    x_min: float
    x_max: float

    def __call__(self, x) -> np.ndarray:
        """The fitted law A x^b."""
        return self.prefactor * np.asarray(x, dtype=np.float64) ** self.exponent


@dataclasses.dataclass(frozen=True)
class SystemSummary:
    """One table row (see :data:`CSV_COLUMNS`) and the states behind it.

    transition : over seeds (packings: φ_J; networks: per-seed N* from the width scan, the
    midpoint of the seed's own bracket, else the stored N*). index, iso_index, excess : N_Δ/N_dof,
    N_Δ/N_iso and N_Δ − N_iso over the states at the transition (``nearest``). index_reference :
    what N_Δ/N_dof is compared with in the scaling fit (discs/spheres: N_iso/N_dof per state,
    reported as its mean; ellipses and networks: each seed's own value at its transition, whose
    mean is ``index.mean``; those nearest states are left out of the fit).
    zero_modes : zero modes of the stiffness part minus the
    trivial ones, over the nearest states with stored eigenvalues (None without).
    theta, gamma : fits to the pooled gaps of ``nearest`` (None with too few values).
    index_scaling : (N_Δ/N_dof − reference) against distance; energy_scaling : energy against
    distance (None with fewer than 3 usable points). test_error_peak : (N/N*, error) of the largest
    seed-averaged test error (networks).
    """

    key: SystemKey
    states: tuple[State, ...]
    nearest: tuple[State, ...]
    transition: Estimate
    nearest_distance: Estimate
    index: Estimate
    iso_index: Estimate
    excess: Estimate
    verdict: str
    index_reference: float
    zero_modes: Estimate | None
    theta: PowerLawFit | None
    gamma: PowerLawFit | None
    index_scaling: ScalingFit | None
    energy_scaling: ScalingFit | None
    test_error_peak: tuple[float, float] | None
    warnings: tuple[str, ...] = ()

    @property
    def side(self) -> str:
        """"packing" or "network"."""
        return self.key.side

    @property
    def label(self) -> str:
        """The system's name."""
        return self.key.label


@dataclasses.dataclass(frozen=True)
class CompareResult:
    """What :func:`compare` produced: the rows, the Markdown table and every file written."""

    summaries: tuple[SystemSummary, ...]
    markdown: str
    files: tuple[Path, ...]


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


def _system_key(side: str, attrs: dict, where: str) -> SystemKey:
    """The SystemKey of a state; ParameterError naming the missing attribute."""
    fields = []
    for name in SYSTEM_KEYS[side]:
        if name not in attrs:
            raise ParameterError(f"{where} must have the {side} attribute {name!r} "
                                 "(HDF5 contract, packing.io)")
        value = attrs[name]
        fields.append((name, round(value, 12) if isinstance(value, float) else value))
    return SystemKey(side, tuple(fields))


def _read_state(group: h5py.Group, path: str) -> State:
    """One :class:`State` from a state group, validated against the contract."""
    where = f"{path}:{group.name}"
    attrs = {k: _plain(v) for k, v in group.attrs.items()}
    for name in COMMON_ATTRS:
        if name not in attrs:
            raise ParameterError(f"{where} must have the attribute {name!r} (HDF5 contract, "
                                 "packing.io)")
    side = str(attrs["side"])
    require(side in SIDES, f"{where} attribute 'side'", "'packing' or 'network'", side)
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
        dim=int(attrs.get("dim", 0)) if side == "packing" else 0,
        n_particles=_as_float(attrs.get("n_particles", "none")),
        potential=str(attrs.get("potential", "harmonic")),
        **{name: _eigenvalues(group, name) for name in EIGENVALUE_SETS},
        unjammed=side == "packing" and not bool(attrs.get("jammed", True)))


def read_states(path: str | os.PathLike) -> list[State]:
    """Every state of one file, validated.

    Raises :class:`ParameterError` (one line, naming the file) for a missing file, a file that is
    not HDF5 or is truncated, a file without this package's ``schema`` attribute, a file with no
    state group under /runs, and a state lacking an attribute or dataset compare needs.
    """
    p = str(path)
    require(os.path.isfile(p), "FILE", "an existing HDF5 file", p)
    try:
        with h5py.File(p, "r") as f:
            _check_schema(f, p)
            states = [_read_state(g, p) for g in iter_states(f)]
    except ParameterError:
        raise
    except (OSError, KeyError, RuntimeError, ValueError, TypeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ParameterError(f"FILE {p!r} must be a complete HDF5 file of this package; it "
                             f"could not be read (truncated or foreign format: {first})") from None
    require(len(states) > 0, "FILE", "a file with at least one state group under /runs", p)
    return states


def load_states(paths: Iterable[str | os.PathLike]) -> list[State]:
    """The states of all files, in file order (:func:`read_states` on each)."""
    paths = list(paths)
    require(len(paths) >= 1, "FILE", "at least one HDF5 file", paths)
    out: list[State] = []
    for p in paths:
        out.extend(read_states(p))
    return out


def group_systems(states: Sequence[State]) -> dict[SystemKey, tuple[State, ...]]:
    """States grouped by :class:`SystemKey`, packings first, then networks, each sorted by key."""
    groups: dict[SystemKey, list[State]] = {}
    for s in states:
        groups.setdefault(s.system, []).append(s)
    order = sorted(groups, key=lambda k: (SIDES.index(k.side), repr(k.fields)))
    return {k: tuple(groups[k]) for k in order}


# ----------------------------------------------------------------------------- measurements
def estimate(values: Iterable[float]) -> Estimate:
    """mean ± sample std (ddof = 1) of the finite values; NaN mean when there are none."""
    v = np.asarray([x for x in values if math.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return Estimate(math.nan, math.nan, 0)
    std = float(np.std(v, ddof=1)) if v.size > 1 else math.nan
    return Estimate(float(v.mean()), std, int(v.size))


def fit_scaling(x, y) -> ScalingFit | None:
    """Least squares on log10 y against log10 x over the points with x > 0 and y > 0.

    Returns None with fewer than 3 such points or fewer than 2 distinct x (no standard error).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    require(x.shape == y.shape, "y", f"an array of the shape of x {x.shape}", y.shape)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    x, y = x[ok], y[ok]
    if x.size < 3 or np.unique(x).size < 2:
        return None
    res = stats.linregress(np.log10(x), np.log10(y))
    return ScalingFit(exponent=float(res.slope), stderr=float(res.stderr),
                      prefactor=float(10.0 ** res.intercept), n_points=int(x.size),
                      x_min=float(x.min()), x_max=float(x.max()))


def _by_realisation(states: Sequence[State]) -> dict[tuple[str, int], list[State]]:
    """States grouped per (file, seed)."""
    out: dict[tuple[str, int], list[State]] = {}
    for s in states:
        out.setdefault(s.realisation, []).append(s)
    return out


def network_seed_transition(states: Sequence[State]) -> float:
    """N* of one seed's width scan: midpoint of the largest N with N_Δ > 0 and the smallest larger
    N with N_Δ = 0 (the midpoint convention of :mod:`dlbridge.transition`); NaN if not bracketed."""
    jammed = [s.control for s in states if s.n_constraints > 0]
    if not jammed:
        return math.nan
    n_lo = max(jammed)
    fitted = [s.control for s in states if s.n_constraints == 0 and s.control > n_lo]
    return 0.5 * (n_lo + min(fitted)) if fitted else math.nan


def realisation_transition(states: Sequence[State]) -> float:
    """The transition of one realisation: the stored φ_J (packings) or the seed's own N*
    (networks, :func:`network_seed_transition`, falling back to the stored N*)."""
    stored = estimate(s.transition for s in states).mean
    if states[0].side == "packing":
        return stored
    own = network_seed_transition(states)
    return own if math.isfinite(own) else stored


def nearest_state(states: Sequence[State]) -> State | None:
    """The state of one realisation taken as "at the transition" (module docstring)."""
    jammed = [s for s in states if math.isfinite(s.distance) and s.distance > 0
              and s.n_constraints > 0 and s.n_dof > 0]
    if jammed:
        return min(jammed, key=lambda s: s.distance)
    if states[0].side == "network":
        active = [s for s in states if s.n_constraints > 0 and math.isfinite(s.distance)]
        if active:
            return min(active, key=lambda s: abs(s.distance))
    return None


def stiffness_zero_modes(state: State) -> int | None:
    """Zero modes of the stiffness part minus the trivial ones (|λ| ≤ 1e-10 max|λ|,
    :func:`packing.analysis.count_zero_modes`); None without stored eigenvalues."""
    if state.stiffness_eigenvalues is None:
        return None
    zm = count_zero_modes(state.stiffness_eigenvalues, n_trivial=state.n_trivial)
    return zm.n_floppy


def pooled_gaps(states: Sequence[State]) -> np.ndarray:
    """Gaps pooled over states for the θ/γ fits: Δ > 0 as the normalised force variable
    (:meth:`State.force_variable`), Δ < 0 unchanged."""
    parts = []
    for s in states:
        parts.append(s.force_variable())
        parts.append(s.gaps[s.gaps < 0.0])
    return np.concatenate(parts) if parts else np.zeros(0)


def _fit_or_none(fit, gaps: np.ndarray, n_bootstrap: int) -> PowerLawFit | None:
    """fit(gaps) (fit_theta / fit_gamma), or None when there are too few values of its sign."""
    try:
        return fit(gaps, n_bootstrap=n_bootstrap)
    except ParameterError:
        return None


def fit_error(fit: PowerLawFit) -> float:
    """The error bar reported for a fit: the bootstrap error when computed (it includes the choice
    of range), never smaller than the Fisher error."""
    boot = fit.stderr_bootstrap
    return fit.stderr if boot is None or not math.isfinite(boot) else max(boot, fit.stderr)


def _verdict(excess: Sequence[int]) -> str:
    """isostatic / hypostatic / hyperstatic when all nearest states agree, else "mixed"."""
    if not excess:
        return "n/a"
    if all(e == 0 for e in excess):
        return "isostatic"
    if all(e < 0 for e in excess):
        return "hypostatic"
    if all(e > 0 for e in excess):
        return "hyperstatic"
    return f"mixed ({sum(e == 0 for e in excess)}/{len(excess)} isostatic)"


def _count_warnings(states: Sequence[State]) -> list[str]:
    """Lines for packing states above φ_J that are unjammed (a small packing can rearrange on
    compression; left out of the energy fit) and for network states whose n_constraints attribute
    differs from #{Δ > 0} of their gaps (packings are skipped there: their N_Δ counts contacts
    between non-rattlers only, while `gaps` holds every neighbour pair, rattlers' included)."""
    out = [f"{s.source}: unjammed at distance {s.control - s.transition:.3g} above the transition "
           "(rearranged on compression); left out of the energy fit" for s in states if s.unjammed]
    for s in states:
        if s.side != "network" or s.n_dof < 1 or s.gaps.size == 0:
            continue
        c = count_constraints(s.gaps, s.n_dof, s.isostatic_offset)
        if c.n_constraints != s.n_constraints:
            out.append(f"{s.source}: n_constraints = {s.n_constraints} but #{{gaps > 0}} = "
                       f"{c.n_constraints}; the attribute is used")
    return out


def _test_error_peak(states: Sequence[State]) -> tuple[float, float] | None:
    """(N/N*, mean test error) at the N whose seed-averaged test error is largest (networks)."""
    pts: dict[float, list[float]] = {}
    for s in states:
        if s.side == "network" and math.isfinite(s.test_error) and math.isfinite(s.transition):
            pts.setdefault(s.control / s.transition, []).append(s.test_error)
    if not pts:
        return None
    x = max(pts, key=lambda k: float(np.mean(pts[k])))
    return x, float(np.mean(pts[x]))


def is_round_packing(key: SystemKey) -> bool:
    """Discs and spheres: their N_Δ at φ_J is known exactly (N_dof + 1), so the scaling of
    N_Δ/N_dof is measured from that value; other systems use the measured value at the
    transition."""
    return key.side == "packing" and key.get("shape") in ("disk", "sphere")


def summarize_system(key: SystemKey, states: Sequence[State],
                     n_bootstrap: int = DEFAULT_BOOTSTRAP) -> SystemSummary:
    """All measurements of one system (module docstring) as a :class:`SystemSummary`."""
    require(len(states) >= 1, "states", "a non-empty sequence", len(states))
    realisations = _by_realisation(states)
    nearest = tuple(s for s in (nearest_state(r) for r in realisations.values()) if s is not None)
    index = estimate(s.index for s in nearest)
    isostatic_reference = is_round_packing(key)
    if isostatic_reference:
        reference = [s.n_iso / s.n_dof if s.n_dof else math.nan for s in states]
        index_y = [s.index - r for s, r in zip(states, reference)]
        index_reference = estimate(reference).mean
    else:
        index_reference = index.mean
        own = {s.realisation: s.index for s in nearest}
        index_y = [s.index - own.get(s.realisation, math.nan) for s in states]
    dist = [s.distance for s in states]
    zeros = [z for z in (stiffness_zero_modes(s) for s in nearest) if z is not None]
    gaps = pooled_gaps(nearest)
    scaling_ok = [i for i, s in enumerate(states) if isostatic_reference or s not in nearest]
    return SystemSummary(
        key=key, states=tuple(states), nearest=nearest,
        transition=estimate(realisation_transition(r) for r in realisations.values()),
        nearest_distance=estimate(s.distance for s in nearest), index=index,
        iso_index=estimate(s.n_constraints / s.n_iso for s in nearest),
        excess=estimate(s.n_constraints - s.n_iso for s in nearest),
        verdict=_verdict([s.n_constraints - s.n_iso for s in nearest]),
        index_reference=index_reference,
        zero_modes=estimate(zeros) if zeros else None,
        theta=_fit_or_none(fit_theta, gaps, n_bootstrap) if gaps.size else None,
        gamma=_fit_or_none(fit_gamma, gaps, n_bootstrap) if gaps.size else None,
        index_scaling=fit_scaling([dist[i] for i in scaling_ok], [index_y[i] for i in scaling_ok]),
        energy_scaling=fit_scaling([d for d, s in zip(dist, states) if not s.unjammed],
                                   [s.energy for s in states if not s.unjammed]),
        test_error_peak=_test_error_peak(states) if key.side == "network" else None,
        warnings=tuple(_count_warnings(states)))


# ------------------------------------------------------------------------------------ table
CSV_COLUMNS = (
    "system", "side", "n_states", "n_seeds", "transition_name", "transition_mean",
    "transition_std", "transition_n", "distance_definition", "distance_at_transition",
    "n_delta_at_transition", "n_dof_at_transition", "n_delta_over_n_dof", "n_delta_over_n_dof_std",
    "isostatic_offset", "n_delta_over_n_iso", "n_delta_over_n_iso_std", "isostatic_excess",
    "verdict", "stiffness_zero_modes", "stiffness_zero_modes_std", "stiffness_zero_modes_n",
    "theta", "theta_err", "theta_n_used", "theta_x_max", "gamma", "gamma_err", "gamma_n_used",
    "gamma_x_max", "index_reference", "n_delta_exponent", "n_delta_exponent_err",
    "n_delta_exponent_points", "energy_exponent", "energy_exponent_err", "energy_exponent_points",
    "test_error_peak_n_over_nstar", "test_error_peak",
)


def _fit_cells(fit: PowerLawFit | None) -> list[float]:
    """[exponent, error, n_used, x_max] of a gap fit (NaN when absent)."""
    if fit is None:
        return [math.nan] * 4
    return [fit.exponent, fit_error(fit), fit.n_used, fit.x_max]


def _scaling_cells(fit: ScalingFit | None) -> list[float]:
    """[exponent, stderr, points] of a scaling fit (NaN when absent)."""
    return [math.nan] * 3 if fit is None else [fit.exponent, fit.stderr, fit.n_points]


def table_row(s: SystemSummary) -> dict[str, Any]:
    """The CSV row of one system, keyed by :data:`CSV_COLUMNS`."""
    zm = s.zero_modes
    peak = s.test_error_peak or (math.nan, math.nan)
    cells = [s.label, s.side, len(s.states), len({st.realisation for st in s.states}),
             TRANSITION_NAME[s.side], s.transition.mean, s.transition.std, s.transition.n,
             DISTANCE_DEFINITION[s.side], s.nearest_distance.mean,
             estimate(st.n_constraints for st in s.nearest).mean,
             estimate(st.n_dof for st in s.nearest).mean, s.index.mean, s.index.std,
             1 if s.side == "packing" else 0, s.iso_index.mean, s.iso_index.std, s.excess.mean,
             s.verdict, *((math.nan, math.nan, 0) if zm is None else (zm.mean, zm.std, zm.n)),
             *_fit_cells(s.theta), *_fit_cells(s.gamma), s.index_reference,
             *_scaling_cells(s.index_scaling), *_scaling_cells(s.energy_scaling), *peak]
    return dict(zip(CSV_COLUMNS, cells))


def format_pm(value: float, error: float | None = None) -> str:
    """``value ± error`` rounded to the error's second significant digit (4 significant digits
    without an error); "—" for NaN."""
    if value is None or not math.isfinite(value):
        return "—"
    if error is None or not math.isfinite(error) or error <= 0:
        return f"{value:.4g}"
    decimals = max(0, 1 - int(math.floor(math.log10(error))))
    return f"{value:.{decimals}f} ± {error:.{decimals}f}"


def _md_fit(fit: PowerLawFit | None) -> str:
    """θ or γ cell: value ± error (n points used)."""
    return "—" if fit is None else f"{format_pm(fit.exponent, fit_error(fit))} (n={fit.n_used})"


def _md_scaling(fit: ScalingFit | None) -> str:
    """Scaling exponent cell: b ± stderr (n points)."""
    return "—" if fit is None else f"{format_pm(fit.exponent, fit.stderr)} (n={fit.n_points})"


MD_HEADER = ("system", "seeds", "transition (mean ± sd over seeds)", "N_Δ/N_dof at transition",
             "N_Δ/N_iso (N_iso = N_dof+1 packings, N nets)", "verdict",
             "stiffness/H0 zero modes", "θ", "γ", "b: N_Δ/N_dof − ref ∝ d^b", "b: E ∝ d^b",
             "distance d")


def markdown_row(s: SystemSummary) -> list[str]:
    """The Markdown cells of one system (:data:`MD_HEADER`)."""
    zm = s.zero_modes
    return [s.label, str(len({st.realisation for st in s.states})),
            f"{MD_TRANSITION[s.side]} = {format_pm(s.transition.mean, s.transition.std)}",
            format_pm(s.index.mean, s.index.std), format_pm(s.iso_index.mean, s.iso_index.std),
            s.verdict, "—" if zm is None else format_pm(zm.mean, zm.std),
            _md_fit(s.theta), _md_fit(s.gamma), _md_scaling(s.index_scaling),
            _md_scaling(s.energy_scaling), MD_DISTANCE[s.side]]


def _literature_lines() -> list[str]:
    """One line per literature reference value (data/literature.json), skipped if unavailable."""
    try:
        from packing.literature import load_reference
        refs = [(load_reference(k), what) for k, what in LITERATURE_NOTES]
    except Exception:  # the notes are optional: a missing data file must not stop compare
        return []
    return [f"- {what}: {r.get('value')} — {r.get('quantity')} ({r.get('source', '')})"
            for r, what in refs]


def markdown_table(summaries: Sequence[SystemSummary]) -> str:
    """The comparison as a Markdown table followed by the definitions and reference values."""
    lines = ["| " + " | ".join(MD_HEADER) + " |", "|" + "---|" * len(MD_HEADER)]
    lines += ["| " + " | ".join(markdown_row(s)) + " |" for s in summaries]
    lines += [
        "", "Definitions:",
        "- At the transition: per seed the state with the smallest Δφ > 0 (packings), the largest "
        "N < N* with N_Δ > 0 (nets); values are mean ± sd over those states.",
        "- N_iso = N_dof + 1 in a periodic box (Goodrich, Liu, Nagel, PRL 109, 095704, 2012), "
        "N for nets. Zero modes exclude the d global translations.",
        "- θ, γ: ML fits of P₊(f) ~ f^θ (f ∝ Δ^(α−1)/⟨·⟩) and P₋(|Δ|) ~ |Δ|^−γ to the pooled gaps "
        "at the transition, KS-chosen range (packing.analysis); errors: bootstrap (≥ Fisher). "
        "Hypostatic packings (ellipses, ellipsoids) are not expected to give power laws (Brito et al., PNAS "
        "115, 11736, 2018): there θ, γ only summarise the fitted range.",
        "- b: least squares on log-log axes (± stderr); ref = N_iso/N_dof (discs, spheres), the "
        "seed's own value at its transition (ellipses, ellipsoids, nets; those states left out of "
        "the fit). "
        "Nets: d uses N* from the file; the transition column uses per-seed brackets.",
    ]
    lit = _literature_lines()
    if lit:
        lines += ["", "Reference values (data/literature.json):", *lit]
    return "\n".join(lines) + "\n"


def write_tables(summaries: Sequence[SystemSummary], out_dir: Path) -> tuple[Path, Path]:
    """Write ``comparison.csv`` and ``comparison.md`` into out_dir; return their paths."""
    csv_path, md_path = out_dir / "comparison.csv", out_dir / "comparison.md"
    with open(csv_path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
        w.writeheader()
        for s in summaries:
            w.writerow({k: (f"{v:.10g}" if isinstance(v, float) else v)
                        for k, v in table_row(s).items()})
    md_path.write_text(markdown_table(summaries), encoding="utf-8")
    return csv_path, md_path


# ------------------------------------------------------------------------------- entry points
def prepare_out_dir(out: str | os.PathLike) -> Path:
    """The output folder, created if needed; ParameterError if it is a file or not writable."""
    p = Path(out)
    require(not p.exists() or p.is_dir(), "--out", "a directory (not an existing file)", str(p))
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ParameterError(f"--out must be a directory that can be created (got {str(p)!r}: "
                             f"{exc.strerror})") from None
    require(os.access(p, os.W_OK | os.X_OK), "--out", "a writable directory", str(p))
    return p


def compare(paths: Sequence[str | os.PathLike], out_dir: str | os.PathLike,
            n_bootstrap: int = DEFAULT_BOOTSTRAP, figures: bool = True) -> CompareResult:
    """Read ``paths``, summarise every system, write the tables (and the figures) into out_dir.

    Everything is validated before anything is written.
    """
    require(isinstance(n_bootstrap, int) and 0 <= n_bootstrap <= 100_000, "n_bootstrap",
            "an integer in [0, 100000]", n_bootstrap)
    out = Path(out_dir)
    require(not out.exists() or out.is_dir(), "--out", "a directory (not an existing file)",
            str(out))
    groups = group_systems(load_states(paths))
    summaries = tuple(summarize_system(k, v, n_bootstrap) for k, v in groups.items())
    out = prepare_out_dir(out)
    files = list(write_tables(summaries, out))
    if figures:
        from .plots import plot_all
        files += plot_all(summaries, out)
    return CompareResult(summaries, markdown_table(summaries), tuple(files))


def add_compare_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``compare FILE.h5 ... --out DIR`` to an argparse subparsers object; the parser's
    default ``func`` is :func:`run_compare`."""
    p = subparsers.add_parser(
        "compare", help="compare packings and networks: table (CSV, Markdown) and figures",
        description="Read packing and network HDF5 files, group the states by system, and write "
                    "comparison.csv, comparison.md and figures (PNG, PDF) into --out.")
    p.add_argument("files", nargs="+", metavar="FILE.h5", help="HDF5 files (packing jam, "
                   "dlbridge train)")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (created)")
    p.add_argument("--bootstrap", type=int, default=DEFAULT_BOOTSTRAP,
                   help="bootstrap resamples for the θ, γ error bars "
                        f"(default {DEFAULT_BOOTSTRAP})")
    p.add_argument("--no-figures", action="store_true", help="write the tables only")
    p.set_defaults(func=run_compare)
    return p


def run_compare(args: argparse.Namespace, argv: Sequence[str] | None = None) -> int:
    """Run ``compare`` from parsed arguments: write everything, print the Markdown table and the
    written files; returns 0. Bad input raises :class:`ParameterError` (one line)."""
    res = compare(args.files, args.out, n_bootstrap=getattr(args, "bootstrap", DEFAULT_BOOTSTRAP),
                  figures=not getattr(args, "no_figures", False))
    print(res.markdown)
    for s in res.summaries:
        for w in s.warnings:
            print(f"warning: {w}", file=sys.stderr)
    if not any(s.side == "network" for s in res.summaries):
        print("note: no network states; figure 5 (test error against N/N*) skipped",
              file=sys.stderr)
    print("wrote: " + ", ".join(str(f) for f in res.files), file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry (``python -m dlbridge.compare FILE.h5 ... --out DIR``): exit status 0,
    or 2 with one line ``compare: error: ...`` on stderr."""
    parser = argparse.ArgumentParser(prog="dlbridge")
    sub = parser.add_subparsers(dest="command", required=True)
    add_compare_parser(sub)
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(["compare", *argv])
    try:
        return run_compare(args)
    except ParameterError as exc:
        print(f"compare: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
