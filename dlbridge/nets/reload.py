"""A trained net rebuilt from its state group: the architecture, w0 and the final w, α, and the
seeded data split it was trained on, so that F(x) = α[f(w, x) − f(w0, x)] can be evaluated on
any input and the stored gaps Δ_μ = 1 − y_μ F(x_μ) recomputed (float64).

    from dlbridge.nets.reload import load_net
    net = load_net("nets.h5", "/runs/<system>/L2_h6_seed0")
    outputs = net.outputs(x)            # (P,) F on inputs (P, d)
    gaps = net.gaps()                   # the training gaps, as stored
"""
from __future__ import annotations

import dataclasses
import os

import h5py
import numpy as np
import torch

from packing.errors import require
from packing.io import read_h5

from .data import Dataset, load_dataset
from .models import NetSpec, net_forward

REQUIRED_ATTRS = ("dim", "widths", "activation", "bias", "alpha", "init", "width", "dataset",
                  "n_train", "n_test", "data_seed")
"""Attributes of a network state group that a reload needs (files of this version have them)."""


@dataclasses.dataclass(frozen=True)
class StoredNet:
    """A net as stored: its :class:`NetSpec`, final and initial parameters (N,), and how to
    remake its data (dataset name, input dimension, split sizes, seed, folder)."""

    spec: NetSpec
    theta: np.ndarray
    theta0: np.ndarray
    data_args: tuple
    seed: int

    def data(self) -> Dataset:
        """The seeded train/test split the net was trained on."""
        return load_dataset(*self.data_args)

    def outputs(self, x: np.ndarray) -> np.ndarray:
        """F(x) = α[f(w, x) − f(w0, x)] (P,) on inputs ``x`` (P, d), in float64."""
        conv = dict(dtype=torch.float64)
        xt = torch.as_tensor(np.asarray(x), **conv)
        require(xt.ndim == 2 and xt.shape[1] == self.spec.d_in, "x",
                f"an array (P, {self.spec.d_in})", tuple(xt.shape))
        with torch.no_grad():
            f = net_forward(self.spec, torch.as_tensor(self.theta, **conv), xt)
            f0 = net_forward(self.spec, torch.as_tensor(self.theta0, **conv), xt)
        return (self.spec.alpha * (f - f0)).numpy()

    def gaps(self) -> np.ndarray:
        """Δ_μ = 1 − y_μ F(x_μ) (P,) on the training set."""
        data = self.data()
        return 1.0 - np.asarray(data.y_train, dtype=np.float64) * self.outputs(data.x_train)

    def test_error(self) -> float:
        """Fraction of the test set with y F(x) ≤ 0."""
        data = self.data()
        return float(np.mean(np.asarray(data.y_test) * self.outputs(data.x_test) <= 0))


def _spec_of(attrs) -> NetSpec:
    return NetSpec(d_in=int(attrs["dim"]), widths=tuple(int(w) for w in attrs["widths"]),
                   activation=str(attrs["activation"]), bias=bool(attrs["bias"]),
                   alpha=float(attrs["alpha"]), init=str(attrs["init"]), h=float(attrs["width"]))


def _stored_net(group: h5py.Group) -> StoredNet:
    attrs = group.attrs
    require(attrs.get("side") == "network", "GROUP", "a network state group",
            f"{group.name}: side {attrs.get('side')!r}")
    missing = [k for k in REQUIRED_ATTRS if k not in attrs]
    missing += [k for k in ("parameters", "initial_parameters") if k not in group]
    require(not missing, "GROUP", "a net written with its initial parameters and data split "
            "(this package's train or regimes)", f"{group.name} lacks {', '.join(missing)}")
    spec = _spec_of(attrs)
    theta, theta0 = (np.asarray(group[k][()], dtype=np.float64)
                     for k in ("parameters", "initial_parameters"))
    require(theta.shape == theta0.shape == (spec.n_params,), "GROUP",
            f"parameters of the net's size ({spec.n_params})", f"{group.name}: {theta.shape}")
    data_dir = attrs.get("data_dir", "none")
    data_args = (str(attrs["dataset"]), spec.d_in, int(attrs["n_train"]), int(attrs["n_test"]),
                 int(attrs["data_seed"]), None if data_dir == "none" else str(data_dir))
    return StoredNet(spec, theta, theta0, data_args, int(attrs["seed"]))


def load_net(path: str | os.PathLike, group: str) -> StoredNet:
    """The :class:`StoredNet` of state ``group`` (e.g. ``/runs/<system>/L2_h6_seed0``) of a
    network file; ParameterError (one line) for a missing file or group or an older file."""
    with read_h5(path) as f:
        require(group in f and isinstance(f[group], h5py.Group), "GROUP",
                "a state group of the file", f"{group!r} in {path}")
        return _stored_net(f[group])
