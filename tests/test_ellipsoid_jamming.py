"""Hypostatic jamming of soft bidisperse ellipsoids of revolution (slow physics checks).

Packings of prolate ellipsoids (50:50, size ratio 1.4, equal aspect ratio a/b, volume-equivalent
diameters 1 and 1.4) are jammed with the unchanged protocol (`find_jamming`, `states_above_jamming`)
at a/b = 1.1, 1.5, 2.0, one seed each, and checked against the literature records of
data/literature.json:

* hypostatic at jamming: N_Δ < N_dof + 1 (N_dof = 5N′ − 3; N_dof + 1 is the isostatic count of a
  periodic box) with 6 < Z_J < Z_iso = 2 d_f = 10 (`z_iso_3d_spheroids`; Donev, Connelly,
  Stillinger, Torquato, PRE 75, 051304, 2007: jammed ellipsoid packings are hypostatic, Z_J rising
  steeply from the sphere value 6 and approaching 10 at large asphericity —
  `ellipsoid_ZJ_spheroids`). Measured (N as below, seeds 0–2, start φ = 0.66, rtol 1e-6, at
  Δφ = 1e-6): Z_J = 8.04 ± 0.08 at a/b = 1.1, 9.70 ± 0.05 at 1.5, 9.967 ± 0.005 at 2.0 (a deficit
  of only 1–2 contacts: nearly isostatic); φ_J = 0.673 ± 0.007, 0.7124 ± 0.0018, 0.7036 ± 0.0007;
* φ_J above the spheres' (≈ 0.648 for this mixture) near the density maximum of spheroids
  (`ellipsoid_phiJ_nonmonotonic`, `ellipsoid_phiJ_spheroid_max`);
* quartic modes (Schreck, Mailman, Chakraborty, O'Hern, PRE 85, 061305, 2012): the stiffness matrix
  has exactly N_dof + 1 − N_Δ zero modes besides the three translations, and the stress term lifts
  every one of them (the full Hessian has none).

N is the smallest that the box guard of `Packing` admits near φ_J (box > 3 largest bounding
diameters): 80 at a/b = 1.1, 128 at 1.5, 224 at 2.0. Each test jams its own packing (about a
minute or two on one core) and prints φ_J and Z_J.
"""
from __future__ import annotations

import functools

import numpy as np
import pytest

from packing.analysis import count_zero_modes, spectrum
from packing.contacts import contact_network
from packing.hessian import hessian
from packing.literature import load_reference
from packing.protocol import find_jamming, states_above_jamming
from packing.system import random_packing

N_BY_ASPECT = {1.1: 80, 1.5: 128, 2.0: 224}
SEED = 0
DPHIS = (1e-6, 1e-4)
PHI_SPHERES = 0.648  # bidisperse 1:1.4 spheres (O'Hern et al. 2003), the reference φ_J at a/b = 1

pytestmark = pytest.mark.slow


@functools.lru_cache(maxsize=None)
def _run(aspect):
    """Jam one packing at one aspect ratio; per state Δφ: counts and Hessian zero modes."""
    start = random_packing(N_BY_ASPECT[aspect], 0.66, 3, shape="ellipsoid", aspect=aspect, seed=SEED)
    jam = find_jamming(start, rtol=1e-6)
    out = {"phi_j": jam.phi_j, "converged": jam.all_converged, "states": []}
    for dphi, r in zip(DPHIS, states_above_jamming(jam, DPHIS)):
        net = contact_network(r.packing)
        parts = hessian(r.packing, network=net)
        zk = count_zero_modes(spectrum(parts.stiffness), n_trivial=3)
        zh = count_zero_modes(spectrum(parts.total), n_trivial=3)
        out["states"].append(dict(dphi=dphi, converged=r.converged, n_c=net.n_constraints,
                                  n_dof=net.n_dof, z=net.z, n_rattlers=net.n_rattlers,
                                  n_quartic=zk.n_floppy, h_floppy=zh.n_floppy))
    return out


@pytest.mark.parametrize("aspect", sorted(N_BY_ASPECT))
def test_ellipsoids_jam_hypostatic_with_quartic_modes(aspect):
    z_iso = load_reference("z_iso_3d_spheroids")["value"]
    r = _run(aspect)
    st = r["states"][0]
    print(f"a/b = {aspect}: N = {N_BY_ASPECT[aspect]}, phi_J = {r['phi_j']:.5f}, Z_J = {st['z']:.3f}, "
          f"N_Delta = {st['n_c']}, N_dof = {st['n_dof']}, rattlers = {st['n_rattlers']}")
    assert r["converged"] and all(s["converged"] for s in r["states"])
    assert r["phi_j"] > PHI_SPHERES
    # at jamming (Δφ = 1e-6): hypostatic, every missing contact a quartic mode
    st = r["states"][0]
    assert st["n_c"] < st["n_dof"] + 1, (aspect, st)
    assert 6.0 < st["z"] < z_iso, (aspect, st)
    assert st["n_quartic"] == st["n_dof"] + 1 - st["n_c"] > 0, (aspect, st)
    for st in r["states"]:
        # further up, contacts are added (at a/b = 2, Z_J ≈ 9.96, the packing may become
        # isostatic or beyond); the quartic modes are always the missing contacts, if any
        assert st["n_quartic"] == max(st["n_dof"] + 1 - st["n_c"], 0), (aspect, st)
        assert st["h_floppy"] == 0, (aspect, st)  # the stress term stabilises every quartic mode


def test_contact_number_rises_with_aspect_ratio():
    """Z_J(a/b) increases from 1.1 to 2.0 (towards Z_iso = 10)."""
    z = [_run(a)["states"][0]["z"] for a in sorted(N_BY_ASPECT)]
    print("Z_J(aspect):", dict(zip(sorted(N_BY_ASPECT), np.round(z, 3))))
    assert all(np.diff(z) > 0), z
