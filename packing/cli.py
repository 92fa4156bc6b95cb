"""`packing` command line: ``packing jam`` jams soft particles (discs, spheres, 2D ellipses, 3D
ellipsoids of revolution) and writes the HDF5 contract; ``packing export`` writes one stored
state as extended XYZ or GSD; ``packing plot`` draws one with its contact network."""
from __future__ import annotations

import argparse
import logging
import math
import shlex
import sys
from typing import Callable, Sequence

from .errors import require
from .exits import EXIT_STATUS, run_command
from .helpformat import DefaultsHelpFormatter
from .io import package_version
from .limits import FTOL_RANGE, MAX_PARTICLES, MAX_SEEDS, MAX_STEPS, RTOL_RANGE
from .logs import apply_verbosity, ensure_verbosity_options

log = logging.getLogger(__name__)


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error on one line (and exits 2)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", DefaultsHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def _int_in(name: str, minimum: int, maximum: int | None = None):
    allowed = f"an integer >= {minimum}" if maximum is None else f"an integer in [{minimum}, {maximum}]"

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            v = None
        if v is None or v < minimum or (maximum is not None and v > maximum):
            raise argparse.ArgumentTypeError(f"{name} must be {allowed} (got {text!r})")
        return v
    return parse


def _float_in(name: str, lo: float, hi: float, lo_open: bool = True):
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            v = math.nan
        ok = math.isfinite(v) and (v > lo if lo_open else v >= lo) and v < hi
        if not ok:
            bracket = "(" if lo_open else "["
            raise argparse.ArgumentTypeError(f"{name} must be in {bracket}{lo}, {hi}) (got {text!r})")
        return v
    return parse


def build_parser(extra_subcommands: Sequence[Callable] = ()) -> argparse.ArgumentParser:
    """The ``packing`` parser; each of ``extra_subcommands`` is called with the subparsers to add
    commands defined elsewhere (the console script adds ``sweep`` and ``merge`` from dlbridge,
    which imports packing, not the other way round)."""
    parser = _Parser(prog="packing", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_jam(sub)
    _add_export(sub)
    _add_plot(sub)
    for add in extra_subcommands:
        add(sub)
    ensure_verbosity_options(sub)
    return parser


def _add_jam(sub) -> None:
    jam = sub.add_parser(
        "jam", help="jam soft particles and write states above φ_J (HDF5)",
        description="Find φ_J for each seed by compression with FIRE minimisation (O'Hern et al., "
                    "PRE 68, 011306, 2003), then by secant steps on p(φ) down the decompression branch "
                    "of the first jammed state (or by bisection from below, --search bisection); write "
                    "minimised states at φ_J + Δφ and at target pressures, both on the quasi-static "
                    "compression branch, one HDF5 group per seed × state.")
    jam.add_argument("--shape", choices=("disk", "sphere", "ellipse", "ellipsoid"), default=None,
                     help="particle shape (default: disk in 2D, sphere in 3D): disk (--dim 2) and "
                          "sphere (--dim 3) = round particles; "
                          "ellipse = 2D soft ellipses (exact Perram-Wertheim contact, rotations relaxed); "
                          "ellipsoid = 3D soft ellipsoids of revolution (--dim 3)")
    jam.add_argument("--aspect", type=_float_in("--aspect", 0.1, 10.0, lo_open=False), default=None,
                     help="aspect ratio a/b (a along the symmetry axis): ellipses in [1, 10), ellipsoids "
                          "in [0.1, 10) (< 1 oblate); --shape ellipse/ellipsoid only; default 1.5")
    jam.add_argument("--dim", type=int, choices=(2, 3), default=2, help="space dimension (2 or 3)")
    jam.add_argument("--n", type=_int_in("--n", 2, MAX_PARTICLES), default=256,
                     help=f"number of particles (2 … {MAX_PARTICLES})")
    jam.add_argument("--seeds", type=_int_in("--seeds", 1, MAX_SEEDS), default=1,
                     help="number of random starts: seeds 0..K-1 (plus --seed-offset)")
    jam.add_argument("--seed-offset", type=_int_in("--seed-offset", 0), default=0,
                     help="first seed (default 0)")
    jam.add_argument("--delta-phi", type=_float_in("--delta-phi", 0.0, 1.0), nargs="+",
                     default=[1e-6, 1e-4, 1e-2], help="distances above jamming Δφ = φ − φ_J, each in (0, 1)")
    jam.add_argument("--pressure", type=_float_in("--pressure", 0.0, math.inf), nargs="*", default=[],
                     help="also write states at these target virial pressures (> 0)")
    jam.add_argument("--potential", choices=("harmonic", "hertz"), default="harmonic",
                     help="pair potential V = ε/α (1 − r/σ)^α: harmonic α = 2, Hertz α = 5/2")
    jam.add_argument("--dispersity", type=_float_in("--dispersity", 1.0, 100.0, lo_open=False),
                     default=1.4,
                     help="large/small diameter ratio of the 50:50 mixture (>= 1; 1 = monodisperse)")
    jam.add_argument("--phi-start", type=_float_in("--phi-start", 0.0, 1.5), default=None,
                     help="packing fraction of the random start (default 0.80 in 2D, 0.58 in 3D)")
    jam.add_argument("--rtol", type=_float_in("--rtol", *RTOL_RANGE, lo_open=False), default=1e-7,
                     help="relative width of the φ_J bracket (default 1e-7)")
    jam.add_argument("--ftol", type=_float_in("--ftol", *FTOL_RANGE, lo_open=False), default=1e-12,
                     help="FIRE convergence: max |force component| < ftol (default 1e-12)")
    jam.add_argument("--max-steps", type=_int_in("--max-steps", 1, MAX_STEPS), default=10_000_000,
                     help="FIRE step budget per minimisation")
    jam.add_argument("--search", choices=("descent", "bisection"), default="descent",
                     help="φ_J search: descent = secant on p(φ) down the decompression branch of the "
                          "first jammed state (default); bisection = bisection from below, always "
                          "compressing from the last unjammed state")
    jam.add_argument("--fire2", action="store_true",
                     help="use FIRE 2.0 (Guénolé et al. 2020) instead of FIRE")
    jam.add_argument("--hessian", action="store_true",
                     help="store eigenvalues of the Hessian and of its stiffness and stress parts")
    jam.add_argument("--out", required=True, help="output HDF5 file")
    jam.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    jam.add_argument("--no-progress", dest="quiet", action="store_true", help=argparse.SUPPRESS)
    jam.set_defaults(func=run_jam)


def _add_export(sub) -> None:
    export = sub.add_parser(
        "export", help="write one stored state as extended XYZ or GSD (OVITO, ASE, freud, HOOMD)",
        description="Write one state of a `packing jam` file for the tools of the field: extended "
                    "XYZ (full float64 precision) or GSD (HOOMD schema, float64 copies under log/), "
                    "with positions wrapped into the box, orientations as quaternions, per-particle "
                    "shapes, the rattlers, and the stored contact list with overlaps and forces.")
    _add_state_arguments(export, "output file")
    export.add_argument("--format", choices=("extxyz", "gsd"), default="extxyz",
                        help="output format (default: extxyz)")
    export.set_defaults(func=run_export)


def _add_plot(sub) -> None:
    plot = sub.add_parser(
        "plot", help="draw one stored state: particles, contact network, forces, rattlers",
        description="Draw one state of a `packing jam` file: the particles (ellipses as ellipses; "
                    "3D packings as the mid-plane slab seen along z, ellipsoids by their exact "
                    "shadows), the contacts with line width proportional to the contact force, "
                    "and the rattlers in grey.")
    _add_state_arguments(plot, "figure file: .png, .pdf or .svg")
    plot.set_defaults(func=run_plot)


def _add_state_arguments(parser, out_help: str) -> None:
    """FILE, GROUP, --out and --overwrite of the commands that read one stored state."""
    parser.add_argument("file", metavar="FILE", help="HDF5 file written by packing jam")
    parser.add_argument("group", metavar="GROUP", nargs="?", default=None,
                        help="state group inside FILE, e.g. /runs/<system>/seed0/dphi_1.000e-06 "
                             "(default: the file's only state)")
    parser.add_argument("--out", required=True, help=out_help)
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")


def jam_spec(args: argparse.Namespace):
    """The :class:`~packing.jamming_runs.JamSpec` of parsed ``packing jam`` arguments."""
    from .jamming_runs import JamSpec
    from .shapes import SHAPE_TABLE, resolve_shape

    kind = resolve_shape(args.shape, args.dim)
    require(args.shape is None or args.shape == kind.name, "--shape",
            f"{kind.name} in {args.dim}D (--shape {args.shape} needs "
            f"--dim {SHAPE_TABLE.get(args.shape, kind).dim})", args.shape)
    if kind.round:
        require(args.aspect is None, "--aspect", "given only with --shape ellipse or ellipsoid",
                args.aspect)
    else:
        require(args.dim == kind.dim, "--dim", f"{kind.dim} for --shape {kind.name}", args.dim)
    aspect = 1.0 if kind.round else (1.5 if args.aspect is None else args.aspect)
    return JamSpec(dim=args.dim, n=args.n, shape=None if kind.round else kind.name, aspect=aspect,
                   potential=args.potential, dispersity=args.dispersity,
                   phi_start=args.phi_start, rtol=args.rtol, ftol=args.ftol, max_steps=args.max_steps,
                   method="fire2" if args.fire2 else "fire", search=args.search,
                   delta_phis=tuple(args.delta_phi), pressures=tuple(args.pressure), hessian=args.hessian)


def run_jam(args: argparse.Namespace, command: str) -> int:
    """Jam ``--seeds`` packings and write their states (see ``packing jam --help``)."""
    from .io import check_output_path
    from .jamming_runs import jam_to_file

    check_output_path(args.out, args.overwrite)
    spec = jam_spec(args)
    seeds = range(args.seed_offset, args.seed_offset + args.seeds)
    runs = jam_to_file(spec, seeds, args.out, args.overwrite, command,
                       progress=not args.quiet)
    for run in runs:
        print(f"seed {run.seed}: φ_J = {run.jam.phi_j:.8f}  ({run.jam.n_minimizations} minimisations, "
              f"{run.jam.total_steps} FIRE steps)")
    print(f"wrote {len(runs) * len(runs[0].states)} states to {args.out}")
    return _convergence_status(runs)


def run_export(args: argparse.Namespace, command: str) -> int:
    """Write one stored state in another format (see ``packing export --help``)."""
    from .export import write_snapshot
    from .io import check_output_path
    from .snapshot import read_state_file

    check_output_path(args.out, args.overwrite)
    snap = read_state_file(args.file, args.group)
    write_snapshot(snap, args.out, args.format, args.overwrite)
    print(f"wrote {snap.packing.n} particles and {len(snap.contacts)} contacts to {args.out} "
          f"({args.format})")
    return 0


def run_plot(args: argparse.Namespace, command: str) -> int:
    """Draw one stored state (see ``packing plot --help``)."""
    from pathlib import Path

    from .io import check_output_path
    from .picture import FIGURE_FORMATS, save_snapshot_figure
    from .snapshot import read_state_file

    check_output_path(args.out, args.overwrite)
    require(Path(args.out).suffix.lstrip(".").lower() in FIGURE_FORMATS, "--out",
            f"a file name ending in one of {FIGURE_FORMATS}", args.out)
    snap = read_state_file(args.file, args.group)
    save_snapshot_figure(snap, args.out, args.overwrite)
    print(f"wrote {args.out}")
    return 0


UNCONVERGED_STATUS = EXIT_STATUS["unconverged"]
"""Exit status of ``packing jam`` when a search or a stored state did not converge."""


def _convergence_status(runs) -> int:
    """0, or UNCONVERGED_STATUS with one line on stderr naming the seeds whose φ_J search or
    stored states stopped at the step budget (they are stored with ``converged`` = False)."""
    search = [run.seed for run in runs if not run.jam.all_converged]
    states = [f"{run.seed}:{label}" for run in runs for label, r in run.states if not r.converged]
    if not search and not states:
        return 0
    log.warning("not converged within --max-steps: φ_J search of seed(s) %s, states %s; stored "
                "with converged = False (exit status %d)", search or "none", states or "none",
                UNCONVERGED_STATUS)
    return UNCONVERGED_STATUS


def main(argv: Sequence[str] | None = None, extra_subcommands: Sequence[Callable] = ()) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(extra_subcommands)
    args = parser.parse_args(argv)
    if getattr(args, "shape", None) == "ellipse" and args.aspect is not None and args.aspect < 1.0:
        parser.error(f"argument --aspect: --aspect must be in [1.0, 10.0) for --shape ellipse "
                     f"(got {args.aspect!r})")
    command = "packing " + " ".join(shlex.quote(a) for a in argv)
    context = argv if getattr(args, "takes_argv", False) else command

    def body() -> int:
        apply_verbosity(args)
        return args.func(args, context)
    return run_command(f"packing {args.command}", body)


if __name__ == "__main__":
    raise SystemExit(main())
