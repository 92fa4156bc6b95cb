"""The picture of a packing a physicist draws first: the particles (ellipses as ellipses), the
contact network with line width ∝ contact force, the rattlers marked (`packing plot`).

2D packings are drawn whole, with the periodic images of particles and contacts that cross the
box. 3D packings are drawn as the slab |z − L_z/2| < :data:`SLAB_HALF_WIDTH` seen along z:
spheres as discs, ellipsoids as their exact shadows on the xy plane (:func:`shadow_ellipses`),
contacts between two particles of the slab. matplotlib is imported only here.
"""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from .errors import require
from .io import atomic_output
from .snapshot import Snapshot

SLAB_HALF_WIDTH = 1.0
"""Half-width of the slab of a 3D packing drawn (small diameters)."""

FIGURE_FORMATS = ("png", "pdf", "svg")
COLOURS = {"small": "#9ecae1", "large": "#3182bd", "rattler": "#d9d9d9", "contact": "#b2182b"}


def shadow_ellipses(semi_axes: np.ndarray, axes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The shadows on the xy plane of ellipsoids of revolution (semi-axes (a, b, b), a along the
    unit axis û): ((N, 2) semi-axes (major, minor), (N,) angle of the major axis from x).

    The ellipsoid {x : xᵀ A x ≤ 1}, A = Σ_k e_k e_kᵀ / s_k², projects onto the ellipse whose
    matrix is the Schur complement A_xy,xy − A_xy,z A_z,z⁻¹ A_z,xy.
    """
    a, b = semi_axes[:, 0], semi_axes[:, 1]
    u = axes / np.linalg.norm(axes, axis=1, keepdims=True)
    eye = np.eye(3)[None]
    uu = u[:, :, None] * u[:, None, :]
    A = uu / (a * a)[:, None, None] + (eye - uu) / (b * b)[:, None, None]
    M = A[:, :2, :2] - A[:, :2, 2:3] * A[:, 2:3, :2] / A[:, 2:3, 2:3]
    lam, vec = np.linalg.eigh(M)                 # ascending: the smallest λ is the major axis
    axes2 = 1.0 / np.sqrt(lam)
    angle = np.arctan2(vec[:, 1, 0], vec[:, 0, 0])
    return axes2, angle


def _outlines(snap: Snapshot, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(width/2, height/2, angle) in the plane of each particle drawn."""
    p = snap.packing
    if p.is_round:
        r = 0.5 * p.diameters[keep]
        return r, r, np.zeros(len(r))
    if p.dim == 2:
        return p.semi_axes[keep, 0], p.semi_axes[keep, 1], np.asarray(p.orientations)[keep]
    axes2, angle = shadow_ellipses(p.semi_axes[keep], p.orientations[keep])
    return axes2[:, 0], axes2[:, 1], angle


def _drawn(snap: Snapshot) -> np.ndarray:
    """Mask of the particles drawn: all in 2D, the mid-plane slab in 3D."""
    p = snap.packing
    if p.dim == 2:
        return np.ones(p.n, dtype=bool)
    return np.abs(p.positions[:, 2] - 0.5 * p.box[2]) < SLAB_HALF_WIDTH


def _images(centre: np.ndarray, reach: float, box: np.ndarray) -> list[np.ndarray]:
    """The periodic copies of a point that fall within ``reach`` of the box [0, L]²."""
    shifts = [s for s in itertools.product((-1, 0, 1), repeat=2)
              if np.all((centre + np.array(s) * box > -reach) & (centre + np.array(s) * box
                                                                  < box + reach))]
    return [centre + np.array(s) * box for s in shifts]


def contact_segments(snap: Snapshot, drawn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """((K, 2, 2) segments in the plane, (K,) index of the contact of each): each contact between
    two drawn particles from i to i + r_ij (minimum image), and once more from j when that
    segment leaves the box, so that both ends of a contact across the boundary are drawn."""
    p = snap.packing
    box = p.box[:2]
    segs, owner = [], []
    for k, (i, j) in enumerate(snap.contacts):
        if not (drawn[i] and drawn[j]):
            continue
        r = p.positions[j, :2] - p.positions[i, :2]
        r -= box * np.round(r / box)
        start = p.positions[i, :2]
        segs.append((start, start + r))
        owner.append(k)
        if np.any((start + r < 0) | (start + r > box)):
            segs.append((p.positions[j, :2], p.positions[j, :2] - r))
            owner.append(k)
    return np.array(segs, dtype=float).reshape(-1, 2, 2), np.array(owner, dtype=np.int64)


def draw_snapshot(snap: Snapshot, ax=None, max_width: float = 3.0):
    """Draw ``snap`` on ``ax`` (a new figure when None): particles coloured small/large, rattlers
    grey, contacts as lines of width max_width · f / max f. Returns the axes."""
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection
    from matplotlib.patches import Ellipse

    p = snap.packing
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 6 * p.box[1] / p.box[0]))
    drawn = _drawn(snap)
    half_w, half_h, angle = _outlines(snap, drawn)
    size = (p.diameters if p.is_round else p.semi_axes[:, 0] * p.semi_axes[:, 1])[drawn]
    large = size > 0.5 * (size.min() + size.max()) if size.max() > size.min() else size < 0
    for c, w, h, th, big, rat in zip(p.positions[drawn, :2], half_w, half_h, angle, large,
                                      snap.rattlers[drawn]):
        colour = COLOURS["rattler"] if rat else COLOURS["large" if big else "small"]
        for image in _images(c, max(w, h), p.box[:2]):
            ax.add_patch(Ellipse(image, 2 * w, 2 * h, angle=np.degrees(th), facecolor=colour,
                                 edgecolor="k", linewidth=0.3))
    segs, owner = contact_segments(snap, drawn)
    forces = snap.forces
    if len(owner):
        ax.add_collection(LineCollection(segs, linewidths=max_width * forces[owner] / forces.max(),
                                         colors=COLOURS["contact"], capstyle="round"))
    ax.set_xlim(0, p.box[0])
    ax.set_ylim(0, p.box[1])
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    info = snap.info
    where = "" if p.dim == 2 else f", slab |z − L/2| < {SLAB_HALF_WIDTH:g}"
    ax.set_title(f"{p.shape}s, N = {p.n}{where}: φ = {info['phi']:.5f}, "
                 f"Δφ = {info['delta_phi']:.1e}, {len(snap.contacts)} contacts, "
                 f"{int(snap.rattlers.sum())} rattlers (grey); line width ∝ f", fontsize=8)
    return ax


def save_snapshot_figure(snap: Snapshot, out: str | Path, overwrite: bool = False) -> Path:
    """Draw ``snap`` (:func:`draw_snapshot`) into ``out``, a .png, .pdf or .svg written whole."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fmt = Path(out).suffix.lstrip(".").lower()
    require(fmt in FIGURE_FORMATS, "--out", f"a file name ending in one of {FIGURE_FORMATS}",
            str(out))
    ax = draw_snapshot(snap)
    try:
        with atomic_output(out, overwrite) as tmp:
            ax.figure.savefig(tmp, format=fmt, dpi=150, bbox_inches="tight")
    finally:
        plt.close(ax.figure)
    return Path(out)
