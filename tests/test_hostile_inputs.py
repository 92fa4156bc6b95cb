"""Hostile inputs to every command: a one-line error naming the problem, exit status ≠ 0, and no
existing file touched (issue 6). Each case runs in a folder that already holds a valid output
file; the folder's listing and every file's bytes are compared before and after."""
from __future__ import annotations

import hashlib
from pathlib import Path

import h5py
import numpy as np
import pytest

from dlbridge.cli import main as dl_main
from packing.cli import main as pk_main
from packing.io import atomic_h5, write_state

NET = ["train", "--dataset", "random", "--dim", "3", "--n-train", "10", "--n-test", "0",
       "--depth", "1", "--seeds", "1", "--steps", "20", "--widths", "2", "--device", "cpu",
       "--quiet"]
JAM = ["jam", "--n", "16", "--no-progress"]


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest()
                                         if p.is_file() else "dir")
            for p in sorted(folder.rglob("*"))}


@pytest.fixture
def folder(tmp_path):
    """A folder with an existing valid output file ``old.h5``, a sub-folder and a corrupt MNIST
    directory (IDX files of garbage bytes)."""
    with atomic_h5(tmp_path / "old.h5") as f:
        write_state(f.create_group("runs"), "s", {"side": "packing", "control_name": "phi",
                                                 "control": 0.84}, {"gaps": np.zeros(3)})
    (tmp_path / "sub").mkdir()
    bad = tmp_path / "corrupt_mnist"
    bad.mkdir()
    (bad / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03garbage")
    (bad / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00")
    (tmp_path / "truncated.h5").write_bytes((tmp_path / "old.h5").read_bytes()[:700])
    with h5py.File(tmp_path / "foreign.h5", "w") as f:
        f.create_dataset("images", data=np.arange(5))
    (tmp_path / "grid.toml").write_text('side = "packing"\n[grid]\nseed = [0, 1]\n[fixed]\nn = 1\n')
    return tmp_path


def _cases(d: Path) -> list[tuple[str, list[str], str]]:
    """(which CLI, argv, a piece of the expected message)."""
    out = str(d / "new.h5")
    return [
        ("pk", JAM + ["--phi-start", "nan", "--out", out], "--phi-start"),
        ("pk", JAM + ["--phi-start", "-0.5", "--out", out], "--phi-start"),
        ("pk", JAM + ["--shape", "ellipse", "--aspect", "0.5", "--out", out], "--aspect"),
        ("pk", ["jam", "--n", "1", "--out", out], "--n"),
        ("pk", JAM + ["--dim", "4", "--out", out], "--dim"),
        ("pk", JAM + ["--out", str(d / "sub")], "directory"),
        ("pk", JAM + ["--out", str(d / "old.h5")], "--overwrite"),
        ("pk", JAM + ["--out", str(d / "missing" / "x.h5")], "existing directory"),
        ("dl", NET + ["--dataset", "svhn", "--out", out], "argument --dataset: invalid choice"),
        ("dl", NET + ["--dataset", "mnist", "--data-dir", str(d / "missing"), "--out", out],
         "data directory"),
        ("dl", NET + ["--dataset", "mnist", "--data-dir", str(d / "corrupt_mnist"), "--out", out],
         "corrupt_mnist"),
        ("dl", NET + ["--n-train", "0", "--out", out], "--n-train"),
        ("dl", NET + ["--out", str(d / "sub")], "directory"),
        ("dl", NET + ["--out", str(d / "old.h5")], "--overwrite"),
        ("dl", ["compare", str(d / "truncated.h5"), "--out", str(d / "cmp")], "truncated.h5"),
        ("dl", ["compare", str(d / "foreign.h5"), "--out", str(d / "cmp")], "foreign.h5"),
        ("dl", ["compare", str(d / "old.h5"), "--out", str(d / "old.h5")], "--out"),
        ("dl", ["sweep", str(d / "grid.toml"), "--out", str(d / "sw")], "n must be"),
        ("dl", ["sweep", "--side", "packing", "--fixed", "n=16", "phi=-1", "--grid", "seed=0:2",
                "--out", str(d / "sw")], "parameter must be one of the packing parameters"),
        ("dl", ["sweep", "--side", "network", "--fixed", "dataset=svhn", "--grid", "width=2,3",
                "--out", str(d / "sw")], "dataset must be one of"),
        ("dl", ["sweep", "--side", "packing", "--fixed", "n=16", "--grid", "seed=0:2",
                "--out", str(d / "old.h5")], "--out must be a directory"),
        ("dl", ["sweep", "--side", "packing", "--fixed", "n=16", "--grid", "seed=0:2",
                "--out", str(d / "sw"), "--merge", str(d / "old.h5")], "--overwrite"),
        ("dl", ["sweep", "--side", "packing", "--fixed", "n=16", "--grid", "seed=0:2",
                "--out", str(d / "sw"), "--executor", "mpi"], "--executor must be one of"),
        ("dl", ["merge", str(d / "sub"), "--out", str(d / "old.h5")], "--overwrite"),
        ("dl", ["merge", str(d / "missing"), "--out", out], "sweep directory"),
    ]


def test_hostile_inputs(folder, capsys):
    before = _snapshot(folder)
    failures = []
    for which, argv, needle in _cases(folder):
        try:
            code = (pk_main if which == "pk" else dl_main)(argv)
        except SystemExit as exc:        # argparse-level errors
            code = exc.code
        err = capsys.readouterr().err.strip()
        lines = err.splitlines()
        ok = code not in (0, None) and len(lines) == 1 and needle in err and "error" in err
        if not ok:
            failures.append(f"{argv}: exit {code}, stderr {err!r}")
        after = _snapshot(folder)
        if after != before:
            failures.append(f"{argv}: changed files {set(after.items()) ^ set(before.items())}")
            before = after
    assert not failures, "\n".join(failures)
