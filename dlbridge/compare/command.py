"""``dlbridge compare``: read the states, summarise every system, write the tables and figures.

:func:`compare` is the library call (the demo calls it); :func:`add_compare_parser` and
:func:`run_compare` are the command line; errors are one-line
:class:`~packing.errors.ParameterError`.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from pathlib import Path
from typing import Sequence

from packing.errors import ParameterError, require
from packing.exits import run_command
from packing.io import staged_directory

from .figures import figure_files, plot_all
from .states import group_systems, load_unique_states
from .summary import DEFAULT_BOOTSTRAP, SystemSummary, summarize_system
from .tables import TABLE_FILES, markdown_table, write_tables

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class CompareResult:
    """What :func:`compare` produced: the rows, the Markdown table, every file written and the
    notes on what was read once or left out (duplicate files and states)."""

    summaries: tuple[SystemSummary, ...]
    markdown: str
    files: tuple[Path, ...]
    notes: tuple[str, ...] = ()


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


def _check_outputs(out: Path, figures: bool, overwrite: bool) -> None:
    """ParameterError when out holds a table or figure compare writes (or a link at one of those
    names) and ``overwrite`` is False."""
    names = [out / n for n in TABLE_FILES] + (figure_files(out) if figures else [])
    found = [p for p in names if os.path.lexists(p)]
    if found and not overwrite:
        raise ParameterError(f"--out holds {found[0].name} ({len(found)} of compare's files in "
                             f"all); pass --overwrite to replace them (got {str(out)!r})")


def compare(paths: Sequence[str | os.PathLike], out_dir: str | os.PathLike,
            n_bootstrap: int = DEFAULT_BOOTSTRAP, figures: bool = True,
            overwrite: bool = False, include_unconverged: bool = False) -> CompareResult:
    """Read ``paths``, summarise every system, write the tables (and the figures) into out_dir.

    States stored as unconverged (`State.converged` False: a minimisation or φ_J search stopped
    by its step budget, a net stopped by its budget or stalled) are left out, and counted in the
    notes, unless ``include_unconverged``.

    Everything is validated before anything is written; the files are written together
    (`packing.io.staged_directory`: all of them or, on any failure, none; a link at one of their
    names is replaced, never written through), and existing tables or figures are replaced only
    with ``overwrite``.
    """
    require(isinstance(n_bootstrap, int) and 0 <= n_bootstrap <= 100_000, "n_bootstrap",
            "an integer in [0, 100000]", n_bootstrap)
    out = Path(out_dir)
    require(not out.exists() or out.is_dir(), "--out", "a directory (not an existing file)",
            str(out))
    if out.is_dir():
        _check_outputs(out, figures, overwrite)
    states, notes = load_unique_states(paths)
    states, left_out = _converged_only(states, include_unconverged, notes)
    require(len(states) > 0, "FILE", "files with at least one converged state (or pass "
            "--include-unconverged)", f"{left_out} unconverged states only")
    groups = group_systems(states)
    summaries = tuple(summarize_system(k, v, n_bootstrap) for k, v in groups.items())
    out = prepare_out_dir(out)
    with staged_directory(out) as stage:
        files = list(write_tables(summaries, stage, overwrite))
        if figures:
            files += plot_all(summaries, stage)
    files = [out / p.name for p in files]
    return CompareResult(summaries, markdown_table(summaries), tuple(files), tuple(notes))


def _converged_only(states: list, include: bool, notes: list[str]) -> tuple[list, int]:
    """(states kept, unconverged left out); a note on ``notes`` counts the unconverged ones."""
    bad = [s for s in states if not s.converged]
    if not bad:
        return states, 0
    if include:
        notes.append(f"{len(bad)} unconverged states included (--include-unconverged)")
        return states, 0
    notes.append(f"{len(bad)} unconverged states left out (converged = False in their files, "
                 f"e.g. {bad[0].source}); pass --include-unconverged to keep them")
    return [s for s in states if s.converged], len(bad)


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
    p.add_argument("--overwrite", action="store_true",
                   help="replace the tables and figures of an earlier compare in --out")
    p.add_argument("--include-unconverged", action="store_true",
                   help="keep states stored as unconverged (step budget reached, stalled); "
                        "by default they are left out and counted")
    p.set_defaults(func=run_compare)
    return p


def run_compare(args: argparse.Namespace, argv: Sequence[str] | None = None) -> int:
    """Run ``compare`` from parsed arguments: write everything, print the Markdown table and the
    written files; returns 0. Bad input raises :class:`ParameterError` (one line)."""
    res = compare(args.files, args.out, n_bootstrap=getattr(args, "bootstrap", DEFAULT_BOOTSTRAP),
                  figures=not getattr(args, "no_figures", False),
                  overwrite=getattr(args, "overwrite", False),
                  include_unconverged=getattr(args, "include_unconverged", False))
    print(res.markdown)
    for note in res.notes:
        log.info("note: %s", note)
    for s in res.summaries:
        for w in s.warnings:
            log.warning("%s", w)
    if not any(s.test_error_peak is not None for s in res.summaries):
        log.info("note: no network state with a test error; figure 5 (test error against N/N*) "
                 "skipped")
    print("wrote: " + ", ".join(str(f) for f in res.files))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry (``python -m dlbridge.compare FILE.h5 ... --out DIR``): exit status 0,
    or 2 with one line ``compare: error: ...`` on stderr."""
    parser = argparse.ArgumentParser(prog="dlbridge")
    sub = parser.add_subparsers(dest="command", required=True)
    add_compare_parser(sub)
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(["compare", *argv])
    return run_command("compare", lambda: run_compare(args))
