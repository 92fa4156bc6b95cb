"""packing.export: extended XYZ and GSD, checked with the readers of the field (ASE, gsd) and
against naive references (rotation matrices of the quaternions; |F| of the engine's forces)."""
from __future__ import annotations

import numpy as np
import pytest

from packing.cli import main as packing_main
from packing.errors import ParameterError
from packing.export import (
    FORMATS,
    orientations_of,
    quaternions,
    read_snapshot,
    write_snapshot,
)
from packing.jamming_runs import JamSpec, jam_to_file
from packing.minimize import energy_and_forces
from packing.snapshot import read_state_file, snapshot_of
from packing.system import Packing, random_packing

RANDOM = {  # (n, phi, dim, shape, aspect): dense random starts, many overlaps
    "disk": (64, 0.9, 2, None, 1.0),
    "sphere": (128, 0.7, 3, None, 1.0),
    "ellipse": (64, 0.9, 2, "ellipse", 1.6),
    "ellipsoid": (128, 0.6, 3, "ellipsoid", 0.6),
}


def _random_snapshot(kind: str, seed: int = 3):
    n, phi, dim, shape, aspect = RANDOM[kind]
    return snapshot_of(random_packing(n, phi, dim, seed=seed, shape=shape, aspect=aspect))


def _rotation(q: np.ndarray) -> np.ndarray:
    """(N, 3, 3) rotation matrices of unit quaternions (w, x, y, z), written out term by term."""
    w, x, y, z = q.T
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ], axis=1)


def _same_orientations(p: Packing, r: Packing) -> bool:
    """Equal up to the particles' symmetry: θ mod π for ellipses, ±û for ellipsoids."""
    if p.shape == "ellipse":
        return bool(np.allclose(np.cos(2 * (p.orientations - r.orientations)), 1.0, atol=1e-12))
    if p.shape == "ellipsoid":
        dots = np.abs(np.sum(p.orientations * r.orientations, axis=1))
        return bool(np.allclose(dots, 1.0, atol=1e-12))
    return p.orientations is None and r.orientations is None


def test_quaternions_turn_the_body_x_axis_onto_each_particle_axis():
    for kind in ("ellipse", "ellipsoid"):
        p = _random_snapshot(kind).packing
        q = quaternions(p)
        assert np.allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-15)
        axis = _rotation(q)[:, :, 0]
        expected = (np.column_stack([np.cos(p.orientations), np.sin(p.orientations),
                                     np.zeros(p.n)]) if kind == "ellipse" else p.orientations)
        assert np.abs(axis - expected).max() < 1e-14
        assert np.abs(orientations_of(kind, q) - (p.orientations if kind == "ellipsoid"
                                                 else np.arctan2(np.sin(p.orientations),
                                                                 np.cos(p.orientations)))).max() \
            < 1e-13


def test_an_axis_along_or_against_x_has_an_exact_quaternion():
    u = np.array([[1.0, 0, 0], [-1.0, 0, 0], [0, 1.0, 0], [0, 0, -1.0]])
    p = random_packing(4 * 64, 0.1, 3, seed=0, shape="ellipsoid", aspect=2.0)
    axes = np.tile(u, (64, 1))
    p = Packing(p.positions, p.box, None, "ellipsoid", 2.0, p.semi_axes, axes)
    assert np.abs(_rotation(quaternions(p))[:, :, 0] - axes).max() < 1e-15


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("kind", sorted(RANDOM))
def test_round_trip_recovers_the_snapshot(tmp_path, kind, fmt):
    pytest.importorskip("gsd") if fmt == "gsd" else None
    snap = _random_snapshot(kind)
    assert len(snap.contacts) > 50
    out = write_snapshot(snap, tmp_path / f"s.{fmt}", fmt)
    back = read_snapshot(out, fmt)
    p, r = snap.packing, back.packing
    assert (r.shape, r.dim, r.alpha) == (p.shape, p.dim, p.alpha)
    assert np.abs(r.positions - p.positions).max() <= 1e-12 and np.array_equal(r.box, p.box)
    sizes = (p.diameters, r.diameters) if p.is_round else (p.semi_axes, r.semi_axes)
    assert np.array_equal(*sizes)
    assert _same_orientations(p, r)
    assert np.array_equal(back.contacts, snap.contacts)
    assert np.array_equal(back.overlaps, snap.overlaps)
    assert np.array_equal(back.rattlers, snap.rattlers) and snap.rattlers.any()
    assert back.info["phi"] == snap.info["phi"]


def test_disc_contact_forces_are_the_engines_pair_forces():
    """Two overlapping discs: the force on each from the engine equals the snapshot's f."""
    for alpha in (2.0, 2.5):
        p = Packing(np.array([[3.0, 3.0], [3.0 + 0.97 * 1.2, 3.0]]), np.array([8.0, 8.0]),
                    np.array([1.0, 1.4]), "disk", alpha)
        snap = snapshot_of(p)
        _, forces, _ = energy_and_forces(p)
        assert len(snap.contacts) == 1
        assert np.isclose(np.linalg.norm(forces[0]), snap.forces[0], rtol=1e-12)
        assert np.isclose(snap.overlaps[0], 0.03, rtol=1e-12)


@pytest.fixture(scope="module")
def jammed_file(tmp_path_factory):
    """A jammed 64-disc packing 1e-6 above φ_J (the precision near jamming is the point)."""
    out = tmp_path_factory.mktemp("jam") / "discs.h5"
    jam_to_file(JamSpec(n=64, delta_phis=(1e-6,)), [0], str(out), False, "test", progress=False)
    return out


def test_stored_state_exports_with_its_contact_list_and_energy(jammed_file):
    snap = read_state_file(jammed_file)
    assert abs(snap.info["delta_phi"] - 1e-6) < 1e-9
    assert np.isclose(np.sum(snap.overlaps ** 2) / 2, snap.info["energy"], rtol=1e-10)
    recomputed = snapshot_of(snap.packing)
    assert np.array_equal(recomputed.contacts, snap.contacts)


def test_ase_reads_the_extxyz_of_a_jammed_state(tmp_path, jammed_file):
    ase_io = pytest.importorskip("ase.io")
    snap = read_state_file(jammed_file)
    path = write_snapshot(snap, tmp_path / "jammed.xyz", "extxyz")
    atoms = ase_io.read(path, format="extxyz")
    p = snap.packing
    assert np.abs(atoms.positions[:, :2] - p.positions).max() <= 1e-12
    assert np.allclose(np.diag(atoms.cell.array)[:2], p.box, rtol=0, atol=0)
    assert list(atoms.pbc) == [True, True, False]
    assert np.array_equal(atoms.arrays["radius"], p.diameters / 2)
    assert np.array_equal(np.asarray(atoms.info["contacts"]).reshape(-1, 2), snap.contacts)
    assert np.array_equal(atoms.arrays["rattler"], snap.rattlers)


def test_gsd_standard_chunks_hold_the_jammed_state(tmp_path, jammed_file):
    hoomd = pytest.importorskip("gsd.hoomd")
    snap = read_state_file(jammed_file)
    path = write_snapshot(snap, tmp_path / "jammed.gsd", "gsd")
    with hoomd.open(str(path), "r") as traj:
        frame = traj[0]
    p = snap.packing
    assert frame.configuration.dimensions == 2 and frame.configuration.box[2] == 0
    centred = frame.particles.position[:, :2].astype(np.float64) + p.box / 2
    assert np.abs(centred - p.positions).max() < 1e-5 * p.box.max()
    assert np.array_equal(frame.bonds.group.astype(np.int64), snap.contacts)
    from_float32 = snapshot_of(p.with_positions(centred))   # why the contact list travels along
    assert len(from_float32.contacts) < len(snap.contacts)
    diameters = [frame.particles.type_shapes[t]["diameter"] for t in frame.particles.typeid]
    assert np.array_equal(diameters, p.diameters)


def _export(capsys, *args) -> tuple[int, str]:
    """``packing export ARGS`` in this process: (exit status, stderr)."""
    capsys.readouterr()
    try:
        code = packing_main(["export", *map(str, args)])
    except SystemExit as stop:      # argparse's usage errors
        code = stop.code
    return code, capsys.readouterr().err


def test_export_command_writes_the_state_and_refuses_bad_input(tmp_path, jammed_file, capsys):
    out = tmp_path / "s.xyz"
    code, err = _export(capsys, jammed_file, "--out", out)
    assert code == 0, err
    assert np.array_equal(read_snapshot(out, "extxyz").contacts,
                          read_state_file(jammed_file).contacts)
    before = out.read_bytes()
    for argv, needle in [((jammed_file, "--out", out), "--overwrite"),
                         ((jammed_file, "/runs/nothing", "--out", tmp_path / "t.xyz"), "GROUP"),
                         ((tmp_path / "missing.h5", "--out", tmp_path / "t.xyz"), "FILE"),
                         ((jammed_file, "--format", "pdb", "--out", tmp_path / "t.x"), "--format")]:
        code, err = _export(capsys, *argv)
        assert code == 2 and needle in err, err
        assert len(err.strip().splitlines()) == 1
    assert out.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["s.xyz"]


@pytest.mark.parametrize("damage", ["no pos column", "text in a column", "odd contacts",
                                    "short line", "empty"])
def test_a_damaged_extxyz_file_is_refused_in_one_line(tmp_path, damage):
    good = tmp_path / "good.xyz"
    write_snapshot(_random_snapshot("ellipse"), good, "extxyz")
    n, comment, *rows = good.read_text().splitlines()
    edit = {
        "no pos column": lambda: [n, comment.replace("pos:R:3", "where:R:3"), *rows],
        "text in a column": lambda: [n, comment, rows[0].replace(rows[0].split()[2], "abc"),
                                     *rows[1:]],
        "odd contacts": lambda: [n, comment.replace('contacts="0 ', 'contacts="'), *rows],
        "short line": lambda: [n, comment, rows[0].rsplit(" ", 2)[0], *rows[1:]],
        "empty": lambda: [""],
    }[damage]
    bad = tmp_path / "bad.xyz"
    bad.write_text("\n".join(edit()) + "\n")
    with pytest.raises(ParameterError) as caught:
        read_snapshot(bad, "extxyz")
    assert "extxyz" in str(caught.value) and "\n" not in str(caught.value)



def test_ase_keeps_the_contact_forces_apart_from_its_own_forces(tmp_path, jammed_file):
    ase_io = pytest.importorskip("ase.io")
    snap = read_state_file(jammed_file)
    atoms = ase_io.read(write_snapshot(snap, tmp_path / "j.xyz", "extxyz"), format="extxyz")
    assert np.allclose(np.ravel(atoms.info["contact_forces"], order="F"), snap.forces,
                       rtol=1e-15, atol=0)
    assert np.array_equal(np.ravel(atoms.info["contact_overlaps"], order="F"), snap.overlaps)
