"""``dlbridge regimes``: the (h, α) phase diagram — lazy against feature training, ensembles and
output fluctuations — run through the sweep executors and analysed.

A scale (:data:`REGIME_SCALES`) has one or two grids of ``regimes`` runs (one run = one width, every
α and seed of the grid trained as one ensemble, :mod:`dlbridge.nets.regimes`):

* ``plane``: widths × α — the test-error plane, the kernel change against α, α*(h);
* ``scan``: more widths at a feature and a lazy α — the ensemble predictor and the output
  fluctuations against N.

Runs go to ``OUT/runs/<grid>/`` (resumable), are merged into ``OUT/<grid>.h5`` and analysed
(:mod:`dlbridge.regimes`): ``OUT/regimes.md`` (the checks against data/literature.json, α* in
both conventions, every cell), ``OUT/regimes.csv`` and four figures. ``--analyse FILE …``
analyses existing files without running anything.
"""
from __future__ import annotations

import argparse
import dataclasses
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Sequence

from packing.errors import require
from packing.io import atomic_output, check_output_path, file_attributes

from .grid import Grid
from .validate import add_run_options, run_seconds, sweep_and_merge

REPORT, TABLE = "regimes.md", "regimes.csv"


@dataclasses.dataclass(frozen=True)
class RegimeScale:
    """A named pair of grids, the α from which nets count as lazy, and what the scale is for."""

    name: str
    purpose: str
    grids: tuple[tuple[str, Grid], ...]
    lazy_alpha_min: float


def _grid(fixed: dict, widths: Sequence[float], alphas: Sequence[float], seeds: int) -> Grid:
    return Grid("regimes", {**fixed, "alphas": list(alphas), "seeds": list(range(seeds))},
                {"width": list(widths)})


def _scale(name: str, purpose: str, fixed: dict, plane: tuple, scan: tuple | None, seeds: int,
           lazy_alpha_min: float) -> RegimeScale:
    """``plane`` and ``scan`` as (widths, alphas); a scale without ``scan`` runs the plane only."""
    grids = (("plane", plane), ("scan", scan))
    return RegimeScale(name, purpose, tuple((n, _grid(fixed, *g, seeds)) for n, g in grids if g),
                       lazy_alpha_min)


_BASE = {"dataset": "mnist-parity", "dim": 10, "depth": 2, "activation": "softplus",
         "bias": False, "loss": "softhinge", "optimizer": "flow"}
REGIME_SCALES = {
    "small": _scale("small", "under a minute on 2 cores: the pipeline end to end",
                    {**_BASE, "n_train": 16, "n_test": 300, "n_probe": 64, "steps": 20_000},
                    ((8, 16), (0.1, 10.0, 1e3, 1e4)), ((4, 6, 12), (0.1, 1e4)), 4, 1e3),
    # P = 500 with the implicit flow (dlbridge.nets.implicit): ~3·10² steps per net, 13.8 s of
    # computation per net (docs/regimes/default); the explicit flow needs 1.4·10⁴ steps already
    # at P = 64 (h = 16, α = 10⁴; tests/test_implicit_flow.py). N/P = 1.6–69 (h = 23–181):
    # lazy nets fit only for N ≳ P. ‖ΔΘ‖/‖Θ₀‖ falls faster than 1/α for α = 10²–10⁴ and as
    # 1/α only beyond (docs/regimes/default/regimes.md), hence α up to 10⁶, the fit from 10⁴.
    "default": _scale("default", "the CPU grid (2 cores, about half an hour)",
                      {**_BASE, "optimizer": "implicit", "n_train": 500, "n_test": 2000,
                       "n_probe": 256, "steps": 3000},
                      ((32, 64, 128), tuple(10.0 ** k for k in range(-2, 7))),
                      ((23, 45, 90, 181), (0.1, 1e4)), 8, 1e4),
    # P = 1000: a Cholesky factor of I + k S Θ S per net and step grows as P³ (37.7 s of
    # computation per net, docs/regimes/p1000), hence the plane only, 4 seeds, 6 α.
    "p1000": _scale("p1000", "P = 1000, the plane only (2 cores, about 40 minutes)",
                    {**_BASE, "optimizer": "implicit", "n_train": 1000, "n_test": 2000,
                     "n_probe": 256, "steps": 3000},
                    ((32, 64, 128), (1.0, 10.0, 100.0, 1e3, 1e4, 1e6)), None, 4, 1e4),
    "paper": _scale("paper", "a GPU or a cluster (--executor slurm/dask/submitit; device auto)",
                    {**_BASE, "depth": 3, "n_train": 5000, "n_test": 5000, "n_probe": 1000,
                     "steps": 2_000_000, "device": "auto"},
                    ((100, 200, 400, 800), tuple(10.0 ** (k / 2) for k in range(-6, 13))),
                    ((50, 70, 141, 283, 566), (0.1, 1e5)), 20, 1e4),
}
"""The scales of ``dlbridge regimes --scale``."""


def add_regimes_parser(subparsers) -> argparse.ArgumentParser:
    """The ``regimes`` subcommand."""
    p = subparsers.add_parser(
        "regimes", help="the (h, alpha) phase diagram: lazy vs feature training, ensembles",
        description="Train nets over widths h, scales alpha and seeds on MNIST parity to "
                    "N_Delta = 0, measure the tangent-kernel change, the test error of single "
                    "nets and of the ensemble predictor and the output fluctuations; write "
                    "OUT/regimes.md, OUT/regimes.csv and figures.")
    p.add_argument("--scale", choices=sorted(REGIME_SCALES), default="default",
                   help="small (a minute), default (the CPU grid, P = 500), p1000 (the plane at "
                        "P = 1000) or paper (default default)")
    p.add_argument("--out", required=True, help="output folder (runs are resumed from it)")
    p.add_argument("--analyse", nargs="+", metavar="FILE", default=None,
                   help="analyse these regimes files instead of running a scale")
    add_run_options(p)
    p.set_defaults(func=run_regimes)
    return p


def run_grids(scale: RegimeScale, out: Path, executor: str, workers: int, progress: bool,
              command: str) -> list[Path]:
    """Both grids of ``scale``: sweep into OUT/runs/<grid>/, merge into OUT/<grid>.h5."""
    return sweep_and_merge(scale.grids, out, executor, workers, progress, command, "regimes")


def report_text(summary, command: str, scale: RegimeScale | None, wall: float,
                figures: Sequence[Path], out: Path | None = None) -> str:
    """The Markdown report of one analysis."""
    from ..regimes.summary import cells_markdown, checks_markdown, crossover_markdown

    attrs = file_attributes(command)
    first = summary.cells[0].first
    grids = [f"- `{n}`: fixed {dict(g.fixed)}, widths {list(g.axes['width'])}"
             for n, g in (scale.grids if scale else ())]
    if out is not None and scale is not None:
        for n, _ in scale.grids:
            runs, seconds = run_seconds(out / f"{n}.h5")
            grids.append(f"- `{n}`: {runs} runs, {seconds / 60:.1f} min of computation summed "
                         f"over runs")
    return "\n".join([
        f"# The (h, α) phase diagram — {first.dataset}, P = {first.n_train}, L = {first.depth}",
        "", f"{scale.purpose if scale else 'analysis of existing files'}. Command: `{command}`, "
        f"on {platform.machine()} ({attrs.get('cpu', '')}); package "
        f"{attrs.get('package_version', '')}, git {attrs.get('git_commit', 'unknown')}, "
        f"{attrs.get('created', '')}; this invocation {wall / 60:.1f} min wall (finished runs in "
        f"OUT/runs are reused).", "",
        "α is the code's (last layer 1/h): α_paper = α/√h. Only fitted nets (N_Δ = 0) enter "
        "the statistics.", "", *grids, "", "## Against the literature", "",
        checks_markdown(summary), "## Crossover α*", "", crossover_markdown(summary),
        "## Every cell", "", cells_markdown(summary), "## Figures", "",
        *[f"![{p.name}]({p.name})" for p in figures if p.suffix == ".png"]]) + "\n"


def analyse(files: Sequence[Path], out: Path, lazy_alpha_min: float, command: str,
            scale: RegimeScale | None, wall: float):
    """Summary, figures, CSV and report of ``files`` into ``out``; returns the summary."""
    from ..regimes import plots
    from ..regimes.cells import load_regime_nets
    from ..regimes.summary import csv_text, summarise

    summary = summarise(load_regime_nets(files), lazy_alpha_min)
    figs = [*plots.test_error_plane(summary.cells, out),
            *plots.kernel_change(summary.cells, summary.stars, summary.threshold, out),
            *plots.ensemble(summary.cells, out),
            *plots.fluctuations(summary.cells, summary.fluctuation, out)]
    with atomic_output(out / TABLE, overwrite=True) as tmp:
        tmp.write_text(csv_text(summary), encoding="utf-8")
    with atomic_output(out / REPORT, overwrite=True) as tmp:
        tmp.write_text(report_text(summary, command, scale, wall, figs, out), encoding="utf-8")
    return summary


def regimes_to_dir(scale_name: str, out: str | Path, overwrite: bool, command: str,
                   executor: str = "local", workers: int = 2, progress: bool = True):
    """Run the scale ``scale_name`` into ``out`` and analyse it; returns the summary.
    ParameterError before any work when a merged file, the table or the report exists without
    ``overwrite``."""
    from ..compare.command import prepare_out_dir

    require(isinstance(workers, int) and 1 <= workers <= 1024, "--workers",
            "an integer in [1, 1024]", workers)
    scale = REGIME_SCALES[scale_name]
    out = prepare_out_dir(out)
    for path in [out / REPORT, out / TABLE] + [out / f"{n}.h5" for n, _ in scale.grids]:
        check_output_path(path, overwrite, name="--out")
    t0 = time.perf_counter()
    files = run_grids(scale, out, executor, workers, progress, command)
    return analyse(files, out, scale.lazy_alpha_min, command, scale, time.perf_counter() - t0)


def run_regimes(args: argparse.Namespace, argv: Sequence[str] | None = None) -> int:
    """The ``regimes`` command; returns 0 (ParameterError on bad input, before any work)."""
    from ..compare.command import prepare_out_dir
    from ..regimes.summary import checks_markdown

    command = "dlbridge " + " ".join(shlex.quote(a) for a in (argv if argv is not None
                                                               else sys.argv[1:]))
    if args.analyse:
        out = prepare_out_dir(args.out)
        for path in (out / REPORT, out / TABLE):
            check_output_path(path, args.overwrite, name="--out")
        summary = analyse([Path(f) for f in args.analyse], out,
                          REGIME_SCALES["default"].lazy_alpha_min, command, None, 0.0)
    else:
        summary = regimes_to_dir(args.scale, args.out, args.overwrite, command, args.executor,
                                 args.workers, not args.quiet)
    print(f"dlbridge regimes: report {Path(args.out) / REPORT}")
    print(checks_markdown(summary))
    return 0
