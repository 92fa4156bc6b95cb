"""The training-regimes half: the tangent kernel against torch.func.jacrev, the lazy limit, the
per-net α of an ensemble, the phase-diagram run and its analysis, the embedded dataset."""
from __future__ import annotations

import hashlib
import math
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from mnist_files import mnist_dir, needs_mnist
from torch.func import jacrev

from dlbridge.cli import main
from dlbridge.nets.data import EMBEDDED_PATH, N_COMPONENTS, load_dataset, read_pool
from dlbridge.nets.embedded import make_embedded
from dlbridge.nets.kernel import kernel_change, tangent_kernel
from dlbridge.nets.models import EnsembleModel, alpha_paper, init_params, make_spec, net_forward
from dlbridge.nets.regimes import RegimeSpec, train_regime, write_regime
from dlbridge.nets.train import TrainConfig, train_ensemble
from dlbridge.regimes.cells import ensemble_error, group_cells, output_fluctuation, read_regime_nets
from dlbridge.regimes.fits import crossover
from dlbridge.regimes.summary import summarise
from dlbridge.workflow.grid import Grid
from packing.errors import ParameterError

ROOT = Path(__file__).resolve().parent.parent
MNIST = mnist_dir()


# ------------------------------------------------------------------------- tangent kernel
@pytest.mark.parametrize("activation", ["softplus", "relu", "tanh"])
@pytest.mark.parametrize("bias", [True, False])
def test_kernel_equals_jacobian_gram_matrix(activation, bias):
    """Θ of every net of a padded ensemble (three widths, depth 3) equals J Jᵀ with J from
    torch.func.jacrev of the plain per-net forward pass, to 1e-12 relative."""
    gen = torch.Generator().manual_seed(3)
    specs = [make_spec(5, 3, h, activation=activation, bias=bias) for h in (4, 7, 5.5)]
    thetas = [init_params(s, k) + 0.3 * torch.randn(s.n_params, generator=gen, dtype=torch.float64)
              for k, s in enumerate(specs)]
    model = EnsembleModel(specs)
    x = torch.randn(9, 5, generator=gen, dtype=torch.float64)
    kernel = tangent_kernel(model, model.pack(thetas), x)
    for e, (spec, th) in enumerate(zip(specs, thetas)):
        jac = jacrev(lambda p: net_forward(spec, p, x))(th)
        ref = jac @ jac.T
        assert torch.allclose(kernel[e], ref, rtol=1e-12, atol=1e-12 * ref.abs().max().item())


def test_untrained_net_has_exactly_no_kernel_change():
    specs = [make_spec(4, 2, 6, activation="softplus")] * 2
    model = EnsembleModel(specs)
    theta = model.pack([init_params(s, k) for k, s in enumerate(specs)])
    x = torch.randn(7, 4, dtype=torch.float64)
    k0 = tangent_kernel(model, theta, x)
    assert torch.equal(kernel_change(k0, tangent_kernel(model, theta.clone(), x)),
                       torch.zeros(2, dtype=torch.float64))


def test_last_bias_dominates_the_kernel_of_a_wide_net():
    """Under the 1/h last layer the weights' part of Θ₀ is O(1/h) and the last bias adds the
    all-ones matrix (∂f/∂b = 1): h‖Θ₀‖/P is nearly constant without biases (law of large
    numbers over units), while with biases ‖Θ₀‖/P → 1, so a relative kernel change falls as
    1/h at fixed α — why regime nets have no biases by default. Measured (P = 64, h = 16, 64,
    256): h‖Θ₀‖/P = 1.19, 1.01, 1.08 without biases; ‖Θ₀‖/P = 1.10, 1.02, 1.006 with."""
    x = torch.as_tensor(load_dataset("mnist-parity", 10, 64, 0, seed=0).x_train)
    norms = {}
    for bias in (False, True):
        specs = [make_spec(10, 2, h, activation="softplus", bias=bias) for h in (16, 64, 256)]
        model = EnsembleModel(specs)
        theta = model.pack([init_params(s, 0) for s in specs])
        norms[bias] = torch.linalg.matrix_norm(tangent_kernel(model, theta, x)).numpy() / len(x)
    scaled = norms[False] * np.array([16, 64, 256])
    assert scaled.max() / scaled.min() < 1.3, scaled
    assert norms[True][-1] == pytest.approx(1.0, abs=0.05) and norms[False][-1] < 0.05
    assert RegimeSpec().bias is False


def test_alpha_conventions():
    spec = make_spec(10, 2, 25, alpha=50.0)
    assert alpha_paper(spec.alpha, spec) == pytest.approx(10.0)


# ------------------------------------------------------------------------- per-net α
@pytest.mark.parametrize("optimizer", ["flow", "implicit"])
def test_ensemble_of_mixed_alphas_trains_each_net_as_alone(optimizer):
    """Nets of different α in one ensemble end where each ends trained alone (to the round-off
    of batched against single matmuls, amplified over 300 steps: measured 2e-9 relative for the
    explicit flow); per-net step sizes and kernels of the implicit flow do not couple the nets."""
    data = load_dataset("mnist-parity", 6, 12, 0, seed=1)
    cfg = TrainConfig(optimizer=optimizer, max_steps=300, lr=1.0, loss="softhinge")
    specs = [make_spec(6, 2, 5, activation="softplus", alpha=a) for a in (0.1, 10.0, 1e3)]
    together = train_ensemble(specs, [0, 0, 0], data, cfg, "cpu")
    for spec, r in zip(specs, together):
        (alone,) = train_ensemble([spec], [0], data, cfg, "cpu")
        assert alone.steps == r.steps and alone.stop_reason == r.stop_reason
        np.testing.assert_allclose(alone.theta, r.theta, rtol=1e-7, atol=1e-9)


# ------------------------------------------------------------------------- the lazy limit
def test_kernel_change_falls_as_one_over_alpha_in_the_lazy_limit():
    """Gradient flow to N_Δ = 0 at α = 1e3 … 1e5 (h = 8, P = 16): ‖ΔΘ‖/‖Θ₀‖ and ‖Δw‖/‖w₀‖
    fall by 10 per decade of α (measured ratios 9.8–10.6 per decade, slopes −1.00 ± 0.02)."""
    spec = RegimeSpec(n_train=16, n_test=64, n_probe=32, width=8, alphas=(1e3, 1e4, 1e5),
                      steps=20_000, device="cpu")
    nets = train_regime(spec, [0, 1])
    assert all(n.result.fitted for n in nets)
    for seed in (0, 1):
        mine = [n for n in nets if n.result.seed == seed]
        a = np.log10([n.result.spec.alpha for n in mine])
        for name in ("kernel_change", "weight_change"):
            slope = np.polyfit(a, np.log10([getattr(n, name) for n in mine]), 1)[0]
            assert slope == pytest.approx(-1.0, abs=0.05), (name, seed, slope)


# ------------------------------------------------------------------------- the analysis
def test_ensemble_error_and_fluctuation_against_a_loop():
    rng = np.random.default_rng(0)
    out = rng.standard_normal((5, 40))
    y = np.where(rng.random(40) < 0.5, -1.0, 1.0)
    wrong = sum(1 for j in range(40) if y[j] * sum(out[i, j] for i in range(5)) / 5 <= 0)
    assert ensemble_error(out, y) == wrong / 40
    var = [sum((out[i, j] - out[:, j].mean()) ** 2 for i in range(5)) / 4 for j in range(40)]
    assert output_fluctuation(out) == pytest.approx(math.sqrt(sum(var) / 40), rel=1e-13)


def _write_run(path: Path, spec: RegimeSpec, seeds) -> None:
    data = spec.load_data()
    nets = train_regime(spec, seeds, data)
    with h5py.File(path, "w") as f:
        write_regime(f.create_group("runs"), spec, nets, data)


def test_stored_run_reads_back_into_cells(tmp_path):
    spec = RegimeSpec(n_train=16, n_test=50, n_probe=20, width=6, alphas=(0.1, 100.0),
                      steps=5000, device="cpu")
    _write_run(tmp_path / "r.h5", spec, [0, 1, 2])
    nets = read_regime_nets(tmp_path / "r.h5")
    cells = group_cells(nets)
    assert [(c.first.alpha, len(c.nets)) for c in cells] == [(0.1, 3), (100.0, 3)]
    for c in cells:
        f = c.outputs()
        assert c.ensemble_error == float(np.mean(c.first.test_labels * f.mean(0) <= 0))
        assert [n.test_error for n in c.fitted] == [float(np.mean(c.first.test_labels * o <= 0))
                                                    for o in f]
    with pytest.raises(ParameterError, match="each"):
        group_cells(nets + nets[:1])


def test_crossover_interpolates_the_threshold():
    """Kernel changes 10, 1, 0.1, 0.01 at α = 1 … 1000 (a seed pair each) cross 0.5 at 10^1.3."""
    from dlbridge.regimes.cells import Cell, RegimeState

    def net(alpha, k, seed):
        return RegimeState(2, 10.0, 100, alpha, alpha / math.sqrt(10), seed, True, "fitted", 1,
                         0.1, k, 0.0, np.zeros(3), np.ones(3), 10, "x")

    cells = [Cell((net(a, k, 0), net(a, k, 1))) for a, k in ((1.0, 10.0), (10.0, 1.0),
                                                                (100.0, 0.1), (1e3, 0.01))]
    star = crossover(cells, 10, threshold=0.5)
    assert star.log_alpha == pytest.approx(1 + math.log10(2))
    assert star.alpha_paper == pytest.approx(star.alpha_code / math.sqrt(10))
    summary = summarise([n for c in cells for n in c.nets], 10.0, 0.5)
    assert summary.stars == (star,)
    assert summarise([n for c in cells[:3] for n in c.nets], 10.0, 0.5).stars == ()
    assert summary.lazy[10.0].value == pytest.approx(-1.0)


# ------------------------------------------------------------------------- run specs and CLI
def test_regime_spec_rejects_bad_fields():
    with pytest.raises(ParameterError, match="alphas"):
        RegimeSpec(alphas=()).validate()
    with pytest.raises(ParameterError, match="alphas"):
        RegimeSpec(alphas=(1.0, 1.0)).validate()
    with pytest.raises(ParameterError, match="n_probe"):
        RegimeSpec(n_test=10, n_probe=20).validate()
    with pytest.raises(ParameterError, match="parameter"):
        Grid("regimes", {"nope": 1}, {"width": [4]}).runs()
    runs = Grid("regimes", {"alphas": [1, 10], "seeds": [0, 1]}, {"width": [4, 8]}).runs()
    assert len(runs) == 2 and runs[0].params["alphas"] == [1.0, 10.0]


def test_regimes_command_analyses_a_file(tmp_path, capsys):
    spec = RegimeSpec(n_train=16, n_test=50, n_probe=20, width=6, alphas=(0.1, 100.0),
                      steps=5000, device="cpu")
    _write_run(tmp_path / "r.h5", spec, [0, 1, 2])
    assert main(["regimes", "--analyse", str(tmp_path / "r.h5"), "--out",
                 str(tmp_path / "o")]) == 0
    text = (tmp_path / "o" / "regimes.md").read_text()
    assert "Against the literature" in text and "| 6 | 102 | 100 |" in text
    assert (tmp_path / "o" / "regimes2_kernel_change.png").is_file()
    assert main(["regimes", "--analyse", str(tmp_path / "r.h5"), "--out",
                 str(tmp_path / "o")]) == 2
    assert "--out" in capsys.readouterr().err


def test_every_scale_expands_into_valid_runs():
    """Each scale's grids expand into validated runs, one per width; p1000 runs the plane only."""
    from dlbridge.workflow.regimes import REGIME_SCALES

    for scale in REGIME_SCALES.values():
        assert [n for n, _ in scale.grids][:1] == ["plane"]
        for _, grid in scale.grids:
            assert len(grid.runs()) == len(grid.axes["width"])
    assert [n for n, _ in REGIME_SCALES["p1000"].grids] == ["plane"]


# ------------------------------------------------------------------------- embedded dataset
def test_embedded_dataset_shape_balance_and_provenance():
    x_tr, d_tr = read_pool("train")
    x_te, d_te = read_pool("test")
    assert x_tr.shape == (5000, N_COMPONENTS) and x_te.shape == (5000, N_COMPONENTS)
    np.testing.assert_allclose(x_tr.var(axis=0), 1.0, rtol=1e-5)
    for digits in (d_tr, d_te):
        odd = np.mean(digits % 2 == 1)
        assert 0.47 < odd < 0.53 and set(np.unique(digits)) == set(range(10))
    with h5py.File(EMBEDDED_PATH, "r") as f:
        assert list(f.attrs["source_md5"]) == ["9fb629c4189551a2d022fa330f9573f3",
                                               "ec29112dd5afa0611ce80d1b7f02629c"]
        assert "CC BY-SA 3.0" in f.attrs["licence"] and "LeCun" in f.attrs["citation"]
        idx = np.concatenate([f["train"]["source_index"][()], f["test"]["source_index"][()]])
    assert np.array_equal(np.sort(idx), np.arange(10000))
    assert EMBEDDED_PATH.stat().st_size < 2 * 2**20
    d = load_dataset("mnist-parity", 10, 100, 30, seed=4)
    assert d.x_train.shape == (100, 10) and set(np.unique(d.y_test)) == {-1.0, 1.0}
    with pytest.raises(ParameterError, match="dim"):
        load_dataset("mnist-parity", N_COMPONENTS + 1, 10)
    with pytest.raises(ParameterError, match="n_train"):
        load_dataset("mnist-parity", 10, 5001)


@needs_mnist
def test_embedded_dataset_is_remade_from_mnist(tmp_path):
    out = make_embedded(MNIST, tmp_path / "e.h5")
    with h5py.File(out, "r") as a, h5py.File(EMBEDDED_PATH, "r") as b:
        for pool in ("train", "test"):
            for name in ("x", "digits", "source_index"):
                assert np.array_equal(a[pool][name][()], b[pool][name][()]), (pool, name)
    digest = hashlib.md5((MNIST / "t10k-labels-idx1-ubyte.gz").read_bytes()).hexdigest()
    assert digest == "ec29112dd5afa0611ce80d1b7f02629c"


def test_dataset_command_errors_are_one_line(tmp_path, capsys):
    assert main(["dataset", "--mnist", str(tmp_path / "none"), "--out",
                 str(tmp_path / "e.h5")]) == 2
    assert "--mnist" in capsys.readouterr().err
    assert not (tmp_path / "e.h5").exists()


@pytest.mark.slow
def test_small_scale_lazy_slope_and_ensemble_gain(tmp_path):
    """``dlbridge regimes --scale small`` (P = 16, h = 4 … 16, 4 seeds) end to end. Measured:
    every net fitted; lazy slopes (α = 10³, 10⁴) −1.003 ± 0.004 and −0.998 ± 0.006; the
    ensemble predictor better than the single-net mean by 0.24 points of test error averaged
    over the 14 cells (better or equal in 9); ‖F − F̄‖ ∝ N^(−0.36 ± 0.10) at α = 10⁴."""
    from dlbridge.regimes.cells import load_regime_nets
    from dlbridge.workflow.regimes import REGIME_SCALES

    out = tmp_path / "small"
    assert main(["regimes", "--scale", "small", "--out", str(out), "--executor", "serial",
                 "--quiet"]) == 0
    summary = summarise(load_regime_nets([out / "plane.h5", out / "scan.h5"]),
                        REGIME_SCALES["small"].lazy_alpha_min)
    assert all(c.n_fitted == len(c.nets) for c in summary.cells)
    assert sorted(summary.lazy) == [8.0, 16.0]
    for fit in summary.lazy.values():
        assert fit.value == pytest.approx(-1.0, abs=0.05)
    gains = [c.test_error[0] - c.ensemble_error for c in summary.cells]
    assert len(gains) == 14 and np.mean(gains) > 0.002
    assert summary.fluctuation[1e4].value < -0.1
    for name in ("regimes.md", "regimes.csv", "regimes1_test_error.png",
                 "regimes4_fluctuations.png"):
        assert (out / name).is_file()
