"""packing.picture: the shadows of ellipsoids against sampled surfaces, the contact segments
against the minimum-image geometry, and the figure the command writes."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from packing.picture import contact_segments, draw_snapshot, shadow_ellipses
from packing.snapshot import snapshot_of
from packing.system import random_packing


def test_ellipsoid_shadows_match_the_extent_of_sampled_surfaces():
    """Support function of the shadow ellipse, h(n) = √(nᵀ Q n) with Q = R diag(w², h²) Rᵀ,
    against the largest projection n·x over points on the ellipsoid's surface."""
    rng = np.random.default_rng(4)
    semi = np.column_stack([rng.uniform(0.3, 2.0, 20), rng.uniform(0.3, 2.0, 20)])
    semi = np.column_stack([semi, semi[:, 1]])
    axes = rng.normal(size=(20, 3))
    axes2, angle = shadow_ellipses(semi, axes)
    t, s = np.meshgrid(np.linspace(0, np.pi, 400), np.linspace(0, 2 * np.pi, 800))
    sphere = np.stack([np.cos(t), np.sin(t) * np.cos(s), np.sin(t) * np.sin(s)], -1).reshape(-1, 3)
    normals = np.stack([np.cos(np.linspace(0, np.pi, 13)), np.sin(np.linspace(0, np.pi, 13))], -1)
    for k in range(20):
        u = axes[k] / np.linalg.norm(axes[k])
        e2 = np.cross(u, [0.3, 0.5, 0.7])
        e2 /= np.linalg.norm(e2)
        frame = np.stack([u, e2, np.cross(u, e2)], 1)          # columns: body axes
        surface = (sphere * semi[k]) @ frame.T
        c, sn = np.cos(angle[k]), np.sin(angle[k])
        R = np.array([[c, -sn], [sn, c]])
        Q = R @ np.diag(axes2[k] ** 2) @ R.T
        support = np.sqrt(np.einsum("ni,ij,nj->n", normals, Q, normals))
        sampled = (surface[:, :2] @ normals.T).max(axis=0)
        assert np.allclose(support, sampled, rtol=1e-4), k
        assert axes2[k, 0] >= axes2[k, 1]


def test_every_contact_is_drawn_as_the_minimum_image_segment():
    snap = snapshot_of(random_packing(64, 0.9, 2, seed=2))
    segs, owner = contact_segments(snap, np.ones(64, dtype=bool))
    assert set(owner.tolist()) == set(range(len(snap.contacts)))
    p = snap.packing
    for seg, k in zip(segs, owner):
        i, j = snap.contacts[k]
        r = p.positions[j] - p.positions[i]
        r -= p.box * np.round(r / p.box)
        assert np.isclose(np.linalg.norm(seg[1] - seg[0]), np.linalg.norm(r), rtol=1e-12)
    crossing = np.bincount(owner) == 2                      # drawn from both ends
    assert crossing.any() and not np.all(crossing)


@pytest.mark.parametrize("kind", ["disk", "ellipse", "sphere", "ellipsoid"])
def test_the_drawing_has_one_outline_per_particle_and_widths_proportional_to_force(kind):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n, phi, dim, shape = {"disk": (64, 0.9, 2, None), "ellipse": (64, 0.9, 2, "ellipse"),
                          "sphere": (256, 0.7, 3, None), "ellipsoid": (256, 0.6, 3, "ellipsoid")}[kind]
    snap = snapshot_of(random_packing(n, phi, dim, seed=1, shape=shape,
                                      aspect=1.0 if shape is None else 1.6))
    ax = draw_snapshot(snap)
    lines = ax.collections[0]
    _, owner = contact_segments(snap, np.abs(snap.packing.positions[:, -1] - snap.packing.box[-1] / 2)
                                < (1.0 if dim == 3 else np.inf))
    widths = np.asarray(lines.get_linewidths())
    assert np.allclose(widths, 3.0 * snap.forces[owner] / snap.forces.max())
    drawn = n if dim == 2 else int(np.sum(np.abs(snap.packing.positions[:, 2]
                                                 - snap.packing.box[2] / 2) < 1.0))
    assert len(ax.patches) >= drawn
    plt.close(ax.figure)


def test_plot_command_writes_a_figure_and_refuses_a_bad_suffix(tmp_path):
    from packing.jamming_runs import JamSpec, jam_to_file

    h5 = tmp_path / "j.h5"
    jam_to_file(JamSpec(n=32, delta_phis=(1e-4,)), [0], str(h5), False, "test", progress=False)
    run = lambda *a: subprocess.run([sys.executable, "-m", "packing.cli", "plot", *map(str, a)],
                                    capture_output=True, text=True)
    res = run(h5, "--out", tmp_path / "s.png")
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    res = run(h5, "--out", tmp_path / "s.jpg")
    assert res.returncode == 2 and "--out" in res.stderr and not (tmp_path / "s.jpg").exists()
