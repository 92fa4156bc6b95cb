"""Sweeps (dlbridge.workflow.sweep): grids, atomic resumable run files, executors, merge, failures."""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from dlbridge.cli import main
from dlbridge.workflow.runfiles import merge_runs
from dlbridge.workflow.sweep import Grid, load_grid, run_sweep
from packing.errors import ParameterError
from packing.io import iter_states

PACK = dict(dim=2, n=16, delta_phis=[1e-4, 1e-2])
NET = dict(dim=4, n_train=24, n_test=8, depth=2, steps=200, seeds=[0, 1])
# provenance and timing: differ between two runs of the same computation
VOLATILE = {"created", "seconds", "command", "host", "grid", "device"}


def _quiet(_msg: str) -> None:
    pass


def _states(path: Path) -> dict:
    """{state path: (attrs without volatile ones, {dataset: array})} of a run or merged file."""
    out = {}
    with h5py.File(path, "r") as f:
        for g in iter_states(f):
            attrs = {k: v for k, v in g.attrs.items() if k not in VOLATILE}
            data = {k: g[k][()] for k in g}
            out[g.name.split("/", 3)[-1] if g.name.count("/") > 3 else g.name] = (attrs, data)
    return out


def _same_states(a: Path, b: Path) -> None:
    sa, sb = _states(a), _states(b)
    assert sa.keys() == sb.keys() and sa
    for k in sa:
        (aa, da), (ab, db) = sa[k], sb[k]
        assert aa.keys() == ab.keys()
        for n in aa:
            np.testing.assert_array_equal(aa[n], ab[n], err_msg=f"{k} attr {n}")
        assert da.keys() == db.keys()
        for n in da:
            np.testing.assert_array_equal(da[n], db[n], err_msg=f"{k} dataset {n}")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------------------ grids
def test_grid_expansion_is_canonical_and_validated(tmp_path):
    g = Grid("packing", dict(PACK), {"seed": [0, 1], "aspect": [1, 1.0]})
    runs = g.runs()
    assert len(runs) == 2                      # aspect 1 and 1.0 are one run
    assert len({r.key for r in runs}) == 2 and all(r.file_name.startswith("packing-") for r in runs)
    with pytest.raises(ParameterError, match="parameter must be one of the packing"):
        Grid("packing", {"colour": 1}, {})
    with pytest.raises(ParameterError, match="fixed or swept, not both"):
        Grid("packing", {"seed": 0}, {"seed": [1]})
    with pytest.raises(ParameterError, match="aspect must be"):
        Grid("packing", dict(PACK, shape="ellipse"), {"seed": [0], "aspect": [0.5]}).runs()
    with pytest.raises(ParameterError, match="side must be one of"):
        Grid("particles", {}, {})


def test_grid_file_and_command_line_items(tmp_path):
    toml = tmp_path / "g.toml"
    toml.write_text('side = "network"\n[fixed]\ndim = 4\nn_train = 24\n[grid]\nwidth = [2, 3]\n')
    g = load_grid(toml, None, ["steps=50", "seeds=[0,1]"], ["depth=1,2"])
    assert g.side == "network" and g.fixed["seeds"] == [0, 1] and g.axes["depth"] == [1, 2]
    assert len(g.runs()) == 4
    assert load_grid(None, "packing", ["n=8"], ["seed=0:3"]).axes["seed"] == [0, 1, 2]
    bad = tmp_path / "bad.toml"
    bad.write_text("side = \n")
    with pytest.raises(ParameterError, match="not valid TOML"):
        load_grid(bad)


def test_values_of_the_wrong_type_and_repeated_keys_are_refused():
    """``n = "16"``, ``hessian = "no"``, ``seeds = [0, 0]`` and a key given twice are errors
    before any run, not guesses."""
    cases = [(Grid("packing", dict(PACK, n="16"), {"seed": [0]}), "n must be an integer"),
             (Grid("packing", dict(PACK, hessian="no"), {"seed": [0]}), "hessian must be true"),
             (Grid("network", {"dim": 4, "n_train": 24, "seeds": [0, 0]}, {}), "distinct"),
             (Grid("network", {"dim": 4, "n_train": 24, "alpha": "1"}, {}), "alpha must be a num")]
    for grid, needle in cases:
        with pytest.raises(ParameterError, match=needle):
            grid.runs()
    with pytest.raises(ParameterError, match="each key once"):
        load_grid(None, "packing", ["n=8"], ["seed=0:2", "seed=2:4"])
    with pytest.raises(ParameterError, match="each key once"):
        load_grid(None, "packing", ["n=8", "n=16"], ["seed=0:2"])


def _seeds_of(grid: Grid) -> list:
    return sorted(r.params.get("seeds", r.params.get("seed")) for r in grid.runs())


def test_seeds_has_the_meaning_of_the_command_lines_seeds_option():
    """``seeds = K`` is a count (seeds 0 … K−1, as ``--seeds K``), a list names the seeds, on
    both sides: a network run trains its seeds as one ensemble, a packing grid's seeds are one
    run each, the very runs of the axis ``seed``."""
    net = {"dim": 4, "n_train": 24}
    assert _seeds_of(Grid("network", dict(net, seeds=3), {})) == [[0, 1, 2]]
    assert _seeds_of(Grid("network", dict(net, seeds=[4, 7]), {})) == [[4, 7]]
    assert _seeds_of(Grid("network", dict(net, seed=5), {})) == [[5]]
    assert _seeds_of(Grid("network", dict(net), {"seeds": [1, 2]})) == [[0], [0, 1]]
    assert _seeds_of(Grid("regimes", {"seeds": 2}, {})) == [[0, 1]]
    counted = Grid("packing", dict(PACK, seeds=3), {})
    axis = Grid("packing", dict(PACK), {"seed": [0, 1, 2]})
    assert {r.key for r in counted.runs()} == {r.key for r in axis.runs()}
    assert _seeds_of(Grid("packing", dict(PACK, seeds=[5, 9]), {})) == [5, 9]
    toml_grid = load_grid(None, "packing", ["n=16", "seeds=2"])
    assert toml_grid.axes == {"seed": [0, 1]} and "seeds" not in toml_grid.fixed
    for grid_args, needle in [(("network", dict(net, seeds=0), {}), "seeds must be a count"),
                              (("network", dict(net, seeds=True), {}), "seeds must be a count"),
                              (("network", dict(net, seeds=2, seed=1), {}), "not both"),
                              (("packing", dict(PACK, seeds=2, seed=1), {}), "not both"),
                              (("packing", dict(PACK), {"seeds": [2, 3]}), "not swept")]:
        with pytest.raises(ParameterError, match=needle):
            Grid(*grid_args).runs()


def test_packing_sweep_seeds_count_is_packing_jams(tmp_path, capsys):
    """``packing sweep --fixed seeds=3`` lists the runs of ``--grid seed=0:3``."""
    from dlbridge.workflow.packing_entry import main as packing_main

    base = ["sweep", "--fixed", "n=16", "--out", str(tmp_path / "s"), "--dry-run"]
    names = []
    for extra in (["seeds=3"], ["--grid", "seed=0:3"]):
        assert packing_main(base[:3] + extra + base[3:]) == 0
        names.append(sorted(ln.split()[0] for ln in capsys.readouterr().out.splitlines()))
    assert names[0] == names[1] and len(names[0]) == 3


def test_merging_a_folder_without_run_files_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ParameterError, match="run files"):
        merge_runs(tmp_path / "empty", tmp_path / "merged.h5")
    assert not (tmp_path / "merged.h5").exists()


# ------------------------------------------------------------------------------ runs
def test_serial_sweep_resumes_and_merges(tmp_path):
    out = tmp_path / "runs"
    grid = Grid("packing", dict(PACK), {"seed": [0, 1]})
    rep = run_sweep(grid, out, "serial", progress=False, log=_quiet)
    assert (rep.total, rep.done, rep.failed, rep.skipped) == (2, 2, 0, 0)
    files = sorted(out.glob("packing-*.h5"))
    before = {p.name: _digest(p) for p in files}
    for p in files:
        with h5py.File(p, "r") as f:
            a = f.attrs
            assert a["status"] == "done" and a["side"] == "packing"
            for k in ("package_version", "command", "params", "grid", "device", "numpy_version",
                      "numba_version", "python_version", "cpu", "schema"):
                assert k in a, k
            states = list(iter_states(f))
            assert len(states) == 2 and all(s.attrs["converged"] for s in states)
    again = run_sweep(Grid("packing", dict(PACK), {"seed": [0, 1, 2]}), out, "serial",
                      progress=False, log=_quiet)
    assert (again.total, again.done, again.skipped) == (3, 1, 2)
    assert {p.name: _digest(p) for p in files} == before          # finished runs untouched
    merged = tmp_path / "all.h5"
    m = merge_runs(out, merged)
    assert m == {"runs": 3, "done": 3, "failed": 0, "bad": 0, "unfinished": 0, "states": 6}
    with h5py.File(merged, "r") as f:
        assert len(list(iter_states(f))) == 6
        assert sorted(x.decode() for x in f["index/status"][()]) == ["done"] * 3
    assert main(["compare", str(merged), "--out", str(tmp_path / "cmp")]) == 0


def test_packing_sweep_is_the_dlbridge_sweep_of_packing_runs(tmp_path, capsys):
    """``packing sweep`` and ``packing merge`` write the same run files as ``dlbridge sweep
    --side packing`` (same names and numbers), refuse a grid of another side and take a grid
    file without ``side =`` as packing's (``dlbridge sweep`` asks for the side)."""
    from dlbridge.workflow.packing_entry import main as packing_main

    items = ["--fixed", "dim=2", "n=32", "delta_phis=1e-6", "--grid", "seed=0:2"]
    assert packing_main(["sweep", *items, "--out", str(tmp_path / "p"), "--executor", "serial",
                         "--quiet", "--merge", str(tmp_path / "p.h5")]) == 0
    assert main(["sweep", "--side", "packing", *items, "--out", str(tmp_path / "d"),
                 "--executor", "serial", "--quiet"]) == 0
    ours = sorted(p.name for p in (tmp_path / "p").glob("packing-*.h5"))
    assert ours == sorted(p.name for p in (tmp_path / "d").glob("packing-*.h5")) and len(ours) == 2
    for name in ours:
        with h5py.File(tmp_path / "p" / name, "r") as a, h5py.File(tmp_path / "d" / name, "r") as b:
            assert a.attrs["command"].startswith("packing sweep ")
            pa, pb = list(iter_states(a)), list(iter_states(b))
            assert [s.attrs["phi"] for s in pa] == [s.attrs["phi"] for s in pb]
    assert packing_main(["merge", str(tmp_path / "p"), "--out", str(tmp_path / "m.h5")]) == 0
    with h5py.File(tmp_path / "m.h5", "r") as f:
        assert len(list(iter_states(f))) == 2
    capsys.readouterr()
    toml = tmp_path / "nets.toml"
    toml.write_text('side = "network"\n[grid]\nseed = [0]\n')
    assert packing_main(["sweep", str(toml), "--out", str(tmp_path / "n"), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "packing sweep: error: side must be 'packing'" in err[0]
    sideless = tmp_path / "sideless.toml"
    sideless.write_text("[fixed]\ndim = 2\nn = 32\n[grid]\nseed = [0, 1]\n")
    assert packing_main(["sweep", str(sideless), "--out", str(tmp_path / "s"), "--dry-run"]) == 0
    names = capsys.readouterr().out.split()
    assert sum(n.startswith("packing-") for n in names) == 2
    assert main(["sweep", str(sideless), "--out", str(tmp_path / "s"), "--dry-run"]) == 2
    assert "side" in capsys.readouterr().err


def test_failed_and_unconverged_runs_are_kept_and_marked(tmp_path, capsys):
    """A diverging net (lr = 1e300) fails its run, with its error in the file; FIRE stopped by
    its step budget is stored with converged = False; a re-run leaves failed runs alone unless
    --retry-failed."""
    out = tmp_path / "nets"
    argv = ["sweep", "--side", "network", "--fixed", "dim=4", "n_train=24", "n_test=8",
            "depth=2", "steps=100", "width=3", "--grid", "lr=0.01,1e300", "--out", str(out),
            "--executor", "serial", "--quiet"]
    assert main(argv) == 3
    res = capsys.readouterr()
    assert "1 failed" in res.out and "diverged (non-finite loss)" in res.err
    status = {}
    for p in out.glob("network-*.h5"):
        with h5py.File(p, "r") as f:
            status[f.attrs["status"]] = (dict(f.attrs), len(list(iter_states(f))))
    assert set(status) == {"done", "failed"}
    failed_attrs, n_failed_states = status["failed"]
    assert n_failed_states == 0 and "RunFailure" in failed_attrs["error"]
    assert "Traceback" in failed_attrs["traceback"]
    assert main(argv) == 0 and "2 already there" in capsys.readouterr().out
    assert main(argv + ["--retry-failed"]) == 3

    pack = tmp_path / "pack"
    assert main(["sweep", "--side", "packing", "--fixed", "dim=2", "n=16", "delta_phis=1e-2",
                 "max_steps=200", "--grid", "seed=0", "--out", str(pack), "--executor",
                 "serial", "--quiet"]) == 3
    assert "1 done now" in (out := capsys.readouterr().out) and "stopped at their step" in out
    (p,) = pack.glob("*.h5")
    with h5py.File(p, "r") as f:
        flags = [bool(s.attrs["converged"]) for s in iter_states(f)]
        assert f.attrs["n_unconverged"] == flags.count(False) >= 1


def test_same_seed_same_command_gives_identical_numbers(tmp_path):
    for side, fixed, axes in (("packing", PACK, {"seed": [3]}), ("network", NET, {"width": [3]})):
        a, b = tmp_path / f"{side}_a", tmp_path / f"{side}_b"
        for d in (a, b):
            assert run_sweep(Grid(side, dict(fixed), axes), d, "serial", progress=False,
                             log=_quiet).done == 1
        (fa,), (fb,) = list(a.glob("*.h5")), list(b.glob("*.h5"))
        assert fa.name == fb.name
        _same_states(fa, fb)


def test_dask_local_cluster_equals_local_processes(tmp_path):
    pytest.importorskip("distributed")
    results = {}
    for ex in ("local", "dask"):
        out = tmp_path / ex
        g1 = run_sweep(Grid("packing", dict(PACK), {"seed": [0, 1]}), out, ex, workers=2,
                       progress=False, log=_quiet)
        g2 = run_sweep(Grid("network", dict(NET), {"width": [2, 4]}), out, ex, workers=2,
                       progress=False, log=_quiet)
        assert g1.done == 2 and g2.done == 2
        results[ex] = out
    names = sorted(p.name for p in results["local"].glob("*.h5"))
    assert names == sorted(p.name for p in results["dask"].glob("*.h5")) and len(names) == 4
    for name in names:
        _same_states(results["local"] / name, results["dask"] / name)


def test_submitit_debug_executor(tmp_path):
    """The submitit path (its in-process "debug" cluster; SLURM itself is not available here)."""
    pytest.importorskip("submitit")
    out = tmp_path / "sub"
    rep = run_sweep(Grid("packing", dict(PACK), {"seed": [0]}), out, "submitit",
                    options={"cluster": "debug"}, progress=False, log=_quiet)
    assert rep.done == 1
    ref = tmp_path / "ref"
    run_sweep(Grid("packing", dict(PACK), {"seed": [0]}), ref, "serial", progress=False, log=_quiet)
    (a,), (b,) = list(out.glob("*.h5")), list(ref.glob("*.h5"))
    _same_states(a, b)


def _wait_until_gone(pgid: int, timeout: float = 30.0) -> None:
    """Wait until every process of the group has died (SIGKILL is delivered asynchronously: a
    worker may still run for a moment after its driver has been reaped)."""
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.02)


def test_sigkill_mid_sweep_loses_nothing(tmp_path):
    """Kill the whole sweep (driver and workers) with SIGKILL once some runs are finished; every
    file left is complete and readable, and a re-run keeps them byte for byte and completes.
    16 seeds of N = 256, so that the kill lands mid-sweep (8 of N = 24 all finished first)."""
    out = tmp_path / "runs"
    cmd = [sys.executable, "-m", "dlbridge.cli", "sweep", "--side", "packing", "--fixed",
           "dim=2", "n=256", "delta_phis=1e-6,1e-5,1e-4,1e-3", "--grid", "seed=0:16", "--out",
           str(out), "--workers", "2", "--quiet"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        t_end = time.monotonic() + 240
        while time.monotonic() < t_end and len(list(out.glob("packing-*.h5"))) < 2:
            time.sleep(0.1)
            assert proc.poll() is None, "the sweep ended before it could be killed"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    _wait_until_gone(proc.pid)
    finished = {p.name: _digest(p) for p in out.glob("packing-*.h5")}
    assert 2 <= len(finished) < 16
    for name in finished:
        with h5py.File(out / name, "r") as f:
            assert f.attrs["status"] == "done" and len(list(iter_states(f))) == 4
    rep = run_sweep(load_grid(None, "packing", ["dim=2", "n=256", "delta_phis=1e-6,1e-5,1e-4,1e-3"],
                              ["seed=0:16"]), out, "serial", progress=False, log=_quiet)
    assert rep.skipped == len(finished) and rep.done == 16 - len(finished) and rep.failed == 0
    assert {n: _digest(out / n) for n in finished} == finished
    leftovers = [p.name for p in out.iterdir() if not p.name.endswith(".h5")]
    assert leftovers == []                     # no stale lock or temporary file survives


def test_run_lock_excludes_a_second_writer_and_breaks_stale_locks(tmp_path):
    import json
    import socket

    from dlbridge.workflow.sweep import execute_run, run_lock

    (run,) = Grid("packing", dict(PACK), {"seed": [0]}).runs()
    path = tmp_path / run.file_name
    with run_lock(path) as mine:
        assert mine
        with run_lock(path) as second:
            assert not second
        res = execute_run(run, str(tmp_path), "test", "{}")
        assert res["status"] == "locked" and not path.exists()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    lock = path.with_name(path.name + ".lock")
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": int(dead.stdout)}))
    (tmp_path / f".{run.file_name}.abc.tmp").write_bytes(b"half-written")
    assert execute_run(run, str(tmp_path), "test", "{}")["status"] == "done"
    assert sorted(p.name for p in tmp_path.iterdir()) == [run.file_name]


@pytest.mark.parametrize("content", ["", "{", '{"host": "x"}', "[1, 2]"])
def test_a_lock_that_cannot_be_parsed_is_broken(tmp_path, content):
    """Locks are written whole (temporary file, then a hard link), so an empty or unparseable lock
    is no live run's: it is broken and the run is done."""
    from dlbridge.workflow.sweep import execute_run

    (run,) = Grid("packing", dict(PACK), {"seed": [0]}).runs()
    lock = tmp_path / (run.file_name + ".lock")
    lock.write_text(content)
    assert execute_run(run, str(tmp_path), "test", "{}")["status"] == "done"
    assert sorted(p.name for p in tmp_path.iterdir()) == [run.file_name]
