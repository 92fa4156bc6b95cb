"""The run files of a sweep folder (``<side>-<hash>.h5``, written by :mod:`.sweep`): their status,
the runs of the folder's grids not finished, and the merge of the finished ones into one file.

A run file is complete when it exists (it is written atomically); its root attribute ``status``
is "done" or "failed", ``grid`` the grid it belongs to, ``run_key`` the hash of its side and
parameters. :func:`merge_runs` trusts none of that blindly: a file whose key, name and
parameters disagree, or whose /runs holds a soft or external link, is indexed as "invalid" and
not copied.
"""
from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any, Sequence

import h5py

from packing.errors import ParameterError, require
from packing.io import atomic_h5, check_output_path, iter_states
from packing.schema import MERGE_INDEX, doc_attrs

from .grid import Grid, Run

RUN_FILE = re.compile(r"^(packing|network|regimes)-[0-9a-f]{16}\.h5$")
STATUSES = ("done", "failed")


def _root_attrs(path: Path, names: Sequence[str]) -> dict[str, Any]:
    """Root attributes ``names`` of an HDF5 file (those absent left out; {} when unreadable)."""
    try:
        with h5py.File(path, "r") as f:
            return {k: f.attrs[k] for k in names if k in f.attrs}
    except (OSError, KeyError):
        return {}


def _finished(status: Any) -> str | None:
    """"done"/"failed" for a run file's ``status`` attribute, None for anything else."""
    s = status.decode() if isinstance(status, bytes) else status
    return s if s in STATUSES else None


def read_status(path: Path) -> str | None:
    """"done"/"failed" for a complete run file, None when absent or unreadable."""
    return _finished(_root_attrs(path, ("status",)).get("status"))


_INDEX_COLUMNS = ("run_key", "side", "status", "params", "error", "file")


def unfinished_runs(out_dir: str | os.PathLike) -> list[str]:
    """File names of the runs of ``out_dir`` not finished: those the grids recorded in its run
    files expect with no file saying done or failed, and those whose lock is held."""
    d = Path(out_dir)
    present = {p.name: _root_attrs(p, ("grid", "status")) for p in d.iterdir()
               if RUN_FILE.match(p.name)}
    expected: set[str] = set()
    for grid_json in {_text(a.get("grid", "")) for a in present.values()}:
        try:
            g = json.loads(grid_json)
            expected.update(r.file_name for r in Grid(g["side"], g["fixed"], g["grid"]).runs())
        except (ValueError, TypeError, KeyError, ParameterError):
            continue    # a file without a readable grid: its own row says what it is
    locked = {p.name[:-len(".lock")] for p in d.glob("*.h5.lock")}
    return sorted(n for n in expected | locked
                  if n in locked or _finished(present.get(n, {}).get("status")) is None)


def merge_runs(out_dir: str | os.PathLike, merged: str | os.PathLike, overwrite: bool = False,
               command: str | None = None, allow_incomplete: bool = False) -> dict[str, int]:
    """Gather the run files of ``out_dir`` into one HDF5 file.

    States go to ``/runs/<run_key>/…`` (the contract's layout, so ``compare`` reads the merged
    file); ``/index`` holds one row per run file: the columns of ``_INDEX_COLUMNS`` as string
    datasets, plus ``n_states`` and ``seconds``. Failed runs appear in the index only, as do run
    files that cannot be read or are not what their name says (status "unreadable" or
    "invalid": a ``run_key`` that is not the hash of the file's side and parameters, or a soft or
    external link under /runs, which could pull in data from outside the sweep). ParameterError
    when runs of the folder's grids are unfinished (:func:`unfinished_runs`) unless
    ``allow_incomplete``.
    """
    d = Path(out_dir)
    require(d.is_dir(), "sweep directory", "an existing directory", str(d))
    check_output_path(merged, overwrite)
    files = sorted(p for p in d.iterdir() if RUN_FILE.match(p.name))
    require(len(files) >= 1, "sweep directory", "a directory holding run files "
            "(<side>-<hash>.h5)", f"{str(d)!r} with none")
    missing = unfinished_runs(d)
    if missing and not allow_incomplete:
        raise ParameterError(f"sweep directory {str(d)!r} must hold every run of its grid "
                             f"finished; {len(missing)} are not (e.g. {missing[0]}): finish the "
                             "sweep, or pass --allow-incomplete")
    rows: list[dict] = []
    with atomic_h5(merged, overwrite, command) as f:
        runs = f.create_group("runs")
        for p in files:
            rows.append(_merge_one(p, runs))
        idx = f.create_group("index")
        str_dt = h5py.string_dtype()
        for col in _INDEX_COLUMNS:
            idx.create_dataset(col, data=[r[col] for r in rows], dtype=str_dt)
        idx.create_dataset("n_states", data=[r["n_states"] for r in rows], dtype="i8")
        idx.create_dataset("seconds", data=[r["seconds"] for r in rows], dtype="f8")
        for name, doc in MERGE_INDEX.items():
            idx[name].attrs.update(doc_attrs(doc, 1))
    return {"runs": len(rows), "done": sum(r["status"] == "done" for r in rows),
            "failed": sum(r["status"] == "failed" for r in rows),
            "bad": sum(r["status"] in ("unreadable", "invalid") for r in rows),
            "unfinished": len(missing), "states": sum(r["n_states"] for r in rows)}


def _text(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _float(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _run_file_problem(path: Path, src: h5py.File, row: dict) -> str:
    """Why a run file cannot be merged ("" when it can): its name, side, run_key and parameters
    must agree (the key is the hash of side and parameters), its status must be one of
    :data:`STATUSES`, and /runs must hold no soft or external link."""
    side, key = path.name[:-len(".h5")].split("-")
    if row["side"] != side or row["run_key"] != key:
        return f"invalid: side/run_key {row['side']!r}/{row['run_key']!r} disagree with the name"
    try:
        params = json.loads(row["params"])
    except ValueError:
        return "invalid: params is not JSON"
    if Run(side, json.dumps(params, sort_keys=True)).key != key:
        return "invalid: run_key is not the hash of the file's side and parameters"
    if row["status"] not in STATUSES:
        return f"invalid: status {row['status']!r}"
    if "runs" not in src:
        return ""
    if not isinstance(src.get("runs", getlink=True), h5py.HardLink):
        return "invalid: /runs is a link"
    links: list[str] = []
    src["runs"].visititems_links(
        lambda name, link: links.append(name) if not isinstance(link, h5py.HardLink) else None)
    return f"invalid: soft or external link at /runs/{links[0]}" if links else ""


def _merge_one(path: Path, runs: h5py.Group) -> dict:
    """Copy one run file's states under runs/<key>; its index row."""
    row = {"run_key": "", "side": "", "status": "unreadable", "params": "", "error": "",
           "file": path.name, "n_states": 0, "seconds": math.nan}
    try:
        src = h5py.File(path, "r")
    except OSError as exc:
        row["error"] = f"unreadable: {exc}"
        return row
    with src:
        a = src.attrs
        row.update(run_key=_text(a.get("run_key", "")), side=_text(a.get("side", "")),
                   status=_text(a.get("status", "")), params=_text(a.get("params", "")),
                   error=_text(a.get("error", "")), seconds=_float(a.get("seconds", math.nan)))
        problem = _run_file_problem(path, src, row)
        if problem:
            row.update(status="invalid", error=problem)
            return row
        if row["status"] == "done" and "runs" in src:
            dest = runs.create_group(row["run_key"])
            for k, v in a.items():
                if k in ("params", "grid", "device", "host", "command", "git_commit",
                         "created", "package_version"):
                    dest.attrs[k] = v
            for name in src["runs"]:
                src.copy(src["runs"][name], dest, name=name)
            row["n_states"] = sum(1 for _ in iter_states(src))
    return row
