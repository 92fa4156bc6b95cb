"""Faults and hostile input, run for real (issue 16): a size limit (RLIMIT_FSIZE), SIGTERM and
SIGINT in subprocesses, symlinks in --out, stale and corrupt sweep locks, hostile data files,
limits checked before work. Each case asserts the exit status, one line on stderr without a
traceback, pre-existing files byte-identical and no temporary or lock file left."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from dlbridge.nets.data import load_cifar_raw, load_mnist_raw
from packing.errors import ParameterError

pytestmark = pytest.mark.slow   # about 65 s of subprocesses

JAM = [sys.executable, "-m", "packing.cli", "jam", "--n", "16", "--no-progress"]
DL = [sys.executable, "-m", "dlbridge.cli"]


def _env() -> dict:
    return dict(os.environ, PYTHONDONTWRITEBYTECODE="1")


def _run(argv, fsize: int | None = None, **kw) -> subprocess.CompletedProcess:
    def limit() -> None:
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    return subprocess.run(argv, capture_output=True, text=True, env=_env(), preexec_fn=limit,
                          timeout=300, **kw)


def _digest(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*") if p.name.endswith((".tmp", ".lock"))]


def _one_line_error(res: subprocess.CompletedProcess, status: int, needle: str) -> None:
    """Exit ``status`` and one line on stderr holding ``needle`` (besides a sweep's opening
    line, "N runs, K to do, ...")."""
    lines = [ln for ln in res.stderr.strip().splitlines() if " to do, " not in ln]
    assert res.returncode == status, (res.returncode, res.stderr[-2000:])
    assert "Traceback" not in res.stderr and len(lines) == 1 and needle in lines[0], res.stderr


@pytest.fixture(scope="module")
def good_jam(tmp_path_factory) -> Path:
    """A complete ``packing jam --hessian`` file (and the numba cache warm for the others)."""
    out = tmp_path_factory.mktemp("good") / "good.h5"
    res = _run(JAM + ["--hessian", "--seeds", "2", "--out", str(out)])
    assert res.returncode == 0, res.stderr
    return out


def test_size_limit_is_one_line_and_keeps_the_good_file(good_jam, tmp_path):
    """Class 2: a write over the size limit ends with exit 1, one line, no temporary file, and
    the earlier file (replaced only on success) byte-identical."""
    target = tmp_path / "out.h5"
    target.write_bytes(good_jam.read_bytes())
    before = _digest(tmp_path)
    res = _run(JAM + ["--hessian", "--seeds", "2", "--overwrite", "--out", str(target)],
               fsize=good_jam.stat().st_size // 2)
    _one_line_error(res, 1, "File too large")
    assert _digest(tmp_path) == before and not _leftovers(tmp_path)


@pytest.fixture(scope="module")
def small_sweep(tmp_path_factory) -> Path:
    """A finished two-run packing sweep folder."""
    out = tmp_path_factory.mktemp("sweep") / "sw"
    assert _packing_sweep(out).returncode == 0
    return out


def _size_limited_commands(good_jam: Path, sweep: Path, tmp: Path) -> dict:
    """Each command writing into ``tmp/out`` (a folder for sweep and compare, a file otherwise)."""
    out = tmp / "out"
    return {
        "train": DL + ["train", "--dataset", "random", "--dim", "4", "--n-train", "30",
                       "--widths", "4", "--seeds", "2", "--steps", "100", "--hessian", "--quiet",
                       "--overwrite", "--out", str(out)],
        "merge": DL + ["merge", str(sweep), "--overwrite", "--out", str(out)],
        "sweep": DL + ["sweep", "--side", "packing", "--fixed", "n=32", "delta_phis=1e-4",
                       "hessian=true", "--grid", "seed=0:2", "--executor", "local", "--workers", "2",
                       "--quiet", "--out", str(out)],
        "compare": DL + ["compare", str(good_jam), "--overwrite", "--out", str(out)],
    }


@pytest.mark.parametrize("command", ["train", "merge", "sweep", "compare"])
def test_size_limit_in_every_command(good_jam, small_sweep, tmp_path, command):
    """Class 2 for the other writers: under a 20 kB file-size limit each ends with exit 1 and one
    line, leaves no temporary or lock file, and what --out held before is byte-identical (for
    compare: earlier tables and figures, none replaced by a partial set)."""
    argv = _size_limited_commands(good_jam, small_sweep, tmp_path)[command]
    out = tmp_path / "out"
    if command in ("sweep", "compare"):
        out.mkdir()
        (out / ("comparison.md" if command == "compare" else "notes.txt")).write_text("earlier")
    else:
        out.write_bytes(b"an earlier result")
    before = _digest(tmp_path)
    res = _run(argv, fsize=20_000)
    _one_line_error(res, 1, "File too large")
    assert _digest(tmp_path) == before and not _leftovers(tmp_path)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_jam_cleanly(good_jam, tmp_path, sig):
    """Classes 8 and 12: SIGTERM or SIGINT in the middle of a run: exit 128 + signal, one line,
    no temporary file; the file holds only whole seeds (class 14: each seed is written as it
    finishes)."""
    out = tmp_path / "run.h5"
    proc = subprocess.Popen(JAM + ["--n", "64", "--seeds", "50", "--hessian", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    t_end = time.monotonic() + 120
    while not out.exists() and time.monotonic() < t_end and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    res = subprocess.CompletedProcess(proc.args, proc.returncode, "", err)
    _one_line_error(res, 128 + sig, "interrupted")
    assert not _leftovers(tmp_path)
    with h5py.File(out, "r") as f:
        written = list(f.attrs["seeds_written"])
        assert not f.attrs["complete"] and len(written) >= 1
        assert sorted(f["runs"][next(iter(f["runs"]))]) == [f"seed{k}" for k in written]


def test_unconverged_jam_says_so_and_compare_leaves_it_out(tmp_path):
    """Class 4: a step budget too small: exit 3 with a warning; compare leaves the states out
    by default and counts them."""
    out = tmp_path / "short.h5"
    res = _run(JAM + ["--n", "64", "--max-steps", "300", "--out", str(out)])
    assert res.returncode == 3 and "not converged" in res.stderr, res.stderr
    res = _run(DL + ["compare", str(out), "--out", str(tmp_path / "cmp"), "--no-figures"])
    _one_line_error(res, 2, "unconverged")
    res = _run(DL + ["compare", str(out), "--out", str(tmp_path / "cmp2"), "--no-figures",
                     "--include-unconverged"])
    assert res.returncode == 0 and "unconverged states included" in res.stderr, res.stderr


def test_compare_replaces_links_never_writes_through(good_jam, tmp_path):
    """Class 1: a table name linked to a file elsewhere, a dangling link: the victim is
    untouched, nothing is created outside --out, an existing table needs --overwrite."""
    out, elsewhere = tmp_path / "cmp", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (elsewhere / "victim.txt").write_text("keep me")
    (out / "comparison.csv").symlink_to(elsewhere / "victim.txt")
    (out / "comparison.md").symlink_to(elsewhere / "created.md")
    res = _run(DL + ["compare", str(good_jam), "--out", str(out), "--no-figures"])
    _one_line_error(res, 2, "--overwrite")
    res = _run(DL + ["compare", str(good_jam), "--out", str(out), "--no-figures", "--overwrite"])
    assert res.returncode == 0, res.stderr
    assert (elsewhere / "victim.txt").read_text() == "keep me"
    assert sorted(p.name for p in elsewhere.iterdir()) == ["victim.txt"]
    assert not (out / "comparison.csv").is_symlink() and not _leftovers(tmp_path)


def _signal_while_writing(argv, out: Path, sig: int) -> subprocess.CompletedProcess:
    """Run ``argv`` and send ``sig`` as soon as the temporary file of ``out`` exists (the command
    is then inside its write)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env())
    t_end = time.monotonic() + 240
    while (proc.poll() is None and time.monotonic() < t_end
           and not list(out.parent.glob(f".{out.name}.*.tmp"))):
        time.sleep(0.001)
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(argv, proc.returncode, "", err)


def test_sigterm_while_train_writes_its_hessians_keeps_the_good_file(tmp_path):
    """Class 8: SIGTERM while ``dlbridge train --hessian --overwrite`` computes and writes its
    Hessians: exit 143, one line, no temporary file, the earlier file byte-identical."""
    out = tmp_path / "nets.h5"
    out.write_bytes(b"an earlier result")
    before = _digest(tmp_path)
    res = _signal_while_writing(DL + ["train", "--dataset", "random", "--dim", "10",
                                      "--n-train", "300", "--widths", "30", "--seeds", "2",
                                      "--steps", "3000", "--hessian", "--quiet", "--overwrite",
                                      "--out", str(out)], out, signal.SIGTERM)
    _one_line_error(res, 143, "interrupted")
    assert _digest(tmp_path) == before and not _leftovers(tmp_path)


def test_sigterm_while_merging_keeps_the_good_file(tmp_path):
    """Class 8: SIGTERM during ``dlbridge merge --overwrite`` (its write lasts about 0.1 s, so
    tried until a signal lands inside it): exit 143, one line, no temporary file, the earlier
    merged file byte-identical; a merge the signal missed wrote a whole file."""
    sweep = tmp_path / "sw"
    res = _run(DL + ["sweep", "--side", "packing", "--fixed", "n=128",
                     "delta_phis=1e-4,1e-3,1e-2", "hessian=true", "--grid", "seed=0:8",
                     "--executor", "serial", "--quiet", "--out", str(sweep)])
    assert res.returncode == 0, res.stderr
    out = tmp_path / "merged" / "all.h5"
    out.parent.mkdir()
    merge = DL + ["merge", str(sweep), "--overwrite", "--out", str(out)]
    assert _run(merge).returncode == 0
    interrupted = 0
    for _ in range(5):
        before = _digest(out.parent)
        res = _signal_while_writing(merge, out, signal.SIGTERM)
        assert res.returncode in (0, 143), res.stderr
        assert not _leftovers(out.parent)
        if res.returncode == 143:
            _one_line_error(res, 143, "interrupted")
            assert _digest(out.parent) == before
            interrupted += 1
        with h5py.File(out, "r") as f:
            assert len(f["runs"]) == 8
    assert interrupted >= 1


def _packing_sweep(out: Path, extra=()) -> subprocess.CompletedProcess:
    return _run(DL + ["sweep", "--side", "packing", "--fixed", "n=16", "delta_phis=1e-4",
                      "--grid", "seed=0:2", "--executor", "serial", "--quiet", "--out", str(out),
                      *extra])


def test_sweep_locks_stale_corrupt_and_live(tmp_path):
    """Class 5: a corrupt lock and a lock of another host whose heartbeat stopped are broken; a
    live lock blocks its run, the exit status says so (4) and --merge is refused."""
    out = tmp_path / "sw"
    listing = _run(DL + ["sweep", "--side", "packing", "--fixed", "n=16", "delta_phis=1e-4",
                         "--grid", "seed=0:2", "--out", str(out), "--dry-run"])
    names = [line.split()[0] for line in listing.stdout.splitlines()]
    out.mkdir()
    (out / f"{names[0]}.lock").write_text("{not json")
    old = out / f"{names[1]}.lock"
    old.write_text(json.dumps({"host": "elsewhere", "pid": 1, "start": 0}))
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    res = _packing_sweep(out)
    assert res.returncode == 0, res.stderr
    assert not _leftovers(out)
    # a live lock (this process, fresh) on a run redone with --retry-failed
    (out / names[0]).unlink()
    (out / f"{names[0]}.lock").write_text(json.dumps({"host": os.uname().nodename,
                                                      "pid": os.getpid(), "start": None}))
    res = _packing_sweep(out, ["--merge", str(tmp_path / "all.h5")])
    assert res.returncode == 4 and "not finished" in res.stderr, res.stderr
    assert not (tmp_path / "all.h5").exists()
    res = _run(DL + ["merge", str(out), "--out", str(tmp_path / "all.h5")])
    _one_line_error(res, 2, "--allow-incomplete")


def _sweep_summary(stdout: str) -> dict:
    """The counts of ``dlbridge sweep``'s summary line (a result: on stdout)."""
    line = next(ln for ln in stdout.splitlines() if " done now, " in ln)
    words = line.split(": ", 2)[2].replace(",", "").split()
    return {"done": int(words[0]), "skipped": int(words[3])}


def test_two_concurrent_sweeps_do_each_run_once_and_merge_only_whole_sets(tmp_path):
    """Class 5: two sweeps of one grid started together in one folder: every run is computed
    exactly once; a sweep exits 0 (and merges) only when all six runs are finished, and 4 (no
    merged file) when some were held by the other; nothing is left behind."""
    out = tmp_path / "sw"
    argv = DL + ["sweep", "--side", "packing", "--fixed", "n=128", "delta_phis=1e-4,1e-3",
                 "hessian=true", "--grid", "seed=0:6", "--executor", "serial", "--quiet",
                 "--out", str(out)]
    procs = [subprocess.Popen(argv + ["--merge", str(tmp_path / f"all{k}.h5")], env=_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for k in range(2)]
    results = [(p.returncode, out, err) for p in procs
               for out, err in [p.communicate(timeout=300)]]
    for k, (status, _, err) in enumerate(results):
        assert status in (0, 4) and "Traceback" not in err, err
        merged = tmp_path / f"all{k}.h5"
        assert merged.exists() == (status == 0), err
        if status == 0:
            with h5py.File(merged, "r") as f:
                assert len(f["runs"]) == 6
        else:
            assert "not finished" in err and "--merge skipped" in err, err
    assert sum(_sweep_summary(out)["done"] for _, out, _ in results) == 6
    assert not _leftovers(out)
    res = _run(argv + ["--merge", str(tmp_path / "final.h5")])
    assert res.returncode == 0 and _sweep_summary(res.stdout) == {"done": 0, "skipped": 6}


def test_ctrl_c_stops_a_local_sweep_at_once(tmp_path):
    """Class 6: Ctrl-C (SIGINT to the whole process group) during a ``local`` sweep: pending runs
    are cancelled, the workers stop, exit 130 with one line, no lock or temporary file left;
    the next sweep does the rest."""
    out = tmp_path / "sw"
    argv = DL + ["sweep", "--side", "packing", "--fixed", "n=256", "delta_phis=1e-4",
                 "hessian=true", "--grid", "seed=0:12", "--executor", "local", "--workers", "2",
                 "--quiet", "--out", str(out)]
    proc = subprocess.Popen(argv, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    t_end = time.monotonic() + 120
    while not list(out.glob("*.lock")) and time.monotonic() < t_end and proc.poll() is None:
        time.sleep(0.05)
    t_signal = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    stopped_after = time.monotonic() - t_signal
    _one_line_error(subprocess.CompletedProcess(argv, proc.returncode, "", err), 130,
                    "interrupted")
    assert stopped_after < 30, stopped_after
    assert not _leftovers(out)
    done_before = len(list(out.glob("packing-*.h5")))
    assert done_before < 12
    res = _run(argv)
    assert res.returncode == 0, res.stderr
    assert _sweep_summary(res.stdout) == {"done": 12 - done_before, "skipped": done_before}


def test_merge_refuses_links_and_bad_run_keys(tmp_path):
    """Class 9: a run file with an external link under /runs is not merged (status invalid,
    exit 3), nothing of the outside file is pulled in."""
    out = tmp_path / "sw"
    assert _packing_sweep(out).returncode == 0
    outside = tmp_path / "outside.h5"
    with h5py.File(outside, "w") as f:
        f.create_dataset("secret", data=np.arange(3))
    run = sorted(out.glob("packing-*.h5"))[0]
    with h5py.File(run, "a") as f:
        f["runs"]["evil"] = h5py.ExternalLink(str(outside), "/secret")
    res = _run(DL + ["merge", str(out), "--out", str(tmp_path / "all.h5")])
    assert res.returncode == 3 and "1 unreadable or invalid" in res.stdout, res.stderr
    with h5py.File(tmp_path / "all.h5", "r") as f:
        status = [s.decode() for s in f["index"]["status"][()]]
        assert status.count("invalid") == 1 and len(f["runs"]) == 1


def test_compare_counts_a_file_given_twice_once(good_jam, tmp_path):
    """Class 3: ``a.h5 ./a.h5`` gives the table of ``a.h5`` (no seed counted twice) and says so."""
    once, twice = tmp_path / "once", tmp_path / "twice"
    assert _run(DL + ["compare", str(good_jam), "--out", str(once), "--no-figures"]).returncode == 0
    res = _run(DL + ["compare", str(good_jam), f"{good_jam.parent}/./{good_jam.name}",
                     "--out", str(twice), "--no-figures"])
    assert res.returncode == 0 and "the same file as" in res.stderr, res.stderr
    assert (once / "comparison.csv").read_bytes() == (twice / "comparison.csv").read_bytes()


def test_every_net_diverging_keeps_the_earlier_file(tmp_path):
    """Class 7: every net diverges (lr = 1e300): exit 3, one line, the earlier file kept even
    with --overwrite; without an earlier file, none is written."""
    argv = DL + ["train", "--dataset", "random", "--dim", "4", "--n-train", "30", "--widths", "4",
                 "--seeds", "2", "--steps", "50", "--lr", "1e300", "--quiet"]
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "nets.h5").write_bytes(b"an earlier result")
    before = _digest(kept)
    _one_line_error(_run(argv + ["--overwrite", "--out", str(kept / "nets.h5")]), 3, "diverged")
    assert _digest(kept) == before and not _leftovers(kept)
    _one_line_error(_run(argv + ["--out", str(tmp_path / "new.h5")]), 3, "nothing written")
    assert not (tmp_path / "new.h5").exists()


@pytest.mark.parametrize("toml, needle", [
    ('n = "16"', "n must be"),
    ("hessian = \"no\"", "hessian must be true"),
    ("seeds = [0, 0]", "seeds"),
    ("n = 16\nn = 32", "grid file"),
])
def test_sweep_specs_of_the_wrong_type_are_refused(tmp_path, toml, needle):
    """Class 13 through the command line: a TOML grid with a string, a repeated seed or a key
    given twice: exit 2, one line, nothing written."""
    side = "network" if "seeds" in toml else "packing"
    grid = tmp_path / "grid.toml"
    grid.write_text(f'side = "{side}"\n[fixed]\n{toml}\n[grid]\nwidth = [3]\n'
                    if side == "network" else f'side = "{side}"\n[fixed]\n{toml}\n[grid]\n'
                    'seed = [0]\n')
    res = _run(DL + ["sweep", str(grid), "--out", str(tmp_path / "sw"), "--executor", "serial"])
    _one_line_error(res, 2, needle)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.toml"]


def test_sphere_in_two_dimensions_and_an_empty_merge_are_refused(tmp_path):
    """Class 13: ``--shape sphere --dim 2`` and merging a folder with no run file: exit 2, one
    line, nothing written."""
    _one_line_error(_run(JAM + ["--shape", "sphere", "--dim", "2", "--out",
                                str(tmp_path / "x.h5")]), 2, "--shape")
    (tmp_path / "empty").mkdir()
    _one_line_error(_run(DL + ["merge", str(tmp_path / "empty"), "--out",
                               str(tmp_path / "all.h5")]), 2, "run files")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


def _write_npz(d: Path, **arrays) -> Path:
    d.mkdir()
    np.savez(d / "data.npz", **arrays)
    return d


@pytest.mark.parametrize("arrays, needle", [
    ({"x": np.zeros((5, 4)), "y": np.zeros(4, dtype=int)}, "one label per image"),
    ({"x": np.zeros((5, 4)), "y": np.full(5, 0.5)}, "integers"),
    ({"x": np.full((5, 4), 300.0), "y": np.zeros(5, dtype=int)}, "[0, 255]"),
])
def test_loaders_reject_inconsistent_npz(tmp_path, arrays, needle):
    """Class 10: counts, label values and pixel ranges checked."""
    d = _write_npz(tmp_path / "d", **arrays)
    for loader in (load_mnist_raw, load_cifar_raw):
        with pytest.raises(ParameterError, match=needle.replace("[", r"\[")):
            loader(d)


def test_hostile_pickle_cannot_allocate(tmp_path):
    """Class 12: a 267-byte CIFAR pickle declaring a 10¹¹-element object array is refused."""
    red = np.zeros(3, np.uint8).__reduce__()

    class Evil:
        def __reduce__(self):
            return red[0], red[1], (1, (10**11,), np.dtype(object), False, [])

    import pickle

    (tmp_path / "test_batch").write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}, 2))
    with pytest.raises(ParameterError, match="numeric arrays"):
        load_cifar_raw(tmp_path)


@pytest.mark.parametrize("argv, needle", [
    (JAM + ["--ftol", "1e-300"], "--ftol"),
    (JAM + ["--n", "1000000000"], "--n"),
    (JAM + ["--seeds", "10000000"], "--seeds"),
    (JAM + ["--n", "100000", "--hessian"], "GiB"),
    (JAM + ["--delta-phi", "1e-6", "1.00001e-6"], "distinct"),
    (DL + ["train", "--steps", "100000000000000000000"], "steps"),
    (DL + ["train", "--depth", "100000"], "depth"),
    (DL + ["train", "--widths", "1e9"], "width"),
    (DL + ["train", "--widths", "10.0000001", "10.0000002"], "distinct"),
    (DL + ["sweep", "--side", "packing", "--fixed", "n=16", "--grid", "seed=0:10000000",
           "--dry-run"], "at most"),
])
def test_limits_before_work(tmp_path, argv, needle):
    """Class 11: limits checked before any work, one line each."""
    t0 = time.monotonic()
    res = _run(argv + ["--out", str(tmp_path / "x")])
    _one_line_error(res, 2, needle)
    assert time.monotonic() - t0 < 60 and list(tmp_path.iterdir()) == []


def test_dry_run_into_a_closed_pipe(tmp_path):
    """Class 12: ``--dry-run | head -1``: no traceback."""
    res = subprocess.run(" ".join(DL) + " sweep --side packing --fixed n=16 --grid seed=0:3000 "
                         f"--out {tmp_path / 'sw'} --dry-run | head -1", shell=True,
                         capture_output=True, text=True, env=_env(), timeout=120)
    assert "Traceback" not in res.stderr and res.stdout.count("\n") == 1, res.stderr
