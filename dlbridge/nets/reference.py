"""One net trained by plain per-net code: the reference :func:`.train.train_ensemble` is tested
against (tests/test_net_train.py) and timed against (benchmarks/bench_networks.py).

``adam`` runs ``torch.optim.Adam`` on the unbatched forward pass :func:`.models.net_forward`, with
the stop rules and learning-rate schedules of :class:`.train.TrainConfig` written again in plain
floats; the other optimisers run the batched code on the one net (E = 1).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .data import Dataset
from .models import NetSpec, init_params, net_forward
from .optim import lr_schedule
from .train import TrainConfig, _check_inputs, _tensors, resolve_device, train_ensemble


class _PlainPlateau:
    """:class:`optim.PlateauDecay` for one net, in plain floats (the reference's)."""

    def __init__(self, cfg: TrainConfig):
        self.cfg, self.lr, self.lr_fell = cfg, cfg.lr, cfg.lr
        self.best = self.window_best = self.ladder_best = math.inf
        self.done = False

    def observe(self, step: int, loss: float) -> None:
        cfg = self.cfg
        self.window_best = min(self.window_best, loss)
        if step == 0 or step % cfg.check_every:
            return
        fell = self.window_best < (1 - cfg.loss_rtol) * self.best
        self.best, self.window_best = min(self.best, self.window_best), math.inf
        if fell:
            self.lr_fell = self.lr
        elif self.lr > cfg.lr_min:
            self.lr = max(self.lr / cfg.decay_factor, cfg.lr_min)
        elif self.best < (1 - cfg.loss_rtol) * self.ladder_best:
            self.lr, self.ladder_best = self.lr_fell, self.best
        else:
            self.done = True


def _reference_adam(spec: NetSpec, theta: torch.Tensor, closure, cfg: TrainConfig):
    """Run torch.optim.Adam with the schedule; stop rules as in train_ensemble. Returns (θ, step)."""
    p = theta.clone().requires_grad_(True)
    opt = torch.optim.Adam([p], lr=cfg.lr)
    plateau = _PlainPlateau(cfg) if cfg.schedule == "plateau" else None
    last_check, step = math.inf, 0
    while True:
        loss, deltas = closure(p)
        nd = int((deltas > 0).sum())
        lv = float(loss.detach())
        check = step > 0 and step % cfg.check_every == 0
        if plateau is not None:
            plateau.observe(step, lv)
            converged = plateau.done
        else:
            converged = check and abs(last_check - lv) <= cfg.loss_rtol * lv
        if nd == 0 or step >= cfg.max_steps or converged:
            return p.detach(), step
        if check:
            last_check = lv
        for group in opt.param_groups:
            group["lr"] = plateau.lr if plateau is not None else lr_schedule(
                step, cfg.lr, cfg.decay_every, cfg.decay_factor, cfg.lr_min)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1


def train_reference(spec: NetSpec, seed: int, data: Dataset, config: TrainConfig = TrainConfig(),
                    device: str = "cpu", dtype: torch.dtype = torch.float64
                    ) -> tuple[np.ndarray, np.ndarray, float, int, int]:
    """Train one net with plain single-net code; returns (θ, Δ, loss, N_Δ, steps).

    ``adam`` uses torch.optim.Adam on the unbatched forward pass :func:`models.net_forward`;
    ``fire`` and ``flow`` run :func:`train_ensemble` on this net alone (E = 1), so looping over
    nets checks that batching, padding and per-net freezing do not couple the nets.
    """
    _check_inputs([spec], [seed], data)
    if config.optimizer != "adam":
        (r,) = train_ensemble([spec], [seed], data, config, device, dtype)
        return r.theta, r.gaps, r.loss, r.n_constraints, r.steps
    dev = resolve_device(device)
    x, y, _, _ = _tensors(data, dev, dtype)
    theta0 = init_params(spec, seed, dtype, dev)
    f0 = net_forward(spec, theta0, x).detach()
    hinge = config.hinge

    def closure(p):
        deltas = 1.0 - y * spec.alpha * (net_forward(spec, p, x) - f0)
        return hinge.value(deltas).mean() / spec.alpha**2, deltas

    theta, steps = _reference_adam(spec, theta0, closure, config)
    loss, deltas = closure(theta)
    d = deltas.detach().cpu().numpy()
    return theta.cpu().numpy(), d, float(loss), int((d > 0).sum()), steps
