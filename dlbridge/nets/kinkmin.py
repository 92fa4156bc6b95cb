"""Whether a ReLU net whose descent ended on its kink set sits at a local minimum there.

Let K be the pre-activations held on the ReLU's kink, a_k(w) = a^ℓ_μi(w) = 0 for k = (ℓ, μ, i) ∈ K
(:func:`.diagnostics.kink_masks`), L₀ the loss with those units switched off at those data (a
smooth function near w while no other pre-activation changes sign), ∇a_k the rows of J (m, N),
and c_k = σ'(0⁺) ∂L/∂z^ℓ_μi the slope the loss gains when unit i turns on at datum μ. To first
order along any direction d,

    L(w + εd) − L(w) = ε [∇L₀·d + Σ_k c_k max(0, ∇a_k·d)] + O(ε²).

With the rows of J independent, ∇a_k·d = u_k can be set freely, so this is ≥ 0 for every d iff
∇L₀ + Jᵀλ = 0 with 0 ≤ λ_k ≤ c_k for every k: the Karush–Kuhn–Tucker conditions of min L₀ subject
to a_K = 0, the multiplier's range being the subgradient of the ReLU at 0 (Clarke stationarity;
e.g. Nocedal & Wright, Numerical Optimization, 2nd ed., ch. 12). A multiplier with λ_k > c_k
says that turning unit i on at datum μ lowers L at the rate λ_k − c_k, one with λ_k < 0 that
turning it further off lowers L at the rate −λ_k: such a point is no minimum, although the
smooth gradient of neither branch vanishes and a first-order optimiser chatters there.

:func:`kink_stationarity` returns the least-squares multipliers, the residual ‖∇L₀ + Jᵀλ‖_∞
(0 up to round-off at a stationary point of L on the kink set) and the violations
max(λ_k − c_k, −λ_k), positive for a kink whose release lowers L (exact rates when J has full row
rank; its ``rank`` is returned). A kink counts as releasable only where its rate v_k‖∇a_k‖ beats
the residual's ‖∇L₀ + Jᵀλ‖: at a point that is stationary only to a tolerance, a violation below
it is the unbalanced gradient's projection on ∇a_k, not a resolved release. Kinks with dependent
gradients (e.g. a^ℓ = b^ℓ on several dead inputs) make λ non-unique, so the certificate proper
is the box-constrained least squares min_{0 ≤ λ ≤ c} ‖∇L₀ + Jᵀλ‖ (``bounded_residual``,
``bounded_multipliers``): for any λ in the box,
D(d) = (∇L₀ + Jᵀλ)·d + Σ_k [c_k max(0, u_k) − λ_k u_k] ≥ (∇L₀ + Jᵀλ)·d + Σ_{c_k<0} c_k max(0, u_k),
so a bounded residual at round-off with no slope c_k < 0 certifies a first-order minimum whatever
the rank, and is necessary for one when the rank is full (a kink with c_k < 0 is always
releasable: turning its unit on lowers L). ``dlbridge kinks FILE`` prints both for every ReLU
net of a network file.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import lsq_linear

from packing.errors import require
from packing.io import iter_states, read_h5

from .diagnostics import KINK_RTOL, kink_masks
from .hessian import HessianProblem, problem_from_arrays
from .losses import HingeLoss
from .models import NetSpec, get_activation, hidden_forward
from .reload import load_net

ROUNDOFF_SLOPES = 64 * float(np.finfo(np.float64).eps)
"""Slopes and violations below this × 1/α² are round-off of a loss whose margins are O(1) (a
fitted net, whose last Δ > 0 are ~1e-17, has slopes of that size): not counted as releasable."""

CERTIFICATE_ELEMENTS = 2**25
"""Largest m·P·Σn_ℓ (kinks × data × hidden units) certified: the Jacobian of the m kink
pre-activations is taken by m vectorised backward passes through the whole batch."""


def certifiable(spec: NetSpec, n_data: int, n_kinks: int, hinge: HingeLoss) -> bool:
    """Whether :func:`kink_stationarity` applies and fits: a ReLU net, a loss with curvature,
    at most as many kinks as parameters (else their gradients cannot be independent) and
    m·P·Σn_ℓ ≤ :data:`CERTIFICATE_ELEMENTS`."""
    return (get_activation(spec.activation).homogeneous and hinge.name != "hinge"
            and n_kinks <= spec.n_params
            and n_kinks * n_data * sum(spec.widths) <= CERTIFICATE_ELEMENTS)


@dataclass(frozen=True)
class KinkStationarity:
    """First-order state of one ReLU net on its kink set (module docstring).

    ``kinks`` (m, 3) int: layer ℓ (0-based), datum μ, unit i of each kink; ``grad_off`` (N,): ∇L₀;
    ``jacobian`` (m, N): the rows ∇a_k; ``slopes`` (m,): c_k; ``multipliers`` (m,): λ, the
    minimum-norm least-squares solution of ∇L₀ + Jᵀλ = 0 (SVD); ``residual``: ‖∇L₀ + Jᵀλ‖_∞;
    ``rank``: rank of J; ``bounded_multipliers`` (m,): the least-squares λ within 0 ≤ λ_k ≤
    max(c_k, 0); ``bounded_residual``: its ‖∇L₀ + Jᵀλ‖_∞, the certificate (module docstring);
    ``floor``: :data:`ROUNDOFF_SLOPES`/α², below which a violation is round-off.
    """

    kinks: np.ndarray
    grad_off: np.ndarray
    jacobian: np.ndarray
    slopes: np.ndarray
    multipliers: np.ndarray
    residual: float
    rank: int
    bounded_multipliers: np.ndarray
    bounded_residual: float
    floor: float

    @property
    def violations(self) -> np.ndarray:
        """(m,) max(λ_k − c_k, −λ_k): > 0 where releasing kink k lowers the loss."""
        return np.maximum(self.multipliers - self.slopes, -self.multipliers)

    @property
    def release_rates(self) -> np.ndarray:
        """(m,) v_k ‖∇a_k‖₂: the largest rate per unit step length at which releasing kink k
        lowers L (the violation v_k per unit change of a_k, which a step of length
        ≥ 1/‖∇a_k‖₂ makes)."""
        return self.violations * np.linalg.norm(self.jacobian, axis=1)

    @property
    def residual_rate(self) -> float:
        """‖∇L₀ + Jᵀλ‖₂: the rate per unit step length along the gradient left unbalanced by the
        least-squares multipliers, which the violations, computed from it, cannot resolve."""
        return float(np.linalg.norm(self.grad_off + self.jacobian.T @ self.multipliers))

    def n_releasable(self, rtol: float = 1e-6) -> int:
        """Kinks whose violation exceeds ``rtol`` × max_k |c_k| and the round-off ``floor``, and
        whose :attr:`release_rates` exceeds the :attr:`residual_rate` (else the sign of λ_k − c_k
        or λ_k is set by the unbalanced gradient, not by the kink: not a resolved release)."""
        require(0 < rtol < 1, "rtol", "a number in (0, 1)", rtol)
        if not len(self.slopes):
            return 0
        resolved = self.violations > max(rtol * np.abs(self.slopes).max(), self.floor)
        return int((resolved & (self.release_rates > self.residual_rate)).sum())

    def directional_derivative(self, d: np.ndarray) -> float:
        """The one-sided derivative lim_{ε→0⁺} [L(w + εd) − L(w)]/ε along ``d`` (N,)."""
        d = np.asarray(d, dtype=np.float64)
        require(d.shape == self.grad_off.shape, "d", f"a vector of length {len(self.grad_off)}",
                d.shape)
        return float(self.grad_off @ d + self.slopes @ np.maximum(self.jacobian @ d, 0.0))


def _loss_with_kinks_off(prob: HessianProblem, theta: torch.Tensor, keep: list[torch.Tensor],
                         probes: list[torch.Tensor] | None = None
                         ) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """L₀(theta) with z^ℓ = σ(a^ℓ)·keep^ℓ (+ probe^ℓ), and the pre-activations a^ℓ (P, n_ℓ)."""
    pre, _, f = hidden_forward(prob.spec, theta, prob.x, gates=keep, shifts=probes)
    return prob.loss_of_outputs(f), pre


def kink_stationarity(prob: HessianProblem, rtol: float = KINK_RTOL) -> KinkStationarity:
    """The :class:`KinkStationarity` of the ReLU net ``prob`` (float64) at ``prob.theta``, its
    kinks being the pre-activations with |a| ≤ ``rtol`` × their layer's median |a|."""
    require(get_activation(prob.spec.activation).homogeneous, "activation",
            "relu (kinks exist for ReLU nets only)", prob.spec.activation)
    require(prob.hinge.name != "hinge", "loss",
            "quadratic or softhinge (the plain hinge has kinks of its own at Δ = 0)", prob.hinge.name)
    theta = prob.theta.detach().to(torch.float64)
    masks = kink_masks(prob.spec, theta, prob.x, rtol)
    keep = [(~m).to(theta.dtype) for m in masks]
    where = [m.nonzero() for m in masks]

    def on_kinks(t: torch.Tensor) -> torch.Tensor:
        pre = _loss_with_kinks_off(prob, t, keep)[1]
        return torch.cat([a[w[:, 0], w[:, 1]] for a, w in zip(pre, where)])

    probes = [torch.zeros_like(k, requires_grad=True) for k in keep]
    th = theta.clone().requires_grad_(True)
    with torch.enable_grad():
        loss = _loss_with_kinks_off(prob, th, keep, probes)[0]
        grads = torch.autograd.grad(loss, [th, *probes])
    grad_off = grads[0]
    slope_on = float(get_activation(prob.spec.activation).d1(torch.ones((), dtype=theta.dtype)))
    slopes = slope_on * torch.cat([gz[w[:, 0], w[:, 1]] for gz, w in zip(grads[1:], where)])
    jac = torch.func.jacrev(on_kinks)(theta) if len(slopes) else theta.new_zeros((0, len(theta)))
    kinks = np.array([(ell, int(m_), int(i)) for ell, w in enumerate(where) for m_, i in w.tolist()],
                     dtype=np.int64).reshape(-1, 3)
    g, jt, c = (v.detach().cpu().numpy() for v in (grad_off, jac.T, slopes))
    lam, bounded = _multipliers(g, jt, c)
    return KinkStationarity(kinks, g, jt.T.copy(), c, lam, float(np.abs(g + jt @ lam).max()),
                            int(np.linalg.matrix_rank(jt)) if len(c) else 0, bounded,
                            float(np.abs(g + jt @ bounded).max()), ROUNDOFF_SLOPES / prob.spec.alpha**2)


def _multipliers(g: np.ndarray, jt: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-norm least-squares λ of g + Jᵀλ = 0 and the least-squares λ in 0 ≤ λ ≤ max(c, 0)
    (bounded-variable least squares; a zero-width box is widened by 1e-12 max|c| for the solver)."""
    if not len(c):
        return np.zeros(0), np.zeros(0)
    lam = np.linalg.lstsq(jt, -g, rcond=None)[0]
    upper = np.maximum(c, 0.0) + 1e-12 * max(float(np.abs(c).max()), 1e-300)
    bounded = lsq_linear(jt, -g, bounds=(np.zeros_like(c), upper), method="bvls").x
    return lam, np.clip(bounded, 0.0, np.maximum(c, 0.0))

ROW_FIELDS = ("group", "stop_reason", "n_params", "n_unsatisfied", "n_kinks", "rank",
              "residual", "bounded_residual", "n_releasable", "max_violation")


def certify_file(path: str) -> list[dict]:
    """One row (:data:`ROW_FIELDS`) per ReLU net of the network file ``path``, each net rebuilt
    by :func:`.reload.load_net` and certified by :func:`kink_stationarity`; nets that are not
    :func:`certifiable` get NaN from ``rank`` on."""
    with read_h5(path) as f:
        groups = [(g.name, str(g.attrs.get("stop_reason", "")), str(g.attrs.get("loss", "quadratic")))
                  for g in iter_states(f)
                  if g.attrs.get("side") == "network" and g.attrs.get("activation") == "relu"]
    require(bool(groups), "FILE", "a network file holding ReLU nets", path)
    rows = []
    for name, reason, loss in groups:
        net = load_net(path, name)
        data = net.data()
        prob = problem_from_arrays(net.spec, net.theta, net.theta0, data.x_train, data.y_train,
                                   HingeLoss(loss))
        n_kinks = int(sum(int(m.sum()) for m in kink_masks(net.spec, prob.theta, prob.x)))
        row = dict(group=name, stop_reason=reason, n_params=net.spec.n_params,
                   n_unsatisfied=int((prob.gaps() > 0).sum()), n_kinks=n_kinks,
                   rank=math.nan, residual=math.nan, bounded_residual=math.nan,
                   n_releasable=math.nan, max_violation=math.nan)
        if certifiable(net.spec, len(data.x_train), n_kinks, prob.hinge):
            cert = kink_stationarity(prob)
            row.update(rank=cert.rank, residual=cert.residual,
                       bounded_residual=cert.bounded_residual, n_releasable=cert.n_releasable(),
                       max_violation=float(cert.violations.max()) if n_kinks else math.nan)
        rows.append(row)
    return rows


def _format(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def add_kinks_parser(subparsers):
    """The ``kinks`` subcommand: the kink certificate of every ReLU net of a network file."""
    p = subparsers.add_parser(
        "kinks", help="whether each ReLU net of a network file is a minimum on its kinks",
        description="For every ReLU net of FILE: its pre-activations on the kink, the "
                    "stationarity residual on the kink set and the kinks whose release lowers "
                    "the loss (dlbridge.nets.kinkmin); a markdown table on stdout.")
    p.add_argument("file", metavar="FILE", help="a network file (dlbridge train, sweep or validate)")
    p.set_defaults(func=_run_kinks)
    return p


def _run_kinks(args, argv=None) -> int:
    rows = certify_file(args.file)
    print("| " + " | ".join(ROW_FIELDS) + " |")
    print("|" + "---|" * len(ROW_FIELDS))
    for row in rows:
        print("| " + " | ".join(_format(row[k]) for k in ROW_FIELDS) + " |")
    return 0
