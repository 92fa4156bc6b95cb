"""Gradient flow of an ensemble by a linearly implicit Euler scheme in function space.

The flow dw/dt = −∇L of L = 1/(α² P) Σ_μ ℓ(Δ_μ), Δ_μ = 1 − y_μ F_μ, F = α[f(w) − f(w₀)], moves
the training outputs as

    dF/dt = (1/P) Θ r,     r_μ = y_μ ℓ'(Δ_μ),     dw/dt = 1/(α P) Jᵀ r,

with Θ = J Jᵀ the tangent kernel of f on the training set (:mod:`.kernel`). The explicit Euler
step of :class:`.optim.GradientFlow` must stay below ~P/(ℓ''_max λ_max(Θ)) while fitting the last
data takes a time ~P/λ_small(Θ): its number of steps grows as the condition number of Θ, beyond
10⁵ for P = 64 (benchmarks/regimes_protocol.py). Here the dependence of r on F is taken
implicitly, r(F + δF) ≈ r − D δF with D = diag ℓ''(Δ): a step dt solves

    (I + k D W) c = r,   k = dt/P,   δw = dt/(α P) Jᵀ c,   δF ≈ k W c,

through the symmetric positive definite I + k S W S, S = D^{1/2} (Woodbury; a Cholesky factor per
net and step), with W = Θ at the current point: the Rosenbrock–Euler step with the Gauss–Newton
Jacobian (Hairer & Wanner, Solving ODEs II, §IV.7). For dt → ∞ it is Gauss–Newton's step; stiff
modes relax at once instead of bounding dt. Θ is recomputed after every accepted step: a W kept
for later steps (a W-method) is wrong in the small-eigenvalue directions that fit the last
data, and in the lazy regime it cost more steps and more time than it saved.

A step is accepted when the loss did not rise and the local error of the outputs, the larger of
(i) the backward Euler estimate ½ k (V' − V) of the velocities V = Θ r at both ends, filtered by
(I + k W D)⁻¹ so that relaxed stiff modes do not count (Hairer & Wanner, §IV.8), and (ii) the
miss |F' − F − k W c| of the linear prediction, is at most ``tol``; dt is then multiplied by
0.9 (tol/err)^{1/2} within [0.2, 3] (the error of a first-order step is ∝ dt²), a rejected step
by the same factor within [0.1, 0.5]. The endpoint converges at first order in dt, hence as
tol^½ (tests/test_implicit_flow.py, also against the explicit flow).
"""
from __future__ import annotations

import torch

from packing.errors import require

from .kernel import tangent_kernel
from .optim import Evaluation, _take_state, _where_net, merge


class ImplicitFlow:
    """Linearly implicit Euler integration of dθ/dt = −∇L (see module docstring).

    ``evaluate`` passed to :meth:`step` must be the ensemble objective of train.py: besides
    being called it exposes ``model``, ``x``, ``y``, ``hinge``, ``alpha`` (E, 1) and
    ``vjp``/``jvp`` (products of the Jacobian of f on the training set).
    """

    def __init__(self, theta: torch.Tensor, dt0: float, tol: float = 1e-2,
                 stall_ratio: float = 1e-6):
        require(tol > 0, "tol", "a number > 0", tol)
        self.dt = torch.full((theta.shape[0],), dt0, dtype=theta.dtype, device=theta.device)
        self.dt_max = self.dt.clone()
        self.tol, self.stall_ratio = tol, stall_ratio
        self.kernel: torch.Tensor | None = None       # Θ (E, P, P) at the current point
        self.velocity: torch.Tensor | None = None     # Θ r (E, P) at the current point

    @staticmethod
    def _velocity(objective, theta: torch.Tensor, ev: Evaluation) -> torch.Tensor:
        """Θ r = J (Jᵀ r) with Jᵀ r = −α P ∇L (E, P)."""
        n = ev.gaps.shape[1]
        return objective.jvp(theta, -objective.alpha * n * ev.grad)

    def _refresh(self, objective, theta: torch.Tensor, rows: torch.Tensor) -> None:
        """Θ at ``theta`` for the nets ``rows`` ((k,) long), the others' kept."""
        if len(rows) == 0:
            return
        sub = objective.model.take(rows.tolist())
        self.kernel[rows] = tangent_kernel(sub, theta[rows], objective.x)

    def step(self, theta: torch.Tensor, ev: Evaluation, active: torch.Tensor, step: int,
             evaluate) -> tuple[torch.Tensor, Evaluation]:
        """One implicit step per active net, accepted or undone; returns (θ, evaluation)."""
        obj = evaluate
        if self.kernel is None:
            self.kernel = tangent_kernel(obj.model, theta, obj.x)
            self.velocity = self._velocity(obj, theta, ev)
        W, n = self.kernel, ev.gaps.shape[1]
        r = obj.y * obj.hinge.d1(ev.gaps)
        s = obj.hinge.d2(ev.gaps).clamp(min=0).sqrt()
        k = (self.dt / n)[:, None]
        a = W * (k * s)[:, :, None] * s[:, None, :]
        a.diagonal(dim1=1, dim2=2).add_(1.0)
        chol = torch.linalg.cholesky(a)

        def solve(v):                                   # (I + k D W)⁻¹ … by Woodbury, (E, P)
            return torch.cholesky_solve((s * v)[:, :, None], chol)[:, :, 0]

        c = r - k * s * solve(_matvec(W, r))
        predicted = k * _matvec(W, c)
        trial = theta + (self.dt[:, None] / (obj.alpha * n)) * obj.vjp(theta, c)
        new = evaluate(trial)
        v_new = self._velocity(obj, trial, new)
        half = 0.5 * k * (v_new - self.velocity)
        filtered = half - k * _matvec(W, s * solve(half))
        miss = (new.outputs - ev.outputs - predicted).abs().amax(1)
        err = torch.maximum(filtered.abs().amax(1), miss)
        slack = 64 * torch.finfo(ev.loss.dtype).eps * ev.loss.abs()
        ok = active & torch.isfinite(new.loss) & (new.loss <= ev.loss + slack) & (err <= self.tol)
        ratio = 0.9 * torch.sqrt(self.tol / err.clamp(min=torch.finfo(err.dtype).tiny))
        grow = torch.where(ok, ratio.clamp(0.2, 3.0), ratio.nan_to_num(0.1).clamp(0.1, 0.5))
        self.dt = torch.where(active, self.dt * grow, self.dt)
        self.dt_max = torch.maximum(self.dt_max, self.dt)
        self.velocity = _where_net(ok, v_new, self.velocity)
        theta = _where_net(ok, trial, theta)
        self._refresh(obj, theta, torch.nonzero(ok)[:, 0])
        return theta, merge(ok, new, ev)

    def stalled(self) -> torch.Tensor:
        """(E,) bool: nets whose step fell below ``stall_ratio`` × the largest step they took."""
        return self.dt < self.stall_ratio * self.dt_max

    def take(self, rows: torch.Tensor) -> None:
        """Drop every net but ``rows`` from the optimiser state."""
        _take_state(self, ("dt", "dt_max") + (("kernel", "velocity") if self.kernel is not None
                                              else ()), rows)


def _matvec(m: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Batched (E, P, P) @ (E, P) → (E, P)."""
    return torch.bmm(m, v[:, :, None])[:, :, 0]
