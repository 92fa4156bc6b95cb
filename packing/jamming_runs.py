"""One jamming run (a seed): random start → φ_J → states above it, and its HDF5 state groups.

Shared by ``packing jam`` and by sweeps, so that a run is computed and stored the same way
whichever way it was launched.
"""
from __future__ import annotations

import dataclasses
import logging
import math
from typing import Callable, Sequence

import h5py
import numpy as np

from .contacts import ContactNetwork, contact_network
from .errors import require, require_memory
from .io import CommonAttributes, atomic_h5, check_output_path, write_state
from .limits import FTOL_RANGE, MAX_PARTICLES, MAX_STEPS, RTOL_RANGE
from .minimize import MinimizeResult
from .progress import progress_bar
from .protocol import (
    SEARCHES,
    JammingResult,
    MinimizerSettings,
    find_jamming,
    is_jammed,
    state_at_pressure,
    states_above_jamming,
)
from .shapes import SHAPES, ParticleShape, resolve_shape
from .system import POTENTIALS, random_packing

log = logging.getLogger(__name__)

DEFAULT_PHI_START = {2: 0.80, 3: 0.58}
HESSIAN_COPIES = 4           # H, its stiffness and stress parts, and the eigensolver's workspace


@dataclasses.dataclass(frozen=True)
class JamSpec:
    """Everything that defines a jamming run except its seed."""

    dim: int = 2
    n: int = 256
    shape: str | None = None   # None: round particles (disk/sphere by dim); "ellipse": 2D ellipses;
    #                            "ellipsoid": 3D ellipsoids of revolution
    aspect: float = 1.0        # a/b of the ellipses/ellipsoids (1 for round particles)
    potential: str = "harmonic"
    dispersity: float = 1.4
    phi_start: float | None = None
    rtol: float = 1e-7
    ftol: float = 1e-12
    max_steps: int = 10_000_000
    method: str = "fire"
    search: str = "descent"
    delta_phis: tuple[float, ...] = (1e-6, 1e-4, 1e-2)
    pressures: tuple[float, ...] = ()
    hessian: bool = False

    def validate(self) -> None:
        require(self.dim in (2, 3), "dim", "2 or 3", self.dim)
        require(2 <= int(self.n) <= MAX_PARTICLES, "n", f"in [2, {MAX_PARTICLES}]", self.n)
        require(FTOL_RANGE[0] <= self.ftol < FTOL_RANGE[1], "ftol", "in [%g, %g)" % FTOL_RANGE,
                self.ftol)
        require(RTOL_RANGE[0] <= self.rtol < RTOL_RANGE[1], "rtol", "in [%g, %g)" % RTOL_RANGE,
                self.rtol)
        require(1 <= int(self.max_steps) <= MAX_STEPS, "max_steps", f"in [1, {MAX_STEPS:.0e}]",
                self.max_steps)
        require(self.shape in (None,) + SHAPES, "shape",
                "None, 'disk', 'sphere', 'ellipse' or 'ellipsoid'", self.shape)
        kind = self.particle_shape
        if not kind.round:
            require(self.dim == kind.dim, "dim", f"{kind.dim} for {kind.name}s", self.dim)
        lo, hi = kind.aspect_range
        require(kind.check_aspect(self.aspect), "aspect",
                "1 for round particles" if kind.round else f"in [{lo:g}, {hi:g}]", self.aspect)
        require(self.potential in POTENTIALS, "potential", f"one of {tuple(POTENTIALS)}", self.potential)
        require(math.isfinite(self.dispersity) and self.dispersity >= 1, "dispersity", ">= 1",
                self.dispersity)
        if self.phi_start is not None:
            require(math.isfinite(self.phi_start) and 0 < self.phi_start < 1.5, "phi_start", "in (0, 1.5)",
                    self.phi_start)
        require(self.search in SEARCHES, "search", f"one of {tuple(SEARCHES)}", self.search)
        require(len(self.delta_phis) + len(self.pressures) >= 1, "delta_phis",
                "at least one Δφ or pressure", self.delta_phis)
        labels = self.state_labels
        require(len(set(labels)) == len(labels), "delta_phis/pressures",
                "distinct values (to 4 significant digits, the precision of the state names)",
                labels)
        for x in self.delta_phis:
            require(math.isfinite(x) and 0 < x < 1, "delta_phi", "in (0, 1)", x)
        for x in self.pressures:
            require(math.isfinite(x) and x > 0, "pressure", "> 0", x)
        if self.hessian:
            n_dof = (self.dim + kind.n_rot) * int(self.n)
            require_memory(HESSIAN_COPIES * 8.0 * n_dof**2, "n", "the dense Hessian (--hessian)",
                           self.n)

    @property
    def state_labels(self) -> tuple[str, ...]:
        """The state names of a seed: ``dphi_<Δφ>`` then ``p_<pressure>``."""
        return (tuple(f"dphi_{dp:.3e}" for dp in self.delta_phis)
                + tuple(f"p_{p:.3e}" for p in self.pressures))

    @property
    def settings(self) -> MinimizerSettings:
        return MinimizerSettings(self.method, self.ftol, self.max_steps)

    @property
    def start_phi(self) -> float:
        return self.phi_start if self.phi_start is not None else DEFAULT_PHI_START[self.dim]

    @property
    def particle_shape(self) -> ParticleShape:
        """The :class:`~packing.shapes.ParticleShape` of this run (round by ``dim`` for None)."""
        return resolve_shape(self.shape, self.dim)

    @property
    def system_name(self) -> str:
        kind = self.particle_shape
        aspect = "" if kind.round else f"_a{self.aspect:g}"
        return f"{kind.name}_d{kind.dim}_n{self.n}{aspect}_{self.potential}_r{self.dispersity:g}"


@dataclasses.dataclass(frozen=True)
class SeedRun:
    """The outcome of one seed: its φ_J search and its states labelled by Δφ or pressure."""

    seed: int
    jam: JammingResult
    states: tuple[tuple[str, MinimizeResult], ...]


def jam_one_seed(spec: JamSpec, seed: int,
                 progress: Callable[[float, bool], None] | None = None) -> SeedRun:
    """Random start (seed) → φ_J → minimised states at φ_J + Δφ and at the target pressures."""
    start = random_packing(spec.n, spec.start_phi, spec.dim, spec.dispersity, spec.potential, seed,
                           shape=spec.shape, aspect=spec.aspect)
    jam = find_jamming(start, rtol=spec.rtol, settings=spec.settings, progress=progress,
                       search=spec.search)
    log.debug("seed %d: φ_J = %.9f (%d minimisations, %d FIRE steps)", seed, jam.phi_j,
              jam.n_minimizations, jam.total_steps)
    results = list(states_above_jamming(jam, spec.delta_phis, spec.settings, progress))
    results += [state_at_pressure(jam, p, settings=spec.settings) for p in spec.pressures]
    for label, r in zip(spec.state_labels, results):
        log.debug("seed %d %s: p = %.4g, U = %.4g, max |F| = %.2g, %d FIRE steps%s", seed, label,
                  r.pressure, r.energy, r.max_force, r.steps, "" if r.converged else
                  " (step budget reached)")
    return SeedRun(seed, jam, tuple(zip(spec.state_labels, results)))


def state_record(spec: JamSpec, run: SeedRun, result: MinimizeResult,
                 net: ContactNetwork | None = None) -> tuple[dict, dict]:
    """(attributes, datasets) of one state group, under the HDF5 contract of `packing.io`."""
    p = result.packing
    net = contact_network(p) if net is None else net
    common = CommonAttributes(side="packing", control_name="phi", control=p.phi,
                              transition=run.jam.phi_j, energy=result.energy, n_dof=net.n_dof,
                              n_constraints=net.n_constraints, seed=run.seed)
    attrs = {
        **common.to_attrs(), "shape": p.shape, "dim": p.dim, "n_particles": p.n,
        "aspect_ratio": p.aspect_ratio,
        "potential": p.potential, "phi": p.phi, "phi_j": run.jam.phi_j, "pressure": result.pressure,
        "n_rattlers": net.n_rattlers,
        # beyond the contract
        "delta_phi": p.phi - run.jam.phi_j, "phi_unjammed": run.jam.phi_unjammed,
        "isostatic_count": net.isostatic_count, "z": net.z, "jammed": is_jammed(result, run.jam.threshold),
        "max_force": result.max_force, "steps": result.steps, "converged": result.converged,
        "search_converged": run.jam.all_converged, "dispersity": spec.dispersity, "method": spec.method,
        "ftol": spec.ftol, "state_ftol": result.ftol, "rtol": spec.rtol, "search": run.jam.search,
        "phi_extrapolated": run.jam.phi_extrapolated, "stiffness": run.jam.stiffness,
        "search_minimizations": run.jam.n_minimizations, "search_steps": run.jam.total_steps,
        "rattler_min_contacts": net.min_contacts,
    }
    data = {"positions": p.positions, "box": p.box,
            "contacts": net.contacts, "gaps": net.gaps, "pairs": net.pairs, "rattlers": net.rattler}
    if p.is_round:
        data["diameters"] = p.diameters
    else:
        data["semi_axes"] = p.semi_axes          # ellipses (N, 2): (a, b); ellipsoids (N, 3): (a, b, b)
        data["orientations"] = p.orientations    # ellipses (N,): angle of the major axis from x;
        #                                          ellipsoids (N, 3): unit symmetry axes
    if spec.hessian:
        data.update(hessian_spectra(p, net))
    return attrs, data


def hessian_spectra(packing, net: ContactNetwork | None = None) -> dict[str, np.ndarray]:
    """Eigenvalues of H and of its stiffness and stress parts (rattlers removed), by the shared
    analysis (`packing.analysis.analyze` of `packing.hessian.constraint_problem`); empty arrays
    when every particle is a rattler (an unjammed state has no rigid cluster)."""
    from .analysis import analyze
    from .hessian import constraint_problem

    net = contact_network(packing) if net is None else net
    if net.n_dof == 0:
        empty = np.empty(0)
        return {"hessian_eigenvalues": empty, "stiffness_eigenvalues": empty, "stress_eigenvalues": empty}
    res = analyze(constraint_problem(packing, net), compute_rank=False, fit_exponents=False)
    return {"hessian_eigenvalues": res.hessian_spectrum.eigenvalues,
            "stiffness_eigenvalues": res.stiffness_spectrum.eigenvalues,
            "stress_eigenvalues": res.stress_spectrum.eigenvalues}


StateRecords = tuple[tuple[str, dict, dict], ...]
"""(label, attributes, datasets) of every state of one seed."""


def seed_records(spec: JamSpec, run: SeedRun) -> StateRecords:
    """(label, attributes, datasets) of every state of ``run`` (:func:`state_record`)."""
    return tuple((label, *state_record(spec, run, result)) for label, result in run.states)


def write_seed(runs_group: h5py.Group, spec: JamSpec, run: SeedRun,
               records: StateRecords | None = None) -> None:
    """Write every state of ``run`` under runs_group/<system>/seed<k>/<label> (``records``:
    those of :func:`seed_records`, computed here when not given)."""
    seed_group = runs_group.require_group(spec.system_name).require_group(f"seed{run.seed}")
    for label, attrs, data in (seed_records(spec, run) if records is None else records):
        write_state(seed_group, label, attrs, data)


def _write_seeds(out: str, overwrite: bool, command: str, spec: JamSpec,
                 done: Sequence[tuple[SeedRun, StateRecords]], seeds: Sequence[int]) -> None:
    """Write the seeds done so far to ``out`` atomically, with the root attributes
    ``seeds_requested``, ``seeds_written`` and ``complete``."""
    with atomic_h5(out, overwrite=overwrite, command=command) as f:
        f.attrs["seeds_requested"] = np.asarray(list(seeds), dtype=np.int64)
        f.attrs["seeds_written"] = np.asarray([run.seed for run, _ in done], dtype=np.int64)
        f.attrs["complete"] = len(done) == len(seeds)
        for run, records in done:
            write_seed(f.require_group("runs"), spec, run, records)


def jam_to_file(spec: JamSpec, seeds: Sequence[int], out: str, overwrite: bool, command: str,
                progress: bool = True) -> list[SeedRun]:
    """Jam every seed (:func:`jam_one_seed`) and write ``out`` atomically after each one, so that
    a crash or a signal loses at most the seed in progress: the file always holds the seeds
    finished (root attributes ``seeds_written``, ``seeds_requested``, ``complete``). A progress
    bar on stderr unless ``progress`` is False. The output path and the spec are checked before
    any work; an existing file is replaced only with ``overwrite``, when the first seed is done."""
    check_output_path(out, overwrite)
    spec.validate()
    done: list[tuple[SeedRun, StateRecords]] = []
    with progress_bar(len(seeds), progress, unit="seed") as bar:
        for seed in seeds:
            def report(phi: float, jammed: bool, _bar=bar, _seed=seed) -> None:
                _bar.set_postfix_str(f"seed {_seed} φ={phi:.9f} {'jammed' if jammed else 'free'}",
                                     refresh=False)
            run = jam_one_seed(spec, seed, report)
            bar.set_postfix_str(f"seed {seed}: contacts{' and Hessians' if spec.hessian else ''}")
            done.append((run, seed_records(spec, run)))
            _write_seeds(out, overwrite or len(done) > 1, command, spec, done, seeds)
            bar.update(1)
    return [run for run, _ in done]
