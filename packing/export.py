"""Snapshots (`packing.snapshot`) to and from the files OVITO, ASE, freud and HOOMD read.

* ``extxyz`` (extended XYZ, text): positions wrapped into the box [0, L) at full float64
  precision (shortest round-trip decimal), ``radius`` (discs, spheres) or ``aspherical_shape``
  (semi-axes, OVITO's Aspherical Shape) and ``orientation`` (quaternion x, y, z, w, OVITO's
  Orientation, Shoemake order); a ``rattler`` column; species ``X`` (ASE's dummy element); in
  the comment line the box as ``Lattice``, ``pbc`` (2D: the third axis not periodic, z = 0),
  ``dim``, ``shape``, ``alpha``, φ and the other :data:`~packing.snapshot.SCALARS`, and the
  contacts: ``contacts`` (i j pairs, 0-based, flattened), ``contact_overlaps`` (Δ) and
  ``contact_forces`` (not ``forces``, which ASE reads as per-particle forces).
* ``gsd`` (HOOMD-blue's GSD, binary): the standard chunks (box centred on the origin as HOOMD's
  is, 2D boxes with Lz = 0; float32 positions and orientations w, x, y, z; one particle type per
  particle size with its ``type_shapes``, Sphere or Ellipsoid; the contacts as ``bonds``), and
  under ``log/`` what float32 loses or GSD has no chunk for: ``particles/position_float64``,
  ``particles/orientation_float64``, ``particles/rattler``, ``bonds/overlap``, ``bonds/force``,
  ``packing/box_float64``, ``packing/alpha`` and ``packing/<scalar>``.

Each reader returns a :class:`~packing.snapshot.Snapshot` whose contact list is the stored one
(a contact list recomputed from float32 positions differs near jamming). A 2D ellipse of angle θ
is the rotation by θ about z; a 3D ellipsoid's quaternion turns x̂ onto its symmetry axis û.
"""
from __future__ import annotations

import math
import shlex
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import ParameterError, require
from .io import atomic_output
from .shapes import SHAPE_TABLE
from .snapshot import SCALARS, Snapshot
from .system import POTENTIALS, Packing

DUMMY_SPECIES = "X"
"""The species column of every extxyz particle: ASE's dummy element (sizes are in their columns)."""

Z_THICKNESS_2D = 1.0
"""Height of the (non-periodic) third cell vector of a 2D extxyz file: OVITO and ASE want three."""


# ---------------------------------------------------------------- orientations as quaternions
def quaternions(packing: Packing) -> np.ndarray:
    """(N, 4) unit quaternions (w, x, y, z) of the particles' orientations: about z by θ for
    ellipses; the shortest rotation taking x̂ onto û for ellipsoids; identity otherwise."""
    q = np.zeros((packing.n, 4))
    if packing.shape == "ellipse":
        half = 0.5 * np.asarray(packing.orientations)
        q[:, 0], q[:, 3] = np.cos(half), np.sin(half)
    elif packing.shape == "ellipsoid":
        u = np.asarray(packing.orientations)
        # q ∝ (1 + x̂·û, x̂ × û): no arccos, so no precision lost for small angles
        q[:, 0], q[:, 2], q[:, 3] = 1.0 + u[:, 0], -u[:, 2], u[:, 1]
        antiparallel = q[:, 0] < 1e-12
        q[antiparallel] = (0.0, 0.0, 0.0, 1.0)        # û = −x̂: half a turn about z
        q /= np.linalg.norm(q, axis=1, keepdims=True)
    else:
        q[:, 0] = 1.0
    return q


def orientations_of(shape: str, q: np.ndarray) -> np.ndarray | None:
    """The `Packing` orientations of ``shape`` given quaternions (N, 4) (w, x, y, z)."""
    q = np.asarray(q, dtype=np.float64)
    if shape == "ellipse":
        return 2.0 * np.arctan2(q[:, 3], q[:, 0])
    if shape == "ellipsoid":
        w, x, y, z = q.T / np.linalg.norm(q, axis=1)
        return np.stack([1 - 2 * (y * y + z * z), 2 * (x * y + w * z), 2 * (x * z - w * y)], axis=1)
    return None


def _semi_axes3(packing: Packing) -> np.ndarray:
    """(N, 3) semi-axes along the body axes (an ellipse (a, b) as (a, b, b))."""
    s = np.asarray(packing.semi_axes)
    return s if s.shape[1] == 3 else np.column_stack([s, s[:, 1]])


def _size_types(packing: Packing) -> tuple[np.ndarray, np.ndarray]:
    """(sizes (T, k), typeid (N,)): one type per distinct particle size, smallest first."""
    sizes = packing.diameters[:, None] if packing.is_round else _semi_axes3(packing)
    return np.unique(sizes, axis=0, return_inverse=True)


# ---------------------------------------------------------------- extended XYZ
def _number(x: float) -> str:
    return repr(float(x))


def _numbers(values) -> str:
    return " ".join(map(_number, np.ravel(values)))


def _type_names(n_types: int) -> list[str]:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return [letters[t] if t < len(letters) else f"T{t}" for t in range(n_types)]


def _extxyz_text(snap: Snapshot) -> str:
    p = snap.packing
    pos3 = np.zeros((p.n, 3))
    pos3[:, :p.dim] = p.positions
    lattice = np.diag(np.append(p.box, Z_THICKNESS_2D) if p.dim == 2 else p.box)
    columns: list[tuple[str, str, np.ndarray]] = [("pos", "R", pos3)]
    if p.is_round:
        columns.append(("radius", "R", 0.5 * p.diameters[:, None]))
    else:
        q = quaternions(p)
        columns += [("aspherical_shape", "R", _semi_axes3(p)),
                    ("orientation", "R", q[:, [1, 2, 3, 0]])]
    header = {
        "Lattice": _numbers(lattice),
        "Properties": ":".join(["species:S:1"] + [f"{name}:{kind}:{a.shape[1]}"
                                                  for name, kind, a in columns] + ["rattler:L:1"]),
        "pbc": "T T F" if p.dim == 2 else "T T T",
        "dim": str(p.dim), "shape": p.shape, "alpha": _number(p.alpha),
        **{k: _number(v) for k, v in snap.info.items() if math.isfinite(v)},
        "n_contacts": str(len(snap.contacts)),
        "contacts": " ".join(map(str, snap.contacts.ravel())),
        "contact_overlaps": _numbers(snap.overlaps), "contact_forces": _numbers(snap.forces),
    }
    comment = " ".join(f'{k}="{v}"' if (" " in v or not v) else f"{k}={v}"
                       for k, v in header.items())
    rows = (" ".join([DUMMY_SPECIES, *(_numbers(a[i]) for _, _, a in columns),
                      "T" if snap.rattlers[i] else "F"]) for i in range(p.n))
    return f"{p.n}\n{comment}\n" + "\n".join(rows) + "\n"


def write_extxyz(snap: Snapshot, path: str | Path, overwrite: bool = False) -> Path:
    """Write ``snap`` as one extended-XYZ frame (module docstring); returns the path."""
    with atomic_output(path, overwrite) as tmp:
        tmp.write_text(_extxyz_text(snap))
    return Path(path)


def _parse_header(line: str, where: str) -> dict[str, str]:
    try:
        tokens = shlex.split(line)
    except ValueError as exc:
        raise ParameterError(f"extxyz comment line must be key=value pairs (got {where}: {exc})") \
            from None
    return dict(t.split("=", 1) for t in tokens if "=" in t)


def _columns(properties: str, where: str) -> dict[str, tuple[slice, str]]:
    """Column ranges of the Properties string ``name:type:count:...``."""
    parts = properties.split(":")
    require(len(parts) % 3 == 0 and len(parts) > 0, "extxyz Properties",
            "name:type:count triplets", f"{where}: {properties!r}")
    out, start = {}, 0
    for name, kind, count in zip(parts[::3], parts[1::3], parts[2::3]):
        require(count.isdigit() and int(count) > 0, "extxyz Properties", "positive counts",
                f"{where}: {name}:{kind}:{count}")
        out[name] = (slice(start, start + int(count)), kind)
        start += int(count)
    return out


def _floats(text: str, what: str, where: str) -> np.ndarray:
    try:
        return np.array(text.split(), dtype=np.float64)
    except ValueError:
        raise ParameterError(f"extxyz {what} must be numbers (got {where})") from None


def read_extxyz(path: str | Path) -> Snapshot:
    """The snapshot of the first frame of an extended-XYZ file written by :func:`write_extxyz`
    (a foreign file needs ``Lattice`` and ``pos``; ``radius`` makes discs/spheres)."""
    path = Path(path)
    try:
        with open(path) as fh:
            first, comment = fh.readline(), fh.readline()
            require(first.strip().isdigit(), "extxyz file", "a file with a particle count on line 1",
                    str(path))
            n = int(first)
            rows = [fh.readline().split() for _ in range(n)]
    except (OSError, UnicodeDecodeError) as exc:
        raise ParameterError(f"extxyz file must be a readable text file (got {str(path)!r}: "
                             f"{exc})") from None
    head = _parse_header(comment, str(path))
    require("Lattice" in head and "Properties" in head, "extxyz comment line",
            "Lattice and Properties", str(path))
    cols = _columns(head["Properties"], str(path))
    width = max(s.stop for s, _ in cols.values())
    require(all(len(r) == width for r in rows), "extxyz particle lines",
            f"{n} lines of {width} fields", str(path))
    table = np.array(rows, dtype=object)

    def column(name: str) -> np.ndarray:
        require(name in cols, "extxyz Properties", f"a list with a {name!r} column", str(path))
        s, kind = cols[name]
        if kind == "L":
            return np.isin(table[:, s], ("T", "True", "true", "1"))
        try:
            return np.array(table[:, s], dtype=np.float64)
        except ValueError:
            raise ParameterError(f"extxyz column {name!r} must hold numbers (got {path})") \
                from None

    lattice = _floats(head["Lattice"], "Lattice", str(path)).reshape(3, 3)
    require(np.allclose(lattice, np.diag(np.diag(lattice))), "extxyz Lattice",
            "an orthorhombic box (diagonal cell)", str(path))
    dim = int(head.get("dim", "2" if head.get("pbc", "T T T").split()[-1] == "F" else "3"))
    require(dim in (2, 3), "extxyz dim", "2 or 3", dim)
    box = np.diag(lattice)[:dim]
    pos = column("pos")[:, :dim]
    shape = head.get("shape", "disk" if dim == 2 else "sphere")
    require(shape in SHAPE_TABLE, "extxyz shape", f"one of {sorted(SHAPE_TABLE)}", shape)
    alpha = float(head.get("alpha", POTENTIALS["harmonic"]))
    if SHAPE_TABLE[shape].round:
        packing = Packing(pos, box, 2.0 * column("radius")[:, 0], shape, alpha)
    else:
        q = column("orientation")[:, [3, 0, 1, 2]]
        semi = column("aspherical_shape")[:, :dim]
        packing = Packing(pos, box, None, shape, alpha, semi, orientations_of(shape, q))
    contacts = _floats(head.get("contacts", ""), "contacts", str(path))
    require(contacts.size % 2 == 0 and np.array_equal(contacts, np.round(contacts)),
            "extxyz contacts", "pairs of particle indices", str(path))
    contacts = contacts.astype(np.int64).reshape(-1, 2)
    overlaps = _floats(head.get("contact_overlaps", ""), "contact_overlaps", str(path))
    rattlers = column("rattler")[:, 0] if "rattler" in cols else np.zeros(n, dtype=bool)
    info = {k: float(head[k]) for k in SCALARS if k in head}
    return Snapshot(packing, contacts, overlaps, rattlers, info)


# ---------------------------------------------------------------- GSD (HOOMD-blue)
def _gsd_hoomd():
    try:
        import gsd.hoomd
    except ImportError:
        raise ParameterError("--format gsd needs the gsd package (pip install gsd)") from None
    return gsd.hoomd


def _type_shapes(packing: Packing, sizes: np.ndarray) -> list[dict]:
    if packing.is_round:
        return [{"type": "Sphere", "diameter": float(s[0])} for s in sizes]
    return [{"type": "Ellipsoid", "a": float(a), "b": float(b), "c": float(c)} for a, b, c in sizes]


def _gsd_frame(snap: Snapshot):
    hoomd = _gsd_hoomd()
    p = snap.packing
    sizes, typeid = _size_types(p)
    frame = hoomd.Frame()
    frame.configuration.dimensions = p.dim
    frame.configuration.box = [*p.box, *([0.0] if p.dim == 2 else []), 0.0, 0.0, 0.0]
    centred = np.zeros((p.n, 3))
    centred[:, :p.dim] = p.positions - 0.5 * p.box
    frame.particles.N = p.n
    frame.particles.position = centred.astype(np.float32)
    frame.particles.types = _type_names(len(sizes))
    frame.particles.typeid = typeid.astype(np.uint32)
    frame.particles.type_shapes = _type_shapes(p, sizes)
    q = quaternions(p)
    frame.particles.orientation = q.astype(np.float32)
    if p.is_round:
        frame.particles.diameter = p.diameters.astype(np.float32)
    frame.bonds.N = len(snap.contacts)
    frame.bonds.types = ["contact"]
    frame.bonds.typeid = np.zeros(len(snap.contacts), dtype=np.uint32)
    frame.bonds.group = snap.contacts.astype(np.uint32)
    frame.log = {
        "particles/position_float64": p.positions, "particles/orientation_float64": q,
        "particles/rattler": snap.rattlers.astype(np.uint8),
        "bonds/overlap": snap.overlaps, "bonds/force": snap.forces,
        "packing/box_float64": p.box, "packing/alpha": np.array([p.alpha]),
        **{f"packing/{k}": np.array([v]) for k, v in snap.info.items()},
    }
    return frame


def write_gsd(snap: Snapshot, path: str | Path, overwrite: bool = False) -> Path:
    """Write ``snap`` as one GSD frame of the HOOMD schema (module docstring); returns the path."""
    frame = _gsd_frame(snap)
    with atomic_output(path, overwrite) as tmp:
        with _gsd_hoomd().open(str(tmp), "w") as traj:
            traj.append(frame)
    return Path(path)


def _shape_of_gsd(dim: int, type_shapes: list[dict]) -> str:
    kinds = {s.get("type") for s in type_shapes}
    require(len(kinds) == 1 and kinds <= {"Sphere", "Ellipsoid"}, "gsd type_shapes",
            "all Sphere or all Ellipsoid", sorted(map(str, kinds)))
    return {("Sphere", 2): "disk", ("Sphere", 3): "sphere", ("Ellipsoid", 2): "ellipse",
            ("Ellipsoid", 3): "ellipsoid"}[(kinds.pop(), dim)]


def read_gsd(path: str | Path) -> Snapshot:
    """The snapshot of the first frame of a GSD file written by :func:`write_gsd` (float64 from
    its ``log`` chunks; a foreign HOOMD file gives float32 precision and no overlaps)."""
    hoomd = _gsd_hoomd()
    try:
        with hoomd.open(str(path), "r") as traj:
            require(len(traj) > 0, "gsd file", "at least one frame", str(path))
            frame = traj[0]
    except (OSError, RuntimeError) as exc:
        raise ParameterError(f"gsd file must be a readable GSD file (got {str(path)!r}: "
                             f"{exc})") from None
    log = frame.log
    dim = int(frame.configuration.dimensions)
    box = np.asarray(log.get("packing/box_float64", frame.configuration.box[:dim]), np.float64)
    shape = _shape_of_gsd(dim, frame.particles.type_shapes)
    pos = log.get("particles/position_float64")
    if pos is None:
        pos = np.asarray(frame.particles.position, np.float64)[:, :dim] + 0.5 * box
    alpha = float(np.ravel(log.get("packing/alpha", [POTENTIALS["harmonic"]]))[0])
    shapes = frame.particles.type_shapes
    typeid = np.asarray(frame.particles.typeid)
    if SHAPE_TABLE[shape].round:
        packing = Packing(pos, box, np.array([shapes[t]["diameter"] for t in typeid]), shape, alpha)
    else:
        semi = np.array([[shapes[t][k] for k in "abc"] for t in typeid])[:, :dim]
        q = log.get("particles/orientation_float64", frame.particles.orientation)
        packing = Packing(pos, box, None, shape, alpha, semi, orientations_of(shape, q))
    contacts = np.asarray(frame.bonds.group, dtype=np.int64).reshape(-1, 2)
    overlaps = log.get("bonds/overlap", np.full(len(contacts), np.nan))
    rattlers = np.asarray(log.get("particles/rattler", np.zeros(packing.n)), dtype=bool)
    info = {k: float(np.ravel(log[f"packing/{k}"])[0]) for k in SCALARS if f"packing/{k}" in log}
    return Snapshot(packing, contacts, overlaps, rattlers, info)


FORMATS: dict[str, tuple[Callable, Callable]] = {
    "extxyz": (write_extxyz, read_extxyz),
    "gsd": (write_gsd, read_gsd),
}
"""Format name → (writer, reader)."""


def read_snapshot(path: str | Path, fmt: str) -> Snapshot:
    """The snapshot in ``path`` of format ``fmt`` (a key of :data:`FORMATS`)."""
    require(fmt in FORMATS, "--format", f"one of {sorted(FORMATS)}", fmt)
    return FORMATS[fmt][1](path)


def write_snapshot(snap: Snapshot, path: str | Path, fmt: str, overwrite: bool = False) -> Path:
    """Write ``snap`` to ``path`` in format ``fmt`` (a key of :data:`FORMATS`)."""
    require(fmt in FORMATS, "--format", f"one of {sorted(FORMATS)}", fmt)
    return FORMATS[fmt][0](snap, path, overwrite)
