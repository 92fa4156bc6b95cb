"""Run locks of a sweep: one exclusive lock file per run while a worker computes it, with a
heartbeat, and the rules by which a lock left behind is recognised as stale and broken."""
from __future__ import annotations

import contextlib
import json
import os
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator, Sequence

from packing.exits import stop_signals_held

HEARTBEAT_S = 30.0
LOCK_EXPIRY_S = 600.0
"""A run lock not touched for this long is stale, whichever host holds it (20 missed beats)."""


def _proc_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (field 3, the state, first), or None
    when unreadable (no such process, or no /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()


def _process_start(pid: int) -> int | None:
    """Start time of process ``pid`` (clock ticks since boot, field 22 of /proc/<pid>/stat), None
    when unknown: with the pid it identifies a process, since pids are reused."""
    fields = _proc_fields(pid)
    return int(fields[19]) if fields is not None and len(fields) > 19 else None


def _pid_alive(pid: int, start: int | None = None) -> bool:
    """True when process ``pid`` runs on this host (a zombie — killed, not yet reaped — is dead;
    with ``start`` given, a process of that pid started at another time is a reuse of the pid by
    another process, so the one meant is dead)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = _proc_fields(pid)
    if fields is None:
        return True
    if fields[0] in ("Z", "X"):
        return False
    return start is None or _process_start(pid) in (None, start)


def _create_lock(lock: Path, owner: dict) -> bool:
    """Create ``lock`` holding ``owner`` (JSON) atomically: written to a temporary file, then
    hard-linked into place, so a lock file is never seen empty or half-written. False when the
    lock exists."""
    tmp = None
    try:
        with stop_signals_held():   # no signal between creating the file and naming it
            fd, tmp = tempfile.mkstemp(prefix=f".{lock.name}.", suffix=".tmp", dir=lock.parent)
        with os.fdopen(fd, "w") as fh:
            json.dump(owner, fh)
        os.link(tmp, lock)
        return True
    except FileExistsError:
        return False
    finally:
        if tmp is not None:
            with stop_signals_held(), contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


def _stale(lock: Path, host: str) -> bool:
    """True when ``lock`` can be broken: it cannot be parsed (a lock is written whole, so no live
    run leaves one so), its heartbeat stopped (not touched for :data:`LOCK_EXPIRY_S`, whichever
    host holds it), or its owner ran on this host and is gone (pid, or pid and start time)."""
    try:
        owner = json.loads(lock.read_text())
        pid = int(owner["pid"])
        age = time.time() - lock.stat().st_mtime
    except FileNotFoundError:
        return False
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return True
    if age > LOCK_EXPIRY_S:
        return True
    return owner.get("host") == host and not _pid_alive(pid, owner.get("start"))


@contextlib.contextmanager
def _heartbeat(lock: Path) -> Iterator[None]:
    """Touch ``lock`` every :data:`HEARTBEAT_S` seconds while the block runs (a thread), so that
    other hosts see its holder alive."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_S):
            with contextlib.suppress(OSError):
                os.utime(lock)

    thread = threading.Thread(target=beat, name=f"heartbeat {lock.name}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


@contextlib.contextmanager
def run_lock(path: Path) -> Iterator[bool]:
    """Hold ``<path>.lock`` exclusively; yields False when a live process holds it.

    The holder touches the lock every :data:`HEARTBEAT_S` seconds. A lock of this host whose
    process is gone (a killed worker; its pid, or its pid and start time when the pid has been
    reused) is broken and taken, as is a lock that cannot be parsed and a lock of any host whose
    heartbeat stopped :data:`LOCK_EXPIRY_S` seconds ago.
    """
    lock = path.with_name(path.name + ".lock")
    me = {"host": socket.gethostname(), "pid": os.getpid(), "start": _process_start(os.getpid()),
          "time": time.time()}
    for _ in range(2):
        created = False
        try:
            with stop_signals_held():   # no signal between taking the lock and owning its removal
                created = _create_lock(lock, me)
            if created:
                with _heartbeat(lock):
                    yield True
                return
        finally:
            if created:
                with stop_signals_held(), contextlib.suppress(FileNotFoundError):
                    lock.unlink()
        if not _stale(lock, me["host"]):
            yield False
            return
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()
    yield False


def release_dead_locks(out_dir: Path, runs: Sequence) -> None:
    """After the workers of this host were stopped: the locks they left (their processes are
    gone) and the temporary files of their runs."""
    host = socket.gethostname()
    for run in runs:
        path = out_dir / run.file_name
        lock = path.with_name(path.name + ".lock")
        if os.path.lexists(lock) and _stale(lock, host):
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()
            remove_orphans(path)


def remove_orphans(path: Path) -> None:
    """Temporary files of earlier, killed attempts at this run (we hold its lock)."""
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
