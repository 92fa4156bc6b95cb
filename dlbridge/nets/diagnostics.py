"""Why a ReLU net cannot fit: data that reach the output through no active unit ("dead inputs").

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


def dead_inputs(spec: NetSpec, theta: torch.Tensor | np.ndarray,
                x: torch.Tensor | np.ndarray) -> DeadInputs:
    """Dead inputs and dead units of the ReLU net ``spec`` with flat parameters ``theta`` (N,) on
    inputs ``x`` (P, d)."""
    require(get_activation(spec.activation).homogeneous, "activation",
            "relu (dead inputs are defined for ReLU nets only)", spec.activation)
    theta = torch.as_tensor(theta, dtype=torch.float64)
    x = torch.as_tensor(x, dtype=torch.float64)
    require(theta.shape == (spec.n_params,), "theta", f"a vector of length {spec.n_params}",
            tuple(theta.shape))
    require(x.ndim == 2 and x.shape[1] == spec.d_in, "x", f"an array (P, {spec.d_in})",
            tuple(x.shape))
    with torch.no_grad():
        pre, _, _ = hidden_forward(spec, theta, x)
    active = [(a > 0) for a in pre]                                   # L × (P, n_ℓ)
    layer_off = torch.stack([~act.any(dim=1) for act in active], dim=1)   # (P, L)
    first = torch.where(layer_off.any(dim=1), layer_off.to(torch.int8).argmax(dim=1),
                        torch.full((x.shape[0],), -1, dtype=torch.int64))
    dead_units = int(sum((~act.any(dim=0)).sum().item() for act in active))
    return DeadInputs(first.numpy().astype(np.int64), dead_units)


def dead_fraction_at_init(widths: tuple[int, ...]) -> float:
    """1 − Π_ℓ (1 − 2^{−n_ℓ}): probability that an input is dead at a zero-bias Gaussian init."""
    require(len(widths) >= 1 and all(int(n) >= 1 for n in widths), "widths",
            "a non-empty tuple of integers >= 1", widths)
    return float(1.0 - np.prod([1.0 - 2.0 ** (-int(n)) for n in widths]))
