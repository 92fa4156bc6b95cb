"""`packing jam`: the HDF5 contract it writes, and one-line errors on bad input that leave
existing files untouched."""
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

from packing.cli import main
from packing.contacts import contact_network
from packing.system import Packing

CONTRACT_ATTRS = ("side", "control_name", "control", "transition", "energy", "n_dof", "n_constraints",
                  "seed", "shape", "dim", "n_particles", "aspect_ratio", "potential", "phi", "phi_j",
                  "pressure", "n_rattlers")


def _states(path):
    with h5py.File(path, "r") as f:
        assert f.attrs["schema"] and f.attrs["command"].startswith("packing jam")
        found = {}
        f["runs"].visititems(lambda name, obj: found.__setitem__(name, (dict(obj.attrs), {
            k: obj[k][()] for k in obj.keys()})) if "side" in obj.attrs else None)
    return found


def test_jam_writes_the_contract(tmp_path, capsys):
    out = tmp_path / "j.h5"
    rc = main(["jam", "--n", "32", "--seeds", "2", "--delta-phi", "1e-6", "1e-3", "--hessian",
               "--no-progress", "--out", str(out)])
    assert rc == 0
    states = _states(out)
    assert len(states) == 4
    for attrs, data in states.values():
        for key in CONTRACT_ATTRS:
            assert key in attrs, key
        assert attrs["side"] == "packing" and attrs["control_name"] == "phi"
        assert attrs["control"] == pytest.approx(attrs["phi_j"] + attrs["delta_phi"])
        for key in ("positions", "box", "diameters", "contacts", "gaps", "hessian_eigenvalues",
                    "stiffness_eigenvalues", "stress_eigenvalues"):
            assert key in data, key
        # the stored numbers are the packing's own: recompute the contact count from positions
        p = Packing(data["positions"], data["box"], data["diameters"])
        net = contact_network(p)
        assert net.n_constraints == attrs["n_constraints"] and net.n_dof == attrs["n_dof"]
        assert p.phi == pytest.approx(attrs["phi"], rel=1e-12)
        if attrs["delta_phi"] < 1e-5:
            assert attrs["n_constraints"] == attrs["n_dof"] + 1
        # translations are the zero modes of the stored Hessian spectrum
        eig = np.sort(data["hessian_eigenvalues"])
        assert np.all(np.abs(eig[:2]) < 1e-10 * eig[-1]) and eig[2] > 1e-10 * eig[-1]
    assert "φ_J" in capsys.readouterr().out


@pytest.mark.parametrize("args,needle", [
    (["--n", "1"], "--n"), (["--n", "16", "--phi-start", "-0.1"], "--phi-start"),
    (["--n", "16", "--phi-start", "nan"], "--phi-start"), (["--dim", "4"], "--dim"),
    (["--n", "16", "--dispersity", "-1.4"], "--dispersity"),
    (["--n", "16", "--delta-phi", "0"], "--delta-phi"),
    (["--n", "16", "--potential", "lj"], "--potential"), (["--seeds", "0"], "--seeds")])
def test_bad_input_is_one_line_and_names_the_parameter(tmp_path, args, needle):
    out = tmp_path / "x.h5"
    proc = subprocess.run([sys.executable, "-m", "packing.cli", "jam", *args, "--out", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], proc.stderr
    assert not out.exists()


def test_existing_output_is_not_touched_without_overwrite(tmp_path, capsys):
    out = tmp_path / "keep.h5"
    out.write_bytes(b"precious")
    rc = main(["jam", "--n", "16", "--no-progress", "--out", str(out)])
    assert rc == 2
    assert out.read_bytes() == b"precious"
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--overwrite" in err[0]


def test_a_link_at_the_output_is_replaced_never_followed(tmp_path, capsys):
    """A dangling link at --out is refused without --overwrite (nothing is created where it
    points); with --overwrite the link itself is replaced by the file."""
    link = tmp_path / "out.h5"
    link.symlink_to(tmp_path / "missing" / "target.h5")
    args = ["jam", "--n", "16", "--no-progress", "--delta-phi", "1e-3", "--out", str(link)]
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert link.is_symlink() and not (tmp_path / "missing").exists()
    assert main(args + ["--overwrite"]) == 0
    assert link.is_file() and not link.is_symlink() and not (tmp_path / "missing").exists()


@pytest.mark.parametrize("kind", ["directory", "missing-folder", "unwritable"])
def test_bad_output_paths(tmp_path, capsys, kind):
    if kind == "directory":
        out = tmp_path
    elif kind == "missing-folder":
        out = tmp_path / "nope" / "x.h5"
    else:
        if os.geteuid() == 0:
            pytest.skip("root can write into read-only folders")
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        out = ro / "x.h5"
    rc = main(["jam", "--n", "16", "--no-progress", "--out", str(out)])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--out" in err[0]
    assert list(tmp_path.glob("**/*.tmp")) == []


def test_unconverged_runs_say_so_and_exit_3(tmp_path, capsys):
    """A step budget too small for FIRE: the states are stored (converged = False), one line on
    stderr names them, and the exit status is 3."""
    out = tmp_path / "short.h5"
    rc = main(["jam", "--n", "64", "--max-steps", "700", "--no-progress", "--delta-phi", "1e-4",
               "--out", str(out)])
    assert rc == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not converged" in err[0] and "exit status 3" in err[0]
    with h5py.File(out, "r") as f:
        (state,) = [g for g in f["runs/disk_d2_n64_harmonic_r1.4/seed0"].values()]
        assert not state.attrs["converged"] or not state.attrs["search_converged"]


@pytest.mark.parametrize("args", [["--shape", "sphere", "--dim", "2"],
                                  ["--shape", "disk", "--dim", "3"]])
def test_a_round_shape_must_match_the_dimension(tmp_path, capsys, args):
    out = tmp_path / "x.h5"
    assert main(["jam", "--n", "128", "--no-progress", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--shape" in err[0] and not out.exists()
