"""The Newton finish: minima of smooth nets checked against an autograd Hessian and an
independent optimiser (scipy BFGS), fits above the transition, kinks of ReLU nets, bad input."""
from __future__ import annotations

import dataclasses
import math

import h5py
import numpy as np
import pytest
import scipy.optimize
import torch

from dlbridge.cli import main
from dlbridge.nets.finish import MAX_PARAMS, NewtonSettings, newton_finish
from dlbridge.nets.hessian import problem_from_arrays
from dlbridge.nets.models import init_params, make_spec
from dlbridge.nets.runs import NetRunSpec, train_width
from dlbridge.nets.train import TrainConfig
from packing.errors import ParameterError
from packing.io import iter_states

SMALL = NetRunSpec(dataset="random", dim=5, n_train=40, n_test=0, depth=1, width=2, steps=300,
                   activation="softplus")


def _pair(spec: NetRunSpec, seed: int):
    """(Adam alone, Adam + Newton) for one seed."""
    (plain,) = train_width(spec, [seed])
    (done,) = train_width(dataclasses.replace(spec, finish="newton"), [seed])
    return plain, done


def _problem(spec: NetRunSpec, r):
    data = spec.load_data()
    return problem_from_arrays(r.spec, r.theta, r.theta0, data.x_train, data.y_train)


def test_a_smooth_net_below_its_transition_is_taken_to_a_minimum():
    plain, done = _pair(SMALL, 2)
    assert plain.stop_reason == "budget" and plain.n_constraints > 0
    assert done.stop_reason == "converged" and done.finish_iterations > 0
    assert done.loss < plain.loss and done.steps == plain.steps
    prob = _problem(SMALL, done)
    theta = torch.as_tensor(done.theta, dtype=torch.float64)
    # the stored record is the state at theta
    d = prob.gaps(theta).detach().numpy()
    np.testing.assert_array_equal(d, done.gaps)
    assert done.n_constraints == int((d > 0).sum()) and math.isclose(done.loss, float(prob.loss(theta)))
    # a minimum by an independent Hessian (autograd, not the layer-wise split) ...
    hess = torch.autograd.functional.hessian(prob.loss, theta)
    evals = torch.linalg.eigvalsh(hess)
    assert float(evals[0]) >= -1e-10 * float(evals[-1])
    grad = torch.autograd.functional.jacobian(prob.loss, theta)
    assert float(grad.norm()) <= math.sqrt(2 * 2.3e-16 * done.loss * float(evals[-1]))
    # ... and an independent optimiser started there finds nothing lower
    def fun(w):
        t = torch.as_tensor(w, dtype=torch.float64).requires_grad_(True)
        loss = prob.loss(t)
        (g,) = torch.autograd.grad(loss, t)
        return float(loss.detach()), g.numpy()

    res = scipy.optimize.minimize(fun, done.theta, jac=True, method="BFGS",
                                  options=dict(gtol=1e-14, maxiter=2000))
    assert res.fun >= done.loss * (1 - 1e-12)


def test_a_net_above_its_transition_is_fitted():
    spec = dataclasses.replace(SMALL, width=3)
    plain, done = _pair(spec, 0)
    assert plain.stop_reason == "budget" and plain.n_constraints > 0
    assert done.stop_reason == "fitted" and done.fitted and done.loss == 0.0
    assert float(done.gaps.max()) <= 0.0
    # the data fitted last sit at the boundary (the margin step moves them by ~1e-9), not deep inside
    assert float(done.gaps.max()) >= -1e-6


def test_relu_kinks_stall_instead_of_passing_for_minima():
    spec = dataclasses.replace(SMALL, activation="relu")
    plain, done = _pair(spec, 0)
    assert done.stop_reason == "stalled" and done.loss <= plain.loss
    grad = torch.autograd.functional.jacobian(_problem(spec, done).loss,
                                              torch.as_tensor(done.theta, dtype=torch.float64))
    assert float(grad.abs().max()) > 1e-6


@pytest.mark.parametrize("build, name", [
    (lambda: TrainConfig(finish="bfgs"), "finish"),
    (lambda: NetRunSpec(finish="newton", loss="hinge").validate(), "finish"),
    (lambda: NewtonSettings(max_iter=0), "max_iter"),
    (lambda: NewtonSettings(gtol=0.0), "gtol"),
])
def test_bad_settings_name_the_parameter(build, name):
    with pytest.raises(ParameterError, match=name):
        build()


def test_too_many_parameters_for_a_dense_hessian_is_refused():
    spec = dataclasses.replace(SMALL, width=80, depth=2)
    data = spec.load_data()
    net = make_spec(data.dim, 2, 80, activation="softplus")
    assert net.n_params > MAX_PARAMS
    theta = init_params(net, 0)
    prob = problem_from_arrays(net, theta, theta, data.x_train, data.y_train)
    with pytest.raises(ParameterError, match="n_params"):
        newton_finish(prob)


def test_train_command_stores_the_finish(tmp_path):
    out = tmp_path / "nets.h5"
    args = ["train", "--dataset", "random", "--dim", "5", "--n-train", "40", "--n-test", "0",
            "--depth", "1", "--seeds", "1", "--steps", "300", "--activation", "softplus",
            "--widths", "3", "--finish", "newton", "--device", "cpu", "--quiet", "--out", str(out)]
    assert main(args) == 0
    with h5py.File(out, "r") as f:
        (g,) = list(iter_states(f))
        a = g.attrs
        assert a["finish"] == "newton" and a["finish_iterations"] > 0
        assert a["stop_reason"] == "fitted" and a["n_constraints"] == 0
        assert float(g["gaps"][()].max()) <= 0.0
