"""Buckler split, marginal constraints, the lower cut of the power-law fit and pooled exponents,
on synthetic samples with known exponents (two populations mixed)."""
import math

import numpy as np
import pytest

import packing.analysis as an
from packing.errors import ParameterError


def power_sample(rng, n, a, scale=1.0):
    """n values with density ∝ x^a on (0, scale] (inverse CDF)."""
    return scale * rng.random(n) ** (1.0 / (a + 1.0))


def synthetic_packing(rng, n_hubs=300, n_bucklers=120, theta_e=0.42, theta_l=0.17, gamma=0.41,
                      dim=3):
    """Pairs, Δ, rattlers of a made-up contact network with known populations.

    Hubs 0..n_hubs-1 form a ring with chords (≥ 6 contacts each); each buckler touches exactly
    d + 1 hubs; 10 rattlers touch one hub each. Buckler contacts carry forces with density
    f^θ_l, the others f^θ_e (overlaps ≤ 1e-4); non-contacting pairs carry gaps with density h^−γ
    on (0, 0.1].
    """
    pairs, kind = [], []
    for i in range(n_hubs):
        for k in (1, 2, 3):
            pairs.append((i, (i + k) % n_hubs))
            kind.append("e")
    first_b = n_hubs
    for b in range(n_bucklers):
        for h in rng.choice(n_hubs, size=dim + 1, replace=False):
            pairs.append((int(h), first_b + b))
            kind.append("l")
    first_r = first_b + n_bucklers
    for r in range(10):
        pairs.append((int(rng.integers(n_hubs)), first_r + r))
        kind.append("r")
    n = first_r + 10
    n_gap = 4000
    gap_pairs = np.stack([rng.integers(0, n_hubs, n_gap), rng.integers(0, n_hubs, n_gap)], 1)
    kind = np.array(kind + ["g"] * n_gap)
    pairs = np.concatenate([np.array(pairs), gap_pairs])
    delta = np.empty(kind.size)
    delta[kind == "e"] = power_sample(rng, int((kind == "e").sum()), theta_e, 1e-4)
    delta[kind == "l"] = power_sample(rng, int((kind == "l").sum()), theta_l, 1e-4)
    delta[kind == "r"] = 1e-12
    delta[kind == "g"] = -power_sample(rng, n_gap, -gamma, 0.1)
    rattler = np.zeros(n, dtype=bool)
    rattler[first_r:] = True
    return pairs, delta, rattler, kind


def test_buckler_split_is_exact_on_a_constructed_network():
    rng = np.random.default_rng(0)
    pairs, delta, rattler, kind = synthetic_packing(rng)
    pop = an.contact_populations(pairs, delta, rattler, dim=3)
    assert pop.n_bucklers == 120
    assert pop.n_nonrattlers == 420
    assert pop.buckler_fraction == pytest.approx(120 / 420)
    mean_f = delta[(kind == "e") | (kind == "l")].mean()
    np.testing.assert_allclose(np.sort(pop.buckler_forces), np.sort(delta[kind == "l"]) / mean_f)
    np.testing.assert_allclose(np.sort(pop.extended_forces), np.sort(delta[kind == "e"]) / mean_f)
    np.testing.assert_allclose(np.sort(pop.gaps), np.sort(-delta[kind == "g"]))
    assert pop.n_marginal == 0                       # the 1e-12 overlaps are rattlers' pairs


def test_buckler_mask_counts_only_exact_d_plus_one():
    contacts = np.array([[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3], [0, 4]])
    rattler = np.zeros(5, dtype=bool)
    # particle 0 has 4 contacts, 1-3 have 3, 4 has 1: in 2D bucklers have 3 contacts
    np.testing.assert_array_equal(an.buckler_mask(5, contacts, rattler, 2),
                                  [False, True, True, True, False])
    rattler[1] = True
    assert not an.buckler_mask(5, contacts, rattler, 2)[1]
    with pytest.raises(ParameterError, match="rattler"):
        an.buckler_mask(5, contacts, rattler[:3], 2)
    with pytest.raises(ParameterError, match="contacts"):
        an.buckler_mask(3, contacts, np.zeros(3, bool), 2)


def test_marginal_constraints_are_counted_and_left_out():
    rng = np.random.default_rng(1)
    pairs, delta, rattler, kind = synthetic_packing(rng)
    delta[np.flatnonzero(kind == "e")[:4]] = 3e-13          # overlaps at round-off level
    delta[np.flatnonzero(kind == "g")[:3]] = -2e-14         # and gaps
    pop = an.contact_populations(pairs, delta, rattler, dim=3)
    assert pop.n_marginal == 7
    assert pop.n_bucklers == 120                             # marginal overlaps still touch
    assert pop.extended_forces.size == int((kind == "e").sum()) - 4
    assert pop.gaps.size == int((kind == "g").sum()) - 3
    live_pos = (delta > 0) & (kind != "r")
    assert pop.threshold == pytest.approx(max(an.MARGINAL_RTOL * delta[live_pos].mean(),
                                              an.MARGINAL_ATOL))
    net_gaps = np.array([0.3, 0.1, -1e-14, 2e-15, -0.2, -0.5])
    np.testing.assert_array_equal(an.marginal_mask(net_gaps),
                                  [False, False, True, True, False, False])
    fitted = np.array([-1e-12, -0.3, -1e-9, -0.01])     # a fitted net: scale 1
    np.testing.assert_array_equal(an.marginal_mask(fitted), [True, False, True, False])
    roundoff = np.array([3e-16, 2e-15, -4e-15, -0.1])   # every Δ > 0 at round-off: the floor
    np.testing.assert_array_equal(an.marginal_mask(roundoff), [True, True, True, False])


def mixed_corrected(pops):
    """The corrected small-f fit of every force of ``pops`` pooled, by hand."""
    return an.pooled_exponent([np.concatenate([p.extended_forces, p.buckler_forces])
                               for p in pops], 1, "theta_all", n_bootstrap=0,
                              estimator="corrected").fit


def test_pooled_exponents_recover_the_two_force_laws_and_gamma():
    rng = np.random.default_rng(2)
    pops = [an.contact_populations(*synthetic_packing(rng)[:3], dim=3) for _ in range(12)]
    ex = an.packing_exponents(pops, n_bootstrap=40)
    for got, want in ((ex.theta_extended, 0.42), (ex.theta_buckler, 0.17), (ex.gamma, 0.41)):
        assert abs(got.value - want) < 3.5 * got.error, (got.fit.name, got.value, got.error)
        assert got.n_realisations == 12
        assert math.isfinite(got.stderr_realisations)
    # pooled, the mixture is pulled toward the buckler law: the split matters
    mixed = an.pooled_exponent([np.concatenate([p.extended_forces, p.buckler_forces])
                                for p in pops], 1, "theta", n_bootstrap=0)
    assert mixed.value < ex.theta_extended.value - 0.05
    # θ of all forces is that mixture, fitted as the others are: between the two laws
    assert ex.theta_all.fit.n_sample == sum(p.forces.size for p in pops)
    assert ex.theta_all.fit.exponent == pytest.approx(mixed_corrected(pops).exponent)
    assert ex.theta_all.n_realisations == 12
    assert ex.theta_buckler.value < ex.theta_all.value < ex.theta_extended.value


def test_two_extreme_values_cannot_set_the_exponent():
    rng = np.random.default_rng(3)
    x = power_sample(rng, 400, 0.42)
    bad = np.concatenate([x, [1e-9, 3e-10]])
    plain = an.fit_small_x_power_law(x, rule="quantile", quantile=0.5)
    plain_bad = an.fit_small_x_power_law(bad, rule="quantile", quantile=0.5)
    cut = an.fit_small_x_power_law(x, rule="quantile", quantile=0.5, trim=3)
    cut_bad = an.fit_small_x_power_law(bad, rule="quantile", quantile=0.5, trim=3)
    # the open fit moves by more than 2 standard errors, the trimmed one by less than one (it
    # only loses the values between the 1st and 3rd smallest of the clean sample)
    assert abs(plain_bad.exponent - plain.exponent) > 2 * plain.stderr
    assert abs(cut_bad.exponent - cut.exponent) < 0.75 * cut.stderr
    assert abs(cut.exponent - 0.42) < 3 * cut.stderr


def test_truncated_fit_is_calibrated_and_reduces_to_the_open_one():
    rng = np.random.default_rng(4)
    est, err = [], []
    for _ in range(200):
        x = power_sample(rng, 300, -0.4)
        fit = an.fit_small_x_power_law(x[x > 1e-2], rule="quantile", quantile=1.0, floor=1e-2,
                                       sign=-1)
        est.append(fit.exponent)
        err.append(fit.stderr)
    assert abs(np.mean(est) - 0.4) < 0.02
    assert 0.8 < np.std(est) / np.mean(err) < 1.25          # Fisher error of the truncated law
    x = power_sample(rng, 500, 0.3)
    open_fit = an.fit_small_x_power_law(x, rule="quantile", quantile=0.5)
    tiny = an.fit_small_x_power_law(x, rule="quantile", quantile=0.5, floor=1e-300)
    assert tiny.exponent == pytest.approx(open_fit.exponent, abs=1e-6)
    assert tiny.stderr == pytest.approx(open_fit.stderr, rel=1e-3)
    assert tiny.x_floor == 1e-300 and open_fit.x_floor == 0.0


def test_lower_cut_validation():
    x = np.linspace(0.01, 1.0, 100)
    for bad in (dict(floor=-1.0), dict(floor=math.nan), dict(trim=-1), dict(trim=1.5)):
        with pytest.raises(ParameterError):
            an.fit_small_x_power_law(x, **bad)
    with pytest.raises(ParameterError, match="lower cut"):
        an.fit_small_x_power_law(x, floor=0.9)


def test_no_buckler_split_for_aspherical_particles():
    rng = np.random.default_rng(5)
    pairs, delta, rattler, kind = synthetic_packing(rng)
    pop = an.contact_populations(pairs, delta, rattler, dim=3, split_bucklers=False)
    assert pop.n_bucklers == 0 and pop.buckler_forces.size == 0
    assert math.isnan(pop.buckler_fraction)
    assert pop.extended_forces.size == int(((kind == "e") | (kind == "l")).sum())


def test_range_systematic_flags_a_bent_distribution():
    rng = np.random.default_rng(6)
    pure = [power_sample(rng, 2000, 0.4) for _ in range(5)]
    p = an.pooled_exponent(pure, 1, "theta", n_bootstrap=0)
    assert p.systematic < 3 * p.statistical
    assert p.error == pytest.approx(math.hypot(p.statistical, p.systematic))
    # density x^0.1 below 0.05 and x^1.0 above: no single power law over the sample
    bent = []
    for _ in range(5):
        x = rng.random(20000)
        small = 0.05 * rng.random(4000) ** (1 / 1.1)
        bent.append(np.concatenate([small, 0.05 + 0.95 * x ** 0.5]))
    b = an.pooled_exponent(bent, 1, "theta", n_bootstrap=0)
    assert b.systematic > 3 * b.statistical


def test_without_the_split_theta_is_named_theta():
    rng = np.random.default_rng(7)
    pops = [an.contact_populations(*synthetic_packing(rng)[:3], dim=3, split_bucklers=False)
            for _ in range(3)]
    ex = an.packing_exponents(pops, n_bootstrap=0)
    assert ex.theta_extended.name == "theta" and ex.theta_buckler is None
    assert ex.theta_all is None
    assert math.isnan(ex.buckler_fraction)
