"""The nets of a phase-diagram run read back from HDF5 and grouped into (h, α) cells.

A :class:`RegimeState` is one net's state group read back, as :mod:`dlbridge.nets.regimes`
wrote it (attribute ``regime_run``); a :class:`Cell` is every seed at one (depth, width, α). Only fitted nets
(N_Δ = 0) enter a cell's statistics; the cell keeps how many seeds it had. torch-free.

Per cell, over its n fitted seeds (Geiger et al., J. Stat. Mech. 2020, 023401 and 113301; the
estimators of the authors' notebooks, feature_lazy ``enserr`` and ``var``):

* ε: the mean test error, with its standard error;
* ε_ens: the test error of the ensemble predictor sign(F̄), F̄(x) = mean over seeds of F(x);
* fluctuation: √⟨Var_seeds F(x)⟩_x, the unbiased variance over seeds averaged over the test
  points — ‖F − F̄‖ per point;
* the kernel change ‖Θ − Θ₀‖/‖Θ₀‖ as the mean of log₁₀ over seeds (the authors' bisection
  target) with its standard error, and the relative weight change.
"""
from __future__ import annotations

import dataclasses
import math
import os
from typing import Iterable, Sequence

import h5py
import numpy as np

from packing.errors import ParameterError, require
from packing.io import iter_states


@dataclasses.dataclass(frozen=True)
class RegimeState:
    """One trained net of a phase-diagram run: its attributes and test outputs F (n_test,)."""

    depth: int
    width: float
    n_params: int
    alpha: float
    alpha_paper: float
    seed: int
    fitted: bool
    stop_reason: str
    steps: int
    test_error: float
    kernel_change: float
    weight_change: float
    test_outputs: np.ndarray
    test_labels: np.ndarray
    n_train: int
    dataset: str

    @property
    def n_last(self) -> int:
        """Width of the last hidden layer, from α/α_paper = √n_L."""
        return int(round((self.alpha / self.alpha_paper) ** 2))

    @property
    def cell_key(self) -> tuple:
        """(dataset, P, depth, width, α): the nets of one cell share it."""
        return (self.dataset, self.n_train, self.depth, self.width, self.alpha)


_ATTRS = {"depth": int, "width": float, "n_params": int, "alpha": float, "alpha_paper": float,
          "seed": int, "fitted": bool, "stop_reason": str, "steps": int, "test_error": float,
          "kernel_change": float, "weight_change": float, "n_train": int, "dataset": str}


def _attr(group: h5py.Group, name: str, kind, where: str):
    require(name in group.attrs, f"attribute {name}", "present in every regimes state", where)
    v = group.attrs[name]
    v = v.decode() if isinstance(v, bytes) else v
    return kind(v.item() if isinstance(v, np.generic) else v)


def read_regime_nets(path: str | os.PathLike) -> list[RegimeState]:
    """Every regimes state of one HDF5 file (a merged sweep or a run file)."""
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ParameterError(f"regimes file must be a readable HDF5 file (got {str(path)!r}: "
                             f"{exc})") from None
    nets = []
    with f:
        for g in iter_states(f):
            if not g.attrs.get("regime_run", False):
                continue
            where = f"{path}:{g.name}"
            values = {k: _attr(g, k, kind, where) for k, kind in _ATTRS.items()}
            for name in ("test_outputs", "test_labels"):
                require(name in g, f"dataset {name}", "present in every regimes state", where)
            nets.append(RegimeState(**values, test_outputs=np.asarray(g["test_outputs"], float),
                                  test_labels=np.asarray(g["test_labels"], float)))
    return nets


def load_regime_nets(paths: Iterable[str | os.PathLike]) -> list[RegimeState]:
    """The regimes states of every file; ParameterError when there are none."""
    nets = [n for p in paths for n in read_regime_nets(p)]
    require(len(nets) >= 1, "input files", "files holding regimes states (dlbridge regimes)",
            "none found")
    return nets


@dataclasses.dataclass(frozen=True)
class Cell:
    """Every seed of one (depth, width, α); statistics over its fitted seeds (module docstring)."""

    nets: tuple[RegimeState, ...]

    @property
    def first(self) -> RegimeState:
        return self.nets[0]

    @property
    def fitted(self) -> tuple[RegimeState, ...]:
        """The nets with N_Δ = 0."""
        return tuple(n for n in self.nets if n.fitted)

    @property
    def n_fitted(self) -> int:
        return len(self.fitted)

    def _values(self, name: str) -> np.ndarray:
        return np.array([getattr(n, name) for n in self.fitted], dtype=np.float64)

    @property
    def test_error(self) -> tuple[float, float]:
        """(mean, standard error) of the single-net test error; NaN without fitted nets."""
        return _mean_sem(self._values("test_error"))

    @property
    def log_kernel_change(self) -> tuple[float, float]:
        """(mean, standard error) of log₁₀ ‖Θ − Θ₀‖/‖Θ₀‖ over fitted seeds."""
        return _mean_sem(np.log10(self._values("kernel_change")))

    @property
    def weight_change(self) -> tuple[float, float]:
        """(mean, standard error) of ‖w − w₀‖/‖w₀‖."""
        return _mean_sem(self._values("weight_change"))

    def outputs(self) -> np.ndarray:
        """(n_fitted, n_test) test outputs F of the fitted nets."""
        return np.stack([n.test_outputs for n in self.fitted])

    @property
    def ensemble_error(self) -> float:
        """Test error of sign(F̄) over the fitted seeds (NaN without fitted nets)."""
        return ensemble_error(self.outputs(), self.first.test_labels) if self.n_fitted else math.nan

    @property
    def fluctuation(self) -> float:
        """√⟨Var_seeds F(x)⟩_x over the fitted seeds (NaN with fewer than 2)."""
        return output_fluctuation(self.outputs()) if self.n_fitted >= 2 else math.nan


def _mean_sem(v: np.ndarray) -> tuple[float, float]:
    v = v[np.isfinite(v)]
    if v.size == 0:
        return math.nan, math.nan
    sem = float(v.std(ddof=1) / math.sqrt(v.size)) if v.size >= 2 else math.nan
    return float(v.mean()), sem


def ensemble_error(outputs: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of test points where sign of the mean output over nets, (n, P) → (P,), is not
    the label (a mean of exactly 0 counts as an error, as y F ≤ 0 does for one net)."""
    return float(np.mean(labels * outputs.mean(axis=0) <= 0))


def output_fluctuation(outputs: np.ndarray) -> float:
    """√(mean over points of the unbiased variance over nets) of (n, P) outputs, n ≥ 2."""
    return float(math.sqrt(np.mean(outputs.var(axis=0, ddof=1))))


def group_by(cells: Sequence[Cell], attr: str) -> dict[float, list[Cell]]:
    """``cells`` keyed by the attribute ``attr`` of their nets (width, alpha), sorted."""
    out: dict[float, list[Cell]] = {}
    for c in cells:
        out.setdefault(getattr(c.first, attr), []).append(c)
    return dict(sorted(out.items()))


def group_cells(nets: Sequence[RegimeState]) -> list[Cell]:
    """The nets grouped by :attr:`RegimeState.cell_key`, sorted by (dataset, P, depth, width, α).
    Two nets of one cell with the same seed are one net stored twice: ParameterError."""
    cells: dict[tuple, list[RegimeState]] = {}
    for n in nets:
        cells.setdefault(n.cell_key, []).append(n)
    for key, members in cells.items():
        seeds = [n.seed for n in members]
        require(len(set(seeds)) == len(seeds), "input files",
                "each (width, alpha, seed) once (the same run given twice?)", key)
    return [Cell(tuple(sorted(cells[k], key=lambda n: n.seed))) for k in sorted(cells)]
