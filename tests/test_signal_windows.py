"""A stop signal landing in the instant between creating a temporary file (or folder, or lock)
and the clean-up knowing its name: in-process, so the signal arrives exactly there every time
(the subprocess tests of test_faults.py hit that instant only by chance)."""
from __future__ import annotations

import os
import signal
import tempfile

import pytest

from dlbridge.workflow import locks
from packing import io
from packing.exits import Interrupted, signals_as_exceptions, stop_signals_held


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
