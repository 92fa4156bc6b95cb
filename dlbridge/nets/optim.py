"""Batched full-batch minimisers for an ensemble of E nets stored as an (E, N) tensor.

Every optimiser takes a step for the nets flagged ``active`` (E,) bool and leaves the others
exactly where they are. The objective is a callable ``evaluate(theta) -> Evaluation`` giving the
per-net loss (E,), gaps (E, P) and masked gradient (E, N); every ``step`` returns the new
parameters together with their evaluation, so each step costs one evaluation.

* :class:`Adam` — Kingma & Ba (ICLR 2015), written with the same floating-point operations as
  ``torch.optim.Adam`` (β = (0.9, 0.999), ε = 1e-8), its learning rate from a schedule:
  :class:`StepDecay` (the paper's, one rate for all nets) or :class:`PlateauDecay` (one rate per
  net, divided when the net's loss stops falling and raised again after each descent to the
  smallest rate; it decides when a net has reached a minimum).
* :class:`Fire` — FIRE 2.0 with semi-implicit Euler (Guénolé et al., Comput. Mater. Sci. 175,
  109584, 2020, Algorithm 2; Bitzek et al., PRL 97, 170201, 2006).
* :class:`GradientFlow` — explicit Euler with an adaptive step. A step is accepted when the loss
  fell by at least half its first-order prediction, L(θ) − L(θ') ≥ ½ dt |∇L|² (so dt stays below
  ~1/λ_max along the gradient), and the outputs moved little, max_μ |F' − F| < max_dout; then
  dt ← 1.1 dt if the decrease reached 0.9 of the prediction and the outputs moved less than half
  their bound. A rejected step is undone and dt ← dt/2. The code of Geiger, Spigler, Jacot, Wyart
  (2020, ``dynamics.py``) instead bounds the turn of the gradient, |g' − g|²/(|g||g'|) < 10⁻⁴; on
  ReLU nets that test rejects every step that crosses a kink of the loss (the gradient jumps by
  a finite amount however small the step), and the flow stalled at the initial loss (measured:
  P = 240, d = 10, L = 3, all 9 nets at L ≈ 0.49). Even the loss-based test cannot follow the flow
  where it slides along an intersection of kinks (a Filippov sliding mode): there dt shrinks
  geometrically while |∇L| stays finite. When dt falls below 10⁻⁶ of the largest step the net
  took, it is reported as ``stalled`` — not a minimum. Smooth activations (softplus) do not stall;
  there the exact flow approaches a fitted net with Δ_μ → 0⁺ exponentially (no overshoot), so
  N_Δ = 0 is reached only where round-off lets a gap cross zero.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from packing.errors import require


@dataclass(frozen=True)
class Evaluation:
    """Loss (E,), gaps Δ (E, P), outputs F (E, P) and masked gradient (E, N) of an ensemble."""

    loss: torch.Tensor
    gaps: torch.Tensor
    outputs: torch.Tensor
    grad: torch.Tensor

    def take(self, rows: torch.Tensor) -> "Evaluation":
        """The evaluation of the nets ``rows`` (a (k,) long tensor) only."""
        return Evaluation(self.loss[rows], self.gaps[rows], self.outputs[rows], self.grad[rows])


Objective = Callable[[torch.Tensor], Evaluation]


def _take_state(opt, names: tuple[str, ...], rows: torch.Tensor) -> None:
    """Keep only the rows ``rows`` of the per-net state tensors ``names`` of an optimiser (used
    when stopped nets are dropped from the batch; the remaining nets' state is unchanged)."""
    for name in names:
        setattr(opt, name, getattr(opt, name)[rows])


def lr_schedule(step: int, lr0: float, decay_every: int, factor: float, lr_min: float) -> float:
    """Step-wise decay of the paper's code (nn_jamming ``train.py``, optimizer ``adam``).

    lr(t) = max(lr_min, lr0 / factor^⌊t / decay_every⌋); their defaults were lr0 = 1e-4, decay by
    2 every 1e5 steps, floor 1e-6 for runs of 10⁶ steps.
    """
    return max(lr_min, lr0 / factor ** (step // decay_every))


def _where_net(active: torch.Tensor, new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
    """Per-net select: rows of ``new`` for active nets, of ``old`` otherwise."""
    shape = (-1,) + (1,) * (new.dim() - 1)
    return torch.where(active.reshape(shape), new, old)


def merge(active: torch.Tensor, new: Evaluation, old: Evaluation) -> Evaluation:
    """Evaluation with the active nets' entries from ``new`` and the others from ``old``."""
    return Evaluation(*(_where_net(active, getattr(new, k), getattr(old, k))
                        for k in ("loss", "gaps", "outputs", "grad")))


class StepDecay:
    """The rate of :func:`lr_schedule`, one for every net; it never declares a minimum."""

    def __init__(self, loss: torch.Tensor, lr0: float, decay_every: int, factor: float,
                 lr_min: float):
        self.args = (lr0, decay_every, factor, lr_min)
        self.done = torch.zeros(loss.shape[0], dtype=torch.bool, device=loss.device)

    def rate(self, step: int) -> float:
        """The learning rate of step ``step`` (a number: the same for every net)."""
        return lr_schedule(step, *self.args)

    def observe(self, step: int, loss: torch.Tensor, active: torch.Tensor) -> None:
        """Nothing: the rate depends on the step only."""

    def exhausted(self) -> torch.Tensor:
        """(E,) bool, all False."""
        return self.done

    def take(self, rows: torch.Tensor) -> None:
        """Keep the nets ``rows`` only."""
        self.done = self.done[rows]


class PlateauDecay:
    """One learning rate per net, lowered on plateaus and raised again after each descent to
    ``lr_min`` (a *ladder*); a net is *exhausted* — a minimum — when a whole ladder brought no
    fall of its loss.

    At the end of every window of ``window`` steps a net's lowest loss of the window is compared
    with its lowest loss of the earlier windows. A fall by a relative ``rtol`` keeps the rate and
    marks it as the net's latest descending rate; no such fall divides the rate by ``factor``,
    never below ``lr_min``. A window at ``lr_min`` without a fall ends the ladder: when the
    ladder's windows lowered the lowest loss (by ``rtol``, relative to its value when the ladder
    began), the rate goes back to the latest descending rate and a new ladder begins; otherwise
    the net is exhausted.

    Adam at a fixed rate ends on a plateau where it oscillates at an amplitude set by the rate
    (measured: nets at ReLU kinks, P = 400, L = 2, lr = 10⁻²), so a small change of the loss over
    a window is no sign of a minimum, and a window at a small rate moves the parameters by at
    most window · rate, so its flatness is no sign either: restarted from the ends of single
    ladders (P = 400, h = 7.5, 7 nets) at 10⁻⁴ for 10⁵ steps the loss fell by up to 2 % and up to
    13 more data per net were satisfied. The paper's code divides by 10 every 2.5·10⁵ steps
    whatever the loss does (:class:`StepDecay`).
    """

    _STATE = ("lr", "lr_fell", "best", "window_best", "ladder_best", "done")

    def __init__(self, loss: torch.Tensor, lr0: float, window: int, factor: float,
                 lr_min: float, rtol: float):
        require(factor > 1, "decay_factor", "a number > 1 with schedule plateau", factor)
        self.lr = torch.full_like(loss, lr0)
        self.lr_fell = torch.full_like(loss, lr0)
        self.best = torch.full_like(loss, math.inf)
        self.window_best = torch.full_like(loss, math.inf)
        self.ladder_best = torch.full_like(loss, math.inf)
        self.done = torch.zeros(loss.shape[0], dtype=torch.bool, device=loss.device)
        self.window, self.factor, self.lr_min, self.rtol = window, factor, lr_min, rtol

    def rate(self, step: int) -> torch.Tensor:
        """(E,) the learning rate of every net."""
        return self.lr

    def observe(self, step: int, loss: torch.Tensor, active: torch.Tensor) -> None:
        """Take the loss (E,) of step ``step``; at the end of a window, update the rates of the
        active nets (class docstring) and flag the exhausted ones."""
        self.window_best = torch.where(active, torch.minimum(self.window_best, loss),
                                       self.window_best)
        if step == 0 or step % self.window:
            return
        fell = active & (self.window_best < (1 - self.rtol) * self.best)
        flat = active & ~fell
        self.best = torch.where(active, torch.minimum(self.best, self.window_best), self.best)
        ladder_end = flat & (self.lr <= self.lr_min)
        restart = ladder_end & (self.best < (1 - self.rtol) * self.ladder_best)
        self.done = self.done | (ladder_end & ~restart)
        self.lr_fell = torch.where(fell, self.lr, self.lr_fell)
        lowered = torch.clamp(self.lr / self.factor, min=self.lr_min)
        self.lr = torch.where(restart, self.lr_fell, torch.where(flat, lowered, self.lr))
        self.ladder_best = torch.where(restart, self.best, self.ladder_best)
        self.window_best = torch.where(active, torch.full_like(loss, math.inf), self.window_best)

    def exhausted(self) -> torch.Tensor:
        """(E,) bool: nets whose last whole ladder did not lower the loss."""
        return self.done

    def take(self, rows: torch.Tensor) -> None:
        """Keep the nets ``rows`` only."""
        _take_state(self, self._STATE, rows)


Schedule = StepDecay | PlateauDecay


class Adam:
    """Full-batch Adam on an (E, N) ensemble, same arithmetic as torch.optim.Adam."""

    def __init__(self, theta: torch.Tensor, schedule: Schedule,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.m = torch.zeros_like(theta)
        self.v = torch.zeros_like(theta)
        self.t = 0
        self.schedule = schedule
        self.betas, self.eps = betas, eps

    def step(self, theta: torch.Tensor, ev: Evaluation, active: torch.Tensor, step: int,
             evaluate: Objective) -> tuple[torch.Tensor, Evaluation]:
        """One Adam update of the active nets; returns (θ, evaluation at θ)."""
        b1, b2 = self.betas
        self.t += 1
        g = ev.grad
        m = self.m.lerp(g, 1 - b1)
        v = self.v.mul(b2).addcmul_(g, g, value=1 - b2)
        lr = self.schedule.rate(step)
        bc1, bc2 = 1 - b1 ** self.t, 1 - b2 ** self.t
        denom = (v.sqrt() / math.sqrt(bc2)).add_(self.eps)
        if isinstance(lr, torch.Tensor):   # torch's addcdiv: θ + (value · m) / denom
            new = theta + (-(lr / bc1))[:, None] * m / denom
        else:
            new = theta.addcdiv(m, denom, value=-lr / bc1)
        self.m, self.v = _where_net(active, m, self.m), _where_net(active, v, self.v)
        theta = _where_net(active, new, theta)
        return theta, merge(active, evaluate(theta), ev)

    def take(self, rows: torch.Tensor) -> None:
        """Drop every net but ``rows`` from the optimiser state (the step count t is shared)."""
        _take_state(self, ("m", "v"), rows)

    def stalled(self) -> torch.Tensor:
        """(E,) bool, all False: Adam always takes its step."""
        return torch.zeros(self.m.shape[0], dtype=torch.bool, device=self.m.device)


class Fire:
    """FIRE 2.0 (semi-implicit Euler) per net; force = −gradient, unit masses."""

    def __init__(self, theta: torch.Tensor, dt0: float, dt_max_factor: float = 10.0,
                 dt_min_factor: float = 0.02, n_delay: int = 20, f_inc: float = 1.1,
                 f_dec: float = 0.5, a_start: float = 0.25, f_a: float = 0.99):
        E = theta.shape[0]
        kw = dict(dtype=theta.dtype, device=theta.device)
        self.v = torch.zeros_like(theta)
        self.dt = torch.full((E,), dt0, **kw)
        self.a = torch.full((E,), a_start, **kw)
        self.n_pos = torch.zeros(E, dtype=torch.long, device=theta.device)
        self.dt_max, self.dt_min = dt0 * dt_max_factor, dt0 * dt_min_factor
        self.n_delay, self.f_inc, self.f_dec = n_delay, f_inc, f_dec
        self.a_start, self.f_a = a_start, f_a

    def step(self, theta: torch.Tensor, ev: Evaluation, active: torch.Tensor, step: int,
             evaluate: Objective) -> tuple[torch.Tensor, Evaluation]:
        """One FIRE 2.0 iteration for the active nets; returns (θ, evaluation at θ)."""
        force = -ev.grad
        power = (force * self.v).sum(1)
        up = power > 0
        n_pos = torch.where(up, self.n_pos + 1, torch.zeros_like(self.n_pos))
        grow = up & (n_pos > self.n_delay)
        dt = torch.where(grow, torch.clamp(self.dt * self.f_inc, max=self.dt_max), self.dt)
        a = torch.where(grow, self.a * self.f_a, self.a)
        shrink_ok = ~up & (self.dt * self.f_dec >= self.dt_min)
        dt = torch.where(shrink_ok, dt * self.f_dec, dt)
        a = torch.where(~up, torch.full_like(a, self.a_start), a)
        x = torch.where(~up[:, None], theta - 0.5 * dt[:, None] * self.v, theta)
        v = torch.where(~up[:, None], torch.zeros_like(self.v), self.v)
        v = v + dt[:, None] * force
        fnorm = force.norm(dim=1, keepdim=True)
        fhat = torch.where(fnorm > 0, force / torch.where(fnorm > 0, fnorm, 1.0), 0.0)
        v = (1 - a[:, None]) * v + a[:, None] * v.norm(dim=1, keepdim=True) * fhat
        x = x + dt[:, None] * v
        self.v = _where_net(active, v, self.v)
        self.dt, self.a = _where_net(active, dt, self.dt), _where_net(active, a, self.a)
        self.n_pos = torch.where(active, n_pos, self.n_pos)
        theta = _where_net(active, x, theta)
        return theta, merge(active, evaluate(theta), ev)

    def take(self, rows: torch.Tensor) -> None:
        """Drop every net but ``rows`` from the optimiser state."""
        _take_state(self, ("v", "dt", "a", "n_pos"), rows)

    def stalled(self) -> torch.Tensor:
        """(E,) bool, all False: FIRE's dt is bounded below by dt_min."""
        return torch.zeros_like(self.n_pos, dtype=torch.bool)


class GradientFlow:
    """Adaptive-step explicit Euler integration of dθ/dt = −∇L (see module docstring)."""

    def __init__(self, theta: torch.Tensor, dt0: float, max_dout: float = 1e-1,
                 stall_ratio: float = 1e-6, alpha: float | torch.Tensor = 1.0):
        require(max_dout > 0, "max_dout", "a number > 0", max_dout)
        self.alpha = alpha                                  # a number, or (E,) per net
        self.dt = torch.full((theta.shape[0],), dt0, dtype=theta.dtype, device=theta.device)
        self.dt_max = self.dt.clone()
        self.max_dout, self.stall_ratio = max_dout, stall_ratio

    def step(self, theta: torch.Tensor, ev: Evaluation, active: torch.Tensor, step: int,
             evaluate: Objective) -> tuple[torch.Tensor, Evaluation]:
        """One tentative Euler step per active net, accepted or undone; returns (θ, evaluation)."""
        trial = theta - self.dt[:, None] * ev.grad
        new = evaluate(trial)
        predicted = self.dt * (ev.grad * ev.grad).sum(1)        # first-order decrease dt |g|²
        decrease = ev.loss - new.loss
        # round-off of L: each gap Δ = 1 − yF carries an absolute error ~eps, so L = ⟨½Δ²⟩/α²
        # carries ~eps ⟨Δ⟩/α² ≤ eps √(2L)/α — relative 10⁻⁴ once the gaps are ~10⁻¹²
        slack = 64 * torch.finfo(ev.loss.dtype).eps * (ev.loss + (2 * ev.loss).sqrt() / self.alpha)
        dout = (new.outputs - ev.outputs).abs().amax(dim=1)
        ok = active & (decrease >= 0.5 * predicted - slack) & (dout < self.max_dout)
        calm = ok & (decrease >= 0.9 * predicted - slack) & (dout < 0.5 * self.max_dout)
        dt = torch.where(calm, self.dt * 1.1, self.dt)
        self.dt = torch.where(active & ~ok, self.dt / 2, dt)
        self.dt_max = torch.maximum(self.dt_max, self.dt)
        return _where_net(ok, trial, theta), merge(ok, new, ev)

    def stalled(self) -> torch.Tensor:
        """(E,) bool: nets whose step fell below ``stall_ratio`` × the largest step they took.
        Near a smooth minimum dt stays ~1/λ_max (round-off cannot reject a step, see ``slack``);
        a collapse by 10⁶ is the flow sliding along kinks of a ReLU net, not a minimum."""
        return self.dt < self.stall_ratio * self.dt_max

    def take(self, rows: torch.Tensor) -> None:
        """Drop every net but ``rows`` from the optimiser state."""
        _take_state(self, ("dt", "dt_max"), rows)
        if isinstance(self.alpha, torch.Tensor):
            self.alpha = self.alpha[rows]
