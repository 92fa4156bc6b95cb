"""A second-order final stage that takes one trained net to the bottom of its loss.

Near the jamming point N* a first-order optimiser slows down critically: the nets that decide θ,
γ and N* are the ones Adam leaves at its step budget, still descending (Geiger et al., PRE 100,
012115, 2019, ran 2–10 million steps for them). Below N* the minimum is a point of the smooth
loss (for a smooth activation) where Newton's method converges quadratically; above N* the loss
reaches zero. :func:`newton_finish` runs Levenberg–Marquardt steps on the exact Hessian
H = H0 + Hp of :mod:`.hessian` (dense, so for N up to :data:`MAX_PARAMS`):

    δ = −(H + σ I)⁻¹ ∇L,   σ = μ λ_max + max(0, −λ_min),

a step being accepted when it lowers L (μ ÷ 10, down to pure Newton) and refused otherwise
(μ × 10). The outcome (``reason``):

* ``"converged"`` — a minimum with unsatisfied data (N_Δ > 0): ‖∇L‖_∞ ≤ ``gtol``, or no step
  lowers L and ‖∇L‖ ≤ √(2 ε L λ_max), below which no step can lower L in float64 (ε the machine
  epsilon; flat directions of H, e.g. saturated units, and data at Δ ≈ 0, where ℓ'' jumps, keep
  Newton from reaching gtol there);
* ``"fitted"``    — every Δ_μ ≤ 0 (L = 0). On the way to L = 0 the last unsatisfied gaps shrink
  to round-off without changing sign, so once every Δ_μ > 0 is below ``margin`` the steps aim at
  Δ_μ + ``margin`` ≤ 0 instead (a shift of 1e-9 of the unit margin; such satisfied gaps are
  below the marginal threshold of `packing.analysis.populations` and never enter a fit);
* ``"stalled"``   — no step lowers L although ∇L is above that floor: a kink of the landscape
  (ReLU nets, whose ∇L jumps where a pre-activation a^ℓ_μi crosses 0);
* ``"budget"``    — ``max_iter`` steps without one of the above.
"""
from __future__ import annotations

import dataclasses
import math

import torch

from packing.errors import require

from .hessian import HessianProblem, hessian_split

FINISHES = ("none", "newton", "smoothed")
"""Final stages: none, this module's Newton finish, or `.kinkfinish` (ReLU nets)."""
MAX_PARAMS = 4000          # a dense (N, N) float64 Hessian and its eigendecomposition per step
MU_START, MU_MIN, MU_MAX = 1e-3, 1e-16, 1e10
"""Levenberg–Marquardt damping: first μ, and the range it is kept in (÷10 / ×10 per step)."""
_EPS = float(torch.finfo(torch.float64).eps)


@dataclasses.dataclass(frozen=True)
class NewtonSettings:
    """Stopping rule of :func:`newton_finish` (module docstring)."""

    max_iter: int = 500
    gtol: float = 1e-12
    margin: float = 1e-9

    def __post_init__(self) -> None:
        require(isinstance(self.max_iter, int) and self.max_iter >= 1, "max_iter",
                "an integer >= 1", self.max_iter)
        for name in ("gtol", "margin"):
            v = getattr(self, name)
            require(0 < v < 1, name, "a number in (0, 1)", v)


@dataclasses.dataclass(frozen=True)
class FinishOutcome:
    """The parameters (N,) where a final stage stopped, its steps and why it stopped.

    ``loss_drift``, ``gap_drift``: how far the ReLU loss and the gaps still moved over the last
    stage of :func:`.kinkfinish.smoothed_finish` (:func:`.kinkfinish.drift`; NaN for the Newton
    finish, whose stopping rule is the gradient itself)."""

    theta: torch.Tensor
    iterations: int
    reason: str
    grad_max: float
    loss_drift: float = math.nan
    gap_drift: float = math.nan


def _loss_and_grad(prob: HessianProblem, theta: torch.Tensor, shift: float
                   ) -> tuple[float, torch.Tensor]:
    with torch.enable_grad():
        th = theta.detach().requires_grad_(True)
        loss = prob.hinge.value(prob.gaps(th) + shift).mean() / prob.spec.alpha ** 2
        (g,) = torch.autograd.grad(loss, th)
    return float(loss.detach()), g.detach()


def _shifted_hessian(prob: HessianProblem, theta: torch.Tensor, shift: float) -> torch.Tensor:
    """H of the loss of Δ + shift: the exact split of :mod:`.hessian` at f0 moved by shift."""
    moved = dataclasses.replace(prob, theta=theta,
                                f0=prob.f0 + prob.y * shift / prob.spec.alpha)
    return hessian_split(moved).total


def lm_direction(evals: torch.Tensor, evecs: torch.Tensor, g: torch.Tensor,
                 mu: float) -> torch.Tensor:
    """δ = −(H + σI)⁻¹ g with σ = μ max|λ| + max(0, −λ_min), from H's eigenpairs (module docstring)."""
    scale = max(float(evals.abs().max()), 1e-300)
    sigma = mu * scale + max(0.0, -float(evals[0]))
    return -evecs @ ((evecs.T @ g) / (evals + sigma))


def _at_roundoff_floor(loss: float, g: torch.Tensor, evals: torch.Tensor, shift: float) -> bool:
    """Whether ‖∇L‖ is too small for any step to lower L in float64: a descent along ∇L gains
    at most ‖∇L‖²/(2 λ_max), which is below the resolution ε L of the loss when
    ‖∇L‖ ≤ √(2 ε L λ_max)."""
    floor = math.sqrt(2.0 * _EPS * max(loss, 0.0) * max(float(evals[-1]), 0.0))
    return shift == 0.0 and float(g.norm()) <= floor


def newton_finish(prob: HessianProblem, settings: NewtonSettings = NewtonSettings()
                  ) -> FinishOutcome:
    """Levenberg–Marquardt on the exact Hessian from ``prob.theta`` (module docstring).

    prob : one net (:class:`~.hessian.HessianProblem`, float64) with a twice-differentiable loss
    in Δ (quadratic or soft hinge). Returns the :class:`FinishOutcome`; L never increases.
    """
    require(prob.spec.n_params <= MAX_PARAMS, "n_params",
            f"at most {MAX_PARAMS} for the dense Newton finish", prob.spec.n_params)
    require(prob.hinge.name != "hinge", "loss",
            "quadratic or softhinge for the Newton finish (the plain hinge has no curvature)",
            prob.hinge.name)
    theta, mu, shift = prob.theta.detach().clone(), MU_START, 0.0
    loss, g = _loss_and_grad(prob, theta, shift)
    for it in range(settings.max_iter + 1):
        with torch.no_grad():
            top = float(prob.gaps(theta).max())
        if top <= 0.0:
            return FinishOutcome(theta, it, "fitted", float(g.abs().max()))
        if shift == 0.0 and top <= settings.margin:
            shift = settings.margin
            loss, g = _loss_and_grad(prob, theta, shift)
        if shift == 0.0 and float(g.abs().max()) <= settings.gtol:
            return FinishOutcome(theta, it, "converged", float(g.abs().max()))
        if it == settings.max_iter:
            break
        evals, evecs = torch.linalg.eigh(_shifted_hessian(prob, theta, shift))
        while mu <= MU_MAX:
            trial = theta + lm_direction(evals, evecs, g, mu)
            trial_loss, trial_g = _loss_and_grad(prob, trial, shift)
            if trial_loss < loss:
                theta, loss, g, mu = trial, trial_loss, trial_g, max(mu / 10, MU_MIN)
                break
            mu *= 10
        else:
            reason = "converged" if _at_roundoff_floor(loss, g, evals, shift) else "stalled"
            return FinishOutcome(theta, it, reason, float(g.abs().max()))
    return FinishOutcome(theta, settings.max_iter, "budget", float(g.abs().max()))
