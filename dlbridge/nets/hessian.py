"""Exact Hessian of the training loss of one net, split as H = H0 + Hp, and its spectrum.

With L = 1/(α² P) Σ_μ ℓ(Δ_μ), Δ_μ = 1 − y_μ α [f(w, x_μ) − f(w₀, x_μ)] (Geiger et al., PRE 100,
012115, 2019, section VI):

    H0 = 1/(α² P) Σ_μ ℓ''(Δ_μ) ∇Δ_μ ∇Δ_μᵀ = 1/P Σ_μ ℓ''(Δ_μ) ∇f_μ ∇f_μᵀ              (stiffness)
    Hp = 1/(α² P) Σ_μ ℓ'(Δ_μ) ∇²Δ_μ     = −1/(α P) Σ_μ ℓ'(Δ_μ) y_μ ∇²f_μ                (stress)

For the quadratic hinge ℓ'' = θ(Δ), ℓ' = Δθ(Δ): only unsatisfied data (Δ > 0) contribute.

H0 is built from the per-datum Jacobian of the net. Hp is built exactly from the structure of
the fully-connected net instead of N Hessian-vector products: every second derivative of f comes
either from the bilinear products W^ℓ z^{ℓ−1} (a^ℓ_i = Σ_j W^ℓ_ij z^{ℓ−1}_j/√n_{ℓ−1} + b^ℓ_i) or
from σ''. With δ^ℓ = ∂f/∂a^ℓ and c_μ = −ℓ'(Δ_μ) y_μ/(α P),

    Σ_μ c_μ ∇²f_μ = Σ_ℓ≥2 [B_ℓ + B_ℓᵀ] + Σ_ℓ Σ_μ,i c_μ (∂f_μ/∂z^ℓ_i) σ''(a^ℓ_μi) ∇a^ℓ_μi ∇a^ℓ_μiᵀ,
    B_ℓ[(W^ℓ_ij), :] = 1/√n_{ℓ−1} Σ_μ c_μ δ^ℓ_μi ∇z^{ℓ−1}_μj      (rows of W^ℓ, columns of layers < ℓ)

(the output layer is ℓ = L+1 with δ = 1 and 1/n_L instead of 1/√n_L). σ'' = 0 for ReLU. The
Jacobians ∇a^ℓ_μ are propagated forward layer by layer, over data in memory-bounded chunks.

Mode counting, ranks and spectra are not computed here: :func:`constraint_problem` is the net's
adapter to the shared analysis (gaps, the Jacobian of the unsatisfied gaps with JᵀJ = H0, and Hp,
the same form `packing.hessian.constraint_problem` gives a packing), and :func:`analyze` hands it
to `packing.analysis.analyze`, the same code that measures packings.

For N too large for dense matrices, :func:`extreme_eigenvalues` runs
``scipy.sparse.linalg.eigsh`` on a LinearOperator of exact Hessian-vector products.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator, eigsh

from packing.analysis import ConstraintAnalysis, ConstraintProblem, HessianSplit
from packing.analysis import analyze as analyze_problem
from packing.errors import require

from .losses import HingeLoss
from .models import NetSpec, get_activation, hidden_forward, net_forward

_CHUNK_BYTES = 2**28


@dataclass(frozen=True)
class HessianProblem:
    """One net at parameters ``theta`` (N,) on data ``x`` (P, d), ``y`` (P,), with f(w₀, x) = ``f0``."""

    spec: NetSpec
    theta: torch.Tensor
    x: torch.Tensor
    y: torch.Tensor
    f0: torch.Tensor
    hinge: HingeLoss = HingeLoss()

    def __post_init__(self) -> None:
        n, p = self.spec.n_params, len(self.x)
        require(self.theta.shape == (n,), "theta", f"a vector of length N = {n}",
                tuple(self.theta.shape))
        require(self.x.ndim == 2 and self.x.shape[1] == self.spec.d_in, "x",
                f"a (P, {self.spec.d_in}) array", tuple(self.x.shape))
        require(p >= 1 and self.y.shape == (p,) and self.f0.shape == (p,), "y, f0",
                f"vectors of length P = {p}", (tuple(self.y.shape), tuple(self.f0.shape)))

    def gaps(self, theta: torch.Tensor | None = None) -> torch.Tensor:
        """Δ_μ = 1 − y_μ α [f(w, x_μ) − f0_μ], shape (P,)."""
        th = self.theta if theta is None else theta
        return self.gaps_of_outputs(net_forward(self.spec, th, self.x))

    def gaps_of_outputs(self, f: torch.Tensor) -> torch.Tensor:
        """Δ_μ of the raw outputs ``f`` (P,) of this net or of a variant of it (`.kinkmin`)."""
        return 1.0 - self.y * self.spec.alpha * (f - self.f0)

    def loss_of_outputs(self, f: torch.Tensor) -> torch.Tensor:
        """L = 1/(α² P) Σ ℓ(Δ_μ) of the raw outputs ``f`` (P,) (scalar)."""
        return self.hinge.value(self.gaps_of_outputs(f)).mean() / self.spec.alpha**2

    def loss(self, theta: torch.Tensor) -> torch.Tensor:
        """L(w) = 1/(α² P) Σ ℓ(Δ_μ) (scalar)."""
        return self.loss_of_outputs(net_forward(self.spec, theta, self.x))


def problem_from_arrays(spec: NetSpec, theta, theta0, x, y, hinge: HingeLoss = HingeLoss(),
                        device: str | torch.device = "cpu") -> HessianProblem:
    """:class:`HessianProblem` in float64 from numpy/tensor parameters, initial parameters and data."""
    conv = dict(dtype=torch.float64, device=device)
    th, th0 = torch.as_tensor(theta, **conv), torch.as_tensor(theta0, **conv)
    xt = torch.as_tensor(x, **conv)
    with torch.no_grad():
        f0 = net_forward(spec, th0, xt)
    return HessianProblem(spec, th, xt, torch.as_tensor(y, **conv), f0, hinge)


def _active(prob: HessianProblem) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of data with ℓ' ≠ 0 or ℓ'' ≠ 0, and their gaps."""
    with torch.no_grad():
        d = prob.gaps()
    h = prob.hinge
    idx = torch.nonzero((h.d1(d) != 0) | (h.d2(d) != 0)).flatten()
    return idx, d[idx]


def _preactivation_jacobians(spec: NetSpec, theta: torch.Tensor, x: torch.Tensor):
    """Per datum: a^ℓ (C, n_ℓ), ∇a^ℓ (C, n_ℓ, N) for ℓ = 1 … L, and ∇f (C, N).

    Forward propagation of the Jacobians (exact chain rule):
    ∇a^ℓ = s_ℓ W^ℓ ∇z^{ℓ−1} on the parameters of earlier layers, ∂a^ℓ_k/∂W^ℓ_kj = s_ℓ z^{ℓ−1}_j,
    ∂a^ℓ_k/∂b^ℓ_k = 1, with ∇z = σ'(a) ∇a and s_ℓ = 1/√n_{ℓ−1} (1/n_L for the output).
    """
    with torch.no_grad():
        pre, post, _ = hidden_forward(spec, theta, x)
    d1 = get_activation(spec.activation).d1
    n_par, c = spec.n_params, len(x)
    z, jz, ja = x, None, []
    for ell, ((o, i), (ws, bs)) in enumerate(zip(spec.shapes, spec.slices())):
        scale = 1.0 / spec.widths[-1] if ell == spec.depth else 1.0 / math.sqrt(i)
        jac = torch.zeros(c, o, n_par, dtype=theta.dtype, device=theta.device)
        if jz is not None:
            w = theta[ws].reshape(o, i)
            jac[:, :, :ws.start] = scale * torch.einsum("oi,cin->con", w, jz[:, :, :ws.start])
        own = jac[:, :, ws].unflatten(2, (o, i))                       # (C, o, o, i) view
        torch.diagonal(own, 0, 1, 2).copy_(scale * z[:, :, None].expand(c, i, o))
        if bs is not None:
            torch.diagonal(jac[:, :, bs], 0, 1, 2).fill_(1.0)
        if ell == spec.depth:
            return pre, ja, jac[:, 0, :]
        ja.append(jac)
        jz = d1(pre[ell])[:, :, None] * jac
        z = post[ell]
    raise AssertionError("unreachable: the output layer returns")


def _backprop(spec: NetSpec, theta: torch.Tensor, pre: list[torch.Tensor]):
    """δ^ℓ = ∂f/∂a^ℓ and ∂f/∂z^ℓ, each (C, n_ℓ), for ℓ = 1 … L (explicit chain rule)."""
    act = get_activation(spec.activation)
    sl, shapes = spec.slices(), spec.shapes
    dz = theta[sl[-1][0]].expand(len(pre[-1]), -1) / spec.widths[-1]
    deltas, dzs = [None] * spec.depth, [None] * spec.depth
    for ell in range(spec.depth - 1, -1, -1):
        dzs[ell] = dz
        deltas[ell] = act.d1(pre[ell]) * dz
        if ell > 0:
            o, i = shapes[ell]
            dz = deltas[ell] @ theta[sl[ell][0]].reshape(o, i) / math.sqrt(i)
    return deltas, dzs


def _add_bilinear(hp: torch.Tensor, spec: NetSpec, c: torch.Tensor, deltas, jz) -> None:
    """Add Σ_ℓ≥2 (B_ℓ + B_ℓᵀ) of the module docstring to ``hp`` in place."""
    sl, shapes = spec.slices(), spec.shapes
    for ell in range(1, spec.depth + 1):
        o, i = shapes[ell]
        ws = sl[ell][0]
        n_prev = ws.start                       # parameters of layers < ℓ come first
        jprev = jz[ell - 1][:, :, :n_prev]      # (C, i, N_<ℓ)
        if ell == spec.depth:
            weight = c[:, None].expand(-1, o) / spec.widths[-1]
        else:
            weight = c[:, None] * deltas[ell] / math.sqrt(i)
        block = torch.einsum("mo,min->oin", weight, jprev).reshape(o * i, n_prev)
        hp[ws, :n_prev] += block
        hp[:n_prev, ws] += block.T


def _add_curvature(hp: torch.Tensor, spec: NetSpec, c: torch.Tensor, pre, dzs, ja) -> None:
    """Add the σ'' terms Σ c_μ (∂f/∂z) σ''(a) ∇a ∇aᵀ (nothing for ReLU)."""
    d2 = get_activation(spec.activation).d2
    if d2 is None:
        return
    for ell in range(spec.depth):
        w = (c[:, None] * dzs[ell] * d2(pre[ell])).reshape(-1)
        j = ja[ell].reshape(-1, ja[ell].shape[-1])
        hp += (j * w[:, None]).T @ j


def _chunk_size(spec: NetSpec) -> int:
    per_datum = 8 * spec.n_params * (2 * spec.n_hidden + 1)
    return max(1, _CHUNK_BYTES // per_datum)


def hessian_split(prob: HessianProblem) -> HessianSplit:
    """Exact H = H0 + Hp of the loss at ``prob.theta`` (module docstring), as a
    `packing.analysis.HessianSplit` of (N, N) float64 tensors (stiffness H0, stress Hp)."""
    spec, theta = prob.spec, prob.theta.detach()
    n, p, alpha = spec.n_params, len(prob.x), spec.alpha
    h0 = torch.zeros(n, n, dtype=theta.dtype, device=theta.device)
    hp = torch.zeros_like(h0)
    idx, d = _active(prob)
    step = _chunk_size(spec)
    for start in range(0, len(idx), step):
        sel, dd = idx[start:start + step], d[start:start + step]
        pre, ja, jf = _preactivation_jacobians(spec, theta, prob.x[sel])
        h0 += (jf * (prob.hinge.d2(dd) / p)[:, None]).T @ jf
        c = -prob.hinge.d1(dd) * prob.y[sel] / (alpha * p)
        deltas, dzs = _backprop(spec, theta, pre)
        d1 = get_activation(spec.activation).d1
        jz = [d1(a)[:, :, None] * j for a, j in zip(pre, ja)]
        _add_bilinear(hp, spec, c, deltas, jz)
        _add_curvature(hp, spec, c, pre, dzs, ja)
    return HessianSplit(total=h0 + hp, stiffness=h0, stress=hp)


def gap_jacobian(prob: HessianProblem) -> np.ndarray:
    """(N_Δ, N) float64 rows ∂Δ_μ/∂w / (α√P) of the unsatisfied data (Δ_μ > 0), in data order.

    The scaling makes JᵀJ = H0 for the quadratic hinge, i.e. the loss takes the packing form
    L = Σ_μ ½ Δ̃_μ² θ(Δ̃_μ) of :mod:`packing.analysis` with Δ̃ = Δ/(α√P):
    ∂Δ_μ/∂w = −α y_μ ∇f_μ, so row μ is −y_μ ∇f_μ/√P.
    """
    theta = prob.theta.detach()
    with torch.no_grad():
        sel = torch.nonzero(prob.gaps() > 0).flatten()
    n, p = prob.spec.n_params, len(prob.x)
    rows = [np.empty((0, n))]
    for start in range(0, len(sel), _chunk_size(prob.spec)):
        chunk = sel[start:start + _chunk_size(prob.spec)]
        _, _, jf = _preactivation_jacobians(prob.spec, theta, prob.x[chunk])
        rows.append((-prob.y[chunk, None] * jf / math.sqrt(p)).cpu().numpy())
    return np.concatenate(rows)


def constraint_problem(prob: HessianProblem) -> ConstraintProblem:
    """The net in the shared analysis' form (`packing.analysis.ConstraintProblem`): gaps Δ_μ (P,),
    the Jacobian of the unsatisfied gaps (:func:`gap_jacobian`, so that JᵀJ = H0) and the stress
    part Hp of :func:`hessian_split`; N_dof = N (all weights and biases; n_trivial = 0 and
    isostatic_offset = 0, as in Geiger et al. 2019, where N_Δ = N marks isostaticity). Only the
    quadratic hinge has this form."""
    require(prob.hinge.name == "quadratic", "loss",
            "quadratic (the constraint form ½Δ²θ(Δ) of the analysis)", prob.hinge.name)
    hp = hessian_split(prob).stress
    with torch.no_grad():
        gaps = prob.gaps().cpu().numpy()
    return ConstraintProblem(gaps=gaps, jacobian=gap_jacobian(prob), stress=hp.cpu().numpy(),
                             n_trivial=0, isostatic_offset=0)


def analyze(prob: HessianProblem, **options) -> ConstraintAnalysis:
    """The shared constraint analysis (`packing.analysis.analyze`) of one net's
    :func:`constraint_problem`; ``options`` are passed on (``k``, ``method``, ``fit_exponents``,
    ``n_bootstrap``, ...)."""
    return analyze_problem(constraint_problem(prob), **options)


def hvp_operator(prob: HessianProblem) -> LinearOperator:
    """(N, N) LinearOperator v ↦ H v with exact Hessian-vector products (forward over reverse)."""
    theta = prob.theta.detach()
    grad = torch.func.grad(prob.loss)

    def matvec(v: np.ndarray) -> np.ndarray:
        t = torch.as_tensor(np.asarray(v, dtype=np.float64).reshape(-1), device=theta.device)
        return torch.func.jvp(grad, (theta,), (t,))[1].cpu().numpy()

    n = prob.spec.n_params
    return LinearOperator((n, n), matvec=matvec, rmatvec=matvec, dtype=np.float64)


def extreme_eigenvalues(prob: HessianProblem, k: int = 6, which: str = "both",
                        tol: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` smallest and ``k`` largest eigenvalues of H (ascending) by Lanczos (eigsh).

    ``which``: "both", "smallest" or "largest" (an empty array for the side not asked for).
    """
    n = prob.spec.n_params
    require(isinstance(k, (int, np.integer)) and 1 <= k < n, "k", f"an integer in [1, {n - 1}]", k)
    require(which in ("both", "smallest", "largest"), "which", "both, smallest or largest", which)
    op = hvp_operator(prob)
    v0 = np.random.default_rng(0).standard_normal(n)
    lo = np.sort(eigsh(op, k=k, which="SA", tol=tol, v0=v0, return_eigenvectors=False)) \
        if which != "largest" else np.empty(0)
    hi = np.sort(eigsh(op, k=k, which="LA", tol=tol, v0=v0, return_eigenvectors=False)) \
        if which != "smallest" else np.empty(0)
    return lo, hi
