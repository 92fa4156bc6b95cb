"""The comparison of the two transitions: read states, summarise each system, write the table and
the figures. Importable without torch (numpy, scipy, h5py, matplotlib and `packing` only).

Modules, each owning one step: :mod:`.sides` (the concept table: what each side means by the
contract's names), :mod:`.states` (reading and validating HDF5 state groups), :mod:`.summary`
(the measurements per system, with the shared `packing.analysis`), :mod:`.tables` (CSV and
Markdown), :mod:`.plots` (figures from summaries), :mod:`.command` (the library call
:func:`compare` and the ``dlbridge compare`` command line).
"""
from __future__ import annotations

from packing.analysis import ScalingFit, fit_scaling

from .command import CompareResult, add_compare_parser, compare, main, prepare_out_dir, run_compare
from .sides import NETWORK, PACKING, SIDES, Side
from .states import State, SystemKey, group_systems, load_states, load_unique_states, read_states
from .summary import DEFAULT_BOOTSTRAP, Estimate, SystemSummary, estimate, fit_error, summarize_system
from .tables import CSV_COLUMNS, MD_HEADER, markdown_table, table_row, write_tables

__all__ = [
    # library call and command line
    "compare", "CompareResult", "add_compare_parser", "run_compare", "main", "prepare_out_dir",
    # the concept table
    "Side", "SIDES", "PACKING", "NETWORK",
    # states
    "State", "SystemKey", "read_states", "load_states", "load_unique_states", "group_systems",
    # measurements
    "SystemSummary", "Estimate", "summarize_system", "estimate", "fit_error", "ScalingFit",
    "fit_scaling", "DEFAULT_BOOTSTRAP",
    # tables
    "CSV_COLUMNS", "MD_HEADER", "table_row", "markdown_table", "write_tables",
]
