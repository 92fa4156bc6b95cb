"""dlbridge.nets.diagnostics: dead inputs and kink pre-activations of ReLU nets against plain loops,
and the probability of dead inputs at initialisation against the exact formula 1 − Π(1 − 2^{−n_ℓ})."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from dlbridge.nets.data import random_sphere
from dlbridge.nets.diagnostics import KINK_RTOL, dead_fraction_at_init, dead_inputs, kink_preactivations
from dlbridge.nets.models import NetSpec, init_params, make_spec
from dlbridge.nets.train import TrainConfig, train_ensemble
from packing.errors import ParameterError


def loop_layers(spec: NetSpec, theta: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """(W, b, fan-in) of each hidden layer, read off the flat parameters one block at a time."""
    layers, off = [], 0
    for o, i in spec.shapes[:-1]:
        w = theta[off:off + o * i].reshape(o, i)
        off += o * i
        b = theta[off:off + o] if spec.bias else np.zeros(o)
        off += o if spec.bias else 0
        layers.append((w, b, i))
    return layers


def loop_preactivations(spec: NetSpec, theta: np.ndarray, x: np.ndarray) -> list[np.ndarray]:
    """a^ℓ (P, n_ℓ) of every hidden layer, one input and one unit at a time."""
    layers = loop_layers(spec, theta)
    out = [np.zeros((len(x), len(b))) for _, b, _ in layers]
    for mu in range(len(x)):
        z = x[mu]
        for k, (w, b, fan) in enumerate(layers):
            a = np.array([w[j] @ z / np.sqrt(fan) + b[j] for j in range(len(b))])
            out[k][mu] = a
            z = np.sqrt(2.0) * np.maximum(a, 0.0)
    return out


def loop_first_dead_layer(spec: NetSpec, theta: np.ndarray, x: np.ndarray) -> tuple[list[int], int]:
    """Per input, the first hidden layer with no positive pre-activation (−1 if none), and the
    number of hidden units positive on no input; one input and one unit at a time."""
    pre = loop_preactivations(spec, theta, x)
    first = []
    for mu in range(len(x)):
        off = [k for k, a in enumerate(pre) if not (a[mu] > 0).any()]
        first.append(off[0] if off else -1)
    return first, int(sum((~(a > 0).any(axis=0)).sum() for a in pre))


@pytest.mark.parametrize("bias", [True, False])
def test_dead_inputs_equal_a_plain_loop(bias):
    spec = NetSpec(5, (3, 2, 4), bias=bias)
    x = random_sphere(5, 60, seed=3).x_train
    rng = np.random.default_rng(0)
    for seed in range(6):
        theta = init_params(spec, seed).numpy()
        if bias:                      # trained-like biases, some negative enough to kill units
            theta = theta + 0.8 * rng.standard_normal(theta.shape) * (np.abs(theta) == 0)
        ref_first, ref_units = loop_first_dead_layer(spec, theta, x)
        got = dead_inputs(spec, torch.as_tensor(theta), x)
        assert got.first_dead_layer.tolist() == ref_first
        assert got.dead_units == ref_units
        assert got.n_dead == sum(f >= 0 for f in ref_first)


def test_dead_fraction_at_gaussian_init_matches_the_exact_formula():
    """Zero biases, Gaussian weights: every layer is off with probability 2^{−n_ℓ} given a live
    input, so P(dead) = 1 − Π(1 − 2^{−n_ℓ}); 400 nets × 40 inputs, 4 standard errors."""
    spec = make_spec(6, 5, 3.4, init="gaussian")
    assert spec.widths == (4, 4, 3, 3, 3)
    x = random_sphere(6, 40, seed=1).x_train
    per_net = np.array([dead_inputs(spec, init_params(spec, s), x).dead.mean() for s in range(400)])
    expected = dead_fraction_at_init(spec.widths)
    assert expected == pytest.approx(1 - (15 / 16) ** 2 * (7 / 8) ** 3, rel=1e-14)
    sem = per_net.std(ddof=1) / np.sqrt(len(per_net))
    assert abs(per_net.mean() - expected) < 4 * sem
    assert 0.4 < expected < 0.42                            # the test has power


def test_dead_inputs_reject_smooth_activations_and_bad_shapes():
    x = random_sphere(4, 10, seed=0).x_train
    tanh = NetSpec(4, (3,), activation="tanh")
    with pytest.raises(ParameterError, match="activation"):
        dead_inputs(tanh, init_params(tanh, 0), x)
    relu = NetSpec(4, (3,))
    with pytest.raises(ParameterError, match="theta"):
        dead_inputs(relu, init_params(relu, 0)[:-1], x)
    with pytest.raises(ParameterError, match="x"):
        dead_inputs(relu, init_params(relu, 0), x[:, :3])
    with pytest.raises(ParameterError, match="widths"):
        dead_fraction_at_init(())


def test_narrow_deep_nets_that_stop_at_a_minimum_are_stopped_by_dead_inputs():
    """benchmarks/NSTAR.md (session 4): P = 120, d = 6, L = 5, h = 4.6, Adam lr 1e-2. Most nets
    stop at a stationary loss with N_Δ > 0, and their unsatisfied data are dead inputs (here all of
    them; 89 % over the L = 5 scans of NSTAR.md). Thresholds leave room for other roundings."""
    data = random_sphere(6, 120, seed=0)
    specs = [make_spec(6, 5, 4.6) for _ in range(8)]
    cfg = TrainConfig(max_steps=20_000, lr=1e-2, decay_factor=1.0)
    trapped = [r for r in train_ensemble(specs, list(range(8)), data, cfg, device="cpu")
               if r.stop_reason == "converged" and r.n_constraints > 0]
    assert len(trapped) >= 4
    unsat = sum(r.n_constraints for r in trapped)
    dead = sum(int((dead_inputs(r.spec, r.theta, data.x_train).dead & (r.gaps > 0)).sum())
               for r in trapped)
    assert dead >= 0.8 * unsat


def test_kinks_are_the_preactivations_put_on_zero():
    """Biases of the first hidden layer chosen so that a^1_μi = 0 for 4 (μ, i) pairs, and one
    second-layer bias so that a^2_ν0 = 0: the count is those 5, as a plain loop counts them, and
    a net with random biases has none (zero biases would put the later layers of a dead input
    on the kink: there a^ℓ = b^ℓ)."""
    spec = NetSpec(5, (4, 3))
    x = random_sphere(5, 50, seed=2).x_train
    theta = init_params(spec, 1).numpy()
    theta = theta + 0.3 * np.random.default_rng(4).standard_normal(theta.shape) * (theta == 0)
    (w1, b1, fan1), _ = loop_layers(spec, theta)
    b1_at = spec.slices()[0][1]
    assert kink_preactivations(spec, theta, x) == 0
    for mu, i in [(3, 0), (7, 1), (11, 2), (20, 3)]:
        theta[b1_at.start + i] = -(w1[i] @ x[mu]) / np.sqrt(fan1)
    a2 = loop_preactivations(spec, theta, x)[1]
    b2_at = spec.slices()[1][1]
    theta[b2_at.start] -= a2[30, 0]
    pre = loop_preactivations(spec, theta, x)
    expected = sum(int((np.abs(a) <= KINK_RTOL * np.median(np.abs(a))).sum()) for a in pre)
    assert kink_preactivations(spec, torch.as_tensor(theta), x) == expected
    assert expected == 5


def test_kinks_reject_smooth_activations_and_bad_arguments():
    x = random_sphere(4, 10, seed=0).x_train
    soft = NetSpec(4, (3,), activation="softplus")
    with pytest.raises(ParameterError, match="activation"):
        kink_preactivations(soft, init_params(soft, 0), x)
    relu = NetSpec(4, (3,))
    with pytest.raises(ParameterError, match="rtol"):
        kink_preactivations(relu, init_params(relu, 0), x, rtol=0.0)
    with pytest.raises(ParameterError, match="theta"):
        kink_preactivations(relu, init_params(relu, 0)[:-1], x)
