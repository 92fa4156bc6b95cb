"""Nets across the (h, α) plane: one width, several scales α and seeds trained as ONE ensemble,
with the kernel and weight changes and the test outputs the phase diagram is drawn from.

The protocol (Geiger, Spigler, Jacot, Wyart, J. Stat. Mech. 2020, 113301; Geiger, Petrini,
Wyart, Phys. Rep. 924, 2021), and where it departs from the authors' code (feature_lazy):

* data: MNIST parity, whitened principal components (the embedded dataset by default);
* net: softplus (σ normalised, β = 1; their code uses β = 5), last layer 1/h: α is the code's
  α = √h α_paper, both are stored; no biases by default, as in their main runs. A last-layer
  bias has ∂f/∂b = 1 and adds the all-ones matrix to Θ, while the weights' part of Θ is O(1/h)
  under the 1/h last layer: the bias then dominates ‖Θ₀‖ and ‖Θ − Θ₀‖/‖Θ₀‖ at fixed α falls
  as 1/h, which moves α*_code ∝ 1/h instead of O(1) (``bias = true`` keeps them, for that
  comparison);
* loss: the soft hinge softplus(βΔ)/β with β = 20, as their default, times 1/α² (theirs 1/α:
  a factor α in the time scale only), F = α[f(w) − f(w₀)];
* dynamics: gradient flow, integrated explicitly (``flow``, optim.GradientFlow: adaptive Euler,
  outputs moving less than 0.1 per step) or linearly implicitly (``implicit``, .implicit:
  Rosenbrock–Euler with the Gauss–Newton Jacobian, local error of the outputs ≤ ``flow_tol`` per
  step). The authors integrate a "continuous momentum" flow, gradient flow in its limit τ → 0,
  with τ = 10⁻³ h min(1, 10³/α) in their figures. Inertial minimisers are not gradient flow:
  FIRE (P = 1000, h = 20, α = 10) fits in ~4·10³ steps with ‖Θ − Θ₀‖/‖Θ₀‖ = 3.3–3.7 and test
  outputs ⟨|F|⟩ ≈ 12 (benchmarks/regimes_protocol.py), close to what the implicit flow ends at
  (3.5–3.7 and ≈ 10, fitted in 420–444 steps), while the explicit flow at its 2·10⁴-step budget
  still has 180 data unsatisfied. Adam's step does not scale with the gradient, so its lazy
  limit is not that of gradient descent. The explicit flow's number of steps in the lazy
  regime does not depend on α but grows as the condition number of Θ (α = 10⁴, h = 16: fitted
  in 1.0–1.9·10⁴ steps at P = 32, 1–2 data of 64 left after 10⁵ steps); the implicit one fits
  P = 64 in ~160 steps and P = 500–1000 in 3–8·10² (benchmarks/regimes_protocol.py), and agrees
  with the explicit endpoint within 1 % where both fit;
* stop: N_Δ = 0, i.e. min_μ y_μ F_μ ≥ 1 (their ``stop_margin`` = 1), or the loss converged, or
  the step budget. Only fitted nets enter the phase diagram (their notebooks' ``nd == 0``).

Measured per net: Θ at initialisation and at the end on ``n_probe`` test points
(:func:`.kernel.tangent_kernel`), ‖Θ − Θ₀‖/‖Θ₀‖, ‖w − w₀‖/‖w₀‖, the test error and the test
outputs F(x) (for the ensemble predictor sign ⟨F⟩ and the fluctuations F − ⟨F⟩ over seeds).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import h5py
import numpy as np
import torch

from packing.errors import require
from packing.io import write_state

from .data import Dataset, load_dataset
from .kernel import kernel_change, tangent_kernel, weight_change
from .models import EnsembleModel, alpha_paper, make_spec
from .runs import DEFAULT_LR, check_data_fields, net_state_record
from .train import NetResult, TrainConfig, resolve_device, train_ensemble


@dataclasses.dataclass(frozen=True)
class RegimeSpec:
    """One width of nets at several α: data, architecture, loss, dynamics and the kernel probe."""

    dataset: str = "mnist-parity"
    dim: int = 10
    n_train: int = 1000
    n_test: int = 2000
    data_seed: int = 0
    data_dir: str | None = None
    depth: int = 2
    width: float = 20.0
    alphas: tuple[float, ...] = (1.0,)
    activation: str = "softplus"
    bias: bool = False
    loss: str = "softhinge"
    optimizer: str = "flow"
    steps: int = 30_000
    lr: float | None = None
    flow_tol: float = 1e-2
    n_probe: int = 256
    device: str = "auto"

    def validate(self) -> None:
        """ParameterError naming the first bad field (nothing is computed)."""
        check_data_fields(self, (("n_test", 1), ("n_probe", 1)))
        require(self.n_probe <= self.n_test, "n_probe", f"at most n_test = {self.n_test}",
                self.n_probe)
        require(len(self.alphas) >= 1 and all(math.isfinite(a) and a > 0 for a in self.alphas),
                "alphas", "a non-empty list of finite numbers > 0", self.alphas)
        require(len(set(self.alphas)) == len(self.alphas), "alphas", "distinct values",
                self.alphas)
        self.config()   # the optimiser's own checks (optimizer, steps, flow_tol)

    def config(self) -> TrainConfig:
        """The :class:`TrainConfig` of the protocol (module docstring)."""
        lr = DEFAULT_LR[self.optimizer] if self.lr is None else self.lr
        return TrainConfig(optimizer=self.optimizer, max_steps=self.steps, lr=lr, loss=self.loss,
                           check_every=max(1, self.steps // 10), n_measure=20,
                           flow_tol=self.flow_tol)

    def load_data(self) -> Dataset:
        """The seeded train/test split of this run."""
        return load_dataset(self.dataset, self.dim, self.n_train, self.n_test, self.data_seed,
                            self.data_dir)


@dataclasses.dataclass(frozen=True)
class RegimeNet:
    """A trained net with its order parameters and test outputs F(x_test) (n_test,)."""

    result: NetResult
    kernel_change: float
    weight_change: float
    test_outputs: np.ndarray

    @property
    def alpha_paper(self) -> float:
        """α in the paper's convention, α/√h (models.alpha_paper)."""
        return alpha_paper(self.result.spec.alpha, self.result.spec)


def _order_parameters(specs, seeds, results: Sequence[NetResult], data: Dataset, n_probe: int,
                      device: torch.device) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(kernel change (E,), weight change (E,), test outputs (E, n_test)) of trained nets."""
    dtype = torch.float64
    model = EnsembleModel(specs, device, dtype)
    theta0 = model.pack([torch.as_tensor(r.theta0) for r in results])
    theta = model.pack([torch.as_tensor(r.theta) for r in results])
    x_test = torch.as_tensor(data.x_test, dtype=dtype, device=device)
    probe = x_test[:n_probe]
    k_change = kernel_change(tangent_kernel(model, theta0, probe),
                             tangent_kernel(model, theta, probe))
    with torch.no_grad():
        outputs = model.alphas[:, None] * (model.forward(theta, x_test)
                                           - model.forward(theta0, x_test))
    return (k_change.cpu().numpy(), weight_change(theta0, theta).cpu().numpy(),
            outputs.cpu().numpy())


def train_regime(spec: RegimeSpec, seeds: Sequence[int], data: Dataset | None = None,
                 progress: bool = False) -> list[RegimeNet]:
    """Train every (α, seed) net of ``spec`` as one batched ensemble; α-major order."""
    spec.validate()
    require(len(seeds) >= 1 and all(isinstance(s, (int, np.integer)) and s >= 0 for s in seeds),
            "seeds", "a non-empty list of integers >= 0", list(seeds))
    data = spec.load_data() if data is None else data
    specs = [make_spec(data.dim, spec.depth, spec.width, activation=spec.activation,
                       bias=spec.bias, alpha=a)
             for a in spec.alphas for _ in seeds]
    all_seeds = [int(s) for _ in spec.alphas for s in seeds]
    results = train_ensemble(specs, all_seeds, data, spec.config(), spec.device,
                             progress=progress)
    k, w, out = _order_parameters(specs, all_seeds, results, data, spec.n_probe,
                                  resolve_device(spec.device))
    return [RegimeNet(r, float(k[e]), float(w[e]), out[e]) for e, r in enumerate(results)]


def regime_state_record(spec: RegimeSpec, net: RegimeNet, y_test: np.ndarray
                        ) -> tuple[dict, dict]:
    """(attributes, datasets) of one net's state group: those of every net
    (:func:`.runs.net_state_record`) plus the order parameters and the test outputs; the test
    labels ``y_test`` (n_test,) are stored with them so that an ensemble can be scored."""
    attrs, dsets = net_state_record(spec, net.result)
    attrs.update(n_test=len(net.test_outputs), alpha_paper=net.alpha_paper,
                 fitted=net.result.fitted, kernel_change=net.kernel_change,
                 weight_change=net.weight_change, n_probe=spec.n_probe, regime_run=True)
    dsets.update(test_outputs=net.test_outputs, test_labels=np.asarray(y_test, dtype=np.int8))
    return attrs, dsets


def write_regime(runs_group: h5py.Group, spec: RegimeSpec, nets: Sequence[RegimeNet],
                 data: Dataset) -> None:
    """One state group per net under runs_group/L<depth>_h<width>_a<α>_seed<k>."""
    for net in nets:
        attrs, dsets = regime_state_record(spec, net, data.y_test)
        s = net.result.spec
        write_state(runs_group, f"L{s.depth}_h{s.h:g}_a{s.alpha:g}_seed{net.result.seed}",
                    attrs, dsets)
