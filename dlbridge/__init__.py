"""Neural networks trained with the hinge loss, mapped onto the constraint-satisfaction form of
packings (Geiger et al., PRE 100, 012115, 2019), and the comparison of the two transitions.

Three parts, imported one way (workflow → nets, compare → packing; nets and compare never import
each other, and compare never imports torch):

* ``dlbridge.nets`` (torch): data, models, losses, optimisers, batched training, N* scans, the
  exact Hessian H0 + Hp and its adapter to the shared analysis, HDF5 records;
* ``dlbridge.compare`` (no torch): read states of both sides, summarise, tables, figures;
* ``dlbridge.workflow``: the demo and parameter sweeps; ``dlbridge.cli``: the command line.

The names below are loaded on first use, so ``import dlbridge`` costs nothing and never imports
torch by itself.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    # the comparison (no torch; the function itself is dlbridge.compare.compare)
    "CompareResult": "dlbridge.compare.command",
    "read_states": "dlbridge.compare.states", "State": "dlbridge.compare.states",
    "SystemSummary": "dlbridge.compare.summary", "summarize_system": "dlbridge.compare.summary",
    "SIDES": "dlbridge.compare.sides", "Side": "dlbridge.compare.sides",
    # the N* rule (no torch)
    "half_fitted_bracket": "dlbridge.nstar",
    # nets (torch)
    "load_dataset": "dlbridge.nets.data", "Dataset": "dlbridge.nets.data",
    "make_spec": "dlbridge.nets.models", "NetSpec": "dlbridge.nets.models",
    "train_ensemble": "dlbridge.nets.train", "TrainConfig": "dlbridge.nets.train",
    "NetResult": "dlbridge.nets.train", "find_transition": "dlbridge.nets.transition",
    "Transition": "dlbridge.nets.transition", "HessianProblem": "dlbridge.nets.hessian",
    "hessian_split": "dlbridge.nets.hessian", "constraint_problem": "dlbridge.nets.hessian",
    "NetRunSpec": "dlbridge.nets.runs", "train_to_file": "dlbridge.nets.command",
    # workflow
    "run_sweep": "dlbridge.workflow.sweep", "merge_runs": "dlbridge.workflow.runfiles",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    """Load an exported name from its module on first use (PEP 562)."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'dlbridge' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
