"""Contact networks: candidate pairs, gaps, contacts and iterative rattler removal against naive
O(N²) numpy references; hand-built configurations where the iteration matters; relabelling."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from naive import disc_pairs

from packing.contacts import contact_network, iterative_rattlers
from packing.errors import ParameterError
from packing.minimize import default_skin
from packing.system import Packing, random_packing


# ------------------------------------------------------------------------------ naive references
def naive_candidates(pos, box, dia, skin):
    """All pairs i < j with r < σ_ij + skin (minimum image), their gaps Δ = 1 − r/σ_ij, and
    whether the minimum image differs from the raw difference (pair across the boundary)."""
    n = len(pos)
    i, j = np.triu_indices(n, 1)
    dr, r, sigma, gaps = disc_pairs(pos, box, dia, i, j)
    cand = r < sigma + skin
    across = np.any(np.abs(dr - (pos[j] - pos[i])) > 1e-9, axis=1)
    return np.column_stack([i, j])[cand], gaps[cand], across[cand]


def naive_rattlers(n, contacts, min_contacts):
    """Rattlers by a plain Python loop: remove particles one sweep at a time until stable."""
    neigh = {k: set() for k in range(n)}
    for a, b in contacts:
        neigh[int(a)].add(int(b))
        neigh[int(b)].add(int(a))
    rattler = set()
    changed = True
    while changed:
        changed = False
        for k in range(n):
            if k not in rattler and len(neigh[k] - rattler) < min_contacts:
                rattler.add(k)
                changed = True
    return np.array([k in rattler for k in range(n)])


def _unwrapped(p: Packing, seed: int) -> Packing:
    """The same packing with each particle shifted by random whole boxes."""
    rng = np.random.default_rng(seed)
    shift = rng.integers(-3, 4, size=p.positions.shape) * p.box
    return p.with_positions(p.positions + shift)


# ------------------------------------------------------------------------------ pairs and gaps
@pytest.mark.parametrize("dim,n,phi,seed", [(2, 200, 0.85, 0), (2, 50, 0.6, 1), (3, 150, 0.6, 2),
                                            (3, 120, 0.45, 3)])
def test_pairs_and_gaps_match_naive(dim, n, phi, seed):
    p = _unwrapped(random_packing(n, phi, dim, seed=seed), seed)
    net = contact_network(p)
    ref_pairs, ref_gaps, across = naive_candidates(p.positions, p.box, p.diameters, default_skin(p))
    assert across.sum() > 0, "the test needs pairs across the periodic boundary"
    order = np.lexsort((ref_pairs[:, 1], ref_pairs[:, 0]))
    np.testing.assert_array_equal(net.pairs, ref_pairs[order])
    np.testing.assert_allclose(net.gaps, ref_gaps[order], rtol=0, atol=1e-13)
    np.testing.assert_array_equal(net.contacts, ref_pairs[order][ref_gaps[order] > 0])
    # contacts across the boundary are found
    assert np.any(across[ref_gaps > 0])


@pytest.mark.parametrize("dim,n,phi,seed", [(2, 200, 0.7, 4), (2, 300, 0.5, 5), (3, 200, 0.45, 6)])
def test_rattlers_and_counts_match_naive(dim, n, phi, seed):
    p = random_packing(n, phi, dim, seed=seed)
    net = contact_network(p)
    ref_pairs, ref_gaps, _ = naive_candidates(p.positions, p.box, p.diameters, default_skin(p))
    ref_contacts = ref_pairs[ref_gaps > 0]
    ref_r = naive_rattlers(n, ref_contacts, dim + 1)
    np.testing.assert_array_equal(net.rattler, ref_r)
    assert 0 < net.n_rattlers < n  # the comparison is not vacuous
    live = ~ref_r[ref_contacts[:, 0]] & ~ref_r[ref_contacts[:, 1]]
    n_live = n - ref_r.sum()
    assert net.n_constraints == live.sum()
    assert net.z == pytest.approx(2 * live.sum() / n_live, rel=1e-15)
    assert net.n_dof == dim * (n_live - 1)
    assert net.isostatic_count == dim * (n_live - 1) + 1
    assert net.excess == live.sum() - (dim * (n_live - 1) + 1)
    assert net.min_contacts == dim + 1
    assert len(net.active_contacts) == net.n_constraints


# ------------------------------------------------------------------------------ iterative removal
def _chain_packing(offset):
    """2D discs (diameter 1): a core of 4 mutually touching discs (3 contacts each), a disc A
    touching core discs 0, 1 and B, B touching A and C, C touching only B, and one isolated disc.

    One sweep would mark only C (1 contact) and B (2 contacts); A becomes a rattler only after B
    is removed (its count drops from 3 to 2). ``offset`` shifts everything (across the boundary).
    """
    pos = np.array([[5.0, 5.0], [5.6, 5.0], [5.0, 5.6], [5.6, 5.6],   # core 0..3
                    [5.3, 4.3],                                      # A = 4
                    [5.3, 3.5],                                      # B = 5
                    [5.3, 2.7],                                      # C = 6
                    [8.5, 8.5]])                                     # isolated = 7
    return Packing(pos + offset, np.array([10.0, 10.0]), np.ones(len(pos)))


@pytest.mark.parametrize("offset", [(0.0, 0.0), (4.7, 6.8), (-5.3, 2.0)])
def test_rattler_needs_iteration(offset):
    p = _chain_packing(np.array(offset))
    net = contact_network(p)
    expect = np.array([False] * 4 + [True] * 4)
    np.testing.assert_array_equal(net.rattler, expect)
    # one sweep alone would not mark A
    counts = np.bincount(net.contacts.ravel(), minlength=p.n)
    assert counts[4] == 3 and counts[5] == 2 and counts[6] == 1
    assert net.n_contacts == 6 + 4       # core K4 + (A,0), (A,1), (A,B), (B,C)
    assert net.n_constraints == 6 and net.z == 3.0
    assert net.n_dof == 2 * 4 - 2 and net.isostatic_count == 7 and net.excess == -1
    assert not net.is_isostatic
    # a lower threshold keeps A and B (C has 1 contact, then B has 1 → cascade again)
    net2 = contact_network(p, rattler_min_contacts=2)
    np.testing.assert_array_equal(net2.rattler, [False] * 4 + [False, True, True, True])


def test_iterative_rattlers_chain_cascade():
    """A linear chain 0-1-2-…-9 attached to a triangle: every chain link falls one at a time."""
    tri = [(0, 1), (1, 2), (0, 2)]
    chain = [(2, 3)] + [(k, k + 1) for k in range(3, 9)]
    r = iterative_rattlers(10, np.array(tri + chain), 2)
    np.testing.assert_array_equal(r, [False, False, False] + [True] * 7)
    np.testing.assert_array_equal(r, naive_rattlers(10, tri + chain, 2))


# ------------------------------------------------------------------------------ relabelling
@pytest.mark.parametrize("dim,n,phi", [(2, 150, 0.8), (3, 150, 0.5)])
def test_relabelling_invariance(dim, n, phi):
    p = random_packing(n, phi, dim, seed=7)
    perm = np.random.default_rng(8).permutation(n)
    q = Packing(p.positions[perm], p.box, p.diameters[perm], p.shape, p.alpha)
    a, b = contact_network(p), contact_network(q)
    np.testing.assert_array_equal(b.rattler, a.rattler[perm])
    for attr in ("n_rattlers", "n_constraints", "n_dof", "isostatic_count", "excess"):
        assert getattr(a, attr) == getattr(b, attr)
    assert a.z == pytest.approx(b.z, rel=1e-14)
    key_a = {tuple(sorted(pq)): g for pq, g in zip(a.pairs.tolist(), a.gaps)}
    key_b = {tuple(sorted((perm[i], perm[j]))): g for (i, j), g in zip(b.pairs.tolist(), b.gaps)}
    assert key_a.keys() == key_b.keys()
    assert max(abs(key_a[k] - key_b[k]) for k in key_a) < 1e-14


# ------------------------------------------------------------------------------ validation
def test_bad_input():
    p = random_packing(50, 0.5, 2, seed=0)
    with pytest.raises(ParameterError, match="rattler_min_contacts"):
        contact_network(p, rattler_min_contacts=-1)
    with pytest.raises(ParameterError, match="rattler_min_contacts"):
        contact_network(p, rattler_min_contacts=2.5)
    with pytest.raises(ParameterError, match="skin"):
        contact_network(p, skin=-0.1)
    with pytest.raises(ParameterError, match="packing"):
        contact_network(p.positions)


def test_result_is_frozen():
    net = contact_network(random_packing(50, 0.7, 2, seed=0))
    with pytest.raises(dataclasses.FrozenInstanceError):
        net.z = 0.0
    with pytest.raises(ValueError):
        net.rattler[0] = True
