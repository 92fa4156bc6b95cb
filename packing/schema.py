"""What each stored dataset is: its units, a one-line description and the names of its
dimensions, attached as the attributes ``units``, ``description`` and ``dims`` to every dataset
a command writes (`packing.io.write_state`, the merge index, the embedded data file), so that a
file explains itself without this package. docs/schema.md is these tables, rendered (:func:`schema_markdown`).

Units: lengths in small particle diameters d (for ellipses the area-equivalent, for ellipsoids
the volume-equivalent diameter of the small ones), energies in ε, angles in radians; network
quantities are dimensionless ("1"). ``dims`` names dimensions shared between datasets of one
state group (``particle``, ``pair``, ``contact`` …), so that two datasets of one length but of
different meaning (contacts and Hessian eigenvalues) are not taken for one axis.
"""
from __future__ import annotations

from typing import NamedTuple


class DatasetDoc(NamedTuple):
    units: str
    description: str
    dims: tuple[str, ...]


_EIGEN = "eigenvalues of {}"
_PACKING_HESSIAN_UNITS = "epsilon / d^2"

PACKING = {
    "positions": DatasetDoc("d", "particle centres, not wrapped into the box", ("particle", "axis")),
    "box": DatasetDoc("d", "side lengths of the periodic orthorhombic box", ("axis",)),
    "diameters": DatasetDoc("d", "particle diameters (discs, spheres)", ("particle",)),
    "semi_axes": DatasetDoc("d", "semi-axes: ellipses (a, b); ellipsoids (a, b, b), a along the "
                                 "symmetry axis", ("particle", "semi_axis")),
    "orientations": DatasetDoc("rad (ellipses) or 1 (ellipsoids)",
                               "ellipses: angle of the major axis from x, dims (particle); "
                               "ellipsoids: unit symmetry axis", ("particle", "axis")),
    "pairs": DatasetDoc("1", "candidate pairs (i < j, 0-based) of the neighbour list",
                        ("pair", "end")),
    "gaps": DatasetDoc("1", "Δ = 1 − r/σ_ij (round) or 1 − μ_ij (Perram–Wertheim) of each "
                            "candidate pair; > 0 is an overlap (a contact)", ("pair",)),
    "contacts": DatasetDoc("1", "the pairs with Δ > 0 (rattlers' contacts included)",
                           ("contact", "end")),
    "rattlers": DatasetDoc("1", "True for rattlers (iterative removal)", ("particle",)),
    "hessian_eigenvalues": DatasetDoc(_PACKING_HESSIAN_UNITS, _EIGEN.format(
        "the Hessian of U, rattlers removed"), ("mode",)),
    "stiffness_eigenvalues": DatasetDoc(_PACKING_HESSIAN_UNITS, _EIGEN.format(
        "its stiffness part H0 (first derivatives of Δ)"), ("mode",)),
    "stress_eigenvalues": DatasetDoc(_PACKING_HESSIAN_UNITS, _EIGEN.format(
        "its stress part Hp (second derivatives of Δ, weighted by the forces)"), ("mode",)),
}

NETWORK = {
    "gaps": DatasetDoc("1", "Δ_μ = 1 − y_μ F(x_μ) of each training example; > 0 is an "
                            "unsatisfied constraint", ("example",)),
    "dead_inputs": DatasetDoc("1", "ReLU nets: 1 where a training example reaches the output "
                                   "through no active unit (Δ has no gradient)", ("example",)),
    "parameters": DatasetDoc("1", "the net's final parameters w, flattened layer by layer",
                             ("parameter",)),
    "initial_parameters": DatasetDoc("1", "the parameters w0 at initialisation (F = α[f(w) − "
                                          "f(w0)]), flattened as parameters", ("parameter",)),
    "history_steps": DatasetDoc("1", "optimiser step of each record (log-spaced)", ("record",)),
    "history_loss": DatasetDoc("1", "training loss at each record", ("record",)),
    "history_n_constraints": DatasetDoc("1", "N_Δ, training examples with Δ > 0, at each record",
                                        ("record",)),
    "history_train_error": DatasetDoc("1", "fraction of training examples with Δ ≥ 1 (wrong "
                                           "sign) at each record", ("record",)),
    "history_test_error": DatasetDoc("1", "test error at each record", ("record",)),
    "history_displacement": DatasetDoc("1", "‖w − w0‖ at each record", ("record",)),
    "hessian_eigenvalues": DatasetDoc("1", _EIGEN.format("the loss Hessian H = H0 + Hp"),
                                      ("mode",)),
    "stiffness_eigenvalues": DatasetDoc("1", _EIGEN.format("H0 (Gauss–Newton part)"),
                                        ("mode",)),
    "stress_eigenvalues": DatasetDoc("1", _EIGEN.format(
        "Hp (second derivatives of the outputs, weighted by the loss slope)"), ("mode",)),
    "test_outputs": DatasetDoc("1", "F(x) = α[f(w, x) − f(w0, x)] on the test set",
                               ("test_example",)),
    "test_labels": DatasetDoc("1", "labels y = ±1 of the test set", ("test_example",)),
}

STATE_DATASETS = {"packing": PACKING, "network": NETWORK}
"""side → dataset name → :class:`DatasetDoc` of the datasets of a state group."""

MERGE_INDEX = {
    "run_key": DatasetDoc("1", "key of each merged run (the run file's name)", ("run",)),
    "side": DatasetDoc("1", "side of each run: packing or network", ("run",)),
    "status": DatasetDoc("1", "status of each run file: done, failed, unreadable or invalid",
                         ("run",)),
    "params": DatasetDoc("1", "parameters of each run (JSON)", ("run",)),
    "error": DatasetDoc("1", "error message of a failed run (empty otherwise)", ("run",)),
    "file": DatasetDoc("1", "name of each run file in the sweep folder", ("run",)),
    "n_states": DatasetDoc("1", "state groups each run contributed", ("run",)),
    "seconds": DatasetDoc("s", "wall time of each run", ("run",)),
}
"""Datasets of a merged file's /index group."""

EMBEDDED_DATA = {
    "x": DatasetDoc("1", "whitened principal components of the images", ("image", "component")),
    "digits": DatasetDoc("1", "digit 0–9 of each image (label y = +1 odd, −1 even)", ("image",)),
    "source_index": DatasetDoc("1", "index of the image in the MNIST test split", ("image",)),
    "eigenvalues": DatasetDoc("pixel^2", "variances of the principal components on the train "
                                         "pool, before whitening", ("component",)),
}
"""Datasets of the embedded MNIST-parity file (dlbridge dataset)."""


def doc_attrs(doc: DatasetDoc, ndim: int) -> dict[str, object]:
    """The attributes of an ``ndim``-dimensional dataset documented by ``doc`` (its first
    ``ndim`` dimension names: ellipse orientations are (particle,), ellipsoid ones (particle,
    axis))."""
    return {"units": doc.units, "description": doc.description, "dims": list(doc.dims[:ndim])}


def state_dataset_doc(side: str, name: str) -> DatasetDoc:
    """The :class:`DatasetDoc` of dataset ``name`` of a state group of ``side``; KeyError (a
    writer storing a dataset this table does not document) otherwise."""
    try:
        return STATE_DATASETS[side][name]
    except KeyError:
        raise KeyError(f"dataset {name!r} of a {side!r} state is not documented in "
                       "packing.schema.STATE_DATASETS") from None


TABLES = {"State groups of packing files (side = packing)": PACKING,
          "State groups of network files (side = network)": NETWORK,
          "/index of a merged sweep (dlbridge merge)": MERGE_INDEX,
          "The embedded MNIST-parity file (dlbridge dataset), /train and /test": EMBEDDED_DATA}


SCHEMA_COMMAND = ("python -c \"from packing.schema import schema_markdown; "
                  "print(schema_markdown(), end='')\" > docs/schema.md")


def schema_markdown() -> str:
    """docs/schema.md: every dataset of :data:`TABLES` with its units, dimensions and meaning
    (written by :data:`SCHEMA_COMMAND`)."""
    lines = ["# Datasets of the HDF5 files", "",
             f"Generated by `{SCHEMA_COMMAND}` from `packing/schema.py`; "
             "each dataset carries these as its attributes `units`, `dims` and `description`. "
             "Units: d = small particle diameter, epsilon = energy scale of the pair potential, "
             "1 = dimensionless. The attributes of the state groups and of the files' roots are "
             "listed in the README (HDF5 layout).", ""]
    for title, table in TABLES.items():
        lines += [f"## {title}", "", "| dataset | units | dims | description |",
                  "|---|---|---|---|"]
        lines += [f"| `{name}` | {doc.units} | ({', '.join(doc.dims)}) | {doc.description} |"
                  for name, doc in table.items()]
        lines.append("")
    return "\n".join(lines)
