"""Messages of both command-line tools, through :mod:`logging`.

Library code logs to the loggers under ``packing`` and ``dlbridge`` (``logging.getLogger(
__name__)``) and never writes to stderr itself; an application that imports the package routes or
silences them as it routes any library's. A command (:func:`packing.exits.run_command`) sends them
to stderr for as long as it runs, one line each: INFO as the bare message (progress lines, notes),
DEBUG, WARNING and ERROR prefixed by the program and the level
(``packing jam: warning: …``, the form of ``argparse`` and of the one-line errors). Results go to
stdout with ``print``, never through a logger, so that ``> out.txt`` holds results only.

Verbosity (:data:`VERBOSITY`) is one pair of options on every subcommand of both tools
(:func:`add_verbosity_options`): ``-q/--quiet`` (warnings and errors only, no progress bars) and
``-v/--verbose`` (DEBUG too: per-seed and per-width details).
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from typing import Iterator

PACKAGE_LOGGERS = ("packing", "dlbridge")
"""The loggers a command sends to stderr (each module logs to a child of one of them)."""

PREFIXES = {logging.DEBUG: "debug: ", logging.INFO: "", logging.WARNING: "warning: ",
            logging.ERROR: "error: ", logging.CRITICAL: "error: "}
"""Level → the prefix of its line after ``<prog>: `` (INFO lines carry neither)."""

VERBOSITY = {"quiet": logging.WARNING, "normal": logging.INFO, "verbose": logging.DEBUG}
"""The verbosity options → the level of the package loggers while a command runs."""


class _LineFormatter(logging.Formatter):
    """``<prog>: <level>: <message>``, first line only, INFO as the bare message."""

    def __init__(self, prog: str) -> None:
        super().__init__()
        self.prog = prog

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage().splitlines()[0] if record.getMessage() else ""
        if record.levelno == logging.INFO:
            return text
        return f"{self.prog}: {PREFIXES.get(record.levelno, '')}{text}"


class _CurrentStderrHandler(logging.StreamHandler):
    """A handler writing to the ``sys.stderr`` of the moment (a redirection made after the
    command started, pytest's capture), not the one it was made with."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


@contextlib.contextmanager
def command_logging(prog: str, level: int = logging.INFO) -> Iterator[None]:
    """While the block runs, the package loggers write to stderr as :func:`_LineFormatter`
    formats, from ``level`` up, and do not propagate to the root logger; restored after."""
    handler = _CurrentStderrHandler()
    handler.setFormatter(_LineFormatter(prog))
    loggers = [logging.getLogger(name) for name in PACKAGE_LOGGERS]
    saved = [(lg.level, lg.propagate) for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(level)
        lg.propagate = False
    try:
        yield
    finally:
        for lg, (lvl, prop) in zip(loggers, saved):
            lg.removeHandler(handler)
            lg.setLevel(lvl)
            lg.propagate = prop


def add_verbosity_options(parser: argparse.ArgumentParser) -> None:
    """Add ``-q/--quiet`` and ``-v/--verbose`` (mutually exclusive) to a subcommand's parser;
    :func:`apply_verbosity` reads them."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-q", "--quiet", action="store_true",
                       help="warnings and errors only, no progress bars")
    group.add_argument("-v", "--verbose", action="store_true",
                       help="details too (per seed, per width) on stderr")


def verbosity_level(args: argparse.Namespace) -> int:
    """The logging level the parsed verbosity options ask for (:data:`VERBOSITY`)."""
    name = ("quiet" if getattr(args, "quiet", False)
            else "verbose" if getattr(args, "verbose", False) else "normal")
    return VERBOSITY[name]


def apply_verbosity(args: argparse.Namespace) -> None:
    """Set the package loggers to the level of the parsed verbosity options."""
    for name in PACKAGE_LOGGERS:
        logging.getLogger(name).setLevel(verbosity_level(args))


def ensure_verbosity_options(subparsers: argparse._SubParsersAction) -> None:
    """Give every subcommand of ``subparsers`` the verbosity options (once), so that both tools
    spell quiet and verbose alike."""
    for parser in dict.fromkeys(subparsers.choices.values()):
        if "--quiet" not in parser._option_string_actions:
            add_verbosity_options(parser)
