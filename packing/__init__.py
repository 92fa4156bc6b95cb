"""Jamming of soft frictionless particles: discs/spheres and ellipses, FIRE minimisation,
the φ_J protocol, contact networks and rattlers, analytic Hessians, HDF5 output.

numpy/numba/scipy/h5py only: this package never imports torch.

Typical use::

    from packing import random_packing, find_jamming, states_above_jamming, contact_network
    jam = find_jamming(random_packing(256, 0.80, dim=2, seed=0))
    state, = states_above_jamming(jam, [1e-6])
    net = contact_network(state.packing)      # net.n_constraints == net.n_dof + 1 (isostatic)
"""
from ._kernel_cache import invalidate_stale_kernel_cache

invalidate_stale_kernel_cache()  # before any kernel module is imported (see _kernel_cache)

# the Hessian function stays in its module (`from packing.hessian import hessian`): exporting it here
# would shadow the submodule `packing.hessian` as an attribute of the package
from .analysis import (
    ConstraintAnalysis,
    ConstraintCount,
    ConstraintProblem,
    HessianSplit,
    ModeCount,
    Spectrum,
    analyze,
    count_constraints,
    count_zero_modes,
    spectrum,
)
from .contacts import ContactNetwork, contact_network  # noqa: E402
from .errors import ParameterError
from .hessian import HessianParts, constraint_problem
from .minimize import MinimizeResult, energy_and_forces, minimize, virial_pressure
from .protocol import (
    JammingResult,
    MinimizerSettings,
    find_jamming,
    is_jammed,
    state_at_pressure,
    states_above_jamming,
)
from .snapshot import Snapshot, read_state_file, snapshot_of
from .system import Packing, random_packing

__all__ = [
    # particles and minimisation
    "Packing", "random_packing", "MinimizeResult", "minimize", "energy_and_forces",
    "virial_pressure",
    # the φ_J protocol
    "JammingResult", "MinimizerSettings", "find_jamming", "is_jammed", "state_at_pressure",
    "states_above_jamming",
    # contacts and the particle adapter to the shared analysis
    "ContactNetwork", "contact_network", "HessianParts", "constraint_problem",
    # the shared analysis (packing.analysis)
    "ConstraintProblem", "ConstraintAnalysis", "ConstraintCount", "HessianSplit", "ModeCount",
    "Spectrum", "analyze", "count_constraints", "count_zero_modes", "spectrum",
    # a state with its contacts, as exported (packing.export)
    "Snapshot", "snapshot_of", "read_state_file",
    # errors
    "ParameterError",
]
