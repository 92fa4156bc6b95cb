"""``dlbridge demo``: the embedded default — both jamming transitions measured in a few minutes.

Five stages, each a call of the SAME library function as its own command (nothing is
re-implemented here; the demo only chooses the specs, and shows the equivalent command lines):

1. ``packing jam --shape disk``: bidisperse harmonic discs (O'Hern et al., PRE 68, 011306, 2003),
   states at φ_J + Δφ for Δφ = 1e-6 … 1e-2, with Hessian spectra → ``discs.h5``;
2. ``packing jam --shape ellipse --aspect 1.5``: the same for soft ellipses (hypostatic at
   jamming, Mailman et al., PRL 102, 255501, 2009) → ``ellipses.h5``;
3. ``dlbridge train --dataset random``: a width sweep at fixed P across N* with Hessians
   (Geiger et al., PRE 100, 012115, 2019) → ``nets.h5``; the widths are those whose parameter
   count N is closest above N/P = each value of the preset's grid (:func:`net_widths`);
4. ``dlbridge compare`` on the three files → ``comparison.csv``, ``comparison.md`` and the
   figures ``fig*.png``/``fig*.pdf``, all in ``--out``;
5. ``dlbridge regimes --scale small``: nets on the embedded MNIST-parity data across widths and
   α → ``regimes/`` (the lazy slope, the ensemble predictor and the generalisation figures on
   real data; the nets of stage 3 have random labels, so their test error is chance by design);

then ``packing plot`` of one disc and one ellipse state (``snapshot_*.png``) and the run's own
page, ``demo.md`` with its record ``demo.json`` (:mod:`.demo_page`: every number of the run, and
what it means; docs/demo.md is that page of one run).

The sizes are a :class:`DemoSize` preset (``default``; ``--small`` for the end-to-end test).
Progress (bars and one line per stage) goes to stderr; stdout gets the list of files written and
the comparison table. Existing demo files in ``--out`` are never replaced without ``--overwrite``.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import logging
import os
import shlex
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from packing.errors import ParameterError, require
from packing.jamming_runs import JamSpec, jam_to_file

from ..compare import compare, prepare_out_dir
from ..compare.figures import figure_files
from ..compare.tables import TABLE_FILES
from .demo_page import PAGE, RECORD, SNAPSHOT_LABEL, SNAPSHOTS, demo_record, snapshot_facts, write_page

log = logging.getLogger(__name__)

DEFAULT_OUT = "demo-out"
FILES = {"discs": "discs.h5", "ellipses": "ellipses.h5", "nets": "nets.h5"}
REGIMES_DIR = "regimes"


@dataclasses.dataclass(frozen=True)
class DemoSize:
    """Sizes of the three runs (everything else is the commands' own defaults).

    Packings: ``n_*`` particles, ``*_seeds`` random starts, states at φ_J + ``delta_phis``.
    Nets: ``net_dim``-dimensional random data, P = ``n_train``, ``net_depth`` hidden layers,
    ``net_seeds`` initialisations per width, ``net_steps`` Adam steps, widths from the grid
    ``n_over_p`` of N/P. ``bootstrap``: resamples for the θ, γ error bars of compare.
    """

    n_discs: int
    disc_seeds: int
    n_ellipses: int
    ellipse_seeds: int
    aspect: float
    delta_phis: tuple[float, ...]
    net_dim: int
    n_train: int
    n_test: int
    net_depth: int
    net_seeds: int
    net_steps: int
    n_over_p: tuple[float, ...]
    bootstrap: int


SIZES = {
    "default": DemoSize(n_discs=128, disc_seeds=4, n_ellipses=64, ellipse_seeds=3, aspect=1.5,
                        delta_phis=(1e-6, 1e-5, 1e-4, 1e-3, 1e-2), net_dim=5, n_train=100,
                        n_test=1000, net_depth=2, net_seeds=3, net_steps=20_000,
                        n_over_p=(0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2, 1.5, 2.0),
                        bootstrap=200),
    "small": DemoSize(n_discs=32, disc_seeds=2, n_ellipses=24, ellipse_seeds=2, aspect=1.5,
                      delta_phis=(1e-6, 1e-4, 1e-2), net_dim=5, n_train=40, n_test=200,
                      net_depth=2, net_seeds=2, net_steps=10_000,
                      n_over_p=(0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2, 1.6, 2.4),
                      bootstrap=50),
}


@dataclasses.dataclass(frozen=True)
class Stage:
    """One step of the demo: its title, the equivalent command line (program and arguments,
    shown and stored as the files' provenance) and the library call that does the work."""

    title: str
    program: str
    argv: tuple[str, ...]
    run: Callable[[], Any]

    @property
    def command(self) -> str:
        """The equivalent shell command line."""
        return f"{self.program} {shlex.join(self.argv)}"


def net_widths(size: DemoSize) -> list[float]:
    """Widths h (on the 1/depth grid) of the smallest nets with N ≥ (N/P)·P for each N/P of the
    preset's grid, deduplicated and sorted."""
    from ..nets.models import width_for_params

    return sorted({width_for_params(size.net_dim, size.net_depth, max(1.0, r * size.n_train))
                   for r in size.n_over_p})


def jam_spec(shape: str, n: int, size: DemoSize) -> JamSpec:
    """The packing run of one shape ("disk" or "ellipse"): the command's defaults otherwise."""
    ellipse = shape == "ellipse"
    return JamSpec(dim=2, n=n, shape="ellipse" if ellipse else None,
                   aspect=size.aspect if ellipse else 1.0, delta_phis=tuple(size.delta_phis),
                   hessian=True)


def net_spec(size: DemoSize):
    """The :class:`~dlbridge.nets.runs.NetRunSpec` of the width sweep (random data, CPU)."""
    from ..nets.runs import NetRunSpec

    return NetRunSpec(dataset="random", dim=size.net_dim, n_train=size.n_train,
                      n_test=size.n_test, depth=size.net_depth, steps=size.net_steps,
                      hessian=True, device="cpu")


def _flags(quiet: bool, overwrite: bool) -> list[str]:
    """The quiet and overwrite flags of the equivalent command line."""
    return (["--quiet"] if quiet else []) + (["--overwrite"] if overwrite else [])


def _jam_argv(spec: JamSpec, seeds: int, out: Path, quiet: bool,
              overwrite: bool) -> tuple[str, ...]:
    """``packing jam`` arguments equivalent to one packing stage."""
    shape = spec.shape or "disk"
    argv = ["jam", "--shape", shape, "--n", str(spec.n), "--seeds", str(seeds)]
    if spec.shape is not None:
        argv += ["--aspect", f"{spec.aspect:g}"]
    argv += ["--delta-phi", *(f"{d:g}" for d in spec.delta_phis), "--hessian", "--out", str(out)]
    return tuple(argv + _flags(quiet, overwrite))


def _train_argv(size: DemoSize, out: Path, quiet: bool, overwrite: bool) -> tuple[str, ...]:
    """``dlbridge train`` arguments equivalent to the network stage."""
    argv = ["train", "--dataset", "random", "--dim", str(size.net_dim),
            "--n-train", str(size.n_train), "--n-test", str(size.n_test),
            "--depth", str(size.net_depth), "--seeds", str(size.net_seeds),
            "--steps", str(size.net_steps), "--device", "cpu", "--hessian",
            "--widths", *(f"{h:g}" for h in net_widths(size)), "--out", str(out)]
    return tuple(argv + _flags(quiet, overwrite))


def _packing_stage(title: str, shape: str, n: int, seeds: int, size: DemoSize, out: Path,
                   quiet: bool, overwrite: bool) -> Stage:
    """One packing stage: :func:`packing.jamming_runs.jam_to_file` of the demo's spec."""
    spec = jam_spec(shape, n, size)
    argv = _jam_argv(spec, seeds, out, quiet, overwrite)
    command = f"packing {shlex.join(argv)}"
    run = functools.partial(jam_to_file, spec, range(seeds), str(out), overwrite, command,
                            progress=not quiet)
    return Stage(title, "packing", argv, run)


def _network_stage(size: DemoSize, out: Path, quiet: bool, overwrite: bool) -> Stage:
    """The network stage: :func:`dlbridge.nets.command.train_to_file` of the width sweep."""
    from ..nets.command import train_to_file

    argv = _train_argv(size, out, quiet, overwrite)
    run = functools.partial(train_to_file, net_spec(size), net_widths(size),
                            range(size.net_seeds), str(out), overwrite,
                            "dlbridge " + shlex.join(argv), progress=not quiet)
    return Stage("networks", "dlbridge", argv, run)


def _regimes_stage(out: Path, quiet: bool, overwrite: bool) -> Stage:
    """The regimes stage: :func:`dlbridge.workflow.regimes.regimes_to_dir` of the small scale,
    in this process."""
    from .regimes import regimes_to_dir

    argv = ("regimes", "--scale", "small", "--out", str(out), "--executor", "serial", "--workers", "1",
            *_flags(quiet, overwrite))
    run = functools.partial(regimes_to_dir, "small", out, overwrite, "dlbridge " + shlex.join(argv),
                            "serial", 1, not quiet)
    return Stage("regimes", "dlbridge", argv, run)


def stages(size: DemoSize, out_dir: Path, quiet: bool, overwrite: bool) -> list[Stage]:
    """The five steps of the demo, in order (module docstring)."""
    files = {k: out_dir / v for k, v in FILES.items()}
    compare_argv = ("compare", *(str(p) for p in files.values()), "--out", str(out_dir),
                    "--bootstrap", str(size.bootstrap)) + (("--overwrite",) if overwrite else ())
    return [
        _packing_stage("discs", "disk", size.n_discs, size.disc_seeds, size, files["discs"],
                       quiet, overwrite),
        _packing_stage("ellipses", "ellipse", size.n_ellipses, size.ellipse_seeds, size,
                       files["ellipses"], quiet, overwrite),
        _network_stage(size, files["nets"], quiet, overwrite),
        Stage("compare", "dlbridge", compare_argv,
              functools.partial(compare, list(files.values()), out_dir,
                                n_bootstrap=size.bootstrap, overwrite=overwrite)),
        _regimes_stage(out_dir / REGIMES_DIR, quiet, overwrite),
    ]


def existing_outputs(out_dir: Path) -> list[Path]:
    """Demo files already in out_dir (HDF5 files, tables, figures, the page)."""
    if not out_dir.is_dir():
        return []
    names = [out_dir / n for n in (*FILES.values(), *TABLE_FILES, RECORD, PAGE,
                                   *SNAPSHOTS.values())] + figure_files(out_dir)
    names.append(out_dir / REGIMES_DIR / "regimes.md")
    return [p for p in names if os.path.lexists(p)]


def check_out_dir(out_dir: Path, overwrite: bool) -> None:
    """ParameterError when --out is a file, or holds demo files and ``overwrite`` is False."""
    require(not out_dir.exists() or out_dir.is_dir(), "--out", "a directory (not a file)",
            str(out_dir))
    found = existing_outputs(out_dir)
    if found and not overwrite:
        raise ParameterError(f"--out holds demo files ({found[0].name}, … {len(found)} in all); "
                             f"pass --overwrite to replace them (got {str(out_dir)!r})")


def _check_outcome(stage: Stage, outcome: Any) -> None:
    """ParameterError when a stage stored less than it ran (diverged nets); the comparison's
    notes and warnings go to stderr."""
    failed = getattr(outcome, "failed", ())
    if failed:
        raise ParameterError(f"demo stage {stage.title!r} must succeed (got {len(failed)} "
                             "diverged net(s), not stored)")
    for note in getattr(outcome, "notes", ()):
        log.info("note: %s", note)
    for summary in getattr(outcome, "summaries", ()):
        for w in summary.warnings:
            log.warning("%s", w)


def run_stage(stage: Stage) -> tuple[float, float, Any]:
    """Run one stage's library call; returns (wall s, CPU s, what the call returned). A failing
    stage raises ParameterError."""
    t0, c0 = time.perf_counter(), time.process_time()
    outcome = stage.run()
    _check_outcome(stage, outcome)
    return time.perf_counter() - t0, time.process_time() - c0, outcome


def add_demo_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``demo [--out DIR] [--small] [--overwrite]``; its ``func`` is
    :func:`run_demo`."""
    p = subparsers.add_parser(
        "demo", help="small disc, ellipse and network runs, then compare (minutes on a CPU)",
        description="Run packing jam (discs, ellipses), dlbridge train (random data width sweep), "
                    "dlbridge compare and dlbridge regimes --scale small (embedded MNIST parity) "
                    "with small embedded sizes; write everything into --out and print the files "
                    "and the comparison table.")
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                   help=f"output directory, created if missing (default {DEFAULT_OUT}/)")
    p.add_argument("--small", action="store_true",
                   help="a smaller setting (about a minute; for tests and CI)")
    p.add_argument("--overwrite", action="store_true", help="replace existing demo files in DIR")
    p.set_defaults(func=run_demo)
    return p


def _one_torch_thread():
    """One torch thread while the demo runs, restored after: the demo's nets are tiny (≤ 10⁴
    multiply-adds per step), where intra-op threads only add synchronisation (measured: 2
    threads ran 14× slower on a loaded 2-core machine)."""
    from ..nets.train import torch_threads

    return torch_threads(1)


def draw_snapshots(size: DemoSize, out_dir: Path) -> dict[str, dict]:
    """``packing plot`` of seed 0 at Δφ = 10⁻⁴ of each packing file (:data:`SNAPSHOTS`), drawn
    into out_dir; returns each one's counts (:func:`~.demo_page.snapshot_facts`)."""
    from packing.picture import save_snapshot_figure
    from packing.snapshot import read_state_file

    facts = {}
    for name, shape, n in (("discs", "disk", size.n_discs), ("ellipses", "ellipse", size.n_ellipses)):
        group = f"/runs/{jam_spec(shape, n, size).system_name}/seed0/{SNAPSHOT_LABEL}"
        path = out_dir / FILES[name]
        save_snapshot_figure(read_state_file(path, group), out_dir / SNAPSHOTS[name], overwrite=True)
        facts[name] = snapshot_facts(path, group)
    return facts


def _page_record(size_name: str, argv: Sequence[str], timed: Sequence[tuple[Stage, float, float]],
                 outcomes: dict[str, Any], wall: float, cpu: float, out_dir: Path,
                 snapshots: dict[str, dict]) -> dict:
    """The :func:`~.demo_page.demo_record` of this run."""
    from ..compare.references import checks

    comparison = outcomes["compare"]
    verdicts = [{"system": c.system, "quantity": c.quantity, "verdict": c.verdict}
                for c in checks(comparison.summaries)]
    warnings = [w for s in comparison.summaries for w in s.warnings]
    stage_rows = [{"title": st.title, "command": st.command, "wall_s": w, "cpu_s": c}
                  for st, w, c in timed]
    regimes_md = (out_dir / REGIMES_DIR / "regimes.md").read_text(encoding="utf-8")
    return demo_record(size_name, argv, stage_rows, wall, cpu,
                       (out_dir / "comparison.md").read_text(encoding="utf-8"),
                       comparison.notes, warnings, verdicts, regimes_md, snapshots)


def run_demo(args: argparse.Namespace, argv: Sequence[str] | None = None) -> int:
    """Run the five stages, draw the snapshots, write the page (:mod:`.demo_page`), then print
    the files written and the comparison table; returns 0."""
    out_dir = Path(args.out)
    check_out_dir(out_dir, args.overwrite)
    prepare_out_dir(out_dir)
    size_name = "small" if args.small else "default"
    size = SIZES[size_name]
    plan = stages(size, out_dir, args.quiet, args.overwrite)
    timed, outcomes = [], {}
    t_start, c_start = time.perf_counter(), time.process_time()
    with _one_torch_thread():
        for i, st in enumerate(plan, 1):
            log.info("[demo %d/%d] %s: %s", i, len(plan), st.title, st.command)
            wall, cpu, outcomes[st.title] = run_stage(st)
            timed.append((st, wall, cpu))
            log.info("[demo %d/%d] %s done: %.1f s wall, %.1f s CPU", i, len(plan), st.title, wall,
                     cpu)
    log.info("[demo] the snapshots and the page: %s", out_dir / PAGE)
    snapshots = draw_snapshots(size, out_dir)
    wall, cpu = time.perf_counter() - t_start, time.process_time() - c_start
    shown = list(argv)[1:] if argv is not None else ["--out", str(out_dir)]
    write_page(out_dir, _page_record(size_name, shown, timed, outcomes, wall, cpu, out_dir,
                                     snapshots))
    print_report(out_dir, wall, cpu)
    return 0


def print_report(out_dir: Path, wall: float, cpu: float) -> None:
    """Print (stdout) where the data, tables and figures are, then the Markdown table."""
    print(f"dlbridge demo: finished in {wall:.0f} s wall ({cpu:.0f} s CPU)")
    print(f"data:    {', '.join(str(out_dir / f) for f in FILES.values())}")
    print(f"tables:  {', '.join(str(out_dir / t) for t in TABLE_FILES)}")
    figs = sorted(out_dir.glob("fig*.png"))
    print(f"figures: {', '.join(str(f) for f in figs)} (and .pdf)")
    print(f"page:    {out_dir / PAGE} (every number and figure of this run, explained)")
    print(f"regimes: {out_dir / REGIMES_DIR / 'regimes.md'} (MNIST parity: lazy and feature nets, "
          f"ensembles; figures regimes*.png there)")
    print()
    print((out_dir / "comparison.md").read_text(encoding="utf-8"))
