"""Sweeps: a parameter grid expanded into independent runs, each written atomically to its own
file, executed by any ``concurrent.futures``-style executor, resumable, and merged into one file
(:mod:`.runfiles`).

The grid (a TOML file, or ``--fixed``/``--grid`` on the command line)::

    side = "packing"            # or "network"
    [fixed]                     # one value per parameter (a list for list-valued ones)
    dim = 2
    n = 64
    shape = "ellipse"
    delta_phis = [1e-6, 1e-4]
    [grid]                      # lists: one run per point of their Cartesian product
    aspect = [1.1, 1.5, 2.0]
    seed = [0, 1, 2, 3]

Packing parameters are the fields of :class:`packing.jamming_runs.JamSpec` plus ``seed`` or
``seeds``; network parameters those of :class:`dlbridge.nets.runs.NetRunSpec` plus ``seed`` or
``seeds``. ``seeds`` has the meaning of ``--seeds K`` on the command line: an integer K is a count,
the seeds 0 … K−1, and a list names the seeds (``seeds = [4, 7]``). A packing run is one seed, so
a fixed ``seeds`` becomes the axis ``seed``; a network run trains its ``seeds`` as ONE batched
ensemble, the cheap way to run seeds of a net (a ``[grid]`` axis ``seeds = [2, 4, 8]`` is then a
scan of ensemble sizes, and ``seed = [0, 1]`` one run per seed).

Every run is identified by a hash of its canonical parameters (the validated spec, so 1 and 1.0
are one run) and written to ``<out>/<side>-<hash>.h5`` with the temporary-file-then-rename of
:func:`packing.io.atomic_h5`: a file that exists is complete. A run holds an exclusive lock file
(``O_CREAT | O_EXCL``) while it works, so two workers never write one file; a lock left by a
killed process on this host is recognised (its pid is gone) and broken. A re-run of the same grid
skips runs with a file (``status`` "done", or "failed" unless ``retry_failed``) and redoes the
others. A run that raises is stored as a file with ``status`` = "failed" and its error and
traceback, not lost in a worker log; a diverged net fails its run. Every file carries the
provenance of :func:`packing.io.file_attributes` plus the run's parameters, the grid, the device
and the torch version.

Executors (``EXECUTORS``): ``serial`` (in this process), ``local`` (a process pool, the default),
``dask`` (a ``distributed.LocalCluster`` on this machine, or ``scheduler`` = an address),
``slurm`` (``dask_jobqueue.SLURMCluster``), ``submitit`` (``submitit.AutoExecutor``). The last
three need ``pip install -e .[dist]``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import socket
import time
import traceback
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import h5py

from packing.errors import ParameterError, require
from packing.exits import interrupt_within
from packing.io import WRITE_ERRNOS, atomic_h5
from packing.progress import progress_bar

from .grid import SIDES, SWEEP_SIDES, Grid, Run, RunFailure, load_grid, parse_value
from .locks import release_dead_locks, remove_orphans, run_lock
from .runfiles import read_status

_log = logging.getLogger(__name__)

__all__ = ["EXECUTORS", "SIDES", "Grid", "Run", "RunFailure", "execute_run", "load_grid",
           "parse_value", "run_lock", "run_sweep"]

EXECUTORS = ("serial", "local", "dask", "slurm", "submitit")


# ------------------------------------------------------------------------------ one run
def _compute(run: Run, runs_group: h5py.Group) -> tuple[int, int]:
    """Run the task and write its states under ``runs_group``.

    Returns (states, unconverged states): FIRE stopped by its step budget (attribute
    ``converged`` False), or nets stopped by theirs or stalled (``stop_reason`` "budget" or
    "stalled": neither fitted nor at a converged minimum).
    """
    return SWEEP_SIDES[run.side].compute(run.params, runs_group)


def _header(f: h5py.File, run: Run, grid_json: str, status: str) -> None:
    f.attrs.update({"run_key": run.key, "side": run.side, "params": run.params_json,
                    "grid": grid_json, "status": status, "host": socket.gethostname(),
                    "device": SWEEP_SIDES[run.side].device(run.params)})


_WORKER = {"busy": False}
"""Whether this process is inside :func:`execute_run` (read by a local worker's SIGTERM handler)."""


def execute_run(run: Run, out_dir: str, command: str, grid_json: str,
                retry_failed: bool = False, threads: int = 1) -> dict:
    """Worker entry point: compute ``run`` and write ``out_dir/<file>`` atomically.

    Returns {"key", "status", "error", "seconds", "states", "unconverged"} with status "done",
    "failed", "skipped" (a finished file existed) or "locked" (another live worker holds the run).
    """
    _WORKER["busy"] = True
    try:
        return _execute_run(run, out_dir, command, grid_json, retry_failed, threads)
    finally:
        _WORKER["busy"] = False


def _execute_run(run: Run, out_dir: str, command: str, grid_json: str, retry_failed: bool,
                 threads: int) -> dict:
    path = Path(out_dir) / run.file_name
    out = {"key": run.key, "status": "skipped", "error": "", "seconds": 0.0, "states": 0,
           "unconverged": 0}
    with run_lock(path) as mine:
        if not mine:
            return dict(out, status="locked")
        status = read_status(path)
        if status == "done" or (status == "failed" and not retry_failed):
            return out
        remove_orphans(path)
        t0 = time.perf_counter()
        from ..nets.train import torch_threads

        try:
            with torch_threads(threads), atomic_h5(path, True, command) as f:
                _header(f, run, grid_json, "running")
                n, n_unconv = _compute(run, f.require_group("runs"))
                f.attrs.update(status="done", seconds=time.perf_counter() - t0,
                               n_unconverged=n_unconv)
            return dict(out, status="done", seconds=time.perf_counter() - t0, states=n,
                        unconverged=n_unconv)
        except Exception as exc:  # noqa: BLE001 - a failed run is stored, with its traceback
            if (interrupt := interrupt_within(exc)) is not None:
                raise interrupt from None     # a signal, not a failure of the run
            if _cannot_write(exc):
                raise
            error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            with atomic_h5(path, True, command) as f:
                _header(f, run, grid_json, "failed")
                f.attrs["error"] = error
                f.attrs["traceback"] = traceback.format_exc()
                f.attrs["seconds"] = time.perf_counter() - t0
            return dict(out, status="failed", error=error, seconds=time.perf_counter() - t0)


def _cannot_write(exc: BaseException) -> bool:
    """True for a full disk or a size limit: the folder's fault, not the run's, so the sweep
    stops (exit status 1) instead of storing every run as failed."""
    return isinstance(exc, OSError) and exc.errno in WRITE_ERRNOS


# ------------------------------------------------------------------------------ executors
class _SerialExecutor:
    """Runs each submission at once in this process (for debugging and small sweeps)."""

    def submit(self, fn: Callable, *args) -> Future:
        fut: Future = Future()
        try:
            fut.set_result(fn(*args))
        except Exception as exc:  # noqa: BLE001 - handed to the caller through the future
            fut.set_exception(exc)
        return fut


def _need(module: str, executor: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ParameterError(f"--executor {executor} needs the optional package providing "
                             f"{module!r}: pip install -e '.[dist]'") from None


_EXECUTOR_MODULES = {"serial": (), "local": (), "dask": ("distributed",),
                     "slurm": ("distributed", "dask_jobqueue"), "submitit": ("submitit",)}


def _worker_signals() -> None:
    """In a local worker: SIGINT ignored (the sweep's own process decides, on a Ctrl-C that
    reaches the whole process group), SIGTERM raised as `packing.exits.Interrupted`, so that the
    run in progress removes its temporary file and its lock; an idle worker holds neither and
    exits at once (an exception in the pool's own loop would print a traceback). SIGINT, blocked
    since the worker was forked (:class:`_LocalPool`), is unblocked only once it is ignored."""
    import signal

    from packing.exits import Interrupted, raise_on_stop_signal

    def terminate(signum, _frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if not _WORKER["busy"]:
            os._exit(128 + signum)
        raise Interrupted(signum)

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise_on_stop_signal(signal.SIGTERM, terminate)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


class _LocalPool(ProcessPoolExecutor):
    """A spawn-context process pool whose workers are started with SIGINT blocked.

    The pool starts its workers inside ``submit``; a new process takes its signal mask from the
    thread that forks it, so a Ctrl-C to the process group while a worker is still importing
    stays pending in that worker until :func:`_worker_signals` has set SIG_IGN (which discards
    it) instead of raising KeyboardInterrupt there. In this process the signal is only deferred:
    it is delivered when ``submit`` returns.
    """

    def submit(self, fn, /, *args, **kwargs):
        import signal

        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            return super().submit(fn, *args, **kwargs)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)


WORKER_GRACE_S = 10.0
"""Seconds a local worker has to clean up after SIGTERM before it is killed."""


def _stop_workers(ex: ProcessPoolExecutor) -> None:
    """Cancel the pending runs and end the workers now: SIGTERM (each removes its temporary file
    and lock), then SIGKILL after :data:`WORKER_GRACE_S` for those still running."""
    processes = list(getattr(ex, "_processes", {}).values())  # the pool exposes no public handle
    ex.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        with contextlib.suppress(OSError, ValueError):
            proc.terminate()
    deadline = time.monotonic() + WORKER_GRACE_S
    for proc in processes:
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.is_alive():
            proc.kill()
            proc.join(1.0)


def check_executor(kind: str) -> None:
    """ParameterError for an unknown executor or one whose optional package is missing."""
    require(kind in EXECUTORS, "--executor", f"one of {', '.join(EXECUTORS)}", kind)
    for module in _EXECUTOR_MODULES[kind]:
        _need(module, kind)


@contextlib.contextmanager
def open_executor(kind: str, workers: int, out_dir: Path, scheduler: str | None = None,
                  options: Mapping[str, Any] | None = None) -> Iterator[tuple[Any, str]]:
    """(executor with ``submit(fn, *args)`` returning futures with done()/result(), info line)."""
    require(kind in EXECUTORS, "--executor", f"one of {', '.join(EXECUTORS)}", kind)
    options = dict(options or {})
    if kind == "serial":
        yield _SerialExecutor(), "serial: in this process"
    elif kind == "local":
        ex = _LocalPool(workers, mp_context=get_context("spawn"), initializer=_worker_signals)
        try:
            yield ex, f"local: {workers} worker processes"
        except BaseException:
            _stop_workers(ex)
            raise
        ex.shutdown(wait=True)
    elif kind in ("dask", "slurm"):
        distributed = _need("distributed", kind)
        if kind == "dask" and scheduler is not None:
            cluster = contextlib.nullcontext()
        elif kind == "dask":
            cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1,
                                               processes=True, host="127.0.0.1",
                                               dashboard_address=options.pop("dashboard", ":0"),
                                               **options)
        else:
            cluster = _need("dask_jobqueue", kind).SLURMCluster(**options)
            cluster.scale(jobs=workers)
        with cluster as cl, distributed.Client(scheduler if cl is None else cl) as client:
            yield client.get_executor(pure=False), f"{kind}: dashboard {client.dashboard_link}"
    else:
        submitit = _need("submitit", kind)
        ex = submitit.AutoExecutor(folder=str(out_dir / ".submitit"),
                                   cluster=options.pop("cluster", None))
        if options:
            ex.update_parameters(**options)
        yield ex, f"submitit: logs in {out_dir / '.submitit'}"


# ------------------------------------------------------------------------------ driver
@dataclasses.dataclass(frozen=True)
class SweepReport:
    """Counts of a sweep: total runs, done now, skipped (already there), failed, locked, and the
    states of the runs done now that stopped at their step budget (marked in their files)."""

    total: int
    done: int
    skipped: int
    failed: int
    locked: int
    unconverged: int
    errors: tuple[str, ...]
    out_dir: str


def prepare_out_dir(out: str | os.PathLike) -> Path:
    """The output folder (created if missing, its parent must exist); ParameterError otherwise."""
    p = Path(out)
    require(not p.exists() or p.is_dir(), "--out", "a directory (not a file)", str(p))
    parent = p.parent if str(p.parent) else Path(".")
    require(p.exists() or parent.is_dir(), "--out", "a directory whose parent exists", str(p))
    target = p if p.exists() else parent
    require(os.access(target, os.W_OK | os.X_OK), "--out", "a writable directory", str(p))
    p.mkdir(exist_ok=True)
    return p


def pending_runs(runs: Sequence[Run], out_dir: Path, retry_failed: bool) -> list[Run]:
    """Runs without a finished file (or with a failed one when ``retry_failed``)."""
    todo = []
    for r in runs:
        s = read_status(out_dir / r.file_name)
        if s is None or (s == "failed" and retry_failed):
            todo.append(r)
    return todo


def _poll(futures: dict, timeout: float) -> list:
    """Futures that are done, waiting up to ``timeout`` seconds for at least one."""
    t_end = time.monotonic() + timeout
    while True:
        done = [f for f in futures if f.done()]
        if done or time.monotonic() >= t_end:
            return done
        time.sleep(0.05)


def run_sweep(grid: Grid, out: str | os.PathLike, executor: str = "local", workers: int = 2,
              retry_failed: bool = False, command: str = "", scheduler: str | None = None,
              options: Mapping[str, Any] | None = None, progress: bool = True,
              log: Callable[[str], None] = _log.info) -> SweepReport:
    """Run every pending run of ``grid`` into the folder ``out`` (module docstring); ``log``
    takes its one line of what it is about to do (the module's logger by default)."""
    require(isinstance(workers, int) and workers >= 1, "--workers", "an integer >= 1", workers)
    check_executor(executor)
    runs = grid.runs()
    out_dir = prepare_out_dir(out)
    todo = pending_runs(runs, out_dir, retry_failed)
    counts = {"done": 0, "failed": 0, "skipped": len(runs) - len(todo), "locked": 0,
              "unconverged": 0}
    errors: list[str] = []
    if todo:
        try:
            with open_executor(executor, workers, out_dir, scheduler, options) as (ex, info):
                log(f"sweep: {len(runs)} runs, {len(todo)} to do, {counts['skipped']} "
                    f"already there; {info}")
                futures = {ex.submit(execute_run, r, str(out_dir), command, grid.to_json(),
                                     retry_failed): r for r in todo}
                _collect(futures, counts, errors, progress)
        except BaseException:
            release_dead_locks(out_dir, todo)
            raise
    return SweepReport(len(runs), counts["done"], counts["skipped"], counts["failed"],
                       counts["locked"], counts["unconverged"], tuple(errors), str(out_dir))


def _collect(futures: dict, counts: dict, errors: list, progress: bool) -> None:
    with progress_bar(len(futures), progress, unit="run", desc="sweep") as bar:
        while futures:
            for fut in _poll(futures, 1.0):
                run = futures.pop(fut)
                try:
                    res = fut.result()
                except Exception as exc:  # noqa: BLE001 - a lost worker: the run is redone later
                    if _cannot_write(exc):
                        raise
                    res = {"status": "failed", "error": f"{type(exc).__name__}: {exc} (no file "
                           f"written; re-run the sweep to redo {run.file_name})"}
                counts[res["status"]] += 1
                counts["unconverged"] += res.get("unconverged", 0)
                if res["status"] == "failed":
                    errors.append(f"{run.file_name}: {res['error']}")
                bar.set_postfix(done=counts["done"], failed=counts["failed"],
                                remaining=len(futures), refresh=False)
                bar.update(1)
