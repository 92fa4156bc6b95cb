"""Training: losses, batched ensembles against the plain per-net loop, stop rules, records."""
from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from dlbridge.compare.states import CERTIFIED_RESIDUAL, read_states
from dlbridge.nets.data import random_sphere
from dlbridge.nets.losses import HingeLoss
from dlbridge.nets.models import make_spec, net_forward
from dlbridge.nets.optim import PlateauDecay, lr_schedule
from dlbridge.nets.reference import train_reference
from dlbridge.nets.train import TrainConfig, measure_steps, train_ensemble
from packing.errors import ParameterError
from packing.io import SCHEMA

DATA = random_sphere(5, 60, 40, seed=0)


def test_losses_by_hand():
    d = torch.tensor([-1.0, 0.0, 0.5, 2.0], dtype=torch.float64)
    q, h, s = HingeLoss("quadratic"), HingeLoss("hinge"), HingeLoss("softhinge", beta=2.0)
    np.testing.assert_allclose(q.value(d), [0, 0, 0.125, 2.0])
    np.testing.assert_allclose(q.d1(d), [0, 0, 0.5, 2.0])
    np.testing.assert_allclose(h.value(d), [0, 0, 0.5, 2.0])
    np.testing.assert_allclose(s.value(d), np.log1p(np.exp(2 * d.numpy())) / 2, rtol=1e-15)
    np.testing.assert_allclose(s.d1(d), 1 / (1 + np.exp(-2 * d.numpy())), rtol=1e-15)
    with pytest.raises(ParameterError, match="loss"):
        HingeLoss("square")


def test_schedule_and_measure_steps():
    assert lr_schedule(0, 1e-2, 100, 2.0, 1e-4) == 1e-2
    assert lr_schedule(250, 1e-2, 100, 2.0, 1e-4) == 2.5e-3
    assert lr_schedule(10_000, 1e-2, 100, 2.0, 1e-4) == 1e-4
    m = measure_steps(1000, 10)
    assert m[0] == 0 and m[-1] == 1000 and np.all(np.diff(m) > 0)
    np.testing.assert_allclose(np.diff(np.log(m[1:])), np.log(1000) / 9, rtol=0.2)


def _specs():
    return [make_spec(5, 2, h) for h in (3, 4.5, 6)]


def test_batched_adam_equals_torch_adam_loop():
    cfg = TrainConfig(max_steps=200, lr=1e-2, decay_every=50, check_every=100)
    specs, seeds = _specs(), [0, 1, 2]
    batched = train_ensemble(specs, seeds, DATA, cfg, device="cpu")
    for r, s, sd in zip(batched, specs, seeds):
        theta, deltas, loss, nd, steps = train_reference(s, sd, DATA, cfg)
        assert r.n_constraints == nd and r.steps == steps
        np.testing.assert_allclose(r.gaps, deltas, atol=1e-9)
        np.testing.assert_allclose(r.loss, loss, rtol=1e-8, atol=1e-14)
        np.testing.assert_allclose(r.theta, theta, atol=1e-9)
        assert r.loss == pytest.approx(0.5 * np.mean(np.maximum(r.gaps, 0) ** 2), rel=1e-12)


def test_plateau_decay_by_hand():
    """Windows of 2 steps, rtol 0.1, rate ÷10 from 1e-1 down to 1e-3. Net 0 keeps falling by half
    each step (never lowered). Net 1 is flat after its first window: lowered at steps 4 and 6,
    its first ladder (which lowered the loss from ∞) restarts at step 8 at 1e-1, its second one
    brings no fall and it is exhausted at step 14. Net 2 drops to 0.5 at step 6, in a window at
    1e-2: its ladder restarts at step 10 at that rate, and it is exhausted at step 14. Net 3 is
    inactive (untouched)."""
    s = PlateauDecay(torch.ones(4, dtype=torch.float64), 1e-1, 2, 10.0, 1e-3, 0.1)
    active = torch.tensor([True, True, True, False])
    rates, done = [], []
    for step in range(15):
        loss = [0.5**step, 1.0, 1.0 if step < 6 else 0.5, 1.0]
        s.observe(step, torch.tensor(loss, dtype=torch.float64), active)
        rates.append(s.rate(step).tolist())
        done.append(s.exhausted().tolist())
    assert [r[0] for r in rates] == [1e-1] * 15 and [r[3] for r in rates] == [1e-1] * 15
    ladder = [1e-1] * 4 + [1e-2] * 2 + [1e-3] * 2
    assert [r[1] for r in rates] == pytest.approx(ladder + [1e-1] * 2 + [1e-2] * 2 + [1e-3] * 3)
    assert [r[2] for r in rates] == pytest.approx([1e-1] * 4 + [1e-2] * 4 + [1e-3] * 2
                                                  + [1e-2] * 2 + [1e-3] * 3)
    for net in (1, 2):
        assert [d[net] for d in done] == [False] * 14 + [True]
    assert not any(d[0] or d[3] for d in done)
    s.take(torch.tensor([1]))
    assert s.rate(15).tolist() == pytest.approx([1e-3]) and s.exhausted().tolist() == [True]


def test_batched_plateau_adam_equals_torch_adam_loop():
    """Per-net rates lowered at different steps and nets stopped as converged at the smallest
    rate: the batched path against torch.optim.Adam driven by the same rule one net at a time."""
    cfg = TrainConfig(max_steps=3000, lr=1e-2, check_every=100, loss_rtol=1e-2, lr_min=1e-4,
                      schedule="plateau")
    specs, seeds = [make_spec(5, 2, h) for h in (1, 2, 3)], [0, 1, 2]
    batched = train_ensemble(specs, seeds, DATA, cfg, device="cpu")
    assert sum(r.stop_reason == "converged" for r in batched) >= 2
    assert len({r.steps for r in batched}) >= 2
    for r, s, sd in zip(batched, specs, seeds):
        theta, deltas, loss, nd, steps = train_reference(s, sd, DATA, cfg)
        assert r.n_constraints == nd and r.steps == steps
        np.testing.assert_allclose(r.gaps, deltas, atol=1e-9)
        np.testing.assert_allclose(r.theta, theta, atol=1e-9)


def test_plateau_schedule_needs_adam_and_a_decay():
    with pytest.raises(ParameterError, match="schedule"):
        TrainConfig(optimizer="fire", schedule="plateau")
    with pytest.raises(ParameterError, match="decay_factor"):
        TrainConfig(schedule="plateau", decay_factor=1.0)
    with pytest.raises(ParameterError, match="schedule"):
        TrainConfig(schedule="cosine")


@pytest.mark.parametrize("optimizer,lr", [("fire", 1.0), ("flow", 1.0)])
def test_batched_fire_and_flow_equal_single_net_runs(optimizer, lr):
    cfg = TrainConfig(optimizer=optimizer, max_steps=60, lr=lr, check_every=30)
    specs, seeds = _specs(), [0, 1, 2]
    batched = train_ensemble(specs, seeds, DATA, cfg, device="cpu")
    for r, s, sd in zip(batched, specs, seeds):
        theta, deltas, loss, nd, steps = train_reference(s, sd, DATA, cfg)
        assert r.n_constraints == nd and r.steps == steps
        np.testing.assert_allclose(r.gaps, deltas, atol=1e-9)
        assert r.loss < 0.5                                    # moved down from L(w0) = 1/2


def test_stop_reasons_and_history():
    big = train_ensemble([make_spec(5, 2, 20)], [0], DATA,
                         TrainConfig(max_steps=3000), device="cpu")[0]
    assert big.stop_reason == "fitted" and big.n_constraints == 0 and big.loss == 0.0
    assert big.history.steps[-1] == big.steps and big.history.n_constraints[-1] == 0
    assert big.history.loss[0] == pytest.approx(0.5)            # Δ = 1 for all data at w0
    assert big.history.displacement[0] == 0.0 and big.history.displacement[-1] > 0
    tiny = train_ensemble([make_spec(5, 1, 1)], [0], DATA,
                          TrainConfig(max_steps=4000, check_every=500, loss_rtol=1e-3),
                          device="cpu")[0]
    assert tiny.stop_reason == "converged" and tiny.n_constraints > 0
    cut = train_ensemble([make_spec(5, 2, 3)], [0], DATA, TrainConfig(max_steps=5),
                         device="cpu")[0]
    assert cut.stop_reason == "budget" and cut.steps == 5 and not cut.converged


def test_stopped_nets_dropped_from_the_batch_change_nothing():
    """Nets stopping at different steps (fitted, converged, budget) are dropped from the batch as
    it shrinks; the result must be bit-identical to keeping the whole batch to the end."""
    specs = [make_spec(5, 2, h) for h in (1, 3, 4.5, 20, 30)]
    seeds = [0, 1, 2, 3, 4]
    cfg = TrainConfig(max_steps=2500, check_every=500, loss_rtol=1e-3)
    runs = [train_ensemble(specs, seeds, DATA, cfg, device="cpu", compact=c) for c in (True, False)]
    assert len({(r.stop_reason, r.steps) for r in runs[0]}) >= 4      # staggered stops
    for a, b in zip(*runs):
        assert (a.stop_reason, a.steps, a.n_constraints, a.loss) == (b.stop_reason, b.steps, b.n_constraints,
                                                               b.loss)
        for name in ("theta", "gaps"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        for name in ("steps", "loss", "n_constraints", "train_error", "test_error", "displacement"):
            np.testing.assert_array_equal(getattr(a.history, name), getattr(b.history, name))


def _flow_gradient_ratio(r, data):
    """|∇L(w_end)| / |∇L(w₀)| of one trained net (plain autograd)."""
    x, y = torch.as_tensor(data.x_train), torch.as_tensor(data.y_train)
    f0 = net_forward(r.spec, torch.as_tensor(r.theta0), x)

    def grad(theta):
        th = torch.as_tensor(theta).clone().requires_grad_(True)
        d = 1 - y * (net_forward(r.spec, th, x) - f0)
        (g,) = torch.autograd.grad((0.5 * torch.relu(d) ** 2).mean(), th)
        return float(g.norm())

    return grad(r.theta) / grad(r.theta0)


def test_flow_reports_stalled_relu_nets_and_descends_on_smooth_ones():
    """The adaptive Euler flow accepts only steps that decrease the loss (so the loss history is
    non-increasing). On ReLU nets its step collapses at kinks of the loss while the gradient stays
    finite: those nets must be reported "stalled", not "converged"."""
    cfg = TrainConfig(optimizer="flow", lr=1.0, max_steps=3000, check_every=1000)
    relu = train_ensemble([make_spec(5, 2, h) for h in (2, 4, 8)], [0, 0, 0], DATA, cfg,
                          device="cpu")
    for r in relu:
        assert r.stop_reason == "stalled" and r.n_constraints > 0 and not r.converged
        assert _flow_gradient_ratio(r, DATA) > 1e-2          # far from a stationary point
    smooth = train_ensemble([make_spec(5, 2, h, activation="softplus") for h in (2, 8)], [0, 0],
                            DATA, cfg, device="cpu")
    for r in smooth + relu:
        assert np.all(np.diff(r.history.loss) <= 1e-15)
    assert all(r.stop_reason != "stalled" for r in smooth)
    assert smooth[1].loss < 1e-2 * smooth[0].loss


def test_config_and_input_errors():
    with pytest.raises(ParameterError, match="optimizer"):
        TrainConfig(optimizer="sgd")
    with pytest.raises(ParameterError, match="max_steps"):
        TrainConfig(max_steps=0)
    with pytest.raises(ParameterError, match="d_in"):
        train_ensemble([make_spec(4, 2, 3)], [0], DATA, TrainConfig(max_steps=2), device="cpu")
    with pytest.raises(ParameterError, match="device"):
        train_ensemble([make_spec(5, 2, 3)], [0], DATA, TrainConfig(max_steps=2), device="tpu")


def test_stored_dead_inputs_are_those_of_the_final_net(tmp_path):
    """write_nets stores each ReLU net's dead training inputs (recomputed from the stored
    parameters here), how many of them are unsatisfied and its kink pre-activations; softplus
    nets store none of these."""
    from dlbridge.nets.diagnostics import dead_inputs, kink_preactivations
    from dlbridge.nets.hessian import problem_from_arrays
    from dlbridge.nets.kinkmin import kink_stationarity
    from dlbridge.nets.runs import NetRunSpec, train_width, write_nets

    for activation in ("relu", "softplus"):
        spec = NetRunSpec(dim=5, n_train=60, n_test=0, width=2, steps=300, activation=activation)
        data = spec.load_data()
        results = train_width(spec, [0, 1], data)
        with h5py.File(tmp_path / f"{activation}.h5", "w") as f:
            f.attrs["schema"] = SCHEMA
            write_nets(f.create_group("runs"), spec, results, data)
        with h5py.File(tmp_path / f"{activation}.h5", "r") as f:
            for r in results:
                g = f["runs"][f"L2_h2_seed{r.seed}"]
                if activation == "softplus":
                    assert "dead_inputs" not in g and "n_dead_violations" not in g.attrs
                    assert "n_kinks" not in g.attrs and "kink_residual" not in g.attrs
                    continue
                dead = dead_inputs(r.spec, g["parameters"][()], data.x_train).dead
                np.testing.assert_array_equal(g["dead_inputs"][()], dead)
                assert g.attrs["n_dead_violations"] == np.count_nonzero(dead & (g["gaps"][()] > 0))
                assert g.attrs["n_kinks"] == kink_preactivations(r.spec, g["parameters"][()],
                                                                  data.x_train)
                cert = kink_stationarity(problem_from_arrays(
                    r.spec, g["parameters"][()], g["initial_parameters"][()], data.x_train,
                    data.y_train))
                assert g.attrs["kink_residual"] == pytest.approx(cert.bounded_residual, rel=1e-9, abs=1e-15)
                assert g.attrs["n_releasable_kinks"] == cert.n_releasable()
    assert dead.any()     # width 2 leaves dead inputs: the check above is not empty
    states = {st.seed: st for st in read_states(tmp_path / "relu.h5")}
    with h5py.File(tmp_path / "relu.h5", "r") as f:
        for seed, st in states.items():
            a = f["runs"][f"L2_h2_seed{seed}"].attrs
            assert st.kink_residual == a["kink_residual"]
            assert st.certified == (a["kink_residual"] <= 1e-8 and a["n_releasable_kinks"] == 0)


def test_the_smoothed_finish_stores_its_drifts_and_converges_only_by_its_rule(tmp_path):
    """Under-parametrised ReLU nets (N = 19, P = 60) after 300 Adam steps and the smoothed
    finish: each unfitted net stores the drifts of the finish's last stage, and a net stored as
    converged holds the kink certificate or drifts within the default tolerances."""
    from dlbridge.nets.kinkfinish import SmoothingSettings
    from dlbridge.nets.runs import NetRunSpec, train_width, write_nets

    spec = NetRunSpec(dim=5, n_train=60, n_test=0, width=2, steps=300, finish="smoothed")
    data = spec.load_data()
    results = train_width(spec, [0, 1, 2], data)
    with h5py.File(tmp_path / "nets.h5", "w") as f:
        write_nets(f.create_group("runs"), spec, results, data)
    rule = SmoothingSettings()
    assert CERTIFIED_RESIDUAL == rule.ctol
    with h5py.File(tmp_path / "nets.h5", "r") as f:
        for r in results:
            a = f["runs"][f"L2_h2_seed{r.seed}"].attrs
            assert a["finish"] == "smoothed" and a["stop_reason"] == r.stop_reason != "fitted"
            assert a["finish_loss_drift"] >= 0 and a["finish_gap_drift"] >= 0
            if r.stop_reason == "converged":
                assert ((a["kink_residual"] <= rule.ctol and a["n_releasable_kinks"] == 0)
                        or (a["finish_loss_drift"] <= rule.ltol and a["finish_gap_drift"] <= rule.dtol))
    assert {r.stop_reason for r in results} & {"converged"}
