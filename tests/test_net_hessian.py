"""Exact Hessian split H = H0 + Hp against torch.func.hessian, and its spectrum."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from dlbridge.nets.hessian import (
    analyze,
    extreme_eigenvalues,
    gap_jacobian,
    hessian_split,
    problem_from_arrays,
)
from dlbridge.nets.losses import HingeLoss
from dlbridge.nets.models import NetSpec, init_params
from packing.errors import ParameterError


def _problem(act, bias, loss, alpha=0.7, widths=(5, 3, 4), p=30, seed=0, scale=0.3):
    g = torch.Generator().manual_seed(seed)
    spec = NetSpec(4, widths, act, bias, alpha=alpha)
    th0 = init_params(spec, 1)
    th = th0 + scale * torch.randn(spec.n_params, generator=g, dtype=torch.float64)
    x = torch.randn(p, 4, generator=g, dtype=torch.float64)
    y = torch.sign(torch.randn(p, generator=g, dtype=torch.float64))
    return problem_from_arrays(spec, th, th0, x, y, HingeLoss(loss))


@pytest.mark.parametrize("act", ["relu", "tanh", "softplus"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("loss", ["quadratic", "softhinge"])
def test_hessian_equals_autodiff(act, bias, loss):
    prob = _problem(act, bias, loss)
    split = hessian_split(prob)
    h0, hp = split.stiffness, split.stress
    ref = torch.func.hessian(prob.loss)(prob.theta)
    assert float((h0 + hp - ref).abs().max()) < 1e-10 * max(1.0, float(ref.abs().max()))


def test_stiffness_part_from_jacobian_and_stress_remainder():
    """H0 = 1/(α²P) Σ_{Δ>0} ∇Δ∇Δᵀ with ∇Δ from torch.func.jacrev; Hp = H_autodiff − H0."""
    prob = _problem("relu", True, "quadratic", alpha=1.3, scale=3.0)
    split = hessian_split(prob)
    h0, hp = split.stiffness, split.stress
    jac = torch.func.jacrev(prob.gaps)(prob.theta)             # (P, N)
    act = (prob.gaps() > 0)
    ref0 = jac[act].T @ jac[act] / (prob.spec.alpha**2 * len(prob.x))
    assert float((h0 - ref0).abs().max()) < 1e-12
    ref = torch.func.hessian(prob.loss)(prob.theta)
    assert float((hp - (ref - ref0)).abs().max()) < 1e-10
    assert 0 < int(act.sum()) < len(prob.x)


def test_gap_jacobian_gives_h0():
    """JᵀJ of gap_jacobian = H0, rows = ∂Δ/∂w/(α√P) of the Δ > 0 data (torch.func.jacrev)."""
    prob = _problem("tanh", True, "quadratic", alpha=1.7, scale=2.0)
    jac = gap_jacobian(prob)
    act = (prob.gaps() > 0)
    ref = torch.func.jacrev(prob.gaps)(prob.theta)[act] / (1.7 * len(prob.x) ** 0.5)
    np.testing.assert_allclose(jac, ref.numpy(), rtol=0, atol=1e-13)
    h0 = hessian_split(prob).stiffness
    np.testing.assert_allclose(jac.T @ jac, h0.numpy(), rtol=0, atol=1e-13)


def test_shared_analysis_of_a_net_against_dense_autodiff():
    """analyze(): counts, spectra and ranks from packing.analysis equal a dense float64
    torch.func.hessian and numpy's SVD of the jacrev Jacobian."""
    prob = _problem("relu", True, "quadratic", widths=(6, 6), p=12)
    res = analyze(prob, fit_exponents=False)
    h = torch.func.hessian(prob.loss)(prob.theta).numpy()
    ev = np.linalg.eigvalsh(h)
    np.testing.assert_allclose(res.hessian_spectrum.eigenvalues, ev, rtol=0, atol=1e-12)
    n_act = int((prob.gaps() > 0).sum())
    jac = torch.func.jacrev(prob.gaps)(prob.theta).numpy()[(prob.gaps() > 0).numpy()]
    assert res.n_constraints == n_act and res.counts.n_dof == prob.spec.n_params
    # N_Δ ≤ 12 < N = 127: the Jacobian has full row rank, N − N_Δ floppy modes
    assert res.modes.rank == np.linalg.matrix_rank(jac) == n_act
    assert res.modes.n_floppy == prob.spec.n_params - n_act
    neg = int(np.sum(ev < -1e-10 * np.abs(ev).max()))
    assert res.negative.n_negative == neg and res.negative.complete


def test_analysis_of_a_fitted_net_and_of_other_losses():
    prob = _problem("relu", True, "quadratic", widths=(6, 6), p=12)
    # f0 shifted by −2y/α: Δ = 1 − yα(f − f0) − 2 = −1 < 0 for every datum (a fitted net)
    sat = type(prob)(prob.spec, prob.theta, prob.x, prob.y,
                     prob.f0 - 2.0 * prob.y / prob.spec.alpha)
    res = analyze(sat, fit_exponents=False)
    assert res.n_constraints == 0 and res.modes.rank == 0
    assert res.modes.n_floppy == prob.spec.n_params and res.negative.n_negative == 0
    with pytest.raises(ParameterError, match="loss must be quadratic"):
        analyze(_problem("relu", True, "softhinge"))


def test_eigsh_extremes_equal_dense():
    prob = _problem("tanh", True, "quadratic", widths=(8, 8), p=40)
    h = torch.func.hessian(prob.loss)(prob.theta).numpy()
    dense = np.linalg.eigvalsh(h)
    lo, hi = extreme_eigenvalues(prob, k=4)
    np.testing.assert_allclose(lo, dense[:4], atol=1e-9)
    np.testing.assert_allclose(hi, dense[-4:], rtol=1e-9)
