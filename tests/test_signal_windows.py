"""A stop signal landing in the instant between creating a temporary file (or folder, or lock)
and the clean-up knowing its name: in-process, so the signal arrives exactly there every time
(the subprocess tests of test_faults.py hit that instant only by chance)."""
from __future__ import annotations

import os
import signal
import sys
import tempfile
import threading
import time

import numba
import numpy as np
import pytest

from dlbridge.workflow import locks
from packing import io
from packing.exits import Interrupted, run_command, signals_as_exceptions, stop_signals_held


def _signal_after(real, sig=signal.SIGTERM):
    """``real`` that sends ``sig`` to this process once it has done its work, before returning."""
    def call(*args, **kwargs):
        result = real(*args, **kwargs)
        os.kill(os.getpid(), sig)
        return result
    return call


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_just_after_the_temporary_file_is_created_leaves_none(tmp_path, monkeypatch, sig):
    out = tmp_path / "nets.h5"
    out.write_bytes(b"an earlier result")
    monkeypatch.setattr(tempfile, "mkstemp", _signal_after(tempfile.mkstemp, sig))
    with pytest.raises(Interrupted) as caught, signals_as_exceptions():
        with io.atomic_output(out, overwrite=True) as tmp:
            tmp.write_bytes(b"never reached")
    assert caught.value.signum == sig
    assert _names(tmp_path) == ["nets.h5"] and out.read_bytes() == b"an earlier result"


def test_signal_just_after_the_staging_folder_is_created_leaves_none(tmp_path, monkeypatch):
    (tmp_path / "table.csv").write_text("earlier")
    monkeypatch.setattr(tempfile, "mkdtemp", _signal_after(tempfile.mkdtemp))
    with pytest.raises(Interrupted), signals_as_exceptions():
        with io.staged_directory(tmp_path) as stage:
            (stage / "table.csv").write_text("never reached")
    assert _names(tmp_path) == ["table.csv"] and (tmp_path / "table.csv").read_text() == "earlier"


@pytest.mark.parametrize("step", ["mkstemp", "link"])
def test_signal_while_a_run_lock_is_taken_leaves_no_lock(tmp_path, monkeypatch, step):
    """After the lock's temporary file is made, or after it is linked into place (the lock is
    then taken): neither it nor the lock stays, so the run is not seen as held."""
    target = {"mkstemp": (tempfile, "mkstemp"), "link": (os, "link")}[step]
    monkeypatch.setattr(*target, _signal_after(getattr(*target)))
    with pytest.raises(Interrupted), signals_as_exceptions():
        with locks.run_lock(tmp_path / "run.h5"):
            pytest.fail("the body must not run once the signal came")
    assert _names(tmp_path) == []


def test_held_signals_are_raised_once_when_the_outermost_block_ends():
    reached = []
    with pytest.raises(Interrupted) as caught, signals_as_exceptions():
        with stop_signals_held():
            with stop_signals_held():
                os.kill(os.getpid(), signal.SIGTERM)
                reached.append("inner")
            reached.append("outer")
    assert reached == ["inner", "outer"] and caught.value.signum == signal.SIGTERM
    with signals_as_exceptions(), stop_signals_held():   # nothing left pending
        reached.append("after")
    assert reached[-1] == "after"


def _five_arrays(n):
    a, b, c, d, e = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    for i in range(n):
        a[i] = 0.5 * i
    return a, b, c, d, e


def test_a_signal_while_a_numba_kernel_returns_ends_as_an_interruption(capsys):
    """A stop signal whose handler runs while numba boxes a kernel's tuple of arrays reaches
    Python as a SystemError caused by Interrupted (about half of these trials): the command
    still ends as interrupted, 130 and one line, never with a traceback."""
    kernel = numba.njit(_five_arrays)
    kernel(10)
    statuses = []
    for k in range(30):
        def body(k=k) -> int:
            threading.Timer(0.005 + 0.002 * k, os.kill, (os.getpid(), signal.SIGINT)).start()
            t0 = time.monotonic()
            while time.monotonic() - t0 < 5:
                kernel(200)
            return 0
        statuses.append(run_command("test", body))
    assert statuses == [128 + signal.SIGINT] * 30
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 30 and all("interrupted by SIGINT" in ln for ln in lines)


class _SignalsWhenDropped:
    """An object whose finalizer sends ``sig`` to this process: the handler then raises inside
    ``__del__``, where CPython prints the exception as "Exception ignored" and drops it."""

    def __init__(self, sig):
        self.sig = sig

    def __del__(self):
        signal.raise_signal(self.sig)


def _spin(seconds):
    t_end = time.monotonic() + seconds
    while time.monotonic() < t_end:
        pass


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_landing_in_a_finalizer_still_interrupts(capfd, sig):
    reached = []
    with pytest.raises(Interrupted) as caught, signals_as_exceptions():
        _SignalsWhenDropped(sig)
        _spin(2.0)
        reached.append("after the spin")
    assert caught.value.signum == sig and reached == []
    assert "Exception ignored" not in capfd.readouterr().err


def test_other_unraisable_exceptions_still_reach_the_previous_hook(monkeypatch):
    seen = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: seen.append(type(u.exc_value)))
    with signals_as_exceptions():
        class Failing:
            def __del__(self):
                raise ValueError("in a finalizer")
        Failing()
        inside = sys.unraisablehook
    assert seen == [ValueError] and sys.unraisablehook is not inside
    _spin(0.01)
