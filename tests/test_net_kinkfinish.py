"""The smoothed finish of ReLU nets: σ_β against its bound and finite differences, and the
finish on small under-parametrised nets against the kink certificate of `.kinkmin`."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from dlbridge.nets.finish import newton_finish
from dlbridge.nets.hessian import problem_from_arrays
from dlbridge.nets.kinkfinish import (
    SmoothingSettings,
    drift,
    levenberg_marquardt,
    quasi_newton_descent,
    smoothed_finish,
    smoothed_relu,
)
from dlbridge.nets.kinkmin import kink_stationarity
from dlbridge.nets.losses import HingeLoss
from dlbridge.nets.models import init_params, make_spec
from packing.errors import ParameterError


@pytest.mark.parametrize("beta", [1.0, 1e3, 1e8])
def test_smoothed_relu_is_within_its_bound_and_has_the_sigmoid_as_slope(beta):
    a = torch.linspace(-3, 3, 601, dtype=torch.float64) / math.sqrt(beta)
    gap = smoothed_relu(beta)(a) - math.sqrt(2) * torch.relu(a)
    assert float(gap.min()) >= 0 and float(gap.max()) <= math.sqrt(2) * math.log(2) / beta * (1 + 1e-12)
    h = 1e-6 / math.sqrt(beta)
    fd = (smoothed_relu(beta)(a + h) - smoothed_relu(beta)(a - h)) / (2 * h)
    assert torch.allclose(fd, math.sqrt(2) * torch.sigmoid(beta * a), rtol=1e-6, atol=1e-7)


def _problem(seed: int, n_data: int = 60):
    spec = make_spec(4, 2, 3)
    gen = torch.Generator().manual_seed(100 + seed)
    x = torch.randn(n_data, 4, generator=gen, dtype=torch.float64)
    y = torch.where(torch.rand(n_data, generator=gen) < 0.5, -1.0, 1.0).to(torch.float64)
    theta0 = init_params(spec, seed)
    return problem_from_arrays(spec, theta0 + 0.3 * torch.randn(len(theta0), generator=gen,
                                                                  dtype=torch.float64),
                               theta0, x, y, HingeLoss("quadratic"))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_finish_ends_at_a_certified_minimum_and_never_raises_the_loss(seed):
    prob = _problem(seed)
    out = smoothed_finish(prob, SmoothingSettings(beta_stop=1e8))
    assert float(prob.loss(out.theta)) <= float(prob.loss(prob.theta))
    assert out.reason == "converged", out
    cert = kink_stationarity(type(prob)(prob.spec, out.theta, prob.x, prob.y, prob.f0, prob.hinge))
    assert cert.bounded_residual <= 1e-8 and cert.n_releasable() == 0
    assert int((prob.gaps(out.theta) > 0).sum()) > 0      # N < P: a minimum with N_Δ > 0


def _ill_conditioned_quadratic(n: int = 40, condition: float = 1e6):
    """½ (θ − θ*)ᵀ A (θ − θ*) with A's eigenvalues log-spaced over ``condition``, and θ*."""
    gen = torch.Generator().manual_seed(7)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))
    a = q @ torch.diag(torch.logspace(0, -math.log10(condition), n, dtype=torch.float64)) @ q.T
    minimiser = torch.randn(n, generator=gen, dtype=torch.float64)
    return (lambda th: 0.5 * (th - minimiser) @ a @ (th - minimiser)), minimiser


@pytest.mark.parametrize("descend", [quasi_newton_descent,
                                     lambda f, th, n, g: levenberg_marquardt(f, th, n, g)[:2]])
def test_both_stages_reach_the_exact_minimiser_of_a_convex_quadratic(descend):
    fun, minimiser = _ill_conditioned_quadratic()
    start = torch.zeros_like(minimiser)
    theta, iterations = descend(fun, start, 2000, 1e-13)
    assert float(fun(theta)) < 1e-20 * float(fun(start))
    assert float((theta - minimiser).abs().max()) < 1e-6 and 0 < iterations < 2000


def test_the_quasi_newton_descent_never_returns_a_worse_point():
    fun, minimiser = _ill_conditioned_quadratic()
    theta, _ = quasi_newton_descent(fun, minimiser.clone(), 100, 1e-13)
    assert float(fun(theta)) <= float(fun(minimiser))


def test_where_lm_runs_out_of_steps_the_descent_carries_the_stage_to_a_certified_minimum():
    prob = _problem(1)
    out = smoothed_finish(prob, SmoothingSettings(beta_stop=1e8, max_iter=10, descent_iter=20_000))
    assert out.reason == "converged", out
    cert = kink_stationarity(type(prob)(prob.spec, out.theta, prob.x, prob.y, prob.f0, prob.hinge))
    assert cert.bounded_residual <= 1e-8 and cert.n_releasable() == 0


def test_without_the_descent_that_stage_ends_at_its_budget():
    """The control of the test above: LM alone, 10 steps a stage, does not get there."""
    prob = _problem(1)
    out = smoothed_finish(prob, SmoothingSettings(beta_stop=1e8, max_iter=10))
    assert out.reason == "budget"


def test_drift_is_the_relative_fall_of_the_loss_and_the_largest_move_of_a_gap():
    prob = _problem(1)
    after = smoothed_finish(prob, SmoothingSettings(beta_stop=1e8)).theta
    d0, d1 = (prob.gaps(th).detach().numpy() for th in (prob.theta, after))
    l0, l1 = (float(np.mean(0.5 * np.maximum(d, 0) ** 2)) / prob.spec.alpha**2 for d in (d0, d1))
    loss_drift, gap_drift = drift(prob, prob.theta, after)
    assert loss_drift == pytest.approx((l0 - l1) / l1, rel=1e-9) and loss_drift > 0
    scale = d1[d1 > 0].mean()
    near = [mu for mu in range(len(d1)) if d0[mu] > -scale or d1[mu] > -scale]
    assert gap_drift == pytest.approx(max(abs(d1[mu] - d0[mu]) for mu in near) / scale, rel=1e-9)
    assert drift(prob, after, after) == (0.0, 0.0)


class _GapsAreParameters:
    """A stand-in problem whose parameters are its gaps (L = ⟨½ max(0, Δ)²⟩)."""

    @staticmethod
    def gaps(theta):
        return theta

    @staticmethod
    def loss(theta):
        return (0.5 * torch.relu(theta) ** 2).mean()


def test_the_gap_drift_ignores_data_satisfied_deeper_than_the_mean_positive_gap():
    before = torch.tensor([1.0, 0.5, -0.2, -5.0], dtype=torch.float64)
    after = torch.tensor([1.0, 0.4, -0.1, -9.0], dtype=torch.float64)
    loss_drift, gap_drift = drift(_GapsAreParameters(), before, after)
    assert loss_drift == pytest.approx((1.25 - 1.16) / 1.16)
    assert gap_drift == pytest.approx(0.1 / 0.7)      # ⟨Δ₊⟩ = 0.7; the move 4 at Δ = −5 is out
    fitted = torch.tensor([-1.0, -0.5], dtype=torch.float64)
    assert all(math.isnan(v) for v in drift(_GapsAreParameters(), before, fitted))


def test_a_settled_end_point_counts_as_converged_only_within_the_drift_tolerances():
    """Seed 1 with 10-step stages ends uncertified while its last stage still moves it by a
    loss drift of ≈ 2e-4 and a gap drift of ≈ 1e-2 ⟨Δ₊⟩: ``budget`` at the default tolerances,
    ``converged`` with tolerances above those drifts, ``budget`` again when one is below."""
    prob = _problem(1)
    base = SmoothingSettings(beta_stop=1e8, max_iter=10)
    out = smoothed_finish(prob, base)
    assert out.reason == "budget" and 1e-5 < out.loss_drift < 1e-3 and 1e-3 < out.gap_drift < 0.05
    cert = kink_stationarity(dataclasses.replace(prob, theta=out.theta))
    assert cert.bounded_residual > base.ctol and cert.n_releasable() == 0
    loose = dataclasses.replace(base, ltol=1e-3, dtol=0.05)
    assert smoothed_finish(prob, loose).reason == "converged"
    assert smoothed_finish(prob, dataclasses.replace(loose, dtol=1e-3)).reason == "budget"
    assert smoothed_finish(prob, dataclasses.replace(loose, ltol=1e-5)).reason == "budget"


def test_bad_settings_and_nets_are_refused():
    with pytest.raises(ParameterError, match="beta_stop"):
        SmoothingSettings(beta_start=1e3, beta_stop=1e2)
    with pytest.raises(ParameterError, match="descent_iter"):
        SmoothingSettings(descent_iter=-1)
    for name in ("ltol", "dtol"):
        with pytest.raises(ParameterError, match=name):
            SmoothingSettings(**{name: 0.0})
    prob = _problem(0)
    tanh = type(prob)(make_spec(4, 2, 3, activation="tanh"), prob.theta, prob.x, prob.y, prob.f0)
    with pytest.raises(ParameterError, match="activation"):
        smoothed_finish(tanh)
    assert SmoothingSettings(beta_start=1e2, beta_stop=1e4).betas() == [1e2, 1e3, 1e4]


@pytest.mark.parametrize("seed", [1, 2])
def test_the_newton_finish_alone_stalls_on_those_kinks(seed):
    """What the continuation is for: on these nets Newton on the ReLU itself stops at a kink
    that is no minimum (bounded residual far above round-off)."""
    prob = _problem(seed)
    out = newton_finish(prob)
    cert = kink_stationarity(type(prob)(prob.spec, out.theta, prob.x, prob.y, prob.f0, prob.hinge))
    assert out.reason == "stalled" and cert.bounded_residual > 1e-3
