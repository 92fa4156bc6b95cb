"""Full-batch training of nets to the bottom of the hinge loss, one net or a batched ensemble.

Loss: L(w) = 1/(α² P) Σ_μ ℓ(Δ_μ), Δ_μ = 1 − y_μ F(w, x_μ), F = α [f(w) − f(w₀)] (models.py,
losses.py). A net stops, and records why (``stop_reason``):

* ``"fitted"``    — N_Δ = 0 (all data satisfied; the loss and its gradient vanish);
* ``"converged"`` — N_Δ > 0 at a minimum with unsatisfied data (jammed / underparametrised
  side). With ``schedule = "step"``: the loss changed by less than ``loss_rtol`` (relative) over
  the last ``check_every`` steps. With ``schedule = "plateau"`` (Adam): a whole ladder of rates
  (from the latest rate that lowered the loss down to ``lr_min``, windows of ``check_every``
  steps) lowered the loss by less than ``loss_rtol`` (:class:`optim.PlateauDecay`);
* ``"budget"``    — ``max_steps`` reached;
* ``"stalled"``   — the gradient flow's adaptive step collapsed (optim.GradientFlow): not a
  minimum, the integrator cannot follow the flow (ReLU kinks);
* ``"diverged"``  — the loss became non-finite (never expected with the defaults).

Measurements (loss, N_Δ, train and test error, |w − w₀|) are taken at log-spaced steps and at
the step where each net stops; the final gap vector Δ (P,) is returned. With
``TrainConfig.finish = "newton"`` every net the optimiser left unfitted is then taken on by the
second-order stage of :mod:`.finish`, and its stop reason becomes the finish's.

:func:`train_ensemble` trains E nets (seeds and widths) as one batched computation
(models.EnsembleModel); :func:`dlbridge.nets.reference.train_reference` trains one net with plain
per-net code, the reference the batched path is tested against.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import torch

from packing.errors import require
from packing.progress import progress_bar

from .data import Dataset
from .finish import FINISHES, newton_finish
from .hessian import problem_from_arrays
from .implicit import ImplicitFlow
from .kinkfinish import smoothed_finish
from .losses import HingeLoss
from .models import EnsembleModel, NetSpec, init_params, net_forward
from .optim import Adam, Evaluation, Fire, GradientFlow, PlateauDecay, StepDecay

OPTIMIZERS = ("adam", "fire", "flow", "implicit")
SCHEDULES = ("step", "plateau")
STOP_REASONS = ("fitted", "converged", "budget", "stalled", "diverged")


def resolve_device(device: str) -> torch.device:
    """``"auto"`` → cuda when available else cpu; ``"cpu"``; ``"cuda"`` (must be available)."""
    require(device in ("auto", "cpu", "cuda"), "device", "one of auto, cpu, cuda", device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    require(device == "cpu" or torch.cuda.is_available(), "device",
            "cuda only where a CUDA GPU is available", device)
    return torch.device(device)


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser, budget, schedule and stopping rule.

    ``lr`` is Adam's initial learning rate, FIRE's initial dt, or the flows' initial dt. The
    Adam learning rate (and FIRE's dt_max) follow :func:`optim.lr_schedule` with
    ``decay_every``/``decay_factor``/``lr_min`` (``schedule = "step"``), or, with ``schedule =
    "plateau"``, fall by ``decay_factor`` per net after each window of ``check_every`` steps in
    which its loss fell by less than ``loss_rtol``, and go back up after each descent to
    ``lr_min`` that still lowered the loss (:class:`optim.PlateauDecay`). ``finish``:
    ``"newton"`` takes every net the optimiser left unfitted on to the bottom of its loss
    (:mod:`.finish`), ``"smoothed"`` does so for ReLU nets through their kinks (:mod:`.kinkfinish`),
    ``"none"`` does not.
    ``max_dout`` bounds the outputs' move per step of ``flow``, ``flow_tol`` the local error of
    the outputs per step of ``implicit`` (:mod:`.implicit`).
    """

    optimizer: str = "adam"
    max_steps: int = 20_000
    lr: float = 1e-2
    # the shape of the paper's `adam0` (nn_jamming train.py): constant for 2.5·10⁵ steps, then ÷10,
    # floor 10⁻⁷. A decay ÷2 every 2000 steps leaves lr < 10⁻⁴ after 10⁴ steps and gives a
    # ~1.7× larger N* at a 2·10⁴ budget (benchmarks/NSTAR.md). lr = 10⁻² (not their 10⁻⁴)
    # because weights here are O(1), not O(1/√fan_in).
    decay_every: int = 250_000
    decay_factor: float = 10.0
    lr_min: float = 1e-7
    loss: str = "quadratic"
    beta: float = 20.0
    check_every: int = 1_000
    loss_rtol: float = 1e-5
    n_measure: int = 40
    max_dout: float = 1e-1
    flow_tol: float = 1e-2
    finish: str = "none"
    schedule: str = "step"

    def __post_init__(self) -> None:
        require(self.optimizer in OPTIMIZERS, "optimizer", f"one of {', '.join(OPTIMIZERS)}",
                self.optimizer)
        require(self.schedule in SCHEDULES, "schedule", f"one of {', '.join(SCHEDULES)}",
                self.schedule)
        require(self.schedule == "step" or self.optimizer == "adam", "schedule",
                "step unless the optimizer is adam", self.schedule)
        require(self.schedule == "step" or self.decay_factor > 1, "decay_factor",
                "a number > 1 with schedule plateau", self.decay_factor)
        require(self.finish in FINISHES, "finish", f"one of {', '.join(FINISHES)}", self.finish)
        require(self.finish == "none" or self.loss != "hinge", "finish",
                "none with loss hinge (no curvature for Newton steps)", self.finish)
        for name in ("max_steps", "decay_every", "check_every", "n_measure"):
            v = getattr(self, name)
            require(isinstance(v, (int, np.integer)) and v >= 1, name, "an integer >= 1", v)
        for name in ("lr", "lr_min", "loss_rtol", "max_dout", "flow_tol"):
            v = getattr(self, name)
            require(math.isfinite(v) and v > 0, name, "a finite number > 0", v)
        require(math.isfinite(self.decay_factor) and self.decay_factor >= 1, "decay_factor",
                "a finite number >= 1", self.decay_factor)
        HingeLoss(self.loss, self.beta)

    @property
    def hinge(self) -> HingeLoss:
        """The :class:`HingeLoss` of this configuration."""
        return HingeLoss(self.loss, self.beta)


@dataclass(frozen=True)
class History:
    """Measurements at log-spaced steps, each an array of the same length."""

    steps: np.ndarray
    loss: np.ndarray
    n_constraints: np.ndarray
    train_error: np.ndarray
    test_error: np.ndarray
    displacement: np.ndarray


@dataclass(frozen=True)
class NetResult:
    """One trained net: final parameters (N,), gaps Δ (P,), loss, N_Δ, errors, why it stopped.
    ``steps`` counts the optimiser's steps, ``finish_iterations`` the final stage's (0 without),
    ``finish_loss_drift`` and ``finish_gap_drift`` how far its last stage still moved the net
    (:class:`~.finish.FinishOutcome`; NaN without a smoothed finish)."""

    spec: NetSpec
    seed: int
    theta: np.ndarray
    theta0: np.ndarray
    gaps: np.ndarray
    loss: float
    n_constraints: int
    train_error: float
    test_error: float
    steps: int
    stop_reason: str
    history: History = field(repr=False)
    finish_iterations: int = 0
    finish_loss_drift: float = math.nan
    finish_gap_drift: float = math.nan

    @property
    def fitted(self) -> bool:
        """True when every training datum is satisfied (N_Δ = 0)."""
        return self.n_constraints == 0

    @property
    def converged(self) -> bool:
        """True when the run reached a minimum (fitted, or loss converged with N_Δ > 0)."""
        return self.stop_reason in ("fitted", "converged")


def measure_steps(max_steps: int, n: int) -> np.ndarray:
    """0 and ~n integer steps log-spaced in [1, max_steps], including max_steps."""
    pts = np.unique(np.round(np.logspace(0, math.log10(max_steps), n)).astype(np.int64))
    return np.concatenate([[0], pts])


def _tensors(data: Dataset, device: torch.device, dtype: torch.dtype):
    conv = dict(device=device, dtype=dtype)
    return (torch.as_tensor(data.x_train, **conv), torch.as_tensor(data.y_train, **conv),
            torch.as_tensor(data.x_test, **conv), torch.as_tensor(data.y_test, **conv))


class _EnsembleObjective:
    """Loss, gaps, outputs and masked gradient of every net of an :class:`EnsembleModel`."""

    def __init__(self, model: EnsembleModel, x: torch.Tensor, y: torch.Tensor,
                 theta0: torch.Tensor, hinge: HingeLoss):
        self.model, self.x, self.y, self.hinge = model, x, y, hinge
        self.alpha = model.alphas[:, None]                          # (E, 1)
        with torch.no_grad():
            self.f0 = model.forward(theta0, x)

    def __call__(self, theta: torch.Tensor) -> Evaluation:
        with torch.enable_grad():
            th = theta.detach().requires_grad_(True)
            out = self.alpha * (self.model.forward(th, self.x) - self.f0)
            deltas = 1.0 - self.y * out
            loss = self.hinge.value(deltas).mean(dim=1) / self.alpha[:, 0] ** 2
            (grad,) = torch.autograd.grad(loss.sum(), th)
        return Evaluation(loss.detach(), deltas.detach(), out.detach(), grad * self.model.mask)

    def vjp(self, theta: torch.Tensor, cotangent: torch.Tensor) -> torch.Tensor:
        """Jᵀ c per net: (E, n_pad) masked, from ``cotangent`` (E, P); J = ∂f(x_μ)/∂w."""
        with torch.enable_grad():
            th = theta.detach().requires_grad_(True)
            (g,) = torch.autograd.grad((self.model.forward(th, self.x) * cotangent).sum(), th)
        return g * self.model.mask

    def jvp(self, theta: torch.Tensor, tangent: torch.Tensor) -> torch.Tensor:
        """J v per net: (E, P) from ``tangent`` (E, n_pad)."""
        return torch.func.jvp(lambda th: self.model.forward(th, self.x), (theta,),
                              (tangent * self.model.mask,))[1]

    def take(self, rows: torch.Tensor) -> "_EnsembleObjective":
        """The objective of the nets ``rows`` only (same data, same padded layout)."""
        sub = copy.copy(self)
        sub.model, sub.f0 = self.model.take(rows.tolist()), self.f0[rows]
        sub.alpha = sub.model.alphas[:, None]
        return sub


@dataclass(frozen=True)
class _Batch:
    """The nets still computed: their objective, w₀, f(w₀) on the test set, and their ids (the
    index of each row in the caller's list). Stopped nets are dropped by :meth:`take` once they
    are a quarter of the batch, so a scan's long tail near N* does not pay for the fitted nets."""

    objective: _EnsembleObjective
    theta0: torch.Tensor
    f0_test: torch.Tensor | None
    ids: np.ndarray

    def take(self, rows: torch.Tensor) -> "_Batch":
        """The sub-batch of rows ``rows`` (a (k,) long tensor)."""
        return _Batch(self.objective.take(rows), self.theta0[rows],
                      None if self.f0_test is None else self.f0_test[rows],
                      self.ids[rows.cpu().numpy()])


def _store(final: tuple[torch.Tensor, Evaluation], ids: np.ndarray, theta: torch.Tensor,
           ev: Evaluation) -> None:
    """Write the rows of a (compacted) batch into the full-size final parameters and evaluation."""
    idx = torch.as_tensor(ids, device=theta.device)
    final[0][idx] = theta
    for name in ("loss", "gaps", "outputs", "grad"):
        getattr(final[1], name)[idx] = getattr(ev, name)


def _make_schedule(cfg: TrainConfig, loss: torch.Tensor):
    """The learning-rate schedule of ``cfg`` for the nets of ``loss`` (E,)."""
    if cfg.schedule == "plateau":
        return PlateauDecay(loss, cfg.lr, cfg.check_every, cfg.decay_factor, cfg.lr_min,
                            cfg.loss_rtol)
    return StepDecay(loss, cfg.lr, cfg.decay_every, cfg.decay_factor, cfg.lr_min)


def _make_optimizer(cfg: TrainConfig, theta: torch.Tensor, alpha: torch.Tensor, schedule):
    builders = {
        "adam": lambda: Adam(theta, schedule),
        "fire": lambda: Fire(theta, cfg.lr),
        "flow": lambda: GradientFlow(theta, cfg.lr, cfg.max_dout, alpha=alpha),
        "implicit": lambda: ImplicitFlow(theta, cfg.lr, cfg.flow_tol),
    }
    return builders[cfg.optimizer]()


class _Recorder:
    """Per-net measurement lists and stop bookkeeping for :func:`train_ensemble`.

    Every method takes ``ids``: the original index of each row of the (possibly compacted) batch.
    """

    def __init__(self, n_nets: int, cfg: TrainConfig):
        self.rows: list[list[tuple]] = [[] for _ in range(n_nets)]
        self.reason = ["budget"] * n_nets
        self.stop_step = [cfg.max_steps] * n_nets
        self.last_check = [math.inf] * n_nets
        self.cfg = cfg

    def stops(self, step: int, ev: Evaluation, active: torch.Tensor, stalled: torch.Tensor,
              exhausted: torch.Tensor, ids: np.ndarray) -> torch.Tensor:
        """Decide which active rows stop at ``step``; returns the (rows,) bool of stopping nets.
        ``exhausted``: rows the plateau schedule found at a minimum."""
        nd = (ev.gaps > 0).sum(1).cpu().numpy()
        loss = ev.loss.cpu().numpy()
        stuck, done = stalled.cpu().numpy(), exhausted.cpu().numpy()
        check = step > 0 and step % self.cfg.check_every == 0
        by_change = self.cfg.schedule == "step"
        stop = np.zeros(len(nd), dtype=bool)
        for row in np.flatnonzero(active.cpu().numpy()):
            e = ids[row]
            reason = None
            if not math.isfinite(loss[row]):
                reason = "diverged"
            elif nd[row] == 0:
                reason = "fitted"
            elif stuck[row]:
                reason = "stalled"
            elif done[row] or (by_change and check and abs(self.last_check[e] - loss[row])
                                  <= self.cfg.loss_rtol * loss[row]):
                reason = "converged"
            elif step >= self.cfg.max_steps:
                reason = "budget"
            if check:
                self.last_check[e] = loss[row]
            if reason is not None:
                stop[row], self.reason[e], self.stop_step[e] = True, reason, step
        return torch.as_tensor(stop, device=active.device)

    def record(self, step: int, which: np.ndarray, ev: Evaluation, test_err: np.ndarray,
               disp: np.ndarray, ids: np.ndarray) -> None:
        """Append a measurement row for the rows flagged in ``which``."""
        nd = (ev.gaps > 0).sum(1).cpu().numpy()
        err = (ev.gaps >= 1).to(ev.loss.dtype).mean(1).cpu().numpy()
        loss = ev.loss.cpu().numpy()
        for row in np.flatnonzero(which):
            self.rows[ids[row]].append((step, loss[row], nd[row], err[row], test_err[row],
                                        disp[row]))

    def history(self, e: int) -> History:
        """The :class:`History` of net ``e``."""
        cols = list(zip(*self.rows[e]))
        return History(np.asarray(cols[0], np.int64), np.asarray(cols[1], float),
                       np.asarray(cols[2], np.int64), np.asarray(cols[3], float),
                       np.asarray(cols[4], float), np.asarray(cols[5], float))


def _test_error(model: EnsembleModel, theta: torch.Tensor, x: torch.Tensor,
                y: torch.Tensor, f0: torch.Tensor) -> np.ndarray:
    """Fraction of test points with y F ≤ 0, per net (NaN without test data)."""
    if len(x) == 0:
        return np.full(model.size, np.nan)
    with torch.no_grad():
        out = model.forward(theta, x) - f0
    return (y * out <= 0).to(theta.dtype).mean(1).cpu().numpy()


def _check_inputs(specs, seeds, data: Dataset) -> None:
    require(len(specs) == len(seeds) and len(specs) >= 1, "specs/seeds",
            "two non-empty lists of equal length", (len(specs), len(seeds)))
    require(all(s.d_in == data.dim for s in specs), "specs",
            f"nets with d_in equal to the data dimension {data.dim}", [s.d_in for s in specs])


@contextlib.contextmanager
def flush_denormals() -> Iterator[None]:
    """Subnormal floats flushed to zero while training (decaying Adam moments reach subnormals:
    100× slower on CPU), then the flag set back to torch's default, off (torch has no getter)."""
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """torch's intra-op thread count set to n, restored afterwards."""
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def train_ensemble(specs: list[NetSpec], seeds: list[int], data: Dataset,
                   config: TrainConfig = TrainConfig(), device: str = "auto",
                   dtype: torch.dtype = torch.float64, progress: bool = False,
                   compact: bool = True) -> list[NetResult]:
    """Train every (spec, seed) pair to the bottom of the loss as ONE batched computation.

    Nets of different widths are zero-padded into a common layout (EnsembleModel); each net
    stops on its own criterion and is frozen from then on. ``compact``: drop stopped nets from
    the batch once they are a quarter of it (bit-identical; False keeps every net to the end).
    Returns one :class:`NetResult` per net.
    """
    _check_inputs(specs, seeds, data)
    dev = resolve_device(device)
    with flush_denormals():
        results = _train_ensemble(specs, seeds, data, config, dev, dtype, progress, compact)
    if config.finish == "none":
        return results
    return [r if r.stop_reason in ("fitted", "diverged")
            else finished(r, data, config.hinge, dev, config.finish) for r in results]


_FINISH_STAGES = {"newton": newton_finish, "smoothed": smoothed_finish}
"""``TrainConfig.finish`` → the final stage (:mod:`.finish`, :mod:`.kinkfinish`)."""


def finished(r: NetResult, data: Dataset, hinge: HingeLoss, device: torch.device,
             config_finish: str = "newton") -> NetResult:
    """``r`` taken on by the final stage ``config_finish`` (float64): its parameters, gaps, loss,
    errors and stop reason where the finish stopped (the history stays the optimiser's)."""
    x, y, xt, yt = _tensors(data, device, torch.float64)
    prob = problem_from_arrays(r.spec, r.theta, r.theta0, x, y, hinge, device)
    out = _FINISH_STAGES[config_finish](prob)
    theta0 = torch.as_tensor(r.theta0, dtype=torch.float64, device=device)
    with torch.no_grad():
        d = prob.gaps(out.theta).cpu().numpy()
        loss = float(prob.loss(out.theta))
        test_out = net_forward(r.spec, out.theta, xt) - net_forward(r.spec, theta0, xt)
        test_error = float((yt * test_out <= 0).to(torch.float64).mean()) if len(xt) else math.nan
    return dataclasses.replace(
        r, theta=out.theta.cpu().numpy(), gaps=d, loss=loss, n_constraints=int((d > 0).sum()),
        train_error=float(np.mean(d >= 1)), test_error=test_error, stop_reason=out.reason,
        finish_iterations=out.iterations, finish_loss_drift=out.loss_drift,
        finish_gap_drift=out.gap_drift)


def _train_ensemble(specs, seeds, data, config, dev, dtype, progress, compact):
    """The loop of :func:`train_ensemble` on validated inputs."""
    model = EnsembleModel(specs, dev, dtype)
    x, y, xt, yt = _tensors(data, dev, dtype)
    theta0 = model.pack([init_params(s, sd, dtype, dev) for s, sd in zip(specs, seeds)])
    objective = _EnsembleObjective(model, x, y, theta0, config.hinge)
    with torch.no_grad():
        f0_test = model.forward(theta0, xt) if len(xt) else None
    theta, ev = theta0.clone(), objective(theta0)
    final = (theta.clone(), Evaluation(*(t.clone() for t in (ev.loss, ev.gaps, ev.outputs,
                                                             ev.grad))))
    batch = _Batch(objective, theta0, f0_test, np.arange(model.size))
    schedule = _make_schedule(config, ev.loss)
    opt = _make_optimizer(config, theta, model.alphas, schedule)
    rec = _Recorder(model.size, config)
    marks = set(measure_steps(config.max_steps, config.n_measure).tolist())
    active = torch.ones(model.size, dtype=torch.bool, device=dev)
    bar = _progress(config.max_steps, progress)
    for step in range(config.max_steps + 1):
        schedule.observe(step, ev.loss, active)
        stopping = rec.stops(step, ev, active, opt.stalled(), schedule.exhausted(), batch.ids)
        which = (stopping | (active if step in marks else torch.zeros_like(active))).cpu().numpy()
        if which.any():
            rec.record(step, which, ev,
                       _test_error(batch.objective.model, theta, xt, yt, batch.f0_test),
                       (theta - batch.theta0).norm(dim=1).cpu().numpy(), batch.ids)
        active = active & ~stopping
        if not bool(active.any()):
            break
        if compact and 4 * int(active.sum()) <= 3 * len(active):
            _store(final, batch.ids, theta, ev)
            rows = torch.nonzero(active)[:, 0]
            batch, theta, ev, active = batch.take(rows), theta[rows], ev.take(rows), active[rows]
            opt.take(rows)
            schedule.take(rows)
        theta, ev = opt.step(theta, ev, active, step, batch.objective)
        if bar is not None and step % 100 == 0:
            bar.update(min(100, config.max_steps - bar.n))
            bar.set_postfix(active=int(active.sum()))
    if bar is not None:
        bar.close()
    _store(final, batch.ids, theta, ev)
    return _results(model, specs, seeds, final[0], theta0, final[1], rec,
                    _test_error(model, final[0], xt, yt, f0_test))


def _progress(total: int, enabled: bool):
    bar = progress_bar(total, enabled, desc="training", unit="step", leave=False)
    return None if bar.disable else bar


def _results(model, specs, seeds, theta, theta0, ev, rec, test_err) -> list[NetResult]:
    thetas, thetas0 = model.unpack(theta), model.unpack(theta0)
    out = []
    for e, (spec, seed) in enumerate(zip(specs, seeds)):
        d = ev.gaps[e].cpu().numpy()
        out.append(NetResult(spec, int(seed), thetas[e].cpu().numpy(), thetas0[e].cpu().numpy(),
                             d, float(ev.loss[e]), int((d > 0).sum()), float(np.mean(d >= 1)),
                             float(test_err[e]), rec.stop_step[e], rec.reason[e], rec.history(e)))
    return out
