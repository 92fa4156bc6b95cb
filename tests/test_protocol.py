"""The φ_J protocol: bracketing, isostaticity just above jamming, and (slow) the literature φ_J
and the scaling laws above jamming."""
import concurrent.futures as cf
import dataclasses
import math

import numpy as np
import pytest

from packing.contacts import contact_network
from packing.errors import ParameterError
from packing.literature import load_reference
from packing.minimize import MinimizeResult
from packing.protocol import (
    MinimizerSettings,
    find_jamming,
    is_jammed,
    jamming_threshold,
    state_at_pressure,
    state_settings,
    states_above_jamming,
)
from packing.system import random_packing


def _jam(n, dim, seed, rtol=1e-7, potential="harmonic", dispersity=1.4):
    start = random_packing(n, 0.80 if dim == 2 else 0.58, dim, dispersity, potential, seed)
    return find_jamming(start, rtol=rtol)


@pytest.mark.parametrize("dim,n", [(2, 64), (3, 128)])
def test_bracket_and_isostatic_just_above_jamming(dim, n):
    jam = _jam(n, dim, seed=1)
    assert jam.all_converged
    assert jam.phi_unjammed < jam.phi_j <= jam.phi_unjammed * (1 + 1e-7)
    assert is_jammed(jam.jammed)
    states = states_above_jamming(jam, [1e-7, 1e-6])
    for s in states:
        assert s.converged and is_jammed(s)
        net = contact_network(s.packing)
        assert net.n_constraints == net.n_dof + 1, (net.n_constraints, net.n_dof)
        assert net.n_dof == dim * (n - net.n_rattlers - 1)


@pytest.mark.parametrize("dim,n", [(2, 128), (3, 128)])
def test_descent_extrapolates_the_branch_pressure_to_zero(dim, n):
    """φ_J of the descent is where p = K (φ − φ_J) of its branch vanishes: the jammed state above
    it has p/(φ − φ_J) = K to within the branch's curvature, the branch decompressed to
    φ_J (1 − 0.9 rtol) is unjammed, and with verify=True to φ_J (1 + 0.45 rtol) jammed."""
    rtol = 1e-7
    jam = _jam(n, dim, seed=4, rtol=rtol)
    assert jam.search == "descent" and jam.all_converged
    assert jam.phi_j == jam.phi_extrapolated
    assert jam.phi_unjammed == pytest.approx(jam.phi_j * (1 - 0.9 * rtol), rel=1e-12)
    top = jam.jammed
    dp = top.packing.phi - jam.phi_j
    assert 0 < dp <= 10 * rtol * jam.phi_j
    assert top.pressure / dp == pytest.approx(jam.stiffness, rel=0.02)
    start = random_packing(n, 0.80 if dim == 2 else 0.58, dim, 1.4, "harmonic", 4)
    checked = find_jamming(start, rtol=rtol, verify=True)
    assert checked.phi_j == pytest.approx(jam.phi_j, rel=1e-12)  # same path up to the check
    assert jam.phi_j < checked.jammed.packing.phi <= jam.phi_j * (1 + 0.45 * rtol) * (1 + 1e-12)
    assert is_jammed(checked.jammed) and checked.jammed.converged


@pytest.mark.parametrize("dim,seed", [(2, 0), (2, 1), (3, 0)])
def test_descent_steps_at_their_looser_tolerance_leave_phi_j_within_a_tenth_of_rtol(
        monkeypatch, dim, seed):
    rtol = 1e-7
    loose = _jam(256, dim, seed=seed, rtol=rtol)
    monkeypatch.setattr("packing.protocol.DESCENT_FTOL_FACTOR", 0.0)
    tight = _jam(256, dim, seed=seed, rtol=rtol)
    assert abs(loose.phi_j / tight.phi_j - 1) <= 0.1 * rtol
    assert loose.total_steps < tight.total_steps


def test_a_precision_of_1e_10_resolves_the_branch_zero(monkeypatch):
    """At rtol = 1e-10 (FIRE to 1e-14) φ_J lies within 5 rtol of the zero of its branch's p(φ),
    and the jammed end has p/(φ − zero) = K; with the threshold held at 1e-16 per particle the
    search stops where E/N crosses it, more than 100 rtol above the zero (K of the same spheres)."""
    rtol = 1e-10
    start = random_packing(128, 0.58, 3, 1.4, "harmonic", 4)
    fine = MinimizerSettings(ftol=1e-14)
    jam = find_jamming(start, rtol=rtol, settings=fine)
    zero = jam.phi_extrapolated
    assert abs(jam.phi_j / zero - 1) <= 5 * rtol
    top = jam.jammed
    assert top.pressure / (top.packing.phi - zero) == pytest.approx(jam.stiffness, rel=0.02)
    monkeypatch.setattr("packing.protocol.jamming_threshold", lambda rtol, ftol: 1e-16)
    coarse = find_jamming(start, rtol=rtol, settings=fine)    # its jammed end at p/K > 100 rtol φ_J:
    assert coarse.jammed.pressure / jam.stiffness > 100 * rtol * coarse.phi_j


@dataclasses.dataclass(frozen=True)
class _ModelState:
    """A point of a model landscape: φ and the branch its minimum lies on."""

    phi: float
    branch: str
    n: int = 1

    def at_phi(self, phi):
        return dataclasses.replace(self, phi=phi)


@dataclasses.dataclass(frozen=True)
class _CollapsingBranch(MinimizerSettings):
    """Minimiser of a model landscape. Compressing the loose start ("a") jams at φ ≥ PHI_C on a
    branch ("A") whose pressure K (φ − PHI_ZERO) is still finite at PHI_C (PHI_ZERO < PHI_C), so
    decompressing it below PHI_C collapses it to an unjammed state ("b"); compressing that jams
    at φ ≥ PHI_B with p = K (φ − PHI_B): the jamming point a search must return."""

    PHI_ZERO, PHI_C, PHI_B, K = 0.690, 0.700, 0.7003, 0.2
    RULES = {  # branch → (φ from which it is jammed, zero of its p(φ), branch when jammed, unjammed)
        "a": (PHI_C, PHI_ZERO, "A", "a"),
        "A": (PHI_C, PHI_ZERO, "A", "b"),
        "b": (PHI_B, PHI_B, "b", "b"),
    }

    def run(self, packing, energy_floor=None):
        jams, zero, jammed, loose = self.RULES[packing.branch]
        if packing.phi >= jams:
            p = self.K * (packing.phi - zero)
            return MinimizeResult(dataclasses.replace(packing, branch=jammed), p, p, 0.0, 1,
                                  True, 0, 0.0)
        return MinimizeResult(dataclasses.replace(packing, branch=loose), 0.0, 0.0, 0.0, 1, True,
                              0, 0.0, below_floor=True)


def test_a_branch_that_collapses_at_finite_pressure_is_not_taken_for_phi_j():
    """The descent's bracket closes at PHI_C, where its branch still has p = K × 0.01: it must
    then compress the collapsed state up to where that jams, and return that φ_J."""
    model = _CollapsingBranch()
    jam = find_jamming(_ModelState(0.6905, "a"), rtol=1e-8, settings=model)
    assert jam.phi_j == pytest.approx(model.PHI_B, rel=1e-8)
    assert jam.jammed.packing.branch == "b"
    assert jam.jammed.pressure <= 10 * model.K * 1e-8 * model.PHI_B


def test_jamming_threshold_follows_the_precision_down_to_the_force_tolerance():
    assert jamming_threshold(1e-7) == 1e-16 and jamming_threshold(1e-5) == 1e-16
    assert jamming_threshold(1e-9) == pytest.approx(1e-18)             # 1e6 ftol², ftol = 1e-12
    assert jamming_threshold(1e-10, ftol=1e-14) == pytest.approx(1e-20)
    assert jamming_threshold(1e-11, ftol=1e-15) == pytest.approx(1e-22)


def test_state_settings_tighten_ftol_to_the_state_pressure():
    base = MinimizerSettings()
    assert state_settings(base, 1e-3, 20.0) is base                 # 1e-5 p = 1e-8 > 1e-12
    assert state_settings(base, 2.5e-8, 20.0).ftol == pytest.approx(2.5e-13)
    assert state_settings(base, 1e-12, 20.0).ftol == pytest.approx(2e-14)   # round-off floor
    assert state_settings(base, float("nan"), 20.0) is base


def test_bisection_search_is_still_available():
    jam = find_jamming(random_packing(64, 0.80, 2, seed=1), rtol=1e-6, search="bisection")
    assert jam.search == "bisection" and math.isnan(jam.phi_extrapolated)
    assert jam.phi_unjammed < jam.phi_j <= jam.phi_unjammed * (1 + 1e-6)
    assert jam.jammed.packing.phi == jam.phi_j and is_jammed(jam.jammed)


def test_start_above_jamming_decompresses():
    start = random_packing(64, 0.95, 2, seed=3)
    jam = find_jamming(start, rtol=1e-6)
    assert 0.78 < jam.phi_j < 0.9
    assert jam.phi_j < 0.95


def test_states_above_jamming_keep_the_requested_order():
    jam = _jam(64, 2, seed=2, rtol=1e-6)
    dps = [1e-3, 1e-5, 1e-4]
    states = states_above_jamming(jam, dps)
    for dp, s in zip(dps, states):
        assert s.packing.phi - jam.phi_j == pytest.approx(dp, rel=1e-6)
    p = [s.pressure for s in states]
    assert p[1] < p[2] < p[0]


def test_state_at_pressure_hits_target():
    jam = _jam(64, 2, seed=2, rtol=1e-6)
    r = state_at_pressure(jam, 1e-4, rtol=1e-3)
    assert r.pressure == pytest.approx(1e-4, rel=1e-3)


def test_pressure_below_that_of_the_jammed_state_is_refused():
    jam = _jam(64, 2, seed=2, rtol=1e-6)
    with pytest.raises(ParameterError, match="pressure"):
        state_at_pressure(jam, 0.5 * jam.jammed.pressure)


@pytest.mark.parametrize("dim,min_checked", [(2, 11), (3, 6)])
def test_pressure_states_lie_on_the_delta_phi_branch(dim, min_checked):
    """p/Δφ of every state at a target pressure is within 20 % of the same seed's states at the
    neighbouring Δφ (both reached quasi-statically from φ_J along the same half-decade grid of Δφ;
    p/Δφ interpolated linearly in log Δφ between them, since it drifts above Δφ ~ 1e-2), for
    pressures 1e-5 … 1e-2. Where the branch itself rearranges between the two neighbours (their
    p/Δφ differ by more than 20 %) there is no smooth branch to compare with; such cases are
    counted: none of 12 in 2D, 5 of 12 in 3D at N = 256 (one seed unjams on compression from
    Δφ = 3e-4 to 1e-3, others rearrange near 1e-2), measured with both searches alike."""
    dps = np.logspace(-6, -1, 11)  # the half-decade grid that state_at_pressure walks
    checked = rearranged = 0
    for seed in range(3):
        jam = _jam(256, dim, seed, rtol=1e-6)
        ratio = np.array([s.pressure / dp for dp, s in zip(dps, states_above_jamming(jam, dps))])
        for p in (1e-5, 1e-4, 1e-3, 1e-2):
            r = state_at_pressure(jam, p)
            dp = r.packing.phi - jam.phi_j
            k = np.searchsorted(dps, dp)
            pair = ratio[k - 1:k + 1]
            if pair.min() < 0.8 * pair.max():
                rearranged += 1
                continue
            expected = np.interp(np.log(dp), np.log(dps), ratio)
            assert abs(r.pressure / dp / expected - 1) < 0.2, (seed, p, dp, expected)
            checked += 1
    assert checked >= min_checked, (checked, rearranged)


# ----------------------------------------------------------------------------------- slow


def _phi_j(args):
    n, dim, seed, dispersity = args
    return _jam(n, dim, seed, rtol=1e-5, dispersity=dispersity).phi_j


def _mean_phi_j(n, dim, seeds, dispersity):
    with cf.ProcessPoolExecutor(max_workers=2) as ex:
        return np.array(list(ex.map(_phi_j, [(n, dim, s, dispersity) for s in seeds])))


@pytest.mark.slow
def test_phi_j_2d_bidisperse_n1024_matches_ohern():
    ref = load_reference("phi_J_2d_bidisperse_harmonic_inf")
    phis = _mean_phi_j(1024, 2, range(10), 1.4)
    print(f"2D N=1024: <phi_J> = {phis.mean():.5f} ± {phis.std(ddof=1) / math.sqrt(len(phis)):.5f}")
    assert abs(phis.mean() - ref["value"]) <= ref["test_tolerance"]
    assert phis.std(ddof=1) < 0.01


def _both_searches(args):
    n, seed = args
    start = random_packing(n, 0.80, 2, 1.4, "harmonic", seed)
    return find_jamming(start).phi_j, find_jamming(start, search="bisection").phi_j


@pytest.mark.slow
def test_descent_and_bisection_agree_over_seeds():
    """The two searches give the same ⟨φ_J⟩ within error and spreads of one size (20 seeds of
    N = 256 discs; this test printed difference +0.00010 ± 0.00012, spreads 0.0031 and 0.0031)."""
    with cf.ProcessPoolExecutor(max_workers=2) as ex:
        pairs = np.array(list(ex.map(_both_searches, [(256, s) for s in range(20)])))
    diff = pairs[:, 0] - pairs[:, 1]
    se = diff.std(ddof=1) / math.sqrt(len(diff))
    spreads = pairs.std(axis=0, ddof=1)
    print(f"descent − bisection: {diff.mean():+.5f} ± {se:.5f}; spreads {spreads[0]:.4f}, {spreads[1]:.4f}")
    assert abs(diff.mean()) < 3 * se + 2e-4
    assert 0.5 < spreads[0] / spreads[1] < 2.0


@pytest.mark.slow
def test_phi_j_3d_monodisperse_matches_ohern():
    ref = load_reference("phi_J_3d_monodisperse_inf")
    phis = _mean_phi_j(1024, 3, range(6), 1.0)  # ~80 s of CPU per seed
    print(f"3D mono N=1024: <phi_J> = {phis.mean():.5f} ± {phis.std(ddof=1) / math.sqrt(len(phis)):.5f}")
    assert abs(phis.mean() - ref["value"]) <= ref["test_tolerance"]


@pytest.mark.slow
@pytest.mark.parametrize("dim,n,dphis", [(2, 128, [1e-7, 1e-6]), (3, 128, [1e-7, 1e-6]),
                                         (2, 256, [1e-7]), (3, 256, [1e-7])])
def test_isostatic_over_seeds(dim, n, dphis):
    """N_Δ = N_dof + 1 exactly just above jamming, seed by seed. Isostaticity holds for
    Δφ·N² ≪ 1 (Goodrich, Liu, Nagel, PRL 109, 095704, 2012): at N = 256 and Δφ = 1e-6
    (Δφ·N² ≈ 0.07) one extra contact already appears in some seeds, as Z − Z_iso ∝ Δφ^{1/2} says."""
    for seed in range(6):
        jam = _jam(n, dim, seed)
        for dp, s in zip(dphis, states_above_jamming(jam, dphis)):
            net = contact_network(s.packing)
            assert net.n_constraints == net.n_dof + 1, (seed, dp, net.n_constraints, net.n_dof)


SCALING_N = 512


def _scaling_run(args):
    potential, seed = args
    # φ_J is located with harmonic contacts: the jamming point is geometric, and with Hertz
    # contacts E/N ∝ Δφ^{5/2} stays below the 1e-16 jamming threshold up to Δφ ~ 1e-6, which makes
    # the bisection slow and biased. The states above φ_J then carry the potential under test.
    jam = _jam(SCALING_N, 2, seed)
    if potential == "hertz":
        hertz = dataclasses.replace(jam.jammed.packing, alpha=2.5)
        jam = dataclasses.replace(jam, jammed=dataclasses.replace(jam.jammed, packing=hertz))
    dps = np.logspace(-6, -1.5, 10)
    states = states_above_jamming(jam, dps)
    z_excess, pressure = [], []
    for s in states:
        net = contact_network(s.packing)
        n_prime = s.packing.n - net.n_rattlers
        # Z − Z_iso with the isostatic count of the periodic box, per non-rattler (NaN if unjammed)
        z_excess.append(2.0 * (net.n_constraints - net.isostatic_count) / n_prime if n_prime else np.nan)
        pressure.append(s.pressure)
    return dps, np.array(z_excess), np.array(pressure)


@pytest.mark.slow
@pytest.mark.parametrize("potential,alpha", [("harmonic", 2.0), ("hertz", 2.5)])
def test_scaling_above_jamming(potential, alpha):
    """Z − Z_iso ∝ Δφ^{1/2} and p ∝ Δφ^{α−1} (O'Hern et al. 2003), fitted on the medians over
    seeds. Medians, because a small packing compressed from its own φ_J can rearrange into an
    unjammed configuration (seen at N = 512 for 1 seed in 6 at Δφ ~ 3e-5, with FIRE and FIRE 2.0
    alike); such a state is an outlier of the ensemble, not of the scaling law."""
    with cf.ProcessPoolExecutor(max_workers=2) as ex:
        runs = list(ex.map(_scaling_run, [(potential, s) for s in range(6)]))
    dps = runs[0][0]
    dz = np.nanmedian([r[1] for r in runs], axis=0)
    p = np.median([r[2] for r in runs], axis=0)
    # Z excess: fit where the thermodynamic scaling holds. Z − Z_iso is a function of Δφ·N²
    # (Goodrich et al. 2012) that reaches its Δφ^{1/2} asymptote only for Δφ·N² ≳ 100: at N = 512 the
    # local slope is 0.70, 0.66, 0.52 per decade from Δφ = 1e-5 to 1e-2 (measured here).
    sel = dps * SCALING_N**2 >= 100
    slope_z = np.polyfit(np.log(dps[sel]), np.log(dz[sel]), 1)[0]
    slope_p = np.polyfit(np.log(dps), np.log(p), 1)[0]
    print(f"{potential}: Z − Z_iso slope {slope_z:.3f}, pressure slope {slope_p:.3f}")
    assert slope_z == pytest.approx(0.5, rel=0.10)
    assert slope_p == pytest.approx(alpha - 1.0, rel=0.10)
