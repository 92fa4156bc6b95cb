"""The empirical neural tangent kernel Θ(x, x') = ∇_w f(x)·∇_w f(x') of every net of an ensemble.

Θ is computed layer by layer without forming the Jacobian (Jacot, Gabriel, Hongler, NeurIPS 2018;
the order parameter of lazy against feature training, Geiger, Spigler, Jacot, Wyart, J. Stat.
Mech. 2020, 113301). For the net of :mod:`.models`, a^ℓ = s_ℓ W^ℓ z^{ℓ−1} + b^ℓ with
s_ℓ = 1/√n_{ℓ−1} (ℓ ≤ L) and f = s_{L+1} W^{L+1} z^L + b^{L+1} with s_{L+1} = 1/n_L; the
back-propagated δ^ℓ = ∂f/∂a^ℓ obey δ^{L+1} = 1 and δ^ℓ = σ'(a^ℓ) ∘ s_{ℓ+1} W^{ℓ+1ᵀ} δ^{ℓ+1}.
Since ∂f/∂W^ℓ_ij = s_ℓ δ^ℓ_i z^{ℓ−1}_j and ∂f/∂b^ℓ_i = δ^ℓ_i,

    Θ(x, x') = Σ_{ℓ=1}^{L+1} [δ^ℓ(x)·δ^ℓ(x')] [s_ℓ² z^{ℓ−1}(x)·z^{ℓ−1}(x') + 𝟙_bias],

a sum of Hadamard products of Gram matrices: O(E P² Σ n_ℓ) operations, never the (P, N) Jacobian.
Padded units of an :class:`~.models.EnsembleModel` are masked out of z (their δ vanish because
their outgoing weights are zero), so each net's kernel is its own. Θ is the kernel of f; that of
F = α(f − f₀) is α²Θ, and the relative change below does not depend on the factor.
"""
from __future__ import annotations

import torch

from .models import EnsembleModel, get_activation


def _backward_deltas(model: EnsembleModel, theta: torch.Tensor, pre: list[torch.Tensor]
                     ) -> list[torch.Tensor]:
    """δ^ℓ (E, P, n_ℓ^max) for ℓ = 1 … L, from the pre-activations of :meth:`EnsembleModel.layers`."""
    d1 = get_activation(model.pad_spec.activation).d1
    sl = model.pad_spec.slices()
    E = model.size
    ws_last = sl[-1][0]
    delta = d1(pre[-1]) * (theta[:, None, ws_last] * model.inv_last[:, None, None])
    deltas = [delta]
    for k in range(model.pad_spec.depth - 1, 0, -1):
        (o, i), ws = model.pad_spec.shapes[k], sl[k][0]
        w = theta[:, ws].reshape(E, o, i)
        back = torch.bmm(delta, w) * model.inv_sqrt_fan[:, k, None, None]
        delta = d1(pre[k - 1]) * back
        deltas.append(delta)
    return deltas[::-1]


def tangent_kernel(model: EnsembleModel, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Θ_e(x_μ, x_ν) of every net: (E, P, P) from padded ``theta`` (E, n_pad), ``x`` (P, d)."""
    with torch.no_grad():
        pre, post, _ = model.layers(theta, x)
        deltas = _backward_deltas(model, theta, pre)
        masks = model.unit_masks()
        inputs = [x.expand(model.size, *x.shape)] + [z * m[:, None, :] for z, m in zip(post, masks)]
        scales = [model.inv_sqrt_fan[:, k] ** 2 for k in range(model.pad_spec.depth)]
        scales.append(model.inv_last ** 2)
        bias = 1.0 if model.pad_spec.bias else 0.0
        ones = torch.ones(model.size, x.shape[0], 1, dtype=theta.dtype, device=theta.device)
        kernel = torch.zeros(model.size, x.shape[0], x.shape[0], dtype=theta.dtype,
                             device=theta.device)
        for z, delta, s in zip(inputs, deltas + [ones], scales):
            gram_z = torch.bmm(z, z.transpose(1, 2)) * s[:, None, None] + bias
            kernel += torch.bmm(delta, delta.transpose(1, 2)) * gram_z
    return kernel


def kernel_change(theta0_kernel: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """‖Θ − Θ₀‖_F / ‖Θ₀‖_F per net, (E,) from two (E, P, P) kernels."""
    return ((kernel - theta0_kernel).flatten(1).norm(dim=1)
            / theta0_kernel.flatten(1).norm(dim=1))


def weight_change(theta0: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """‖w − w₀‖ / ‖w₀‖ per net, (E,) from padded (E, n_pad) parameters (padding is 0 in both)."""
    return (theta - theta0).norm(dim=1) / theta0.norm(dim=1)
