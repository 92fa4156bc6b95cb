"""dlbridge.nets.models: parameter counts, widths, initialisation, forward pass, ensembles."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from dlbridge.nets.models import (
    EnsembleModel,
    NetSpec,
    init_params,
    layer_widths,
    make_spec,
    net_forward,
    width_for_params,
)
from packing.errors import ParameterError


def numpy_forward(spec: NetSpec, theta: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Independent numpy forward pass of the (h, α) architecture (models.py docstring)."""
    z, off = x, 0
    for k, (o, i) in enumerate(spec.shapes):
        w = theta[off:off + o * i].reshape(o, i)
        off += o * i
        b = theta[off:off + o] if spec.bias else 0.0
        off += o if spec.bias else 0
        if k < len(spec.shapes) - 1:
            a = z @ w.T / np.sqrt(i) + b
            z = {"relu": np.sqrt(2) * np.maximum(a, 0), "tanh": np.tanh(a)}[spec.activation]
        else:
            return (z @ w.T)[:, 0] / i + b


def test_parameter_counts_by_hand():
    assert NetSpec(10, (30, 30)).n_params == 10 * 30 + 30 + 30 * 30 + 30 + 30 + 1 == 1291
    assert NetSpec(10, (30, 30), bias=False).n_params == 1230
    assert NetSpec(10, (30, 30)).n_eff == 1291 - 60
    assert NetSpec(10, (30, 30), activation="tanh").n_eff == 1291


def test_fractional_widths_and_target_count():
    assert layer_widths(3, 4.0) == (4, 4, 4)
    assert layer_widths(3, 4 + 1 / 3) == (5, 4, 4)
    assert layer_widths(3, 4 + 2 / 3) == (5, 5, 4)
    counts = [make_spec(10, 3, k / 3).n_params for k in range(3, 60)]
    assert all(b > a for a, b in zip(counts, counts[1:]))
    h = width_for_params(10, 3, 500)
    assert make_spec(10, 3, h).n_params >= 500 > make_spec(10, 3, h - 1 / 3).n_params
    with pytest.raises(ParameterError, match="width"):
        layer_widths(2, 0.5)


@pytest.mark.parametrize("activation,bias", [("relu", True), ("tanh", False)])
def test_forward_matches_numpy(activation, bias):
    spec = NetSpec(4, (5, 3), activation, bias)
    rng = np.random.default_rng(0)
    theta, x = rng.standard_normal(spec.n_params), rng.standard_normal((9, 4))
    got = net_forward(spec, torch.as_tensor(theta), torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(got, numpy_forward(spec, theta, x), rtol=1e-13, atol=1e-14)


def test_orthogonal_init_rows_and_seeds():
    spec = NetSpec(6, (4, 9))
    th = init_params(spec, 5).numpy()
    w1 = th[:24].reshape(4, 6)                           # 4 ≤ 6: orthogonal rows of norm √6
    np.testing.assert_allclose(w1 @ w1.T, 6 * np.eye(4), atol=1e-12)
    off = 24 + 4
    w2 = th[off:off + 36].reshape(9, 4)                  # 9 > 4: orthogonal columns of norm 3
    np.testing.assert_allclose(w2.T @ w2, 9 * np.eye(4), atol=1e-12)
    np.testing.assert_array_equal(th, init_params(spec, 5).numpy())
    assert np.all(th[24:28] == 0)


def test_relu_rescaling_symmetry_behind_n_eff():
    """Scaling a hidden ReLU unit's inputs by λ and outputs by 1/λ leaves f unchanged."""
    spec = NetSpec(3, (4, 4))
    th = init_params(spec, 1, ).clone()
    x = torch.randn(7, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    f = net_forward(spec, th, x)
    (w1, b1), (w2, _), _ = spec.slices()
    th2 = th.clone()
    th2[w1] = (th[w1].reshape(4, 3) * torch.tensor([2.5, 1, 1, 1.0])[:, None]).reshape(-1)
    th2[b1] = th[b1] * torch.tensor([2.5, 1, 1, 1.0])
    th2[w2] = (th[w2].reshape(4, 4) / torch.tensor([2.5, 1, 1, 1.0])[None, :]).reshape(-1)
    torch.testing.assert_close(net_forward(spec, th2, x), f, rtol=1e-14, atol=1e-14)


def test_ensemble_forward_equals_each_net():
    specs = [make_spec(5, 3, h, activation="softplus") for h in (2, 3.7, 6)] + \
            [make_spec(5, 3, 4.5, activation="softplus")]
    model = EnsembleModel(specs)
    thetas = [init_params(s, i) + 0.1 for i, s in enumerate(specs)]
    theta = model.pack(thetas)
    x = torch.randn(11, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    f = model.forward(theta, x)
    for e, (s, th) in enumerate(zip(specs, thetas)):
        torch.testing.assert_close(f[e], net_forward(s, th, x), rtol=1e-13, atol=1e-13)
        torch.testing.assert_close(model.unpack(theta)[e], th, rtol=0, atol=0)
    assert float(theta[model.mask == 0].abs().max()) == 0.0


def test_ensemble_rejects_mixed_depths():
    with pytest.raises(ParameterError, match="specs"):
        EnsembleModel([NetSpec(3, (4,)), NetSpec(3, (4, 4))])
    with pytest.raises(ParameterError, match="alpha"):
        NetSpec(3, (4,), alpha=-1.0)
    with pytest.raises(ParameterError, match="activation"):
        NetSpec(3, (4,), activation="gelu")
