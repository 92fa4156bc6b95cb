"""``dlbridge sweep`` and ``dlbridge merge``: the command line of :mod:`dlbridge.workflow.sweep`.

Exit status (`packing.exits.EXIT_STATUS`): 0 when every run is done, 3 when some failed (their
errors are listed, and kept in their files; for ``merge``: a run file unreadable or invalid), 4
when runs were held by another live process and are not done (the merge is then refused unless
``--allow-incomplete``), 2 on bad input (one line, nothing written), 1 when the system refused a
write, 130/143 on SIGINT/SIGTERM (pending runs cancelled; no temporary or lock file left).
"""
from __future__ import annotations

import argparse
import logging
import os
import shlex
from pathlib import Path
from typing import Sequence

from packing.errors import require
from packing.exits import EXIT_STATUS

from .runfiles import merge_runs
from .sweep import EXECUTORS, SIDES, load_grid, parse_value, pending_runs, run_sweep

log = logging.getLogger(__name__)

EPILOG = """grid file (TOML):  side = "packing"   [fixed] dim = 2, n = 64   [grid] seed = [0, 1, 2]
examples:
  dlbridge sweep --side packing --fixed dim=2 n=32 delta_phis=1e-6,1e-4 --grid seed=0:4 --out runs/
  dlbridge sweep grid.toml --out runs/ --executor dask --workers 8 --merge all.h5
  dlbridge merge runs/ --out all.h5"""


def add_sweep_parsers(sub, prog: str = "dlbridge", side: str | None = None) -> None:
    """Add the ``sweep`` and ``merge`` subcommands to the ``prog`` parser; with ``side``, the
    sweep's runs are of that side only (``packing sweep``) and ``--side`` is not offered."""
    p = sub.add_parser("sweep", help="run a parameter grid (packings or nets), resumable",
                       description="Expand a grid of packing or network runs (a TOML file, or "
                                   "--fixed and --grid) and run the pending ones,\none HDF5 file "
                                   "per run, each under a lock: a re-run does only what is "
                                   "missing,\nand several sweeps of one folder share the work.",
                       epilog=EPILOG if side is None else
                       EPILOG.replace("dlbridge", prog).replace(f"--side {side} ", ""))
    a = p.add_argument
    a("grid_file", nargs="?", default=None, help="TOML grid file (side, [fixed], [grid])")
    if side is None:
        a("--side", default=None, metavar="{" + ",".join(SIDES) + "}",
          help="which runs (or side = in the grid file)")
    a("--fixed", nargs="+", default=[], metavar="KEY=VALUE", help="fixed parameters")
    a("--grid", nargs="+", default=[], metavar="KEY=VALUES",
      help="swept parameters: v1,v2,...  a:b (integers)  or a JSON list")
    a("--out", required=True, help="output directory (one file per run)")
    a("--executor", default="local", metavar="{" + ",".join(EXECUTORS) + "}",
      help="where the runs execute (default local)")
    a("--workers", type=int, default=max(1, (os.cpu_count() or 1)),
      help="parallel workers (processes, dask workers, SLURM jobs)")
    a("--scheduler", default=None, help="address of a running dask scheduler (--executor dask)")
    a("--cluster-option", nargs="+", default=[], metavar="KEY=VALUE",
      help="options of LocalCluster/SLURMCluster/submitit (e.g. queue=gpu walltime=01:00:00)")
    a("--retry-failed", action="store_true", help="redo runs whose file says failed")
    a("--merge", default=None, metavar="FILE.h5", help="merge every run into FILE.h5 at the end")
    a("--overwrite", action="store_true", help="replace an existing --merge file")
    a("--allow-incomplete", action="store_true",
      help="--merge even when runs of the grid are not finished (held by other workers)")
    a("--dry-run", action="store_true", help="list the runs and exit")
    p.set_defaults(func=cmd_sweep, prog=prog, only_side=side, takes_argv=True)

    m = sub.add_parser("merge", help="merge a sweep directory into one HDF5 file with an index",
                       description="Copy every finished run file of a sweep folder into one HDF5 "
                                   "file, with an index of the runs and their parameters; refused "
                                   "while runs are unfinished unless --allow-incomplete.")
    m.add_argument("directory", help="the sweep's output directory")
    m.add_argument("--out", required=True, help="merged HDF5 file")
    m.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    m.add_argument("--allow-incomplete", action="store_true",
                   help="merge even when runs of the folder's grids are not finished")
    m.set_defaults(func=cmd_merge, prog=prog, takes_argv=True)


def _options(items: Sequence[str]) -> dict:
    out = {}
    for item in items:
        require("=" in item, "--cluster-option", "KEY=VALUE", item)
        k, v = item.split("=", 1)
        out[k] = parse_value(v)
    return out


def cmd_sweep(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """``dlbridge sweep``: expand the grid, validate every run, run the pending ones."""
    from packing.io import check_output_path

    # `dlbridge sweep` takes --side; `packing sweep` has one side, which a grid file may repeat
    # (or contradict: checked below) or leave out.
    side = args.side if args.only_side is None else None
    grid = load_grid(args.grid_file, side, args.fixed, args.grid, default_side=args.only_side)
    require(args.only_side is None or grid.side == args.only_side, "side",
            f"{args.only_side!r} for {args.prog} sweep (other sides: dlbridge sweep)", grid.side)
    runs = grid.runs()
    if args.dry_run:
        for r in runs:
            print(f"{r.file_name}  {r.params_json}")
        return 0
    if args.merge is not None:
        check_output_path(args.merge, args.overwrite, "--merge")
    command = f"{args.prog} " + shlex.join(argv)
    rep = run_sweep(grid, args.out, args.executor, args.workers, args.retry_failed, command,
                    args.scheduler, _options(args.cluster_option), progress=not args.quiet,
                    log=log.info)
    print(f"{args.prog} sweep: {rep.total} runs in {rep.out_dir}: {rep.done} done now, "
          f"{rep.skipped} already there, {rep.failed} failed, {rep.locked} held by other workers"
          + (f"; {rep.unconverged} states stopped at their step budget (converged = False in "
             "their files)" if rep.unconverged else ""))
    for e in rep.errors:
        log.warning("failed: %s", e)
    unfinished = [r.file_name for r in pending_runs(runs, Path(rep.out_dir), False)]
    if unfinished:
        log.warning(f"{len(unfinished)} runs not finished (held by other workers or lost): re-run "
                    f"the sweep when they are done (exit status {EXIT_STATUS['blocked']})"
                    + ("; --merge skipped" if args.merge is not None
                       and not args.allow_incomplete else ""))
    if args.merge is not None and (args.allow_incomplete or not unfinished):
        m = merge_runs(args.out, args.merge, args.overwrite, command, args.allow_incomplete)
        print(f"{args.prog} sweep: merged {m['done']} runs ({m['states']} states) -> {args.merge}")
    if unfinished:
        return EXIT_STATUS["blocked"]
    return EXIT_STATUS["unconverged"] if rep.failed or rep.unconverged else 0


def cmd_merge(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """``dlbridge merge``: gather a sweep directory into one file."""
    m = merge_runs(args.directory, args.out, args.overwrite, f"{args.prog} " + shlex.join(argv),
                   args.allow_incomplete)
    print(f"{args.prog} merge: {m['runs']} run files ({m['done']} done, {m['failed']} failed, "
          f"{m['bad']} unreadable or invalid, {m['unfinished']} runs of the grid unfinished, "
          f"{m['states']} states) -> {args.out}")
    return EXIT_STATUS["unconverged"] if m["bad"] else 0
