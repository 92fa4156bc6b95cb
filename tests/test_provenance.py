"""What every file says about where it came from and what it does not know."""
from __future__ import annotations

import math
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest

from packing.io import CommonAttributes, atomic_h5, git_commit, git_dirty, write_state
from packing.jamming_runs import JamSpec, jam_to_file

ROOT = Path(__file__).resolve().parent.parent


def test_files_say_whether_the_tree_they_came_from_was_dirty(tmp_path):
    status = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain",
                             "--untracked-files=no"], capture_output=True, text=True)
    if git_commit() is None or status.returncode != 0:
        pytest.skip("not a git checkout")
    assert git_dirty() is bool(status.stdout.strip())
    out = tmp_path / "j.h5"
    jam_to_file(JamSpec(n=32, delta_phis=(1e-3,)), [0], str(out), False, "test", progress=False)
    with h5py.File(out, "r") as f:
        assert bool(f.attrs["git_dirty"]) is git_dirty() and f.attrs["git_commit"] == git_commit()


def test_an_unknown_transition_is_stored_as_a_float_nan(tmp_path):
    common = CommonAttributes(side="network", control_name="n_params", control=120.0,
                              transition=math.nan, energy=0.0, n_dof=120, n_constraints=3, seed=0)
    with atomic_h5(tmp_path / "n.h5") as f:
        write_state(f.require_group("runs"), "s", common.to_attrs(), {"gaps": np.zeros(3)})
    with h5py.File(tmp_path / "n.h5", "r") as f:
        value = f["runs/s"].attrs["transition"]
    assert isinstance(value, (float, np.floating)) and math.isnan(value)
