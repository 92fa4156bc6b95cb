"""A final stage for ReLU nets: smoothing continuation to a minimum on the kink set.

Newton's method (:func:`.finish.newton_finish`) stalls on a ReLU net near N*: the gradient of the
loss jumps where a pre-activation crosses 0, and the minima below N* sit on such kinks
(:mod:`.kinkmin`). The classical remedy is smoothing (Chen & Mangasarian, Comput. Optim. Appl. 5,
97, 1996; Nesterov, Math. Program. 103, 127, 2005): the ReLU √2 max(0, a) is replaced by

    σ_β(a) = √2 softplus(βa)/β,   0 ≤ σ_β(a) − √2 max(0, a) ≤ √2 log 2 / β,

and the smooth loss L_β is minimised for β = b/s with b = ``beta_start`` … ``beta_stop`` growing
×10 (s the median |a| of the net), each minimum the start of the next, by Levenberg–Marquardt on
the exact Hessian (autograd). With ``descent_iter`` > 0 (off by default), a stage where LM runs
out of its ``max_iter`` steps descends by L-BFGS (Liu & Nocedal, Math. Program. 45, 503, 1989;
scipy's L-BFGS-B, ``descent_iter`` iterations at most) and gives LM its steps again: below N*
the descent of L_β is long and glassy — a slowly falling loss with tens of near-zero Hessian
eigenvalues — and an L-BFGS iteration costs a gradient where an LM step costs an
eigendecomposition of the Hessian. On nets Adam left below N* it ends 0–4 % lower than LM alone
and certifies no more of them (benchmarks/results/kink_finish_d*.md).

At a minimum of L_β the kinks' multipliers are c_k σ_β'(a_k)/σ'(0⁺) ∈ [0, c_k], inside the box of
:mod:`.kinkmin`, so the limit is a first-order minimum of the ReLU loss on its kink set. The last
point goes to :func:`.finish.newton_finish` on the ReLU net itself (which takes a net that fits to
L = 0 and never raises L), and is classified by :func:`.kinkmin.kink_stationarity`: ``"fitted"``
(every Δ_μ ≤ 0), ``"converged"`` (a certified minimum: bounded residual ≤ ``ctol`` and no
releasable kink, or Newton's own convergence; or a settled one, below), ``"budget"`` (a stage
ended at ``max_iter``) or ``"stalled"``. The ReLU loss of the result is never above the start's:
otherwise the start is returned, classified the same way.

Just below N* the certificate is out of reach of this descent: on the 8 nets of P = 400 at
N ≈ 0.86 N* the residual stops at 2e-6 … 1e-3 (benchmarks/results/kink_finish_d0.md), where the
loss moves ever more slowly — the approach to a degenerate minimum, as a packing relaxes just
above φ_J. What θ and γ need is that the gaps no longer move, so an end point also
counts as ``"converged"`` when it is *settled*: no releasable kink, and over the last stage
(β = ``beta_stop``, plus the Newton finish) the ReLU loss fell by at most ``ltol`` relative and
no gap within ⟨Δ₊⟩ of the margin moved by more than ``dtol`` ⟨Δ₊⟩ (:func:`drift`; both
returned in the outcome and stored, beside the certificate's residual, so that a user can apply
a stricter rule).
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import scipy.optimize
import torch

from packing.errors import require

from .diagnostics import kink_masks
from .finish import MAX_PARAMS, MU_MAX, MU_MIN, MU_START, FinishOutcome, lm_direction, newton_finish
from .hessian import HessianProblem
from .kinkmin import KinkStationarity, certifiable, kink_stationarity
from .models import get_activation, hidden_forward

_SQRT2 = math.sqrt(2.0)


@dataclasses.dataclass(frozen=True)
class SmoothingSettings:
    """The continuation of :func:`smoothed_finish` (module docstring)."""

    beta_start: float = 1e2
    beta_stop: float = 1e10
    max_iter: int = 200
    descent_iter: int = 0
    gtol: float = 1e-13
    ctol: float = 1e-8
    ltol: float = 1e-6
    dtol: float = 1e-3

    def __post_init__(self) -> None:
        require(math.isfinite(self.beta_start) and self.beta_start > 0, "beta_start",
                "a finite number > 0", self.beta_start)
        require(math.isfinite(self.beta_stop) and self.beta_stop >= self.beta_start, "beta_stop",
                f"a finite number >= beta_start = {self.beta_start}", self.beta_stop)
        require(isinstance(self.max_iter, int) and self.max_iter >= 1, "max_iter",
                "an integer >= 1", self.max_iter)
        require(isinstance(self.descent_iter, int) and self.descent_iter >= 0, "descent_iter",
                "an integer >= 0 (0: no L-BFGS descent)", self.descent_iter)
        for name in ("gtol", "ctol", "ltol", "dtol"):
            v = getattr(self, name)
            require(0 < v < 1, name, "a number in (0, 1)", v)

    def betas(self) -> list[float]:
        """b = beta_start, ×10, … up to beta_stop (included)."""
        n = int(math.floor(math.log10(self.beta_stop / self.beta_start) + 1e-9))
        return [self.beta_start * 10.0**k for k in range(n + 1)]


def smoothed_relu(beta: float):
    """σ_β(a) = √2 softplus(βa)/β (linear beyond βa = 30, where it equals √2 a to float64)."""
    return lambda a: _SQRT2 * torch.nn.functional.softplus(a, beta=beta, threshold=30.0)


def smoothed_loss(prob: HessianProblem, beta: float):
    """θ ↦ L_β(θ): the loss of ``prob`` with σ_β in place of the ReLU (f0 kept)."""
    act = smoothed_relu(beta)

    def loss(theta: torch.Tensor) -> torch.Tensor:
        return prob.loss_of_outputs(hidden_forward(prob.spec, theta, prob.x, activation=act)[2])
    return loss


def _value_and_grad(fun, theta: torch.Tensor) -> tuple[float, torch.Tensor]:
    with torch.enable_grad():
        th = theta.detach().requires_grad_(True)
        value = fun(th)
        (g,) = torch.autograd.grad(value, th)
    return float(value.detach()), g.detach()


def quasi_newton_descent(fun, theta: torch.Tensor, max_iter: int, gtol: float,
                         memory: int = 50) -> tuple[torch.Tensor, int]:
    """Minimise the smooth ``fun`` from ``theta`` (N,) by L-BFGS with ``memory`` curvature pairs
    (scipy's L-BFGS-B without bounds; stops at ‖∇‖_∞ ≤ ``gtol``, at ``max_iter`` iterations or
    when its line search fails, never on a slow fall). Returns (θ, iterations); θ is never worse
    than the start."""
    start_loss = _value_and_grad(fun, theta)[0]

    def value_and_grad(x: np.ndarray) -> tuple[float, np.ndarray]:
        v, g = _value_and_grad(fun, torch.as_tensor(x, dtype=theta.dtype, device=theta.device))
        return v, g.cpu().numpy()

    res = scipy.optimize.minimize(value_and_grad, theta.detach().cpu().numpy(), jac=True,
                                  method="L-BFGS-B", options=dict(maxiter=max_iter, maxcor=memory,
                                                                  gtol=gtol, ftol=0.0,
                                                                  maxfun=2 * max_iter + 20))
    if not res.fun < start_loss:
        return theta, int(res.nit)
    return torch.as_tensor(res.x, dtype=theta.dtype, device=theta.device), int(res.nit)


def levenberg_marquardt(fun, theta: torch.Tensor, max_iter: int, gtol: float
                        ) -> tuple[torch.Tensor, int, bool]:
    """Minimise the smooth ``fun`` from ``theta`` (N,) by LM steps −(H + σI)⁻¹∇ on its exact
    Hessian, a step accepted when it lowers ``fun``. Returns (θ, steps, stopped by max_iter)."""
    loss, g = _value_and_grad(fun, theta)
    mu = MU_START
    for it in range(max_iter):
        if float(g.abs().max()) <= gtol:
            return theta, it, False
        evals, evecs = torch.linalg.eigh(torch.func.hessian(fun)(theta))
        while mu <= MU_MAX:
            trial = theta + lm_direction(evals, evecs, g, mu)
            trial_loss, trial_g = _value_and_grad(fun, trial)
            if trial_loss < loss:
                theta, loss, g, mu = trial, trial_loss, trial_g, max(mu / 10, MU_MIN)
                break
            mu *= 10
        else:
            return theta, it, False     # no step lowers L_β: its minimum to float64
    return theta, max_iter, True


def _stage(fun, theta: torch.Tensor, settings: SmoothingSettings) -> tuple[torch.Tensor, int, bool]:
    """One β of the continuation: LM, and where it runs out of steps, the L-BFGS descent and
    LM again. Returns (θ, iterations of both, the last LM stopped by max_iter)."""
    theta, steps, out_of_budget = levenberg_marquardt(fun, theta, settings.max_iter, settings.gtol)
    if out_of_budget and settings.descent_iter:
        theta, it = quasi_newton_descent(fun, theta, settings.descent_iter, settings.gtol)
        theta, it_lm, out_of_budget = levenberg_marquardt(fun, theta, settings.max_iter,
                                                          settings.gtol)
        steps += it + it_lm
    return theta, steps, out_of_budget


def _median_preactivation(prob: HessianProblem, theta: torch.Tensor) -> float:
    with torch.no_grad():
        pre = hidden_forward(prob.spec, theta, prob.x)[0]
    return max(float(torch.cat([a.abs().flatten() for a in pre]).median()), 1e-300)


def _kink_certificate(prob: HessianProblem) -> KinkStationarity | None:
    """:func:`.kinkmin.kink_stationarity` of ``prob``, or None where it does not apply."""
    n_kinks = int(sum(int(m.sum()) for m in kink_masks(prob.spec, prob.theta, prob.x)))
    if not certifiable(prob.spec, len(prob.x), n_kinks, prob.hinge):
        return None
    return kink_stationarity(prob)


def drift(prob: HessianProblem, before: torch.Tensor, after: torch.Tensor) -> tuple[float, float]:
    """How far a descent from ``before`` to ``after`` (N,) still moved the net:
    ((L(before) − L(after))/L(after), max_μ |Δ_μ(after) − Δ_μ(before)| / ⟨Δ₊⟩), ⟨Δ₊⟩ the mean
    of the positive gaps at ``after`` and μ over the data within ⟨Δ₊⟩ of the margin
    (Δ_μ > −⟨Δ₊⟩ at either end: the unsatisfied data θ is fitted on and the small satisfied
    gaps of γ; data satisfied deeper cost nothing and move freely along the floppy directions
    of a net below N*). (NaN, NaN) where ``after`` fits every datum."""
    with torch.no_grad():
        d0, d1 = prob.gaps(before), prob.gaps(after)
        l0, l1 = float(prob.loss(before)), float(prob.loss(after))
    if not l1 > 0:
        return math.nan, math.nan
    scale = d1[d1 > 0].mean()
    near = torch.maximum(d0, d1) > -scale
    return (l0 - l1) / l1, float((d1 - d0)[near].abs().max() / scale)


def _classify(prob: HessianProblem, newton_reason: str, drifts: tuple[float, float],
              out_of_budget: bool, settings: SmoothingSettings) -> str:
    """The stop reason of the module docstring at ``prob.theta``."""
    if newton_reason in ("fitted", "converged"):
        return newton_reason
    cert = _kink_certificate(prob)
    if cert is not None and cert.n_releasable() == 0:
        certified = cert.bounded_residual <= settings.ctol
        settled = drifts[0] <= settings.ltol and drifts[1] <= settings.dtol
        if certified or settled:
            return "converged"
    return "budget" if out_of_budget else "stalled"


def smoothed_finish(prob: HessianProblem, settings: SmoothingSettings = SmoothingSettings()
                    ) -> FinishOutcome:
    """The continuation of the module docstring from ``prob.theta`` (a ReLU net, float64, a
    loss with curvature). Returns the :class:`~.finish.FinishOutcome` with the drifts of its last
    stage; the ReLU loss never rises."""
    require(get_activation(prob.spec.activation).homogeneous, "activation",
            "relu (the smoothed finish smooths the ReLU's kinks)", prob.spec.activation)
    require(prob.hinge.name != "hinge", "loss",
            "quadratic or softhinge (the plain hinge has no curvature)", prob.hinge.name)
    require(prob.spec.n_params <= MAX_PARAMS, "n_params",
            f"at most {MAX_PARAMS} for the dense Hessian of the smoothed finish", prob.spec.n_params)
    start = prob.theta.detach().to(torch.float64)
    theta, steps, out_of_budget = start.clone(), 0, False
    scale = _median_preactivation(prob, start)
    for b in settings.betas():
        last_stage_start = theta
        theta, it, out_of_budget = _stage(smoothed_loss(prob, b / scale), theta, settings)
        steps += it
    newton = newton_finish(dataclasses.replace(prob, theta=theta))
    theta, steps = newton.theta, steps + newton.iterations
    loss, g = _value_and_grad(prob.loss, theta)
    if loss > _value_and_grad(prob.loss, start)[0]:
        newton = newton_finish(dataclasses.replace(prob, theta=start))
        theta, (loss, g) = newton.theta, _value_and_grad(prob.loss, newton.theta)
        last_stage_start = start
    drifts = drift(prob, last_stage_start, theta)
    reason = _classify(dataclasses.replace(prob, theta=theta), newton.reason, drifts,
                       out_of_budget, settings)
    return FinishOutcome(theta, steps, reason, float(g.abs().max()), *drifts)
