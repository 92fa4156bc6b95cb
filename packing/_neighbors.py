"""Neighbour search (private, numba): cell list → half Verlet list with a skin.

Pairs i < j are kept when their minimum-image distance is below b_i + b_j + skin, with b the
bounding radius of each particle (the radius of a disc, the major semi-axis of an ellipse). The
list stays valid while no particle has moved more than skin/2 since it was built. Each pair also
stores its periodic image shift, so that dr = x_j − x_i + shift needs no folding in the force loop
while the list is valid (the box must exceed twice the cut-off plus the skin, checked by callers).
Building is O(N)
with a cell list of side ≥ 2·max(b) + skin; boxes with fewer than 3 cells along a side fall back
to the O(N²) double loop (the cell stencil would count pairs twice there).
"""
from __future__ import annotations

import math

import numba as nb
import numpy as np


@nb.njit(cache=True, inline="always")
def minimum_image(x, i, j, box, dr):
    """dr ← x_j − x_i folded into the periodic box [−L/2, L/2); returns |dr|²."""
    r2 = 0.0
    for a in range(x.shape[1]):
        t = x[j, a] - x[i, a]
        L = box[a]
        if t >= 0.5 * L or t < -0.5 * L:  # only pairs across the boundary need the fold
            t -= L * math.floor(t / L + 0.5)
        dr[a] = t
        r2 += t * t
    return r2


@nb.njit(cache=True)
def _cell_grid(box, cell_min):
    d = box.shape[0]
    ncell = np.empty(d, np.int64)
    for a in range(d):
        ncell[a] = max(1, int(math.floor(box[a] / cell_min)))
    return ncell


@nb.njit(cache=True)
def _bin_particles(x, box, ncell):
    """Cell of every particle and a linked list per cell.

    Returns (cell (N, d) integer cell coordinates, head (n_cells,), nxt (N,)), head[c] being the
    first particle of flat cell c and nxt[i] the next one after i (−1 ends a list).
    """
    n, d = x.shape
    total = 1
    for a in range(d):
        total *= ncell[a]
    head = -np.ones(total, np.int64)
    nxt = -np.ones(n, np.int64)
    cell = np.empty((n, d), np.int64)
    for i in range(n):
        c = 0
        for a in range(d):
            s = x[i, a] / box[a]
            s -= math.floor(s)
            ci = min(int(s * ncell[a]), ncell[a] - 1)
            cell[i, a] = ci
            c = c * ncell[a] + ci
        nxt[i] = head[c]
        head[c] = i
    return cell, head, nxt


@nb.njit(cache=True)
def _half_stencil(d):
    """Cell offsets (K, d) of the half stencil: the cell itself and the (3^d − 1)/2 neighbours
    whose first non-zero offset is +1, so that every pair of neighbouring cells is visited once."""
    out = np.zeros(((3 ** d + 1) // 2, d), np.int64)
    k = 1
    for s in range(3 ** d):
        off = np.empty(d, np.int64)
        t = s
        for a in range(d - 1, -1, -1):
            off[a] = t % 3 - 1
            t //= 3
        first = 0
        for a in range(d):
            if off[a] != 0:
                first = off[a]
                break
        if first > 0:
            out[k] = off
            k += 1
    return out


@nb.njit(cache=True)
def _fill_pairs(x, bound, box, skin, ncell, cell, head, nxt, idx, shift, start):
    """Write the pairs into idx/shift and the CSR offsets into start; returns the number of
    pairs, or −1 if idx is too short (the caller retries with more room)."""
    n, d = x.shape
    use_cells = True
    for a in range(d):
        if ncell[a] < 3:
            use_cells = False
    stencil = _half_stencil(d)
    dr = np.empty(d)
    m = 0
    for i in range(n):
        if use_cells:
            for k in range(stencil.shape[0]):
                c = 0
                for a in range(d):
                    c = c * ncell[a] + (cell[i, a] + stencil[k, a]) % ncell[a]
                j = head[c]
                while j >= 0:
                    if k > 0 or j > i:
                        m = _keep_if_near(x, bound, box, skin, i, j, dr, m, idx, shift)
                        if m < 0:
                            return -1
                    j = nxt[j]
        else:
            for j in range(i + 1, n):
                m = _keep_if_near(x, bound, box, skin, i, j, dr, m, idx, shift)
                if m < 0:
                    return -1
        start[i + 1] = m
    return m


@nb.njit(cache=True, inline="always")
def _keep_if_near(x, bound, box, skin, i, j, dr, m, idx, shift):
    """Store pair (i, j) at position m if within b_i + b_j + skin; returns the new count, or −1
    when idx is full."""
    r2 = minimum_image(x, i, j, box, dr)
    rc = bound[i] + bound[j] + skin
    if r2 >= rc * rc:
        return m
    if m == idx.shape[0]:
        return -1
    _store(x, i, j, dr, m, idx, shift)
    return m + 1


@nb.njit(cache=True)
def build_neighbors(x, bound, box, skin):
    """Half neighbour list in CSR form: every unordered pair within b_i + b_j + skin once.

    Parameters: x (N, d) positions (any image), bound (N,) bounding radii, box (d,), skin ≥ 0.
    Returns (start (N+1,), idx (M,), shift (M, d)): the partners of particle i are
    idx[start[i]:start[i+1]] (in either order of labels), and pair p has dr = x_j − x_i + shift[p]
    (minimum image at build). One pass over a half stencil of cells ((3^d + 1)/2 per cell);
    boxes with fewer than 3 cells along a side use the O(N²) double loop.
    """
    n, d = x.shape
    bmax = 0.0
    for i in range(n):
        bmax = max(bmax, bound[i])
    ncell = _cell_grid(box, 2.0 * bmax + skin)
    cell, head, nxt = _bin_particles(x, box, ncell)
    start = np.zeros(n + 1, np.int64)
    cap = 4 * d * n
    while True:
        idx = np.empty(cap, np.int64)
        shift = np.empty((cap, d))
        m = _fill_pairs(x, bound, box, skin, ncell, cell, head, nxt, idx, shift, start)
        if m >= 0:
            return start, idx[:m].copy(), shift[:m].copy()
        cap *= 2


@nb.njit(cache=True, inline="always")
def _store(x, i, j, dr, p, out, shift):
    out[p] = j
    for a in range(x.shape[1]):
        shift[p, a] = dr[a] - (x[j, a] - x[i, a])
