"""dlbridge.nets.kinkmin: the one-sided first-order model of a ReLU net's loss on its kink set
against one-sided finite differences of the net's own loss (prob.loss), on a net whose biases put
five pre-activations on the kink."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from dlbridge.nets.data import random_sphere
from dlbridge.nets.hessian import problem_from_arrays
from dlbridge.nets.kinkmin import kink_stationarity
from dlbridge.nets.losses import HingeLoss
from dlbridge.nets.models import NetSpec, hidden_forward, init_params
from packing.errors import ParameterError

KINKS_1 = [(3, 0), (7, 1), (11, 2), (20, 3)]


def kinked_problem(with_kinks: bool = True):
    """A (4, 3) ReLU net on 50 inputs in d = 5, moved away from its init so that data are
    unsatisfied; a^1_μi = 0 at KINKS_1 and a^2_{30,0} = 0 (set through the biases)."""
    spec = NetSpec(5, (4, 3))
    data = random_sphere(5, 50, seed=2)
    theta0 = init_params(spec, 1)
    theta = theta0 + 0.4 * torch.randn(spec.n_params, generator=torch.Generator().manual_seed(4),
                                       dtype=torch.float64)
    if with_kinks:
        (ws1, bs1), (ws2, bs2), _ = spec.slices()
        x = torch.as_tensor(data.x_train)
        for mu, i in KINKS_1:
            a = hidden_forward(spec, theta, x)[0][0]
            theta[bs1.start + i] -= a[mu, i]
        theta[bs2.start] -= hidden_forward(spec, theta, x)[0][1][30, 0]
    return problem_from_arrays(spec, theta, theta0, data.x_train, data.y_train)


def one_sided_fd(prob, d: np.ndarray, eps: float = 1e-6) -> float:
    """lim_{ε→0⁺} [L(w + εd) − L(w)]/ε by Richardson extrapolation of two forward differences."""
    dt = torch.as_tensor(d)
    loss = lambda e: float(prob.loss(prob.theta + e * dt))   # noqa: E731
    l0 = loss(0.0)
    return 2.0 * (loss(eps / 2) - l0) / (eps / 2) - (loss(eps) - l0) / eps


def test_the_kinks_are_found_and_the_loss_is_not_smooth_there():
    ks = kink_stationarity(kinked_problem())
    assert sorted(map(tuple, ks.kinks.tolist())) == sorted([(0, mu, i) for mu, i in KINKS_1] + [(1, 30, 0)])
    assert np.abs(ks.slopes).max() > 1e-3


def test_directional_derivative_equals_one_sided_finite_differences():
    prob = kinked_problem()
    ks = kink_stationarity(prob)
    rng = np.random.default_rng(0)
    jumps = []
    for _ in range(12):
        d = rng.standard_normal(prob.spec.n_params)
        plus, minus = ks.directional_derivative(d), ks.directional_derivative(-d)
        assert plus == pytest.approx(one_sided_fd(prob, d), rel=1e-6, abs=1e-9)
        assert minus == pytest.approx(one_sided_fd(prob, -d), rel=1e-6, abs=1e-9)
        jumps.append(abs(plus + minus))
    assert max(jumps) > 1e-3          # L is not differentiable there: D(d) ≠ −D(−d)


def test_releasing_one_kink_changes_the_loss_at_the_rates_the_multipliers_give():
    """Along d = ±J⁺e_k (a_k moved by ±1 at first order, the other kinks held, d ⟂ the
    least-squares residual) the one-sided derivative is c_k − λ_k and λ_k: the violation
    max(λ_k − c_k, −λ_k) is minus the steeper of the two."""
    prob = kinked_problem()
    ks = kink_stationarity(prob)
    pinv = np.linalg.pinv(ks.jacobian)
    for k in range(len(ks.slopes)):
        d = pinv[:, k]
        up, down = one_sided_fd(prob, d), one_sided_fd(prob, -d)
        scale = max(1.0, abs(ks.multipliers[k]))
        assert up == pytest.approx(ks.slopes[k] - ks.multipliers[k], abs=1e-6 * scale)
        assert down == pytest.approx(ks.multipliers[k], abs=1e-6 * scale)
        assert ks.violations[k] == pytest.approx(-min(up, down), abs=1e-6 * scale)


def test_without_kinks_the_residual_is_the_gradient_of_the_loss():
    prob = kinked_problem(with_kinks=False)
    ks = kink_stationarity(prob)
    th = prob.theta.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(prob.loss(th), th)
    assert len(ks.slopes) == 0 and ks.n_releasable() == 0
    assert ks.residual == pytest.approx(float(g.abs().max()), rel=1e-12)


def test_kink_stationarity_rejects_smooth_nets_the_plain_hinge_and_bad_arguments():
    data = random_sphere(4, 10, seed=0)
    soft = NetSpec(4, (3,), activation="softplus")
    theta = init_params(soft, 0)
    with pytest.raises(ParameterError, match="activation"):
        kink_stationarity(problem_from_arrays(soft, theta, theta, data.x_train, data.y_train))
    relu = NetSpec(4, (3,))
    theta = init_params(relu, 0)
    plain = problem_from_arrays(relu, theta, theta, data.x_train, data.y_train, HingeLoss("hinge"))
    with pytest.raises(ParameterError, match="loss"):
        kink_stationarity(plain)
    ks = kink_stationarity(kinked_problem())
    with pytest.raises(ParameterError, match="rtol"):
        ks.n_releasable(rtol=2.0)
    with pytest.raises(ParameterError, match="d"):
        ks.directional_derivative(np.zeros(3))


def test_the_bounded_multipliers_give_a_lower_bound_on_every_one_sided_derivative():
    """For λ in the box 0 ≤ λ_k ≤ max(c_k, 0), D(d) ≥ (∇L₀ + Jᵀλ)·d + Σ_{c_k<0} c_k max(0, ∇a_k·d)
    for every d: the bounded residual certifies a minimum when it vanishes and no c_k < 0.
    Checked on finite differences of the loss; at this non-minimum the bound is strict for some d
    and the residual is well above round-off."""
    prob = kinked_problem()
    ks = kink_stationarity(prob)
    assert ks.rank == len(ks.slopes) == 5
    lam = ks.bounded_multipliers
    assert np.all(lam >= 0) and np.all(lam <= np.maximum(ks.slopes, 0))
    r_b = ks.grad_off + ks.jacobian.T @ lam
    assert ks.bounded_residual == pytest.approx(np.abs(r_b).max(), rel=1e-12)
    assert ks.bounded_residual >= ks.residual > 1e-4
    negative = np.minimum(ks.slopes, 0.0)
    rng = np.random.default_rng(1)
    margins = []
    for _ in range(12):
        d = rng.standard_normal(prob.spec.n_params)
        bound = r_b @ d + negative @ np.maximum(ks.jacobian @ d, 0.0)
        fd = one_sided_fd(prob, d)
        assert fd >= bound - 1e-7 * (1 + abs(fd))
        margins.append(fd - bound)
    assert max(margins) > 1e-4


def test_bounded_multipliers_recover_a_stationary_point_inside_the_box():
    """g = −Jᵀλ* with λ* strictly inside 0 < λ* < c: both residuals vanish and λ* is recovered
    (J of full rank); with λ*_0 > c_0 the unconstrained λ still fits but the box cannot, and
    kink 0's violation is λ*_0 − c_0."""
    from dlbridge.nets.kinkmin import _multipliers

    rng = np.random.default_rng(3)
    jt = rng.standard_normal((30, 6))
    c = rng.uniform(0.5, 1.0, 6)
    inside = c * rng.uniform(0.1, 0.9, 6)
    lam, bounded = _multipliers(-jt @ inside, jt, c)
    np.testing.assert_allclose(lam, inside, atol=1e-12)
    np.testing.assert_allclose(bounded, inside, atol=1e-10)
    outside = inside.copy()
    outside[0] = c[0] + 0.3
    lam, bounded = _multipliers(-jt @ outside, jt, c)
    np.testing.assert_allclose(lam, outside, atol=1e-12)
    assert bounded[0] == pytest.approx(c[0]) and np.abs(jt @ (bounded - outside)).max() > 1e-2
    assert np.maximum(lam - c, -lam)[0] == pytest.approx(0.3)


def test_the_kinks_command_prints_what_the_file_stores(tmp_path, capsys):
    """``dlbridge kinks FILE`` on nets written by write_nets: one row per ReLU net, its
    bounded residual and releasable kinks equal to the stored kink_residual and
    n_releasable_kinks; a missing file is one line and exit status 2."""
    import h5py

    from dlbridge.cli import main
    from dlbridge.nets.runs import NetRunSpec, train_width, write_nets

    spec = NetRunSpec(dim=5, n_train=60, n_test=0, width=3, steps=300)
    data = spec.load_data()
    path = tmp_path / "nets.h5"
    with h5py.File(path, "w") as f:
        write_nets(f.create_group("runs"), spec, train_width(spec, [0, 1], data), data)
    assert main(["kinks", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = [h.strip() for h in lines[0].strip("|").split("|")]
    rows = [dict(zip(header, (v.strip() for v in ln.strip("|").split("|")))) for ln in lines[2:]]
    assert len(rows) == 2
    with h5py.File(path, "r") as f:
        for row in rows:
            g = f[row["group"]]
            assert int(row["n_kinks"]) == g.attrs["n_kinks"]
            assert float(row["bounded_residual"]) == pytest.approx(g.attrs["kink_residual"], rel=1e-2)
            assert int(row["n_releasable"]) == g.attrs["n_releasable_kinks"]
    assert main(["kinks", str(tmp_path / "missing.h5")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "FILE" in err[0]


def test_violations_at_round_off_are_not_releasable():
    """A fitted net's slopes and violations are ~1e-17 (its last Δ > 0 are round-off): below
    the floor 64ε/α² nothing is releasable; the same violations scaled to O(1e-5) are."""
    prob = kinked_problem()
    ks = kink_stationarity(prob)
    assert ks.floor == pytest.approx(64 * np.finfo(np.float64).eps / prob.spec.alpha ** 2)
    tiny = balanced(ks, slopes=np.full(5, 1e-17), multipliers=np.full(5, 4e-17))
    assert np.all(tiny.violations > 0) and tiny.n_releasable() == 0
    big = balanced(ks, slopes=np.full(5, 1e-5), multipliers=np.full(5, 4e-5))
    assert big.residual_rate < 1e-15 and big.n_releasable() == 5


def balanced(ks, **fields):
    """``ks`` with ``fields`` replaced and ∇L₀ = −Jᵀλ: a point stationary on its kink set."""
    ks = dataclasses.replace(ks, **fields)
    return dataclasses.replace(ks, grad_off=-ks.jacobian.T @ ks.multipliers)


def test_violations_below_the_residual_gradient_are_not_releasable():
    """The same violations 3e-5 (rates 3e-5‖∇a_k‖) at a point whose unbalanced gradient is
    larger than every rate are not resolved releases; a residual below the rates leaves them."""
    ks = balanced(kink_stationarity(kinked_problem()), slopes=np.full(5, 1e-5),
                  multipliers=np.full(5, 4e-5))
    rng = np.random.default_rng(0)
    off = rng.standard_normal(ks.grad_off.shape)
    off -= ks.jacobian.T @ np.linalg.lstsq(ks.jacobian.T, off, rcond=None)[0]
    off /= np.linalg.norm(off)
    for size, expected in ((2.0 * ks.release_rates.max(), 0), (0.5 * ks.release_rates.min(), 5)):
        moved = dataclasses.replace(ks, grad_off=ks.grad_off + size * off)
        assert moved.residual_rate == pytest.approx(size, rel=1e-9)
        assert moved.n_releasable() == expected
