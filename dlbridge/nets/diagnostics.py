"""Two properties of a trained ReLU net that a smooth net does not have: data that reach the
output through no active unit ("dead inputs"), and pre-activations left on the kink of the ReLU.

For σ = ReLU, if every unit of some hidden layer ℓ is inactive (a^ℓ_i ≤ 0 for all i) on an input
x, then z^ℓ(x) = 0, every later layer sees only its biases, and f(w, x) = c no longer depends on
x; the gradient of f(w, x) with respect to every parameter of layers 1 … ℓ vanishes there. The
net output F = α[f − f₀] then differs between dead inputs only by the frozen −α f₀(x_μ), so a dead
μ with y_μ = +1 and a dead ν with y_ν = −1 can both be satisfied only if α[f₀(x_ν) − f₀(x_μ)] ≥ 2
— at α = 1, where f₀ = O(1/√h), practically never. Dead inputs get no gradient through layers
1 … ℓ and revive only as a side effect of the other data's updates; a minimum that keeps dead
inputs of both labels has N_Δ > 0 (benchmarks/NSTAR.md, finding 4).

At initialisation with zero biases and Gaussian weights, the pre-activations of a layer on an input
with z^{ℓ−1} ≠ 0 are iid centred Gaussians, so a layer of n units is entirely inactive with
probability 2^{−n} and an input is dead with probability

    p_dead = 1 − Π_ℓ (1 − 2^{−n_ℓ})  ≈  L·2^{−h},                       (exact for Gaussian init)

large for narrow deep nets (h = 4, L = 5: 0.28) and negligible at the widths of the paper's runs
(h = 40, L = 5: 5·10⁻¹²). :func:`dead_fraction_at_init` is that formula.

Kinks. The loss of a ReLU net is smooth except on the surfaces a^ℓ_μi(w) = 0, across which
∂f(x_μ)/∂a^ℓ_i jumps from 0 to a finite value. A descent can end *on* such a surface: moving
a^ℓ_μi below 0 stops lowering datum μ's Δ while the shared weights keep raising the other data's,
so the loss has a V-shaped minimum there, its one-sided gradient stays finite, and the point is
no stationary point of either smooth branch — a Newton step cannot reach it, and Adam oscillates
across it at the amplitude of its rate. Each pre-activation held at 0 is one more equation the
parameters satisfy, beside the N_Δ of the unsatisfied data. :func:`kink_preactivations` counts
the pre-activations with |a^ℓ_μi| ≤ ``rtol``·median_μi |a^ℓ_μi| of their layer: for a density
of |a| that is smooth at 0, of order (P Σ_ℓ n_ℓ)·rtol of them, i.e. none at the default 10⁻⁵ and
P Σ n_ℓ ≲ 10⁴. (After a layer entirely off, a^ℓ = b^ℓ for every dead input: with zero biases, as
at initialisation, those count too.)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from packing.errors import require

from .models import NetSpec, get_activation, hidden_forward


@dataclass(frozen=True)
class DeadInputs:
    """Which inputs and units of one net carry no signal (ReLU only).

    ``first_dead_layer``: (P,) int, index ℓ (0-based) of the first hidden layer entirely inactive
    on x_μ, −1 where every layer has an active unit; ``dead``: (P,) bool, first_dead_layer ≥ 0;
    ``dead_units``: number of hidden units inactive on every input.
    """

    first_dead_layer: np.ndarray
    dead_units: int

    @property
    def dead(self) -> np.ndarray:
        """(P,) bool: the inputs the output does not depend on."""
        return self.first_dead_layer >= 0

    @property
    def n_dead(self) -> int:
        """Number of dead inputs."""
        return int(self.dead.sum())


def _relu_preactivations(spec: NetSpec, theta, x, what: str) -> list[torch.Tensor]:
    """a^ℓ (P, n_ℓ) of every hidden layer of the ReLU net ``spec`` with flat parameters ``theta``
    (N,) on inputs ``x`` (P, d), after checking the activation (``what`` names the quantity
    asked for in the error) and the shapes."""
    require(get_activation(spec.activation).homogeneous, "activation",
            f"relu ({what} are defined for ReLU nets only)", spec.activation)
    theta = torch.as_tensor(theta, dtype=torch.float64)
    x = torch.as_tensor(x, dtype=torch.float64)
    require(theta.shape == (spec.n_params,), "theta", f"a vector of length {spec.n_params}",
            tuple(theta.shape))
    require(x.ndim == 2 and x.shape[1] == spec.d_in, "x", f"an array (P, {spec.d_in})",
            tuple(x.shape))
    with torch.no_grad():
        return hidden_forward(spec, theta, x)[0]


def dead_inputs(spec: NetSpec, theta: torch.Tensor | np.ndarray,
                x: torch.Tensor | np.ndarray) -> DeadInputs:
    """Dead inputs and dead units of the ReLU net ``spec`` with flat parameters ``theta`` (N,) on
    inputs ``x`` (P, d)."""
    pre = _relu_preactivations(spec, theta, x, "dead inputs")
    active = [(a > 0) for a in pre]                                   # L × (P, n_ℓ)
    layer_off = torch.stack([~act.any(dim=1) for act in active], dim=1)   # (P, L)
    first = torch.where(layer_off.any(dim=1), layer_off.to(torch.int8).argmax(dim=1),
                        torch.full((layer_off.shape[0],), -1, dtype=torch.int64))
    dead_units = int(sum((~act.any(dim=0)).sum().item() for act in active))
    return DeadInputs(first.numpy().astype(np.int64), dead_units)


KINK_RTOL = 1e-5


def kink_preactivations(spec: NetSpec, theta: torch.Tensor | np.ndarray,
                        x: torch.Tensor | np.ndarray, rtol: float = KINK_RTOL) -> int:
    """Number of pre-activations a^ℓ_μi of the ReLU net ``spec`` (flat parameters ``theta`` (N,),
    inputs ``x`` (P, d)) with |a^ℓ_μi| ≤ ``rtol`` × the median |a^ℓ| of layer ℓ: the data and
    units held on the ReLU's kink (module docstring)."""
    return int(sum(k.sum().item() for k in kink_masks(spec, theta, x, rtol)))


def kink_masks(spec: NetSpec, theta: torch.Tensor | np.ndarray, x: torch.Tensor | np.ndarray,
               rtol: float = KINK_RTOL) -> list[torch.Tensor]:
    """Per hidden layer ℓ, the (P, n_ℓ) bool mask of the pre-activations that
    :func:`kink_preactivations` counts."""
    require(0 < rtol < 1, "rtol", "a number in (0, 1)", rtol)
    pre = _relu_preactivations(spec, theta, x, "kinks")
    return [a.abs() <= rtol * a.abs().median() for a in pre]


def dead_fraction_at_init(widths: tuple[int, ...]) -> float:
    """1 − Π_ℓ (1 − 2^{−n_ℓ}): probability that an input is dead at a zero-bias Gaussian init."""
    require(len(widths) >= 1 and all(int(n) >= 1 for n in widths), "widths",
            "a non-empty tuple of integers >= 1", widths)
    return float(1.0 - np.prod([1.0 - 2.0 ** (-int(n)) for n in widths]))
