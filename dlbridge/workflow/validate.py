"""``dlbridge validate``: the literature table reproduced at a chosen scale.

Each scale (:data:`SCALES`) is a list of systems, each a sweep :class:`~.grid.Grid` (3D spheres,
2D discs, 2D ellipses, nets at N*). The runs go through :func:`~.sweep.run_sweep` into
``OUT/runs/<system>/`` (resumable: a re-run skips finished runs; any sweep executor, so the
cluster scale runs on ``slurm``/``dask``/``submitit``), are merged into ``OUT/<system>.h5``,
compared (:func:`dlbridge.compare.compare`, tables and figures in ``OUT``) and checked against
data/literature.json (:mod:`dlbridge.compare.references`). ``OUT/report.md`` holds the checks,
the comparison table, the figures, the command and the machine.

Protocols (why these numbers): packings at Δφ = 1e-7 above a φ_J located to a relative 1e-10
(θ_e rises from 0.21 at Δφ = 1e-4 to 0.37–0.39 at 1e-6 … 1e-8 for N = 1024 spheres, 8 seeds:
finite pressure rounds the small forces), plus Δφ up to 1e-2 for the N_Δ scaling. Nets: ReLU,
quadratic hinge, Adam (the paper's setting), random data in d = 10, widths around N*; only nets
whose loss converged (stop reason ``converged``) within 20 % below N* enter θ and γ
(`dlbridge.compare.summary`), and the report says how many did. The large scale's nets lower
Adam's rate per net on plateaus (``schedule = "plateau"``, restarted after each descent) over
8·10⁵ steps: at P = 400 with the paper's fixed-rate shape and 4·10⁴ steps, 9 of the 10 unfitted
nets near N* were stopped by the budget, not at a minimum; its widths 7.5–8.5 (N = 159–188)
bracket N* ≈ 170–180 found with the schedule.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import platform
import shlex
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Sequence

import h5py
import numpy as np

from packing.errors import require
from packing.io import atomic_output, check_output_path, file_attributes

from ..compare.references import checks, checks_markdown
from .grid import MAX_SEEDS, Grid, seed_list
from .runfiles import merge_runs
from .sweep import EXECUTORS, run_sweep

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ValidationScale:
    """A named set of systems: (system name, grid) pairs and what the scale is for."""

    name: str
    purpose: str
    systems: tuple[tuple[str, Grid], ...]


def _packings(dim: int, n: int, seeds: int, shape: str | None = None,
              aspect: float = 1.0) -> Grid:
    fixed = {"dim": dim, "n": n, "rtol": 1e-10, "delta_phis": [1e-7, 1e-5, 1e-3, 1e-2]}
    if shape is not None:
        fixed.update(shape=shape, aspect=aspect)
    return Grid("packing", fixed, {"seed": list(range(seeds))})


def _nets(n_train: int, widths: Sequence[float], seeds: int, steps: int,
          schedule: str = "step") -> Grid:
    fixed = {"dataset": "random", "dim": 10, "n_train": n_train, "n_test": 0, "depth": 2,
             "steps": steps, "schedule": schedule, "seeds": list(range(seeds))}
    return Grid("network", fixed, {"width": list(widths)})


SCALES = {
    "small": ValidationScale(
        "small", "minutes on 2 cores: every number computed, few resolved",
        (("spheres", _packings(3, 256, 8)), ("discs", _packings(2, 256, 8)),
         ("ellipses", _packings(2, 128, 4, "ellipse", 1.5)),
         ("nets", _nets(100, (4, 5, 6, 7), 6, 20_000)))),
    "large": ValidationScale(
        "large", "the largest sizes run on 2 CPU cores (about 80 minutes wall)",
        (("spheres", _packings(3, 1024, 48)), ("discs", _packings(2, 1024, 32)),
         ("ellipses", _packings(2, 256, 8, "ellipse", 1.5)),
         ("nets", _nets(400, (7.5, 8, 8.5), 8, 800_000, "plateau")))),
    "cluster": ValidationScale(
        "cluster", "a cluster or GPU through a distributed executor (--executor slurm/dask/submitit)",
        (("spheres", _packings(3, 4096, 40)), ("discs", _packings(2, 4096, 40)),
         ("ellipses", _packings(2, 1024, 20, "ellipse", 1.5)),
         ("nets", _nets(2000, (24, 26, 28, 30, 32, 34), 16, 200_000)))),
}
"""The scales of ``dlbridge validate --scale``."""

REPORT = "report.md"
SYSTEMS = tuple(name for name, _ in SCALES["small"].systems)
"""The systems every scale has, in its order."""


def _with_seeds(grid: Grid, seeds: list[int]) -> Grid:
    """``grid`` run over ``seeds``: a packing grid's seed axis, a network grid's fixed seeds."""
    if grid.side == "packing":
        return Grid(grid.side, dict(grid.fixed), {**grid.axes, "seed": seeds})
    return Grid(grid.side, {**grid.fixed, "seeds": seeds}, dict(grid.axes))


def selected_scale(scale: ValidationScale, systems: Sequence[str] | None = None,
                   seeds: int | None = None) -> ValidationScale:
    """``scale`` restricted to ``systems`` (None: all) in the scale's order, each run over the
    seeds 0 … ``seeds``−1 when ``seeds`` is given (None: the scale's own)."""
    chosen = [(n, g) for n, g in scale.systems if systems is None or n in systems]
    require(len(chosen) >= 1, "--systems", f"names among {', '.join(SYSTEMS)}", systems)
    if seeds is not None:
        chosen = [(n, _with_seeds(g, seed_list(seeds, "--seeds"))) for n, g in chosen]
    if systems is None and seeds is None:
        return scale
    which = ", ".join(n for n, _ in chosen) + (f"; seeds 0 … {seeds - 1}" if seeds else "")
    return dataclasses.replace(scale, purpose=f"{scale.purpose}; this run: {which}",
                               systems=tuple(chosen))


def add_validate_parser(subparsers) -> argparse.ArgumentParser:
    """The ``validate`` subcommand."""
    p = subparsers.add_parser(
        "validate", help="reproduce the literature table at a chosen scale",
        description="Run packings (3D spheres, 2D discs, ellipses) and nets at N* at one scale "
                    "through the sweep executors, compare them and check every number against "
                    "data/literature.json; writes OUT/report.md, tables and figures.")
    p.add_argument("--scale", choices=sorted(SCALES), default="small",
                   help="small (about 3 minutes on 2 cores), large (about 80 minutes) or "
                        "cluster (default small)")
    p.add_argument("--out", required=True, help="output folder (runs are resumed from it)")
    p.add_argument("--systems", nargs="+", choices=SYSTEMS, default=None, metavar="SYSTEM",
                   help=f"run only these systems of the scale ({', '.join(SYSTEMS)}; default all)")
    p.add_argument("--seeds", type=int, default=None, metavar="K",
                   help="seeds 0 … K−1 for every system run instead of the scale's own counts "
                        f"(1 … {MAX_SEEDS}; default: the scale's)")
    add_run_options(p)
    p.set_defaults(func=run_validate)
    return p


def add_run_options(p: argparse.ArgumentParser) -> None:
    """--executor, --workers, --overwrite: the options of a command that runs grids
    into OUT through the sweep executors (validate, regimes)."""
    p.add_argument("--executor", choices=EXECUTORS, default="local",
                   help="sweep executor (default local: a process pool)")
    p.add_argument("--workers", type=int, default=2, help="parallel runs (default 2)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the merged files, tables, figures and report in OUT")


def _merged(out: Path, name: str) -> Path:
    return out / f"{name}.h5"


def _check_outputs(out: Path, scale: ValidationScale, overwrite: bool) -> None:
    """ParameterError before any work when a merged file or the report exists without
    --overwrite."""
    for path in [out / REPORT] + [_merged(out, n) for n, _ in scale.systems]:
        check_output_path(path, overwrite, name="--out")


def run_seconds(merged: Path) -> tuple[int, float]:
    """(runs, summed seconds of their computation) from a merged file's /index."""
    with h5py.File(merged, "r") as f:
        sec = np.asarray(f["index"]["seconds"][()], dtype=np.float64)
    return int(sec.size), float(np.nansum(sec))


def sweep_and_merge(grids: Sequence[tuple[str, Grid]], out: Path, executor: str, workers: int,
                    progress: bool, command: str, who: str) -> list[Path]:
    """Every (name, grid): sweep into OUT/runs/<name>/, merge into OUT/<name>.h5; ParameterError
    (naming the command ``who``) when a run failed or is locked by another worker."""
    merged = []
    (out / "runs").mkdir(exist_ok=True)
    for name, grid in grids:
        rep = run_sweep(grid, out / "runs" / name, executor=executor, workers=workers,
                        command=command, progress=progress,
                        log=log.info)
        require(rep.failed == 0 and rep.locked == 0, who, "every run done",
                f"{name}: {rep.failed} failed, {rep.locked} locked ({'; '.join(rep.errors)[:300]})")
        merge_runs(out / "runs" / name, _merged(out, name), overwrite=True, command=command)
        merged.append(_merged(out, name))
    return merged


def run_scale(scale: ValidationScale, out: Path, executor: str, workers: int,
              progress: bool, command: str) -> list[Path]:
    """Every system of ``scale`` through :func:`sweep_and_merge`."""
    return sweep_and_merge(scale.systems, out, executor, workers, progress, command, "validate")


def _system_line(name: str, grid: Grid) -> str:
    swept = {k: (f"{len(v)} values" if len(v) > 6 else list(v)) for k, v in grid.axes.items()}
    return f"- `{name}`: side {grid.side}, fixed {dict(grid.fixed)}, swept {swept}"


def _exponent_line(s) -> str:
    """What the exponents of one system stand on: states, their stop reasons, marginal counts."""
    reasons = Counter(st.stop_reason for st in s.exponent_states)
    certified = sum(st.certified for st in s.exponent_states)
    why = (", ".join(f"{n} {r}" for r, n in sorted(reasons.items()))
           + f"; {certified} with the kink certificate" if s.side == "network"
           else "one per seed at the smallest Δφ")
    extra = (f"; bucklers {s.buckler_fraction:.1%} of the non-rattlers"
             if math.isfinite(s.buckler_fraction) else "")
    return (f"- {s.label}: θ, γ from {len(s.exponent_states)} states ({why}); marginal "
            f"constraints per state {s.n_marginal.mean:.2f}{extra}")


def _cost_line(out: Path, name: str) -> str:
    runs, seconds = run_seconds(_merged(out, name))
    return f"- `{name}`: {runs} runs, {seconds / 60:.1f} min of computation summed over runs"


def report_text(scale: ValidationScale, command: str, result, wall: float,
                out: Path | None = None) -> str:
    """The Markdown report: checks, the comparison table, figures, command, machine and the
    computation per system (from the merged files' index, when ``out`` is given)."""
    attrs = file_attributes(command)
    figs = sorted(p.name for p in result.files if p.suffix == ".png")
    lines = [f"# Validation against the literature — scale `{scale.name}`", "",
             f"{scale.purpose}. Command: `{command}`, on "
             f"{platform.machine()} ({attrs.get('cpu', '')}); package {attrs.get('package_version', '')}, "
             f"git {attrs.get('git_commit', 'unknown')}, {attrs.get('created', '')}.", "",
             "## Checks", "", checks_markdown(checks(result.summaries)),
             "What the exponents stand on:", "", *[_exponent_line(s) for s in result.summaries],
             "",
             "## Systems", "", *[_system_line(name, g) for name, g in scale.systems], "",
             *([f"Computation (this invocation took {wall / 60:.1f} min wall; finished runs "
                f"found in OUT/runs are reused):", "",
                *[_cost_line(out, name) for name, _ in scale.systems], ""] if out else []),
             "## Comparison table", "", result.markdown, "## Figures", "",
             *[f"![{f}]({f})" for f in figs]]
    return "\n".join(lines) + "\n"


def run_validate(args: argparse.Namespace, argv: Sequence[str] | None = None) -> int:
    """The ``validate`` command; returns 0 (ParameterError on bad input, before any work)."""
    from ..compare.command import compare, prepare_out_dir

    require(isinstance(args.workers, int) and 1 <= args.workers <= 1024, "--workers",
            "an integer in [1, 1024]", args.workers)
    scale = selected_scale(SCALES[args.scale], args.systems, args.seeds)
    out = prepare_out_dir(args.out)
    _check_outputs(out, scale, args.overwrite)
    command = "dlbridge " + " ".join(shlex.quote(a) for a in (argv if argv is not None
                                                               else sys.argv[1:]))
    t0 = time.perf_counter()
    files = run_scale(scale, out, args.executor, args.workers, not args.quiet, command)
    result = compare(files, out, figures=True, overwrite=True)
    wall = time.perf_counter() - t0
    with atomic_output(out / REPORT, overwrite=True) as tmp:
        tmp.write_text(report_text(scale, command, result, wall, out), encoding="utf-8")
    print(f"dlbridge validate: {args.scale} scale in {wall / 60:.1f} min; report {out / REPORT}")
    print(checks_markdown(checks(result.summaries)))
    bad = [c for c in checks(result.summaries) if not math.isfinite(c.value)]
    if bad:
        log.warning("%d quantities could not be measured at this scale", len(bad))
    return 0
