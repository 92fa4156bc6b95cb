"""dlbridge: train nets, compare them with packings, run the demo and sweeps.

One subcommand per workflow (:data:`SUBCOMMANDS`), each module imported only when its subcommand
runs (``dlbridge compare`` never imports torch).

Errors on bad input print one line ``dlbridge <subcommand>: error: <message>`` on stderr and exit
with 2; nothing is written then (output paths are checked before any work, files are written atomically).
Every other way a command can end (a full disk, SIGINT, SIGTERM) is one line too, with the exit
status of `packing.exits.EXIT_STATUS`.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from packing.exits import OPTIONAL_DEPENDENCIES, missing_dependency, run_command
from packing.helpformat import DefaultsHelpFormatter
from packing.io import package_version
from packing.logs import apply_verbosity, ensure_verbosity_options

SUBCOMMANDS = {
    "train": ("dlbridge.nets.command", "add_train_parser"),
    "compare": ("dlbridge.compare.command", "add_compare_parser"),
    "demo": ("dlbridge.workflow.demo", "add_demo_parser"),
    "sweep": ("dlbridge.workflow.sweep_cli", "add_sweep_parsers"),
    "merge": ("dlbridge.workflow.sweep_cli", "add_sweep_parsers"),
    "validate": ("dlbridge.workflow.validate", "add_validate_parser"),
    "regimes": ("dlbridge.workflow.regimes", "add_regimes_parser"),
    "dataset": ("dlbridge.nets.embedded", "add_dataset_parser"),
    "kinks": ("dlbridge.nets.kinkmin", "add_kinks_parser"),
}
"""Subcommand → (module, function adding its parser to a subparsers object)."""


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors are one line on stderr and exit status 2."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", DefaultsHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # noqa: D401 - argparse API
        print(f"{self.prog}: error: {message.splitlines()[0]}", file=sys.stderr)
        raise SystemExit(2)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser: with ``argv`` naming a subcommand, only that subcommand's parser
    (and module) is loaded; otherwise all of them (``dlbridge --help``)."""
    parser = _Parser(prog="dlbridge", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    one = bool(argv) and argv[0] in SUBCOMMANDS
    added = set()
    for name in [argv[0]] if one else list(SUBCOMMANDS):
        entry = SUBCOMMANDS[name]
        if entry in added:
            continue
        added.add(entry)
        try:
            module = importlib.import_module(entry[0])
        except ModuleNotFoundError as exc:
            if one or missing_dependency(exc) is None:
                raise                      # run_command says which package to install
            sub.add_parser(name, help=f"(needs {missing_dependency(exc)}: "
                                      f"{OPTIONAL_DEPENDENCIES[missing_dependency(exc)]})")
            continue
        getattr(module, entry[1])(sub)
    ensure_verbosity_options(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dlbridge`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)

    def body() -> int:
        args = build_parser(argv).parse_args(argv)
        apply_verbosity(args)
        return args.func(args, argv)
    prog = f"dlbridge {argv[0]}" if argv and argv[0] in SUBCOMMANDS else "dlbridge"
    return run_command(prog, body)


if __name__ == "__main__":
    raise SystemExit(main())
