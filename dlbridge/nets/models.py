"""Fully-connected networks in the (h, α) parametrization, as flat float64 parameter vectors.

Architecture (Geiger, Spigler, Jacot, Wyart, J. Stat. Mech. 113301, 2020, "Disentangling feature
and lazy training in deep neural networks", eq. (1)–(3); Geiger, Petrini, Wyart, Phys. Rep. 924,
2021, section 2), with L hidden layers of widths n_1 … n_L and input dimension n_0 = d:

    a^ℓ = W^ℓ z^{ℓ−1} / √n_{ℓ−1} + b^ℓ,     z^ℓ = σ(a^ℓ),     z^0 = x        (ℓ = 1 … L)
    f(w, x) = W^{L+1} z^L / n_L + b^{L+1}                                      (mean-field last layer)
    F(w, x) = α [f(w, x) − f(w₀, x)]                                           (network output)

Weights are O(1) at initialisation (Gaussian N(0, 1) entries, or orthogonal matrices scaled by
√max(n_out, n_in) so that entries have unit variance), biases start at 0. σ is normalised so that
E[σ(g)²] = 1 for g ~ N(0, 1): √2·ReLU (as in the paper's code), tanh (left as is, as there),
c·softplus with c fixed by Gauss–Hermite quadrature. The loss is rescaled by 1/α² (train.py).

The α convention. The last layer divides by n_L = h, as in the authors' code (Geiger et al.,
github.com/mariogeiger/feature_lazy), not by √h as in the paper's text, so this α is the code's:
α = α_code = √h α_paper, with f_paper = W z/√h and F = α_paper f_paper (see
:func:`alpha_paper`). The loss prefactor (1/α² here, 1/α in the code) changes only the time
scale. The lazy (kernel) regime is α ≫ 1 and the feature regime α ≪ 1 in this convention,
i.e. √h α_paper ≫ 1 and ≪ 1; the crossover α* ∝ h^(−1/2) of the paper reads α*_code = O(1).

Flat parameter order: [W^1 (row-major n_1×n_0), b^1, W^2, b^2, …, W^{L+1} (1×n_L), b^{L+1}];
biases are present only when ``bias`` is True. N counts every trainable parameter.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from packing.errors import require

INITS = ("orthogonal", "gaussian")


def _softplus_gain() -> float:
    """c = 1/√E[softplus(g)²], g ~ N(0,1), by 80-point Gauss–Hermite quadrature."""
    nodes, weights = np.polynomial.hermite.hermgauss(80)
    g = math.sqrt(2.0) * nodes
    sp = np.logaddexp(0.0, g)
    return float(1.0 / math.sqrt(np.sum(weights * sp**2) / math.sqrt(math.pi)))


_SP_GAIN = _softplus_gain()
_SQRT2 = math.sqrt(2.0)


@dataclass(frozen=True)
class Activation:
    """σ with its first and second derivatives; ``homogeneous``: σ(λa) = λσ(a) for λ > 0."""

    name: str
    fn: Callable[[torch.Tensor], torch.Tensor]
    d1: Callable[[torch.Tensor], torch.Tensor]
    d2: Callable[[torch.Tensor], torch.Tensor] | None   # None: σ'' = 0 almost everywhere
    homogeneous: bool


def _tanh_d1(a: torch.Tensor) -> torch.Tensor:
    return 1.0 - torch.tanh(a) ** 2


def _tanh_d2(a: torch.Tensor) -> torch.Tensor:
    t = torch.tanh(a)
    return -2.0 * t * (1.0 - t**2)


def _sig(a: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(a)


ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation("relu", lambda a: _SQRT2 * torch.relu(a),
                       lambda a: _SQRT2 * (a > 0).to(a.dtype), None, True),
    "tanh": Activation("tanh", torch.tanh, _tanh_d1, _tanh_d2, False),
    "softplus": Activation("softplus", lambda a: _SP_GAIN * torch.nn.functional.softplus(a),
                           lambda a: _SP_GAIN * _sig(a),
                           lambda a: _SP_GAIN * _sig(a) * (1.0 - _sig(a)), False),
}


def get_activation(name: str) -> Activation:
    """The :class:`Activation` called ``name`` (one of relu, tanh, softplus)."""
    require(name in ACTIVATIONS, "activation", f"one of {', '.join(ACTIVATIONS)}", name)
    return ACTIVATIONS[name]


def layer_widths(depth: int, h: float) -> tuple[int, ...]:
    """Integer widths of ``depth`` hidden layers whose mean is ``h`` to the nearest 1/depth.

    k = ⌊(h − ⌊h⌋)·depth + ½⌋ layers (the first ones) get ⌊h⌋ + 1 units, the others ⌊h⌋, so the
    parameter count grows monotonically with h in steps much finer than a whole unit per layer.
    """
    require(isinstance(depth, (int, np.integer)) and depth >= 1, "depth", "an integer >= 1", depth)
    require(isinstance(h, (int, float, np.integer, np.floating)) and math.isfinite(h) and h >= 1,
            "width", "a finite number >= 1", h)
    base = int(math.floor(h))
    k = int(math.floor((h - base) * depth + 0.5))
    if k == depth:
        base, k = base + 1, 0
    return tuple([base + 1] * k + [base] * (depth - k))


@dataclass(frozen=True)
class NetSpec:
    """A fully-connected net: input dimension, hidden widths, σ, biases, α, initialisation.

    ``h`` is the nominal (possibly non-integer) width the widths were made from, for the record.
    """

    d_in: int
    widths: tuple[int, ...]
    activation: str = "relu"
    bias: bool = True
    alpha: float = 1.0
    init: str = "orthogonal"
    h: float = field(default=float("nan"))

    def __post_init__(self) -> None:
        require(isinstance(self.d_in, (int, np.integer)) and self.d_in >= 1, "d_in",
                "an integer >= 1", self.d_in)
        require(len(self.widths) >= 1 and all(isinstance(w, (int, np.integer)) and w >= 1
                                              for w in self.widths),
                "widths", "a non-empty tuple of integers >= 1", self.widths)
        get_activation(self.activation)
        require(self.init in INITS, "init", f"one of {', '.join(INITS)}", self.init)
        require(math.isfinite(self.alpha) and self.alpha > 0, "alpha", "a finite number > 0",
                self.alpha)

    @property
    def depth(self) -> int:
        """Number of hidden layers L."""
        return len(self.widths)

    @property
    def shapes(self) -> tuple[tuple[int, int], ...]:
        """(n_out, n_in) of every weight matrix, output layer (1, n_L) last."""
        dims = (self.d_in, *self.widths, 1)
        return tuple((dims[i + 1], dims[i]) for i in range(len(dims) - 1))

    @property
    def n_params(self) -> int:
        """N: number of trainable parameters (weights, plus biases when present)."""
        return sum(o * i + (o if self.bias else 0) for o, i in self.shapes)

    @property
    def n_hidden(self) -> int:
        """Number of hidden neurons Σ n_ℓ."""
        return sum(self.widths)

    @property
    def n_eff(self) -> int:
        """N_eff = N − #hidden neurons for homogeneous σ (ReLU rescaling symmetry), else N.

        For ReLU, scaling a neuron's incoming weights and bias by λ > 0 and its outgoing weights by
        1/λ leaves f unchanged: one flat direction per hidden neuron (Geiger et al. 2019, sec. III).
        """
        return self.n_params - (self.n_hidden if get_activation(self.activation).homogeneous else 0)

    def slices(self) -> tuple[tuple[slice, slice | None], ...]:
        """Slices of every layer's weight matrix and bias (None without biases) in the flat vector."""
        out, off = [], 0
        for o, i in self.shapes:
            w = slice(off, off + o * i)
            off += o * i
            b = None
            if self.bias:
                b = slice(off, off + o)
                off += o
            out.append((w, b))
        return tuple(out)


def alpha_paper(alpha: float, spec: NetSpec) -> float:
    """α in the paper's convention (last layer 1/√n_L): α_paper = α / √n_L (module docstring)."""
    return alpha / math.sqrt(spec.widths[-1])


def make_spec(d_in: int, depth: int, h: float, **kwargs) -> NetSpec:
    """:class:`NetSpec` with ``depth`` hidden layers of mean width ``h`` (see :func:`layer_widths`)."""
    return NetSpec(d_in=d_in, widths=layer_widths(depth, h), h=float(h), **kwargs)


def width_for_params(d_in: int, depth: int, n_target: float, bias: bool = True) -> float:
    """Smallest width h on the 1/depth grid whose net has at least ``n_target`` parameters."""
    require(math.isfinite(n_target) and n_target >= 1, "n_target", "a finite number >= 1", n_target)
    lo, hi = depth, depth   # grid index k = h·depth, h >= 1

    def n_of(k: int) -> int:
        return NetSpec(d_in, layer_widths(depth, k / depth), bias=bias).n_params

    while n_of(hi) < n_target:
        hi *= 2
    while hi - lo > 1 and n_of(lo) < n_target:
        mid = (lo + hi) // 2
        if n_of(mid) >= n_target:
            hi = mid
        else:
            lo = mid
    return (lo if n_of(lo) >= n_target else hi) / depth


# --------------------------------------------------------------------------------------------
# Initialisation and forward pass of one net

def _orthogonal(n_out: int, n_in: int, gen: torch.Generator) -> torch.Tensor:
    """Haar-random semi-orthogonal (n_out, n_in) matrix (Mezzadri 2007) scaled by √max(n_out, n_in)."""
    big, small = max(n_out, n_in), min(n_out, n_in)
    a = torch.randn(big, small, generator=gen, dtype=torch.float64)
    q, r = torch.linalg.qr(a)
    q = q * torch.sign(torch.diagonal(r))
    w = q if n_out >= n_in else q.T
    return w * math.sqrt(big)


def init_params(spec: NetSpec, seed: int, dtype: torch.dtype = torch.float64,
                device: str | torch.device = "cpu") -> torch.Tensor:
    """Flat initial parameter vector (N,) of ``spec`` drawn from a CPU generator seeded by ``seed``.

    Drawn in float64 on the CPU, then cast and moved, so a seed gives the same net on any device.
    """
    require(isinstance(seed, (int, np.integer)) and seed >= 0, "seed", "an integer >= 0", seed)
    gen = torch.Generator().manual_seed(int(seed))
    parts = []
    for o, i in spec.shapes:
        if spec.init == "orthogonal":
            parts.append(_orthogonal(o, i, gen).reshape(-1))
        else:
            parts.append(torch.randn(o * i, generator=gen, dtype=torch.float64))
        if spec.bias:
            parts.append(torch.zeros(o, dtype=torch.float64))
    return torch.cat(parts).to(dtype=dtype, device=device)


def hidden_forward(spec: NetSpec, theta: torch.Tensor, x: torch.Tensor,
                   gates: list[torch.Tensor] | None = None,
                   shifts: list[torch.Tensor] | None = None,
                   activation: Callable[[torch.Tensor], torch.Tensor] | None = None
                   ) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
    """Pre-activations a^ℓ (P, n_ℓ), activations z^ℓ (P, n_ℓ) for ℓ = 1 … L, and f(w, x) (P,).

    ``theta``: (N,) flat parameters; ``x``: (P, d). Also works on a single input x of shape (d,).
    ``gates``, ``shifts`` (optional, one (P, n_ℓ) tensor per hidden layer): z^ℓ = σ(a^ℓ)·gate^ℓ
    + shift^ℓ, to switch units off at chosen data or to take ∂/∂z^ℓ (`.kinkmin`).
    ``activation`` (optional): σ in place of the spec's (a smoothed ReLU, `.kinkfinish`).
    """
    act = get_activation(spec.activation).fn if activation is None else activation
    pre, post, z = [], [], x
    sl = spec.slices()
    for ell, ((o, i), (ws, bs)) in enumerate(zip(spec.shapes[:-1], sl[:-1])):
        a = z @ theta[ws].reshape(o, i).T / math.sqrt(i)
        if bs is not None:
            a = a + theta[bs]
        z = act(a)
        if gates is not None:
            z = z * gates[ell]
        if shifts is not None:
            z = z + shifts[ell]
        pre.append(a)
        post.append(z)
    ws, bs = sl[-1]
    f = z @ theta[ws] / spec.widths[-1]
    if bs is not None:
        f = f + theta[bs]
    return pre, post, f


def net_forward(spec: NetSpec, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """f(w, x): (P,) outputs of the net with flat parameters ``theta`` (N,) on inputs ``x`` (P, d)."""
    return hidden_forward(spec, theta, x)[2]


def net_output(spec: NetSpec, theta: torch.Tensor, x: torch.Tensor,
               f0: torch.Tensor) -> torch.Tensor:
    """F(w, x) = α [f(w, x) − f(w₀, x)] with ``f0`` = f(w₀, x) precomputed, shape (P,)."""
    return spec.alpha * (net_forward(spec, theta, x) - f0)


# --------------------------------------------------------------------------------------------
# Ensembles: nets of different widths zero-padded into one (E, N_pad) parameter tensor

class EnsembleModel:
    """E nets sharing d, depth, σ and biases, evaluated together with batched matmuls.

Each net keeps its own widths and its own α (``alphas``, (E,); the forward pass f does not
depend on α, the objective of train.py scales each row by its α).

    Every net is embedded in the layout of the widest layers (n_ℓ^max): its parameters sit at
    ``index[e]`` of a padded flat vector of length ``n_pad``; padded weights and biases are 0 and
    stay 0 because gradients are multiplied by ``mask``. Padded units then feed only zero outgoing
    weights, so each net's output equals its own :func:`net_forward` exactly.
    """

    def __init__(self, specs: list[NetSpec] | tuple[NetSpec, ...],
                 device: str | torch.device = "cpu", dtype: torch.dtype = torch.float64):
        require(len(specs) >= 1, "specs", "a non-empty list of NetSpec", len(specs))
        first = specs[0]
        for s in specs:
            same = (s.d_in, s.depth, s.activation, s.bias) == \
                   (first.d_in, first.depth, first.activation, first.bias)
            require(same, "specs", "nets with equal d_in, depth, activation and bias",
                    (s.d_in, s.depth, s.activation, s.bias))
        self.specs = tuple(specs)
        self.device, self.dtype = torch.device(device), dtype
        self.max_widths = tuple(max(s.widths[k] for s in specs) for k in range(first.depth))
        self.pad_spec = NetSpec(first.d_in, self.max_widths, first.activation, first.bias,
                                first.alpha, first.init)
        self.n_pad = self.pad_spec.n_params
        self.index = [self._embed(s).to(self.device) for s in specs]
        mask = torch.zeros(len(specs), self.n_pad, dtype=dtype)
        for e, idx in enumerate(self.index):
            mask[e, idx.cpu()] = 1.0
        self.mask = mask.to(self.device)
        widths = torch.tensor([s.widths for s in specs], dtype=dtype)
        fan = torch.cat([torch.full((len(specs), 1), float(first.d_in), dtype=dtype), widths], 1)
        self.inv_sqrt_fan = (1.0 / fan.sqrt()).to(self.device)       # (E, L+1)
        self.inv_last = (1.0 / widths[:, -1]).to(self.device)        # (E,)
        self.alphas = torch.tensor([s.alpha for s in specs], dtype=dtype, device=self.device)

    def _embed(self, spec: NetSpec) -> torch.Tensor:
        """Positions (N,) of ``spec``'s flat parameters inside the padded layout."""
        idx = []
        for (o, i), (_, i_pad), (ws, bs) in zip(spec.shapes, self.pad_spec.shapes,
                                                self.pad_spec.slices()):
            rows = torch.arange(o)[:, None] * i_pad + torch.arange(i)[None, :]
            idx.append(ws.start + rows.reshape(-1))
            if bs is not None:
                idx.append(bs.start + torch.arange(o))
        return torch.cat(idx)

    @property
    def size(self) -> int:
        """Number of nets E."""
        return len(self.specs)

    def take(self, rows: list[int]) -> "EnsembleModel":
        """The sub-ensemble of nets ``rows`` in the SAME padded layout (same n_pad, slices), so
        their parameter rows ``theta[rows]`` can be evaluated without re-packing."""
        sub = copy.copy(self)
        idx = torch.as_tensor(rows, dtype=torch.long, device=self.device)
        sub.specs = tuple(self.specs[r] for r in rows)
        sub.index = [self.index[r] for r in rows]
        sub.mask, sub.inv_sqrt_fan, sub.inv_last, sub.alphas = (
            self.mask[idx], self.inv_sqrt_fan[idx], self.inv_last[idx], self.alphas[idx])
        return sub

    def pack(self, thetas: list[torch.Tensor]) -> torch.Tensor:
        """Padded (E, n_pad) tensor from per-net flat vectors."""
        require(len(thetas) == self.size, "thetas", f"a list of {self.size} vectors", len(thetas))
        out = torch.zeros(self.size, self.n_pad, dtype=self.dtype, device=self.device)
        for e, (idx, th) in enumerate(zip(self.index, thetas)):
            require(th.numel() == idx.numel(), "thetas", f"vector {e} of length {idx.numel()}",
                    th.numel())
            out[e, idx] = th.to(device=self.device, dtype=self.dtype)
        return out

    def unpack(self, theta: torch.Tensor) -> list[torch.Tensor]:
        """Per-net flat vectors from the padded (E, n_pad) tensor."""
        return [theta[e, idx] for e, idx in enumerate(self.index)]

    def layers(self, theta: torch.Tensor, x: torch.Tensor
               ) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
        """Pre-activations a^ℓ and activations z^ℓ (each (E, P, n_ℓ^max), ℓ = 1 … L) and f (E, P)
        from padded ``theta`` (E, n_pad) and inputs ``x`` (P, d). Padded units have a^ℓ = 0 and
        z^ℓ = σ(0), which feeds only zero weights."""
        act = get_activation(self.pad_spec.activation).fn
        sl = self.pad_spec.slices()
        E = self.size
        pre, post, z = [], [], None
        for k, ((o, i), (ws, bs)) in enumerate(zip(self.pad_spec.shapes[:-1], sl[:-1])):
            w = theta[:, ws].reshape(E, o, i)
            if z is None:
                a = torch.einsum("pi,eoi->epo", x, w)
            else:
                a = torch.bmm(z, w.transpose(1, 2))
            a = a * self.inv_sqrt_fan[:, k, None, None]
            if bs is not None:
                a = a + theta[:, None, bs]
            z = act(a)
            pre.append(a)
            post.append(z)
        ws, bs = sl[-1]
        # a product and a sum, not bmm: bmm of one net takes a gemv path whose rounding differs
        # from the batched one, and a batch that drops its stopped nets must not change the rest
        f = (z * theta[:, None, ws]).sum(-1) * self.inv_last[:, None]
        if bs is not None:
            f = f + theta[:, bs]
        return pre, post, f

    def forward(self, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """f(w_e, x) for every net: (E, P) from padded ``theta`` (E, n_pad) and inputs ``x`` (P, d)."""
        return self.layers(theta, x)[2]

    def unit_masks(self) -> list[torch.Tensor]:
        """(E, n_ℓ^max) masks of every net's real units in each hidden layer ℓ = 1 … L."""
        return [(torch.arange(n, device=self.device)[None, :]
                 < torch.tensor([s.widths[k] for s in self.specs], device=self.device)[:, None]
                 ).to(self.dtype) for k, n in enumerate(self.max_widths)]
