"""`dlbridge train`: the HDF5 contract, one-line errors, nothing written on error."""
from __future__ import annotations

import h5py
import numpy as np
import pytest

from dlbridge.cli import main
from packing.io import iter_states

SMALL = ["train", "--dataset", "random", "--dim", "4", "--n-train", "30", "--n-test", "10",
         "--depth", "2", "--seeds", "2", "--steps", "150", "--device", "cpu", "--quiet"]


def test_train_writes_contract(tmp_path, capsys):
    """The contract's attributes and datasets; 150 steps leave nets short of any minimum, which
    is said on stderr with exit status 3 (and stored as converged = False)."""
    out = tmp_path / "nets.h5"
    status = main(SMALL + ["--widths", "2", "8", "--hessian", "--out", str(out)])
    with h5py.File(out, "r") as f:
        unconverged = sum(not g.attrs["converged"] for g in iter_states(f))
    assert unconverged > 0 and status == 3
    assert f"{unconverged} of 4 stored nets reached no minimum" in capsys.readouterr().err
    with h5py.File(out, "r") as f:
        for key in ("schema", "package_version", "created", "command"):
            assert key in f.attrs
        states = list(iter_states(f))
        assert len(states) == 4
        for g in states:
            a = g.attrs
            assert a["side"] == "network" and a["control_name"] == "n_params"
            assert a["control"] == a["n_params"] == a["n_dof"]
            gaps = g["gaps"][()]
            assert gaps.shape == (30,) and a["n_constraints"] == int(np.sum(gaps > 0))
            assert a["energy"] == pytest.approx(0.5 * np.mean(np.maximum(gaps, 0) ** 2), rel=1e-12)
            assert a["stop_reason"] in ("fitted", "converged", "budget")
            assert a["n_eff"] == a["n_params"] - 2 * round(a["width"])
            ev = g["hessian_eigenvalues"][()]
            assert ev.shape == (a["n_params"],) and np.all(np.diff(ev) >= 0)
            assert a["jacobian_rank"] <= a["n_constraints"]
            assert a["n_floppy_modes"] == a["n_params"] - a["jacobian_rank"]
            k = g["stiffness_eigenvalues"][()]
            assert a["jacobian_rank"] == int(np.sum(k > 1e-10 * np.abs(k).max())) \
                if a["n_constraints"] else a["jacobian_rank"] == 0
            for k in ("n_train", "dataset", "alpha", "train_loss", "test_error", "steps",
                      "converged", "depth", "width", "transition", "seed"):
                assert k in a


def test_seed_offset_shifts_the_seeds_as_in_packing_jam(tmp_path, capsys):
    """``--seeds 2 --seed-offset 5`` trains seeds 5 and 6, and seed 5 is the net that
    ``--seeds 6`` trains as its sixth."""
    def gaps_by_seed(extra, name):
        main(SMALL + ["--widths", "3", "--out", str(tmp_path / name)] + extra)
        with h5py.File(tmp_path / name, "r") as f:
            return {int(g.attrs["seed"]): g["gaps"][()] for g in iter_states(f)}

    shifted = gaps_by_seed(["--seeds", "2", "--seed-offset", "5"], "a.h5")
    full = gaps_by_seed(["--seeds", "6"], "b.h5")
    capsys.readouterr()
    assert sorted(shifted) == [5, 6]
    np.testing.assert_allclose(shifted[5], full[5], rtol=0, atol=1e-12)


def test_nets_at_their_minimum_exit_0(tmp_path):
    """Every net taken to the bottom of its loss (smooth activation, --finish newton): exit
    status 0."""
    out = tmp_path / "nets.h5"
    assert main(SMALL + ["--widths", "8", "--activation", "softplus", "--finish", "newton",
                         "--out", str(out)]) == 0
    with h5py.File(out, "r") as f:
        assert all(g.attrs["converged"] for g in iter_states(f))


@pytest.mark.parametrize("extra,message", [
    (["--dataset", "svhn"], "argument --dataset: invalid choice: 'svhn'"),
    (["--dataset", "mnist", "--data-dir", "/nonexistent/dir"], "data directory"),
    (["--n-train", "0"], "--n-train must be"),
    (["--widths", "0"], "--widths must be"),
    (["--widths", "-3"], "--widths must be"),
    (["--optimizer", "sgd"], "argument --optimizer: invalid choice: 'sgd'"),
    (["--steps", "x"], "invalid int value"),
    (["--hessian", "--loss", "softhinge"], "hessian must be used with loss quadratic"),
])
def test_errors_are_one_line_and_write_nothing(tmp_path, capsys, extra, message):
    out = tmp_path / "bad.h5"
    argv = SMALL + ["--widths", "3", "--out", str(out)] + extra
    try:
        code = main(argv)
    except SystemExit as exc:            # argparse-level errors exit through SystemExit(2)
        code = exc.code
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("dlbridge train: error:") and message in err
    assert len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_existing_output_needs_overwrite(tmp_path, capsys):
    out = tmp_path / "x.h5"
    out.write_bytes(b"keep")
    assert main(SMALL + ["--widths", "3", "--out", str(out)]) == 2
    assert out.read_bytes() == b"keep" and "--overwrite" in capsys.readouterr().err


def test_when_every_net_diverges_nothing_is_written(tmp_path, monkeypatch, capsys):
    """Every net diverged (forced here): exit status 3, no new file, and an earlier file kept even
    with --overwrite."""
    import dlbridge.nets.command as command

    monkeypatch.setattr(command, "split_diverged", lambda results: ([], list(results)))
    out = tmp_path / "nets.h5"
    assert main(SMALL + ["--widths", "2", "--out", str(out)]) == 3
    assert not out.exists() and not list(tmp_path.iterdir())
    out.write_bytes(b"precious")
    assert main(SMALL + ["--widths", "2", "--out", str(out), "--overwrite"]) == 3
    assert out.read_bytes() == b"precious"
    assert "nothing written" in capsys.readouterr().err
