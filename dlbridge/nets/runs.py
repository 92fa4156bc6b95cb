"""One network run (a width, several seeds trained as one ensemble) and its HDF5 state groups.

Shared by ``dlbridge train`` and by sweeps (:mod:`dlbridge.workflow.sweep`), so that a net is trained and
stored the same way whichever way it was launched — the network twin of
:mod:`packing.jamming_runs`.

A net whose loss became non-finite (``stop_reason == "diverged"``) is a failure, not a result:
:func:`split_diverged` sets it apart and the callers report it instead of storing it.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import h5py
import numpy as np
import torch

from packing.analysis import ZERO_MODE_RTOL, count_zero_modes
from packing.errors import require, require_memory
from packing.io import CommonAttributes, cpu_device_name, write_state

from .data import DATASETS, Dataset, load_dataset
from .diagnostics import dead_inputs, kink_preactivations
from .hessian import analyze, problem_from_arrays
from .kinkmin import certifiable, kink_stationarity
from .losses import LOSSES, HingeLoss
from .models import ACTIVATIONS, INITS, get_activation, make_spec
from .train import OPTIMIZERS, SCHEDULES, NetResult, TrainConfig, resolve_device, train_ensemble

DEFAULT_LR = {"adam": 1e-2, "fire": 1e-1, "flow": 1.0, "implicit": 1.0}


UPPER_LIMITS = {"dim": 100_000, "n_train": 10_000_000, "n_test": 10_000_000, "depth": 100,
                "steps": 10**9}
"""Largest accepted value of each integer field (beyond them a run cannot finish)."""
MAX_WIDTH = 1_000_000
HESSIAN_COPIES = 4   # H, H0, Hp and the eigensolver's workspace
NET_COPIES = 8   # weights, gradients, two Adam moments, the initial net f0, the best net, slack


def approx_params(spec) -> float:
    """N of a fully connected net of ``spec`` (d, L, h), weights only: d h + (L − 1) h² + h."""
    return spec.dim * spec.width + (spec.depth - 1) * spec.width**2 + spec.width


def check_data_fields(spec, extra_ints: tuple[tuple[str, int], ...] = ()) -> None:
    """ParameterError naming the first bad field among those a run of nets at one width shares
    (:class:`NetRunSpec`, :class:`dlbridge.nets.regimes.RegimeSpec`): data, depth, width, σ,
    loss, optimiser, budget, learning rate, device; ``extra_ints``: (name, lower bound) of
    further integer fields."""
    require(spec.dataset in DATASETS, "dataset", f"one of {', '.join(DATASETS)}", spec.dataset)
    for name, lo in (("dim", 1), ("n_train", 1), ("data_seed", 0), ("depth", 1), ("steps", 1),
                     *extra_ints):
        v = getattr(spec, name)
        hi = UPPER_LIMITS.get(name)
        require(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= lo
                and (hi is None or v <= hi), name,
                f"an integer >= {lo}" if hi is None else f"an integer in [{lo}, {hi}]", v)
    require(math.isfinite(spec.width) and 1 <= spec.width <= MAX_WIDTH, "width",
            f"a number in [1, {MAX_WIDTH}]", spec.width)
    require_memory(NET_COPIES * 8.0 * approx_params(spec), "width",
                   f"{approx_params(spec):.3g} parameters per net", spec.width)
    for name, table in (("activation", ACTIVATIONS), ("loss", LOSSES), ("optimizer", OPTIMIZERS)):
        require(getattr(spec, name) in table, name, f"one of {', '.join(table)}",
                getattr(spec, name))
    require(spec.lr is None or (math.isfinite(spec.lr) and spec.lr > 0), "lr",
            "a finite number > 0", spec.lr)
    require(spec.device in ("auto", "cpu", "cuda"), "device", "one of auto, cpu, cuda",
            spec.device)
    if spec.dataset in ("mnist", "cifar10"):
        require(spec.data_dir is not None, "data_dir", f"given for dataset {spec.dataset}",
                spec.data_dir)


@dataclasses.dataclass(frozen=True)
class NetRunSpec:
    """Everything that defines the training of nets at one width, except their seeds."""

    dataset: str = "random"
    dim: int = 10
    n_train: int = 1000
    n_test: int = 1000
    data_seed: int = 0
    data_dir: str | None = None
    depth: int = 2
    width: float = 10.0
    alpha: float = 1.0
    activation: str = "relu"
    init: str = "orthogonal"
    bias: bool = True
    loss: str = "quadratic"
    optimizer: str = "adam"
    steps: int = 20_000
    lr: float | None = None
    finish: str = "none"
    schedule: str = "step"
    hessian: bool = False
    device: str = "cpu"

    def validate(self) -> None:
        """ParameterError naming the first bad field (nothing is computed)."""
        check_data_fields(self, (("n_test", 0),))
        require(math.isfinite(self.alpha) and self.alpha > 0, "alpha", "a finite number > 0",
                self.alpha)
        require(self.init in INITS, "init", f"one of {', '.join(INITS)}", self.init)
        require(self.schedule in SCHEDULES, "schedule", f"one of {', '.join(SCHEDULES)}",
                self.schedule)
        require(not self.hessian or self.loss == "quadratic", "hessian",
                "used with loss quadratic (the constraint form of the analysis)", self.loss)
        if self.hessian:
            require_memory(HESSIAN_COPIES * 8.0 * approx_params(self) ** 2, "width",
                           "the dense Hessians H, H0, Hp (--hessian)", self.width)
        require(self.finish != "smoothed" or self.activation == "relu", "finish",
                "none or newton unless the activation is relu (smoothed smooths the ReLU)",
                self.finish)
        self.config()   # the optimiser's own checks (finish against loss among them)

    def config(self) -> TrainConfig:
        """The :class:`TrainConfig`: ``schedule`` "step", the paper-shaped lr schedule of
        TrainConfig (not tied to the budget: a decay every steps/10 measured a ~1.7× larger N*,
        benchmarks/NSTAR.md); "plateau", the rate lowered per net over windows of steps/20, raised
        again after each descent to the smallest rate, and a minimum declared when a whole
        descent brought no fall (:class:`dlbridge.nets.optim.PlateauDecay`)."""
        lr = DEFAULT_LR[self.optimizer] if self.lr is None else self.lr
        return TrainConfig(optimizer=self.optimizer, max_steps=self.steps, lr=lr, loss=self.loss,
                           check_every=max(1, self.steps // 20), finish=self.finish,
                           schedule=self.schedule)

    def load_data(self) -> Dataset:
        """The seeded train/test split of this run."""
        return load_dataset(self.dataset, self.dim, self.n_train, self.n_test, self.data_seed,
                            self.data_dir)

    def net_kwargs(self) -> dict:
        """Keyword arguments of :func:`dlbridge.nets.models.make_spec` besides d, L and h."""
        return dict(activation=self.activation, bias=self.bias, alpha=self.alpha, init=self.init)


def device_name(device: str) -> str:
    """"cuda: <GPU name>" when ``device`` resolves to a GPU, else "cpu: <CPU model>"."""
    dev = resolve_device(device)
    if dev.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(dev)}"
    return cpu_device_name()


def train_width(spec: NetRunSpec, seeds: Sequence[int], data: Dataset | None = None,
                progress: bool = False) -> list[NetResult]:
    """Train one net per seed at ``spec.width`` as one batched ensemble."""
    spec.validate()
    require(len(seeds) >= 1 and all(isinstance(s, (int, np.integer)) and s >= 0 for s in seeds),
            "seeds", "a non-empty list of integers >= 0", list(seeds))
    data = spec.load_data() if data is None else data
    net = make_spec(data.dim, spec.depth, spec.width, **spec.net_kwargs())
    return train_ensemble([net] * len(seeds), list(seeds), data, spec.config(), spec.device,
                          progress=progress)


def split_diverged(results: Sequence[NetResult]) -> tuple[list[NetResult], list[NetResult]]:
    """(finite results, diverged results) — a diverged net is reported, never stored."""
    good = [r for r in results if r.stop_reason != "diverged"]
    bad = [r for r in results if r.stop_reason == "diverged"]
    return good, bad


def describe_diverged(bad: Sequence[NetResult]) -> str:
    """One line naming the diverged nets (width, seed, step)."""
    items = ", ".join(f"h={r.spec.h:g} seed {r.seed} at step {r.steps}" for r in bad)
    return f"{len(bad)} net(s) diverged (non-finite loss): {items}"


def net_state_record(spec: NetRunSpec, r: NetResult, n_star: float = math.nan
                     ) -> tuple[dict, dict]:
    """(attributes, datasets) of one net's state group, under the HDF5 contract of `packing.io`."""
    s, cfg = r.spec, spec.config()
    common = CommonAttributes(side="network", control_name="n_params", control=s.n_params,
                              transition=n_star, energy=r.loss, n_dof=s.n_params,
                              n_constraints=r.n_constraints, seed=r.seed)
    attrs = {
        **common.to_attrs(), "n_params": s.n_params, "width": s.h, "widths": np.asarray(s.widths),
        "depth": s.depth, "n_train": len(r.gaps), "dataset": spec.dataset, "alpha": s.alpha,
        "train_loss": r.loss, "test_error": r.test_error, "train_error": r.train_error,
        "steps": r.steps, "converged": r.converged, "stop_reason": r.stop_reason,
        "n_eff": s.n_eff, "activation": s.activation, "bias": s.bias, "init": s.init,
        "optimizer": spec.optimizer, "finish": cfg.finish, "schedule": cfg.schedule,
        "finish_iterations": r.finish_iterations, "finish_loss_drift": r.finish_loss_drift,
        "finish_gap_drift": r.finish_gap_drift, "loss": spec.loss, "dim": s.d_in,
        "data_seed": spec.data_seed, "n_test": spec.n_test, "data_dir": spec.data_dir,
        "lr": cfg.lr, "max_steps": cfg.max_steps,
    }
    h = r.history
    dsets = {"gaps": r.gaps, "parameters": r.theta, "initial_parameters": r.theta0,
             "history_steps": h.steps,
             "history_loss": h.loss, "history_n_constraints": h.n_constraints,
             "history_train_error": h.train_error, "history_test_error": h.test_error,
             "history_displacement": h.displacement}
    return attrs, dsets


def hessian_part(r: NetResult, data: Dataset, spec: NetRunSpec) -> tuple[dict, dict]:
    """Mode counts and spectra of one net by the shared analysis (:func:`dlbridge.nets.hessian.analyze`).

    Zero modes of H are |λ| ≤ ZERO_MODE_RTOL·max|λ|; ``jacobian_rank`` is the rank of the
    N_Δ × N Jacobian (= rank H0), ``n_floppy_modes`` = N − rank.
    """
    dev = resolve_device(spec.device)
    prob = problem_from_arrays(r.spec, r.theta, r.theta0, data.x_train, data.y_train,
                               HingeLoss(spec.loss), dev)
    res = analyze(prob, fit_exponents=False)
    h = res.hessian_spectrum
    attrs = {"n_negative_modes": res.negative.n_negative,
             "n_zero_modes": count_zero_modes(h, n_trivial=0).n_zero_modes,
             "mode_tol": ZERO_MODE_RTOL, "spectrum_complete": h.complete}
    if res.modes is not None:
        attrs.update(jacobian_rank=res.modes.rank, n_floppy_modes=res.modes.n_floppy)
    dsets = {"hessian_eigenvalues": h.eigenvalues,
             "stiffness_eigenvalues": res.stiffness_spectrum.eigenvalues,
             "stress_eigenvalues": res.stress_spectrum.eigenvalues}
    return attrs, dsets


def relu_part(r: NetResult, data: Dataset, hinge: HingeLoss) -> tuple[dict, dict]:
    """A ReLU net's training data that reach the output through no active unit
    (:func:`.diagnostics.dead_inputs`): dataset ``dead_inputs`` (P,) bool and the count
    ``n_dead_violations`` of those with Δ > 0. Their Δ has no gradient, so they constrain
    nothing: compare leaves them out of the gap distributions. And ``n_kinks``, the
    pre-activations held on the ReLU's kink (:func:`.diagnostics.kink_preactivations`): a
    minimum with kinks is not a stationary point of the smooth loss. Whether it is a minimum on
    the kink set (:func:`.kinkmin.kink_stationarity`) is stored as ``kink_residual``
    (‖∇L₀ + Jᵀλ‖_∞ for the multipliers in their box: ≈ 0 at a minimum) and
    ``n_releasable_kinks`` (kinks whose release lowers L), for a loss with
    nets that :func:`.kinkmin.certifiable` admits. Empty for smooth activations."""
    if not get_activation(r.spec.activation).homogeneous:
        return {}, {}
    dead = dead_inputs(r.spec, r.theta, data.x_train).dead
    n_kinks = kink_preactivations(r.spec, r.theta, data.x_train)
    attrs = {"n_dead_violations": int(np.count_nonzero(dead & (r.gaps > 0))), "n_kinks": n_kinks}
    if certifiable(r.spec, len(data.x_train), n_kinks, hinge):
        prob = problem_from_arrays(r.spec, r.theta, r.theta0, data.x_train, data.y_train, hinge)
        cert = kink_stationarity(prob)
        attrs.update(kink_residual=cert.bounded_residual, n_releasable_kinks=cert.n_releasable())
    return attrs, {"dead_inputs": dead}


def write_nets(runs_group: h5py.Group, spec: NetRunSpec, results: Sequence[NetResult],
               data: Dataset, n_star: float = math.nan) -> None:
    """Write one state group per net under runs_group/L<depth>_h<width>_seed<k>."""
    for r in results:
        attrs, dsets = net_state_record(spec, r, n_star)
        da, dd = relu_part(r, data, HingeLoss(spec.loss))
        attrs.update(da)
        dsets.update(dd)
        if spec.hessian:
            ha, hd = hessian_part(r, data, spec)
            attrs.update(ha)
            dsets.update(hd)
        write_state(runs_group, f"L{r.spec.depth}_h{r.spec.h:g}_seed{r.seed}", attrs, dsets)
