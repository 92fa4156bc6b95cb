"""The ``packing`` console script: packing's own commands plus ``packing sweep`` and ``packing
merge``, the sweep machinery of :mod:`dlbridge.workflow.sweep_cli` restricted to packing runs.
They are registered from here because packing does not import dlbridge."""
from __future__ import annotations

from typing import Sequence

from packing import cli as packing_cli

from .sweep_cli import add_sweep_parsers


def _add_packing_sweep(sub) -> None:
    add_sweep_parsers(sub, prog="packing", side="packing")


def build_parser():
    """The parser of the ``packing`` console script (packing's commands, sweep and merge)."""
    return packing_cli.build_parser((_add_packing_sweep,))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``packing`` console script; returns the exit status."""
    return packing_cli.main(argv, extra_subcommands=(_add_packing_sweep,))


if __name__ == "__main__":
    raise SystemExit(main())
