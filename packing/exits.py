"""How a command ends: one line on stderr and a documented exit status, whatever stopped it.

Both command-line tools (``packing``, ``dlbridge``) run their subcommand through
:func:`run_command`, which turns SIGINT and SIGTERM into an exception (:class:`Interrupted`), so
that every ``finally`` and every temporary-file cleanup of `packing.io` runs on a signal as on an
error, and maps what ended the command to an exit status (:data:`EXIT_STATUS`).
"""
from __future__ import annotations

import _thread
import contextlib
import errno
import logging
import os
import signal
import sys
import threading
import time
from typing import Callable, Iterator

from .errors import ParameterError
from .logs import command_logging

log = logging.getLogger(__name__)

EXIT_STATUS = {
    "ok": 0,
    "io": 1,           # the operating system refused a read or a write (disk full, size limit, ...)
    "input": 2,        # bad input: a ParameterError, nothing written
    "unconverged": 3,  # stored results include unconverged or failed ones (said on stderr)
    "blocked": 4,      # runs held by another live process were not done (sweeps)
    "broken_pipe": 128 + signal.SIGPIPE,
}
"""What ended a command → its exit status; a signal ends it with 128 + the signal's number
(SIGINT 130, SIGTERM 143)."""

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM received: raised in the main thread by the handlers of
    :func:`signals_as_exceptions` (a KeyboardInterrupt, so ``except Exception`` lets it pass)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_HELD = {"depth": 0, "pending": None}
"""Nesting depth of :func:`stop_signals_held` and the stop signal that arrived meanwhile."""


def _raise_interrupted(signum: int, _frame) -> None:
    for s in STOP_SIGNALS:      # the clean-up this starts is not itself interrupted
        signal.signal(s, signal.SIG_IGN)
    if _HELD["depth"]:
        _HELD["pending"] = signum
        return
    raise Interrupted(signum)


@contextlib.contextmanager
def stop_signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM that arrive while the block runs raise :class:`Interrupted` only when
    it ends, so that a step which must not be cut in two (a temporary file created and its name
    known to the clean-up that will remove it) is not. Put the block inside the ``try`` whose
    handler cleans up: the deferred exception is raised there. A no-op outside
    :func:`signals_as_exceptions`."""
    _HELD["depth"] += 1
    try:
        yield
    finally:
        _HELD["depth"] -= 1
        signum = _HELD["pending"]
        if _HELD["depth"] == 0 and signum is not None:
            _HELD["pending"] = None
            raise Interrupted(signum)


_REARM: dict[int, Callable] = {}
"""Stop signal → the handler that raises :class:`Interrupted` for it, re-installed when an
exception it raised was swallowed by a finalizer (:func:`_redelivering`)."""


def _runs(thread_id: int, code) -> bool:
    """Whether ``code`` is on the stack of thread ``thread_id`` (False once the thread is gone)."""
    frame = sys._current_frames().get(thread_id)
    while frame is not None and frame.f_code is not code:
        frame = frame.f_back
    return frame is not None


def _pend_once_left(signum: int, main_id: int, code) -> None:
    """Mark ``signum`` pending in the main thread once it has left ``code`` (polled every
    0.5 ms): a handler that runs inside an unraisable hook would be swallowed again."""
    while _runs(main_id, code):
        time.sleep(5e-4)
    _thread.interrupt_main(signum)


def _redelivering(previous: Callable) -> Callable:
    """A ``sys.unraisablehook`` for an :class:`Interrupted` raised while a finalizer ran (a
    ``__del__``, a weakref callback): CPython prints such an exception as "Exception ignored"
    and drops it, so the command would go on with the signal ignored. The hook re-installs the
    signal's handler and has a thread mark the signal pending again once the hook has returned,
    so that the handler raises at the next line the main thread runs (or, landing in another
    finalizer, comes here again); any other exception goes to ``previous``."""
    def hook(unraisable) -> None:
        exc = unraisable.exc_value
        handler = _REARM.get(getattr(exc, "signum", None)) if isinstance(exc, Interrupted) else None
        if handler is None:
            previous(unraisable)
            return
        signal.signal(exc.signum, handler)
        threading.Thread(target=_pend_once_left, name="stop signal redelivery", daemon=True,
                         args=(exc.signum, threading.get_ident(), hook.__code__)).start()

    hook.previous = previous
    return hook


def raise_on_stop_signal(signum: int, handler: Callable) -> Callable:
    """Install ``handler`` (one that raises :class:`Interrupted`) for ``signum`` such that the
    exception is not lost when the signal lands inside a finalizer (:func:`_redelivering`);
    returns the previous handler. Main thread only, as ``signal.signal``."""
    _REARM[signum] = handler
    if not hasattr(sys.unraisablehook, "previous"):
        sys.unraisablehook = _redelivering(sys.unraisablehook)
    return signal.signal(signum, handler)


@contextlib.contextmanager
def signals_as_exceptions() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`Interrupted` while the block runs (main thread only;
    elsewhere a no-op), also when they land in a finalizer; further ones are ignored while the
    exception unwinds, and the previous handlers are restored after the block."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    hook = sys.unraisablehook
    previous = {s: raise_on_stop_signal(s, _raise_interrupted) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
            _REARM.pop(s, None)
        sys.unraisablehook = hook


def interrupt_within(exc: BaseException) -> KeyboardInterrupt | None:
    """The KeyboardInterrupt (an :class:`Interrupted`) a SystemError carries: when the handler of
    a stop signal raises while a compiled function (a numba kernel) is returning its result,
    CPython reports "returned a result with an exception set" as a SystemError whose cause, at
    the end of a chain of such errors, is the interruption. None for any other exception."""
    seen = set()
    while isinstance(exc, SystemError) and id(exc) not in seen:
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
        if isinstance(exc, KeyboardInterrupt):
            return exc
    return None


def os_error_line(exc: OSError) -> str:
    """``<strerror>: <file>`` of an operating-system error (the file when known)."""
    reason = exc.strerror or errno.errorcode.get(exc.errno or 0, "") or str(exc)
    return f"{reason}: {exc.filename}" if exc.filename else reason


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's final flush into a closed pipe does
    not raise again."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


OPTIONAL_DEPENDENCIES = {
    "torch": "pip install 'jamming-bridge[nets]', or torch as the README's Set-up says",
    "gsd": "pip install 'jamming-bridge[export]'",
    "dask": "pip install 'jamming-bridge[dist]'",
    "distributed": "pip install 'jamming-bridge[dist]'",
    "dask_jobqueue": "pip install 'jamming-bridge[dist]'",
    "submitit": "pip install 'jamming-bridge[dist]'",
}
"""Top-level module of an optional dependency → how to install it."""


def missing_dependency(exc: ImportError) -> str | None:
    """The optional dependency whose absence raised ``exc`` (a key of
    :data:`OPTIONAL_DEPENDENCIES`), or None for any other import error."""
    top = (exc.name or "").partition(".")[0]
    return top if isinstance(exc, ModuleNotFoundError) and top in OPTIONAL_DEPENDENCIES else None


def _interruptions_unwrapped(body: Callable[[], int]) -> int:
    try:
        return body()
    except SystemError as exc:
        interrupt = interrupt_within(exc)
        if interrupt is None:
            raise
        raise interrupt from None


def run_command(prog: str, body: Callable[[], int]) -> int:
    """Run ``body`` (a subcommand) and return its exit status, with the package loggers on stderr
    (:func:`packing.logs.command_logging`) and every way it can end turned into one line there and
    a status of :data:`EXIT_STATUS`: ParameterError or a missing optional dependency (2), an
    operating-system error such as a full disk or a size limit (1), SIGINT or SIGTERM
    (128 + signal), stdout closed by its reader (141, silent)."""
    with command_logging(prog):
        return _run_to_status(body)


def _run_to_status(body: Callable[[], int]) -> int:
    try:
        with signals_as_exceptions():
            return _interruptions_unwrapped(body)
    except ParameterError as exc:
        log.error("%s", exc)
        return EXIT_STATUS["input"]
    except ModuleNotFoundError as exc:
        name = missing_dependency(exc)
        if name is None:
            raise
        log.error("this command needs %s, which is not installed: %s", name,
                  OPTIONAL_DEPENDENCIES[name])
        return EXIT_STATUS["input"]
    except KeyboardInterrupt as exc:
        signum = getattr(exc, "signum", signal.SIGINT)
        log.error("interrupted by %s; output files are written whole or not at all, and no "
                  "temporary file is left", signal.Signals(signum).name)
        return 128 + signum
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_STATUS["broken_pipe"]
    except OSError as exc:
        log.error("%s", os_error_line(exc))
        return EXIT_STATUS["io"]
