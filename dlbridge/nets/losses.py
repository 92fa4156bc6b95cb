"""Hinge-type losses ℓ(Δ) of the gap Δ_μ = 1 − y_μ F(x_μ), with their first two derivatives.

The training loss of a net (Geiger et al., PRE 100, 012115, 2019, eq. (2); with the 1/α² of
Geiger, Spigler, Jacot, Wyart 2020, eq. (3)) is

    L(w) = 1/(α² P) Σ_μ ℓ(Δ_μ),

* ``quadratic`` (default): ℓ = ½ Δ² θ(Δ)  — the packing energy (`packing.analysis`);
* ``hinge``: ℓ = Δ θ(Δ);
* ``softhinge``: ℓ = softplus(βΔ)/β, a smooth hinge (β = 20 in the paper's code).

N_Δ = #{μ : Δ_μ > 0} in all three cases.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from packing.errors import require

LOSSES = ("quadratic", "hinge", "softhinge")


@dataclass(frozen=True)
class HingeLoss:
    """ℓ(Δ), ℓ'(Δ), ℓ''(Δ) elementwise on tensors of gaps; ``beta`` is used by softhinge only."""

    name: str = "quadratic"
    beta: float = 20.0

    def __post_init__(self) -> None:
        require(self.name in LOSSES, "loss", f"one of {', '.join(LOSSES)}", self.name)
        require(math.isfinite(self.beta) and self.beta > 0, "beta", "a finite number > 0",
                self.beta)

    def value(self, delta: torch.Tensor) -> torch.Tensor:
        """ℓ(Δ), same shape as ``delta``."""
        if self.name == "quadratic":
            return 0.5 * torch.relu(delta) ** 2
        if self.name == "hinge":
            return torch.relu(delta)
        return torch.logaddexp(self.beta * delta, torch.zeros_like(delta)) / self.beta

    def d1(self, delta: torch.Tensor) -> torch.Tensor:
        """ℓ'(Δ)."""
        if self.name == "quadratic":
            return torch.relu(delta)
        if self.name == "hinge":
            return (delta > 0).to(delta.dtype)
        return torch.sigmoid(self.beta * delta)

    def d2(self, delta: torch.Tensor) -> torch.Tensor:
        """ℓ''(Δ) (0 at the hinge's kink, which has measure zero)."""
        if self.name == "quadratic":
            return (delta > 0).to(delta.dtype)
        if self.name == "hinge":
            return torch.zeros_like(delta)
        s = torch.sigmoid(self.beta * delta)
        return self.beta * s * (1.0 - s)
