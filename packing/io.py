"""The HDF5 contract shared by every command.

File attributes: ``schema``, ``package_version``, ``created``, ``command``, ``git_commit`` (when
available). One group per state under ``/runs/<run-id>``, with at least the attributes ``side``,
``control_name`` and ``control``, and the attributes and datasets its writer adds (packings:
`packing.jamming_runs.state_record`; nets: `dlbridge.nets.runs.net_state_record`). Writes are atomic:
the file is written under a temporary name in the destination folder and renamed into place only
when complete, so a killed run never leaves a half-written file and an
existing file is never modified unless ``overwrite`` is given.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import errno
import functools
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator, Mapping

import h5py
import numpy as np

from .errors import ParameterError, require
from .exits import stop_signals_held
from .schema import doc_attrs, state_dataset_doc

SCHEMA = "jamming-bridge/1"
SIDES = ("packing", "network")
SYSTEM_KEYS = {
    "packing": ("shape", "dim", "aspect_ratio", "potential", "n_particles", "dispersity"),
    "network": ("dataset", "depth", "n_train", "alpha", "dim", "activation", "bias", "loss",
                "init", "optimizer", "data_seed"),
}
"""Per side, the attributes that make two states the same system (every parameter that changes
the physics of a state: the particles and their potential; the data, the architecture, the loss
and the dynamics of a net)."""
OPTIONAL_SYSTEM_KEYS = {
    "packing": ("dispersity",),
    "network": ("dim", "activation", "bias", "loss", "init", "optimizer", "data_seed"),
}
"""System keys a reader takes as "none" when a state lacks them (files written by earlier 1.x
writers, or by hand)."""


@dataclasses.dataclass(frozen=True)
class CommonAttributes:
    """The attributes every state group carries, whichever side wrote it (writers build one, the
    reader of `dlbridge.compare` parses one).

    side : "packing" or "network". control_name, control : the control parameter ("phi" and φ;
    "n_params" and N). transition : φ_J or N* (NaN when not known; readers also take the "none"
    of earlier files). energy : U or the training loss. n_dof : N_dof (packing: (d + n_rot) N′ − d;
    net: N). n_constraints : N_Δ. seed : the realisation's seed.
    """

    side: str
    control_name: str
    control: float
    transition: float
    energy: float
    n_dof: int
    n_constraints: int
    seed: int

    def to_attrs(self) -> dict[str, Any]:
        """The attribute dict (an unknown transition is a float NaN, as every number here)."""
        attrs = dataclasses.asdict(self)
        attrs["transition"] = float(self.transition)
        return attrs


OPTIONAL_ON_READ = ("control_name", "transition")
READ_ATTRS = tuple(f.name for f in dataclasses.fields(CommonAttributes)
                   if f.name not in OPTIONAL_ON_READ)
"""The common attributes a reader requires (control_name and transition may be absent)."""


def package_version() -> str:
    """Installed version of the distribution (``"unknown"`` when run from a bare source tree)."""
    try:
        from importlib.metadata import version

        return version("jamming-bridge")
    except Exception:  # PackageNotFoundError and metadata errors alike: the version is optional
        return "unknown"


@functools.lru_cache(maxsize=None)
def _git(*args: str) -> str | None:
    """Stdout of ``git args`` in the source tree this package is imported from (once per process:
    every file a command writes asks), or None outside a checkout."""
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                             timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def git_commit() -> str | None:
    """Commit hash of the source tree this package is imported from, or None outside a checkout."""
    sha = (_git("rev-parse", "HEAD") or "").strip()
    return sha if len(sha) == 40 else None


def git_dirty() -> bool | None:
    """True when tracked files of the source tree differ from its commit (the results may not be
    reproducible from :func:`git_commit` alone), None outside a checkout."""
    status = _git("status", "--porcelain", "--untracked-files=no")
    return None if status is None else bool(status.strip())


def cpu_name() -> str:
    """The CPU model (from /proc/cpuinfo on Linux, else :func:`platform.processor`)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def cpu_device_name() -> str:
    """"cpu: <CPU model>", the device name of work done on the CPU."""
    return f"cpu: {cpu_name()}"


def library_versions() -> dict[str, str]:
    """Versions of Python and of the numerical libraries (torch only when already imported:
    packing never imports it)."""
    import numba
    import scipy

    out = {"python_version": platform.python_version(), "numpy_version": np.__version__,
           "scipy_version": scipy.__version__, "numba_version": numba.__version__,
           "h5py_version": h5py.__version__}
    torch = sys.modules.get("torch")
    if torch is not None:
        out["torch_version"] = str(torch.__version__)
    return out


def file_attributes(command: str | None = None) -> dict[str, str]:
    """The root attributes every file carries: the contract's schema, package version, creation
    time, command line, git commit (with ``git_dirty``: tracked files changed since it), and the
    provenance of the run (library versions, platform,
    CPU)."""
    attrs = {
        "schema": SCHEMA,
        "package_version": package_version(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command if command is not None else " ".join(sys.argv),
    }
    sha = git_commit()
    if sha is not None:
        attrs["git_commit"] = sha
        dirty = git_dirty()
        if dirty is not None:
            attrs["git_dirty"] = np.bool_(dirty)
    attrs.update(library_versions())
    attrs["platform"] = platform.platform()
    attrs["cpu"] = cpu_name()
    return attrs


def check_output_path(path: str | os.PathLike, overwrite: bool, name: str = "--out") -> Path:
    """Validate an output file path before any work is done.

    Raises :class:`ParameterError` if the path is a directory, its folder does not exist or is not
    writable, or something (a file, or a symbolic link, even a dangling one) is at the path and
    ``overwrite`` is False.
    """
    p = Path(path)
    if p.is_dir():
        raise ParameterError(f"{name} must be a file path, not a directory (got {str(p)!r})")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise ParameterError(f"{name} must be in an existing directory (got {str(p)!r})")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ParameterError(f"{name} must be in a writable directory (got {str(p)!r})")
    if os.path.lexists(p) and not overwrite:
        raise ParameterError(f"{name} exists; pass --overwrite to replace it (got {str(p)!r})")
    return p


def _fsync(path: str) -> None:
    """Flush a closed file's data to the disk."""
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


WRITE_ERRNOS = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EIO)
"""Errors of a write that has no file name attached (a full disk, a size limit, a quota)."""


def _umask_mode() -> int:
    """The mode a new file gets from the process's umask (0o666 & ~umask)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, overwrite: bool = False,
                  name: str = "--out") -> Iterator[Path]:
    """A temporary path in the target's folder that appears at ``path`` only when complete.

    Yields the temporary path (write the whole file there and close it). On normal exit the file
    is fsynced, given the umask's mode and renamed onto ``path``: the rename replaces the
    directory entry, so a symbolic link at ``path`` is replaced, never written through. On any
    exception (SIGINT and SIGTERM included, under `packing.exits`) the temporary file is removed
    and ``path`` is left as it was. ParameterError before any work when ``path`` exists and
    ``overwrite`` is False (:func:`check_output_path`); an operating-system error (a full disk,
    a size limit) is re-raised as an OSError naming ``path``.
    """
    p = check_output_path(path, overwrite, name)
    tmp = None
    try:
        with stop_signals_held():   # a signal cannot fall between creating the file and naming it
            fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent or ".")
            os.close(fd)
        yield Path(tmp)
        _fsync(tmp)
        os.chmod(tmp, _umask_mode())
        if os.path.lexists(p) and not overwrite:  # appeared while we worked: never clobber it
            raise ParameterError(f"{name} exists; pass --overwrite to replace it (got {str(p)!r})")
        os.replace(tmp, p)
    except BaseException as exc:
        if tmp is not None:
            with stop_signals_held(), contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        if isinstance(exc, OSError) and (exc.filename == tmp or (
                exc.filename is None and exc.errno in WRITE_ERRNOS)):
            raise OSError(exc.errno, f"cannot write {name} {str(p)!r}: {exc.strerror}") from None
        raise


@contextlib.contextmanager
def staged_directory(out: str | os.PathLike, name: str = "--out") -> Iterator[Path]:
    """A hidden folder inside the existing folder ``out`` whose files all move into ``out`` only
    when the block completes: a command that writes several files (tables and figures) leaves
    either all of them or, on any exception (a full disk, a signal), none, and the earlier ones
    as they were. The moves are renames (a link at a name is replaced, never written through);
    whether existing files may be replaced is the caller's check, made before the block."""
    stage = None
    try:
        with stop_signals_held():
            stage = Path(tempfile.mkdtemp(prefix=".staged.", suffix=".tmp", dir=out))
        yield stage
        for p in sorted(stage.iterdir()):
            os.replace(p, Path(out) / p.name)
        stage.rmdir()
    except BaseException as exc:
        if stage is not None:
            with stop_signals_held():
                shutil.rmtree(stage, ignore_errors=True)
        if isinstance(exc, OSError) and exc.errno in WRITE_ERRNOS:
            raise OSError(exc.errno, f"cannot write {name} {str(out)!r}: {exc.strerror}") \
                from None
        raise


def _write_image(path: Path, image: bytes) -> None:
    """Write ``image`` to ``path`` (an OSError carries ``path`` as its filename)."""
    try:
        with open(path, "wb") as fh:
            fh.write(image)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(path)) from None


@contextlib.contextmanager
def atomic_h5(path: str | os.PathLike, overwrite: bool = False,
              command: str | None = None) -> Iterator[h5py.File]:
    """Open a new HDF5 file for writing that appears at ``path`` only when complete.

    Yields an open :class:`h5py.File` with the contract's root attributes already set. The file
    is assembled in memory (HDF5's core driver; it costs its size in RAM) and its image is written
    by Python to a temporary file of :func:`atomic_output`: a full disk or a size limit is then
    one OSError, never an error inside the HDF5 library (which can crash the process). On normal
    exit the image is written, fsynced and renamed onto ``path``; on any exception nothing is
    written and ``path`` is left as it was.
    """
    with atomic_output(path, overwrite) as tmp:
        f = h5py.File(tmp.name, "w", driver="core", backing_store=False)
        try:
            for k, v in file_attributes(command).items():
                f.attrs[k] = v
            yield f
            f.flush()
            image = f.id.get_file_image()
        finally:
            f.close()
        _write_image(tmp, image)


def _as_attr(value: Any) -> Any:
    if value is None:
        return "none"
    if isinstance(value, (bool, np.bool_)):
        return np.bool_(value)
    return value


def write_state(parent: h5py.Group, name: str, attrs: Mapping[str, Any],
                datasets: Mapping[str, np.ndarray]) -> h5py.Group:
    """Write one state group ``parent/name`` with its attributes and datasets.

    ``attrs`` must contain at least ``side``, ``control_name`` and ``control``.
    None-valued attributes are stored as the string ``"none"``. Every dataset gets the
    ``units``, ``description`` and ``dims`` of `packing.schema` (KeyError for one it lacks).
    """
    for key in ("side", "control_name", "control"):
        if key not in attrs:
            raise ParameterError(f"state attribute {key!r} is required by the HDF5 contract")
    g = parent.create_group(name)
    for k, v in attrs.items():
        g.attrs[k] = _as_attr(v)
    for k, v in datasets.items():
        arr = np.asarray(v)
        doc = state_dataset_doc(str(attrs["side"]), k)
        ds = g.create_dataset(k, data=arr, compression="gzip" if arr.size > 4096 else None)
        ds.attrs.update(doc_attrs(doc, arr.ndim))
    return g


@contextlib.contextmanager
def read_h5(path: str | os.PathLike, name: str = "FILE") -> Iterator[h5py.File]:
    """``path`` opened for reading, with every way the read can fail as one ParameterError
    naming it: a missing file, a file that is not HDF5 or is truncated, a missing group or
    dataset (a ParameterError raised inside the block passes unchanged)."""
    p = str(path)
    require(os.path.isfile(p), name, "an existing HDF5 file", p)
    try:
        with h5py.File(p, "r") as f:
            yield f
    except ParameterError:
        raise
    except (OSError, KeyError, RuntimeError, ValueError, TypeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ParameterError(f"{name} {p!r} must be a complete HDF5 file of this package; it "
                             f"could not be read (truncated or foreign format: {first})") from None


def iter_states(f: h5py.File) -> Iterator[h5py.Group]:
    """Yield every state group (a group with a ``side`` attribute) below ``/runs``."""
    if "runs" not in f:
        return
    found: list[h5py.Group] = []

    def visit(_name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Group) and "side" in obj.attrs:
            found.append(obj)

    f["runs"].visititems(visit)
    yield from found
