"""A stored net rebuilt from its file reproduces what training stored: its gaps to 1e-12, its
test error, and F(w0) = 0 at initialisation."""
from __future__ import annotations

import h5py
import numpy as np
import pytest

from dlbridge.cli import main
from dlbridge.nets.reload import load_net
from packing.errors import ParameterError
from packing.io import iter_states


@pytest.fixture(scope="module")
def nets_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("nets") / "nets.h5"
    status = main(["train", "--dataset", "random", "--dim", "5", "--n-train", "40", "--n-test",
                   "30", "--depth", "2", "--widths", "3", "6", "--seeds", "2", "--steps", "300",
                   "--device", "cpu", "--quiet", "--out", str(out)])
    assert status in (0, 3)
    return out


def test_a_reloaded_net_reproduces_its_stored_gaps_and_test_error(nets_file):
    with h5py.File(nets_file, "r") as f:
        groups = [(g.name, g["gaps"][()], float(g.attrs["test_error"])) for g in iter_states(f)]
    assert len(groups) == 4
    for name, stored, test_error in groups:
        net = load_net(nets_file, name)
        assert np.abs(net.gaps() - stored).max() < 1e-12, name
        assert net.test_error() == test_error
        x = net.data().x_train
        zero = type(net)(net.spec, net.theta0, net.theta0, net.data_args, net.seed)
        assert np.array_equal(zero.outputs(x), np.zeros(len(x)))


def test_reload_refuses_what_is_not_a_stored_net(tmp_path, nets_file):
    with pytest.raises(ParameterError, match="GROUP"):
        load_net(nets_file, "/runs/nothing")
    with pytest.raises(ParameterError, match="FILE"):
        load_net(tmp_path / "missing.h5", "/runs/x")
    old = tmp_path / "old.h5"
    with h5py.File(nets_file, "r") as src, h5py.File(old, "w") as dst:
        name = next(iter_states(src)).name
        src.copy(src[name], dst, "net")
        del dst["net/initial_parameters"]
    with pytest.raises(ParameterError, match="initial_parameters"):
        load_net(old, "/net")
