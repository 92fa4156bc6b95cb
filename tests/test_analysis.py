"""The shared constraint analysis (packing.analysis): a real packing's Jacobian passed as sparse,
dense or LinearOperator gives identical results and reproduces the analytic Hessian; counting
matches the contact network; ranks, zero and negative modes on hand-made systems with known
answers; power-law exponents recovered from samples drawn with known θ and γ."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.integrate
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import scipy.stats
from naive import central_second_derivative, disc_pairs

from packing import analysis as an
from packing.analysis import count_zero_modes, spectrum
from packing.contacts import contact_network
from packing.errors import ParameterError
from packing.hessian import constraint_problem, gap_jacobian, hessian
from packing.minimize import minimize
from packing.system import random_packing

ATOL = 1e-10


# ------------------------------------------------------------------------------ references
def disc_jacobian(p, pairs, keep=None):
    """(gaps, J) of Δ = 1 − r/σ for ``pairs`` of a disc/sphere packing, built independently of the
    package kernels: rows ∂Δ/∂x_i = +r̂/σ, ∂Δ/∂x_j = −r̂/σ (dr = x_j − x_i, minimum image), on the
    particle-major columns of the particles in ``keep`` (all by default)."""
    n, d = p.positions.shape
    keep = np.ones(n, bool) if keep is None else keep
    col = -np.ones(n, np.int64)
    col[keep] = np.arange(keep.sum())
    dr, r, sigma, gaps = disc_pairs(p.positions, p.box, p.diameters, pairs[:, 0], pairs[:, 1])
    g = (dr / r[:, None]) / sigma[:, None]
    rows = np.repeat(np.arange(len(pairs)), 2 * d)
    cols = np.concatenate([col[pairs[:, 0], None] * d + np.arange(d),
                           col[pairs[:, 1], None] * d + np.arange(d)], axis=1).ravel()
    vals = np.concatenate([g, -g], axis=1).ravel()
    jac = sp.csr_matrix((vals, (rows, cols)), shape=(len(pairs), int(keep.sum()) * d))
    return gaps, jac


def as_operator(a):
    """A LinearOperator that only knows matvec/rmatvec/matmat of ``a`` (no matrix inside)."""
    m = sp.csr_matrix(a)
    return spla.LinearOperator(m.shape, matvec=lambda v: m @ v, rmatvec=lambda v: m.T @ v,
                               matmat=lambda v: m @ v, dtype=np.float64)


def bar_jacobian(x, bars):
    """Jacobian (rows ∓ r̂ on the two ends) of bar lengths between 2D nodes x (n, 2)."""
    jac = np.zeros((len(bars), x.size))
    for c, (i, j) in enumerate(bars):
        u = (x[j] - x[i]) / np.linalg.norm(x[j] - x[i])
        jac[c, 2 * i:2 * i + 2], jac[c, 2 * j:2 * j + 2] = u, -u
    return jac


@pytest.fixture(scope="module")
def jammed():
    """A minimised, jammed 64-disc packing at φ = 0.9, its contact network and Hessian."""
    p = minimize(random_packing(64, 0.9, 2, seed=0)).packing
    return p, contact_network(p), hessian(p, remove_rattlers=False)


# ------------------------------------------------------------------------------ packing
def test_jacobian_reproduces_gaps_and_analytic_hessian(jammed):
    p, net, h = jammed
    gaps, jac = disc_jacobian(p, net.contacts)
    np.testing.assert_allclose(gaps, net.gaps[net.gaps > 0], rtol=0, atol=1e-14)
    k = an.stiffness_operator(jac)
    np.testing.assert_allclose(k.toarray(), h.stiffness.toarray(), rtol=0, atol=1e-12)
    total = an.hessian_operator(jac, h.stress)
    np.testing.assert_allclose(total.toarray(), h.total.toarray(), rtol=0, atol=1e-12)


def test_packing_gap_jacobian_equals_the_independent_reference(jammed):
    """packing.hessian.gap_jacobian of discs equals the numpy reference row for row."""
    p, net, _ = jammed
    keep = ~net.rattler
    _, ref = disc_jacobian(p, net.active_contacts, keep)
    jac = gap_jacobian(p, net)
    np.testing.assert_allclose(jac.toarray(), ref.toarray(), rtol=0, atol=1e-14)


@pytest.mark.parametrize("shape, dim, potential", [("ellipse", 2, "harmonic"),
                                                   ("ellipsoid", 3, "harmonic"),
                                                   (None, 2, "hertz")])
def test_packing_gap_jacobian_squares_to_the_assembled_stiffness(shape, dim, potential):
    """JᵀJ = hessian(p).stiffness for every shape kernel and for Hertz (rows √V'' ∇Δ)."""
    p = minimize(random_packing(48 if dim == 2 else 128, 0.95 if dim == 2 else 0.75, dim,
                                potential=potential,
                                seed=1, shape=shape, aspect=1.4 if shape else 1.0)).packing
    net = contact_network(p)
    h = hessian(p, network=net)
    jac = gap_jacobian(p, net)
    assert jac.shape == (net.n_constraints, h.n)
    scale = abs(h.stiffness).max()
    np.testing.assert_allclose((jac.T @ jac).toarray(), h.stiffness.toarray(), rtol=0,
                               atol=1e-12 * scale)


def test_packing_adapter_feeds_the_shared_analysis(jammed):
    """analyze(constraint_problem(p)) counts what the contact network counts and its spectra are
    those of the assembled Hessian parts."""
    p, net, _ = jammed
    res = an.analyze(constraint_problem(p, net), fit_exponents=False)
    hr = hessian(p, network=net)
    assert res.counts == net.counts
    assert res.modes.n_trivial == p.dim and res.modes.rank == hr.n - res.modes.n_zero_modes
    for part, name in ((hr.total, "hessian_spectrum"), (hr.stiffness, "stiffness_spectrum"),
                       (hr.stress, "stress_spectrum")):
        np.testing.assert_array_equal(getattr(res, name).eigenvalues,
                                      spectrum(part).eigenvalues)


def _fields(res):
    """Flat dict of every number in a ConstraintAnalysis (spectra as arrays)."""
    out = {"counts": np.array(list(dataclass_values(res.counts)), float),
           "modes": np.array([res.modes.rank, res.modes.n_zero_modes, res.modes.n_floppy], float),
           "neg": np.array([res.negative.n_negative], float),
           "dos": res.dos.density, "dos_edges": res.dos.edges,
           "theta": np.array([res.theta.exponent, res.theta.stderr, res.theta.x_max]),
           "gamma": np.array([res.gamma.exponent, res.gamma.stderr, res.gamma.x_max])}
    for name in ("hessian_spectrum", "stiffness_spectrum", "stress_spectrum"):
        out[name] = getattr(res, name).eigenvalues
    return out


def dataclass_values(obj):
    """Values of a dataclass instance's fields, in order."""
    return [getattr(obj, f) for f in obj.__dataclass_fields__]


def test_sparse_dense_and_operator_jacobians_agree(jammed):
    p, net, h = jammed
    gaps, jac = disc_jacobian(p, net.contacts)
    kw = dict(n_trivial=2, isostatic_offset=1, min_points=10)
    ref = an.analyze_constraints(net.gaps, jac, h.stress, **kw)
    assert ref.stiffness_spectrum.complete and ref.modes.method == "svd"
    forms = ((jac.toarray(), h.stress.toarray()), (as_operator(jac), as_operator(h.stress)),
             (as_operator(jac), h.stress), (jac.toarray(), h.stress))
    for j_form, s_form in forms:
        res = an.analyze_constraints(net.gaps, j_form, s_form, **kw)
        a, b = _fields(ref), _fields(res)
        for key in a:
            np.testing.assert_allclose(b[key], a[key], rtol=0, atol=ATOL, err_msg=key)


def test_counting_modes_and_spectrum_match_the_packing_modules(jammed):
    """Rigid cluster (rattlers removed): N_Δ, N_dof and excess equal ContactNetwork's; the floppy
    count from the SVD of J equals the zero modes of hessian(p).stiffness; H has no negative mode
    and its spectrum equals numpy's eigvalsh of the analytic Hessian."""
    p, net, _ = jammed
    keep = ~net.rattler
    pair_keep = keep[net.pairs[:, 0]] & keep[net.pairs[:, 1]]
    pairs = net.pairs[pair_keep]
    gaps = net.gaps[pair_keep]
    _, jac = disc_jacobian(p, pairs[gaps > 0], keep)
    hr = hessian(p, remove_rattlers=True, network=net)
    res = an.analyze_constraints(gaps, jac, hr.stress, n_trivial=p.dim, isostatic_offset=1)
    assert res.counts.n_constraints == net.n_constraints
    assert res.counts.n_dof == net.n_dof
    assert res.counts.excess == net.excess
    assert res.isostaticity_index == pytest.approx(net.n_constraints / net.n_dof, rel=1e-15)
    zm = count_zero_modes(spectrum(hr.stiffness), n_trivial=p.dim)
    assert res.modes.n_floppy == zm.n_floppy
    assert res.modes.rank == hr.n - zm.n_zero_modes
    ev = np.linalg.eigvalsh(hr.total.toarray())
    np.testing.assert_allclose(res.hessian_spectrum.eigenvalues, ev, rtol=0, atol=1e-10)
    assert res.negative.n_negative == int(np.sum(ev < -1e-10 * np.abs(ev).max())) == 0
    assert res.negative.complete


def test_spectrum_fallback_for_large_jacobians_matches_svd(jammed):
    p, net, h = jammed
    _, jac = disc_jacobian(p, net.contacts)
    svd = an.jacobian_rank(jac, n_trivial=2)
    part = an.operator_spectrum(an.stiffness_operator(jac), k=20, method="eigsh")
    fb = an.modes_from_spectrum(part, n_trivial=2)
    assert (fb.rank, fb.n_floppy, fb.method) == (svd.rank, svd.n_floppy, "spectrum")
    assert an.modes_from_spectrum(an.operator_spectrum(an.stiffness_operator(jac), k=2,
                                                       method="eigsh"), 2) is None


# ------------------------------------------------------------------------------ hand-made
def test_square_frame_has_one_floppy_mode_and_a_brace_removes_it():
    """Four nodes on a unit square: 8 coordinates − 3 rigid-body motions − 4 independent bars =
    1 mechanism (shear); a diagonal brace makes it rigid (Maxwell–Calladine)."""
    x = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    ring = [(0, 1), (1, 2), (2, 3), (3, 0)]
    for bars, rank, floppy in ((ring, 4, 1), (ring + [(0, 2)], 5, 0)):
        jac = bar_jacobian(x, bars)
        res = an.analyze_constraints(np.full(len(bars), 0.1), jac, n_trivial=3, fit_exponents=False)
        assert (res.modes.rank, res.modes.n_zero_modes, res.n_floppy) == (rank, 8 - rank, floppy)
        assert res.counts.n_dof == 5 and res.counts.excess == len(bars) - 5
        zeros = np.sum(res.stiffness_spectrum.eigenvalues < 1e-12)
        assert zeros == 8 - rank


@pytest.mark.parametrize("m, n, r", [(30, 20, 7), (12, 40, 12), (25, 25, 1)])
def test_rank_of_low_rank_product(m, n, r):
    rng = np.random.default_rng(m + n + r)
    jac = rng.normal(size=(m, r)) @ rng.normal(size=(r, n))
    mc = an.jacobian_rank(jac)
    assert mc.rank == r == np.linalg.matrix_rank(jac)
    assert mc.n_zero_modes == n - r and mc.n_floppy == n - r
    assert an.jacobian_rank(sp.csr_matrix(jac)).rank == an.jacobian_rank(as_operator(jac)).rank == r


def _known_spectrum(n=40, seed=3):
    """(eigenvalues, J, stress) with H = JᵀJ + stress = Q diag(λ) Qᵀ, λ with 3 negative and 2 zero
    entries; J = diag(√λ₊) Qᵀ on the positive modes, stress = Q diag(λ₋) Qᵀ."""
    rng = np.random.default_rng(seed)
    lam = np.concatenate([[-3.0, -1.0, -0.5, 0.0, 0.0], np.geomspace(0.1, 10.0, n - 5)])
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    pos = lam > 0
    jac = np.sqrt(lam[pos])[:, None] * q[:, pos].T
    stress = (q * np.minimum(lam, 0.0)) @ q.T
    return lam, jac, 0.5 * (stress + stress.T)


def test_negative_modes_of_a_matrix_with_known_spectrum():
    lam, jac, stress = _known_spectrum()
    gaps = np.ones(jac.shape[0])
    res = an.analyze_constraints(gaps, jac, stress, fit_exponents=False)
    np.testing.assert_allclose(res.hessian_spectrum.eigenvalues, lam, rtol=0, atol=1e-12)
    assert (res.negative.n_negative, res.negative.complete) == (3, True)
    assert res.modes.rank == 35 and res.modes.n_zero_modes == 5
    # partial spectra: algebraically lowest k of an operator, and shift-invert on a sparse matrix
    op = an.analyze_constraints(gaps, as_operator(jac), as_operator(stress), k=6, method="eigsh",
                                fit_exponents=False)
    np.testing.assert_allclose(op.hessian_spectrum.eigenvalues, lam[:6], rtol=0, atol=1e-9)
    assert (op.negative.n_negative, op.negative.complete) == (3, True)
    assert op.dos is None
    h = sp.csr_matrix(jac.T @ jac + stress)
    mat = an.analyze_constraints(gaps, sp.csr_matrix(jac), sp.csr_matrix(stress), k=6,
                                 method="eigsh", fit_exponents=False)
    np.testing.assert_allclose(mat.hessian_spectrum.eigenvalues, lam[:6], rtol=0, atol=1e-9)
    assert (mat.negative.n_negative, mat.negative.complete) == (3, True)
    # shift-invert (packing.hessian.spectrum) returns the k nearest 0 and misses them: flagged
    near_zero = an.count_negative_modes(an.operator_spectrum(h, k=8, method="eigsh"))
    assert (near_zero.n_negative, near_zero.complete) == (0, False)


def test_density_of_states_against_numpy_histogram():
    lam, jac, stress = _known_spectrum()
    res = an.analyze_constraints(np.ones(jac.shape[0]), jac, stress, n_bins=7, fit_exponents=False)
    dos = res.dos
    edges = np.geomspace(0.1, 10.0, 8)
    np.testing.assert_allclose(dos.edges, edges, rtol=1e-14)
    counts, _ = np.histogram(lam[lam > 0], bins=edges)
    np.testing.assert_array_equal(dos.counts, counts)
    assert np.sum(dos.density * np.diff(dos.edges)) == pytest.approx(1.0, rel=1e-14)
    np.testing.assert_allclose(dos.centers, np.sqrt(edges[1:] * edges[:-1]), rtol=1e-14)
    spec = res.hessian_spectrum
    freq = an.density_of_states(spec, n_bins=7, variable="frequency")
    np.testing.assert_allclose(freq.edges, np.sqrt(edges), rtol=1e-14)


def test_counting_without_jacobian():
    gaps = np.array([0.3, -0.1, 0.2, -2.0, 0.0, 0.05])
    c = an.count_constraints(gaps, n_dof=2, isostatic_offset=1)
    assert (c.n_constraints, c.n_satisfied, c.n_candidates) == (3, 2, 6)
    assert (c.isostaticity_index, c.excess, c.isostatic_count) == (1.5, 0, 3)
    res = an.analyze_constraints(gaps, n_dof=2)
    assert res.counts.excess == 1 and res.modes is None and res.hessian_spectrum is None
    assert res.theta is None and res.gamma is None and res.p_plus.n_used == 3


# ------------------------------------------------------------------------------ power laws
def draw(rng, a, n):
    """n samples of the density ∝ x^a on (0, 1] (weight 1/(a + 2)) continued by e^{−(x−1)} beyond
    (weight (a + 1)/(a + 2)): continuous at the cut-off x = 1, power law only below it."""
    n_pl = rng.binomial(n, 1.0 / (a + 2.0))
    power = rng.random(n_pl) ** (1.0 / (a + 1.0))
    return np.concatenate([power, 1.0 + rng.exponential(size=n - n_pl)])


def test_mle_equals_scipy_and_fisher_error():
    """Below the cut-off the estimate is scipy's powerlaw MLE times (j − 1)/j, and the stderr is
    1/√(−ℓ'') of the scipy log-likelihood at its maximum."""
    x = draw(np.random.default_rng(7), 0.42, 3000)
    fit = an.fit_small_x_power_law(x, rule="quantile", quantile=0.2)
    xs = np.sort(x)
    used = xs[:fit.n_used]
    assert fit.x_max == xs[fit.n_used] and fit.x_min == xs[0]
    shape, _, _ = scipy.stats.powerlaw.fit(used, floc=0.0, fscale=fit.x_max)
    j = fit.n_used
    assert fit.density_exponent + 1 == pytest.approx(shape * (j - 1) / j, rel=1e-6)

    def loglik(lam):
        return scipy.stats.powerlaw.logpdf(used, lam, loc=0.0, scale=fit.x_max).sum()
    curv = -central_second_derivative(loglik, shape, 1e-4 * shape)
    assert fit.stderr == pytest.approx((j - 1) / j / np.sqrt(curv), rel=1e-5)
    ks = scipy.stats.kstest(used, scipy.stats.powerlaw(fit.density_exponent + 1, 0, fit.x_max).cdf)
    assert fit.ks_distance == pytest.approx(ks.statistic, rel=1e-12)


SEEDS = range(10)


@pytest.mark.parametrize("rule", ["ks", "quantile"])
@pytest.mark.parametrize("kind, truth", [("theta", 0.42), ("theta", 0.3), ("gamma", 0.41),
                                         ("gamma", 0.2)])
def test_exponents_recovered_from_synthetic_samples(kind, truth, rule):
    """θ from Δ > 0 and γ from Δ < 0 of synthetic gaps: every seed within 3 error bars (Fisher for
    the fixed quantile, bootstrap for the KS scan, whose cut-off selection the Fisher error misses),
    the seed mean within 3 standard errors of the mean, the Fisher error calibrated for the
    quantile rule, and the KS cut-off near the true one (x = 1)."""
    est, err, xmax = [], [], []
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        a = truth if kind == "theta" else -truth
        other = -0.3 if kind == "theta" else 0.3
        x, y = draw(rng, a, 3000), draw(rng, other, 3000)
        gaps = np.concatenate([x, -y]) if kind == "theta" else np.concatenate([y, -x])
        res = an.analyze_constraints(gaps, n_dof=100, fit_rule=rule,
                                     n_bootstrap=40 if rule == "ks" else 0)
        fit = getattr(res, kind)
        assert fit.name == kind and fit.n_sample == 3000
        est.append(fit.exponent)
        err.append(fit.stderr_bootstrap if rule == "ks" else fit.stderr)
        xmax.append(fit.x_max)
    est, err = np.array(est), np.array(err)
    assert np.all(np.abs(est - truth) <= 3 * err), (est, err)
    assert abs(est.mean() - truth) <= 3 * est.std(ddof=1) / np.sqrt(len(est))
    if rule == "ks":
        assert 0.75 <= np.mean(xmax) <= 1.05
    else:
        assert 0.5 <= est.std(ddof=1) / err.mean() <= 1.6


def test_bootstrap_error_and_fitted_density_overlay():
    x = draw(np.random.default_rng(11), -0.41, 2000)
    fit = an.fit_small_x_power_law(x, sign=-1, name="gamma", n_bootstrap=30, seed=1)
    assert 0.5 * fit.stderr < fit.stderr_bootstrap < 3.0 * fit.stderr
    hist = an.log_histogram(x, 20)
    assert hist.n_used == hist.n_norm == x.size
    inside = hist.edges[1:] < 0.5 * fit.x_max
    exact = (1 / 1.41) * 0.59 * hist.centers[inside] ** -0.41  # weight × density of draw()
    np.testing.assert_allclose(fit.density(hist.centers[inside]), exact, rtol=0.15)
    mass, _ = scipy.integrate.quad(fit.density, 0.0, fit.x_max)
    assert mass == pytest.approx(fit.n_used / fit.n_sample, rel=1e-8)


# ------------------------------------------------------------------------------ validation
def test_bad_input_raises_parameter_error():
    jac = np.eye(3)
    gaps = np.array([0.1, 0.2, 0.3, -0.1])
    bad = [
        lambda: an.analyze_constraints([], n_dof=1),
        lambda: an.analyze_constraints([np.nan], n_dof=1),
        lambda: an.analyze_constraints(gaps),
        lambda: an.analyze_constraints(gaps, np.eye(4)),
        lambda: an.analyze_constraints(gaps, jac, n_dof=7),
        lambda: an.analyze_constraints(gaps, n_dof=3, stress=np.eye(3)),
        lambda: an.analyze_constraints(gaps, jac, np.eye(4)),
        lambda: an.analyze_constraints(gaps, jac, np.triu(np.ones((3, 3)))),
        lambda: an.analyze_constraints(gaps, jac, n_trivial=-1),
        lambda: an.analyze_constraints(gaps, jac, method="lanczos"),
        lambda: an.analyze_constraints(gaps, jac, compute_rank="yes"),
        lambda: an.count_constraints(gaps, n_dof=0),
        lambda: an.fit_small_x_power_law(np.ones(5)),
        lambda: an.fit_small_x_power_law(np.arange(1.0, 100.0), rule="eyeball"),
        lambda: an.fit_small_x_power_law(np.arange(1.0, 100.0), quantile=0.0),
        lambda: an.jacobian_rank(sp.csr_matrix((1, an.DENSE_MAX + 1))),
        lambda: an.log_histogram([-1.0, 0.0]),
    ]
    for call in bad:
        with pytest.raises(ParameterError) as exc:
            call()
        assert "\n" not in str(exc.value) and " must be " in str(exc.value)
