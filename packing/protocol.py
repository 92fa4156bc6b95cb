"""The jamming protocol: locate φ_J by compression, decompression and minimisation, then produce
states at chosen distances Δφ = φ − φ_J above it or at target pressures.

Two searches share the first stage (O'Hern, Silbert, Liu, Nagel, PRE 68, 011306, 2003, Sec. II):
from a random configuration, minimise and compress affinely in steps of ``dphi`` (decompressing
first if the start is jammed) until a minimised state is jammed (energy per particle above 1e-16,
or above 1e-2 rtol² when that is lower: :func:`jamming_threshold`).

- ``"descent"`` (default) follows that jammed state down its decompression branch. Above φ_J the
  harmonic pressure is linear, p = K (φ − φ_J) (O'Hern et al. 2003), so the secant through the last
  two jammed states of the branch predicts φ_J; each step decompresses the lowest jammed state to
  a tenth of its predicted distance from φ_J. Once that distance is below 10 rtol, φ̂_J is the
  secant's zero, checked by the branch decompressed to φ̂_J(1 − 0.9 rtol) being unjammed (with
  ``verify``, also by the branch at φ̂_J(1 + 0.45 rtol) being jammed). If a check fails, the new
  state joins the bracket and the search goes on (secant steps, then bisection on the branch).
  Descent steps are minimised to a force tolerance that bounds the secant's error in units of
  rtol (:func:`_descent_ftol`), the checks and the states stored above φ_J to ``ftol``.
  A branch can end at finite pressure: decompressed past a saddle-node, its state collapses to an
  unjammed one. When the bracket closes on a jammed end whose p/K puts the branch's zero more
  than 100 rtol below it, that collapsed state is compressed up until it jams, and the descent
  starts again from there (as bisection does when its jammed end came from another basin).
  Every state visited above φ_J is on one branch, reached from its jammed neighbour, and lies at
  Δφ ≳ 10 rtol: no state is minimised at the Δφ ~ rtol where, for Δφ ≪ N^-2, FIRE's slowest
  mode is set by the system size rather than by ω* ∝ Δφ^{1/2} (Goodrich, Liu, Nagel, PRL 109,
  095704, 2012). The steps per state still grow with N (long-wavelength relaxation after each
  decompression; benchmarks/RESULTS_jamming.md).
- ``"bisection"`` bisects between the last unjammed and the first jammed state, always compressing
  from the latest unjammed one, until the bracket is narrower than ``rtol``; the last unjammed state
  is then compressed to the jammed end (resuming compression in smaller steps if it does not jam
  there). φ_J is the lowest φ found jammed by compression from below.

In both, a minimisation that only has to decide "unjammed" stops as soon as the energy per particle
(kinetic included) falls 100 times below the jamming threshold (see :func:`packing.minimize`). The
returned jammed state starts the quasi-static branch of the states above φ_J; small systems can
rearrange along it (tests/test_protocol.py counts how often).
"""
from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Callable, Sequence

from .errors import ParameterError, require
from .minimize import DEFAULT_FTOL, DEFAULT_MAX_STEPS, MinimizeResult, minimize
from .system import Packing

JAMMED_ENERGY_PER_PARTICLE = 1e-16
ENERGY_PER_RTOL2 = 1e-2           # a search of precision rtol calls jammed E/N > this × rtol² ...
ENERGY_PER_FTOL2 = 1e6            # ... but never E/N ≤ this × ftol² (see jamming_threshold)
UNJAMMED_FLOOR_FACTOR = 1e-2      # "unjammed" is decided once (U + K)/N < 1e-2 × the threshold
DESCENT_RATIO = 10.0              # each descent step divides the predicted Δφ by this factor
FINAL_CHECK_WIDTH = 10.0          # the bracket is checked once the predicted Δφ < this × rtol × φ
UNJAMMED_CHECK = 0.9              # the branch must be unjammed at φ̂_J (1 − 0.9 rtol)
JAMMED_CHECK = 0.45               # and, with verify, jammed at φ̂_J (1 + 0.45 rtol)
DESCENT_FTOL_FACTOR = 0.002       # descent steps stop at max |F| < this × K rtol φ (_descent_ftol)
JUMP_WIDTH = 100.0                # a closed bracket whose jammed end's p/K exceeds this × rtol φ

# Stored states resolve forces relative to their own scale: FIRE runs to min(ftol, 1e-5 p), p the
# pressure the branch predicts, so that weak contacts are resolved at Δφ = 1e-7 as at 1e-6 (with
# ftol = 1e-12 alone, a weak contact of one 2D N = 256 seed of the slow test_isostatic_over_seeds
# stays unresolved at Δφ = 1e-7 and N_Δ = N_dof); never below the force round-off, ~1e-15 × box side.
RELATIVE_FTOL = 1e-5
ROUNDOFF_FTOL_PER_LENGTH = 1e-15

ProgressFn = Callable[[float, bool], None]


@dataclasses.dataclass(frozen=True)
class MinimizerSettings:
    """FIRE settings used for every minimisation of a protocol."""

    method: str = "fire"
    ftol: float = DEFAULT_FTOL
    max_steps: int = DEFAULT_MAX_STEPS

    def run(self, packing: Packing, energy_floor: float | None = None) -> MinimizeResult:
        return minimize(packing, method=self.method, ftol=self.ftol, max_steps=self.max_steps,
                        energy_floor=energy_floor)


@dataclasses.dataclass(frozen=True)
class JammingResult:
    """φ_J located between an unjammed and a jammed minimised state.

    phi_j : descent: the zero of the secant of p(φ) through the branch's two lowest jammed states
    (φ where the branch's pressure vanishes), or, where a bracket check failed and the branch was
    bisected, its lowest jammed φ; bisection: the lowest φ found jammed.
    phi_unjammed : the highest φ found unjammed (phi_j − phi_unjammed ≤ rtol · phi_unjammed).
    jammed : the minimised jammed state the states above φ_J start from: descent, the branch's
    lowest jammed state (up to 10 rtol above phi_j; within 0.45 rtol with ``verify``); bisection,
    the state at phi_j. n_minimizations / total_steps : the work done. all_converged : every FIRE
    run converged (or, for an unjammed state, reached the energy floor that decides it).
    search : "descent" or "bisection". phi_extrapolated : the secant's zero (NaN for bisection).
    stiffness : the secant's slope K = dp/dφ (NaN for bisection). threshold : the energy per
    particle above which the search called a state jammed (:func:`jamming_threshold` of its rtol).
    """

    phi_j: float
    phi_unjammed: float
    jammed: MinimizeResult
    n_minimizations: int
    total_steps: int
    all_converged: bool
    search: str = "descent"
    phi_extrapolated: float = math.nan
    stiffness: float = math.nan
    threshold: float = JAMMED_ENERGY_PER_PARTICLE


def is_jammed(result: MinimizeResult, threshold: float = JAMMED_ENERGY_PER_PARTICLE) -> bool:
    """Jammed = energy per particle above ``threshold`` after minimisation."""
    return result.energy_per_particle > threshold


def jamming_threshold(rtol: float, ftol: float = DEFAULT_FTOL) -> float:
    """The energy per particle above which a search of relative precision ``rtol``, minimising to
    the force tolerance ``ftol``, calls a state jammed.

    JAMMED_ENERGY_PER_PARTICLE, lowered for rtol < 1e-7 to ENERGY_PER_RTOL2 × rtol², so that a
    state at Δφ = rtol φ_J (harmonic E/N ≈ 0.25 Δφ² for spheres at φ_J ≈ 0.645, ≈ 0.1 rtol²) is
    above it; but not below ENERGY_PER_FTOL2 × ftol²: FIRE can stop a creeping unjammed state on
    its force tolerance with E/N well above ftol² (20 ftol² and 1.6e4 ftol² seen for N = 1024
    spheres at ftol 1e-12; the second, called jammed at a floor of 1e4 ftol², misplaced φ_J by
    1e-7). At ftol 1e-12 this resolves Δφ ≈ 2e-9 (0.25 Δφ² = 1e-18); with 1e-16 alone φ_J is
    resolved no closer than the Δφ where E/N crosses it, ≈ 2e-8.
    """
    return min(JAMMED_ENERGY_PER_PARTICLE, max(ENERGY_PER_RTOL2 * rtol * rtol,
                                               ENERGY_PER_FTOL2 * ftol * ftol))


class _Search:
    """Bookkeeping shared by the searches (private to find_jamming): the probes, their cost,
    the highest unjammed and lowest jammed states found."""

    def __init__(self, settings: MinimizerSettings, progress: ProgressFn | None, max_minimizations: int,
                 threshold: float = JAMMED_ENERGY_PER_PARTICLE):
        self.settings = settings
        self.threshold = threshold
        self.progress = progress
        self.max_minimizations = max_minimizations
        self.lo: MinimizeResult | None = None
        self.hi: MinimizeResult | None = None
        self.count = 0
        self.steps = 0
        self.all_converged = True

    def probe(self, packing: Packing, expected_pressure: float = math.nan,
              ftol: float = math.nan) -> MinimizeResult:
        """Minimise ``packing`` and file it as the lowest jammed or highest unjammed state.

        A descent step, predicted jammed at ``expected_pressure``, may stop FIRE at the looser
        force tolerance ``ftol`` (:func:`_descent_ftol`); a result whose pressure is then not
        within a factor 2 of the prediction is relaxed on to the settings' ftol before it is filed.
        """
        if self.count >= self.max_minimizations:
            raise RuntimeError(f"φ_J search did not bracket within {self.max_minimizations} minimisations")
        floor = UNJAMMED_FLOOR_FACTOR * self.threshold
        loose = self.settings
        if math.isfinite(ftol) and ftol > loose.ftol and expected_pressure > 0:
            loose = dataclasses.replace(loose, ftol=ftol)
        r = loose.run(packing, energy_floor=floor)
        if loose is not self.settings and not 0.5 < r.pressure / expected_pressure < 2.0:
            rest = self.settings.run(r.packing, energy_floor=floor)
            r = dataclasses.replace(rest, steps=r.steps + rest.steps, seconds=r.seconds + rest.seconds,
                                    n_rebuilds=r.n_rebuilds + rest.n_rebuilds)
        self.count += 1
        self.steps += r.steps
        self.all_converged &= r.converged or r.below_floor
        jammed = self.jammed(r)
        if jammed:
            self.hi = r
        else:
            self.lo = r
        if self.progress is not None:
            self.progress(packing.phi, jammed)
        return r

    def jammed(self, result: MinimizeResult) -> bool:
        return is_jammed(result, self.threshold)

    def compress_until_jammed(self, start: Packing, dphi: float) -> None:
        """First stage: from ``start``, decompress with growing steps while jammed, then compress
        from the last unjammed state in steps growing up to ``dphi`` until a state is jammed."""
        self.probe(start)
        step = dphi
        while self.lo is None:
            phi = self.hi.packing.phi - step
            require(phi > 0, "start", "a configuration that unjams above φ = 0", start.phi)
            self.probe(self.hi.packing.at_phi(phi))
            step *= 2.0
        self.compress_from_unjammed(dphi, dphi)

    def compress_from_unjammed(self, step: float, dphi: float) -> MinimizeResult:
        """Compress the highest unjammed state in steps from ``step`` doubling up to ``dphi``
        until a state above it is jammed; that state (now ``hi``) is returned."""
        while self.hi is None or self.hi.packing.phi <= self.lo.packing.phi:
            self.probe(self.lo.packing.at_phi(self.lo.packing.phi + step))
            step = min(2.0 * step, dphi)
        return self.hi

    def rejam_unjammed_end(self, rtol: float, dphi: float) -> bool:
        """Compress the unjammed end ``lo`` to the jammed end's φ: True if it is jammed there;
        otherwise compress it on (first step :func:`_restart_step` of the bracket) until a state
        is jammed, which becomes ``hi``, and return False."""
        width = self.hi.packing.phi - self.lo.packing.phi
        if self.jammed(self.probe(self.lo.packing.at_phi(self.hi.packing.phi))):
            return True
        self.compress_from_unjammed(_restart_step(width, rtol, self.lo.packing.phi), dphi)
        return False

    def result(self, search: str, phi_j: float, phi_extrapolated: float = math.nan,
               stiffness: float = math.nan) -> JammingResult:
        return JammingResult(phi_j, self.lo.packing.phi, self.hi, self.count, self.steps,
                             self.all_converged, search, phi_extrapolated, stiffness, self.threshold)


def _descent_ftol(k: float, rtol: float, phi: float) -> float:
    """Force tolerance of the descent's steps: DESCENT_FTOL_FACTOR × K rtol φ (≈ 5e-11 for 2D
    discs, K ≈ 0.3, at rtol 1e-7; below ftol = 1e-12, and so unused, for rtol ≲ 2e-9).

    A pressure error δp of the branch's lowest state moves the secant's zero by about δp/K, so
    an absolute tolerance proportional to K rtol φ bounds that shift in units of rtol whatever the
    Δφ of the state. FIRE stopped at max |F| < f leaves δp of order f a decade above φ_J, and
    larger close to it (weak contacts). Measured against the same searches at ftol = 1e-12
    (N = 1024, 2D seeds 0–2 and 3D seeds 0–1): the zero moved by ≤ 0.05 rtol with factor 0.002
    (1.1–1.5× fewer FIRE steps), by up to 0.6 rtol with 0.02 (1.3–1.9×).
    """
    return DESCENT_FTOL_FACTOR * k * rtol * phi


def _secant_estimate(branch: list[MinimizeResult]) -> tuple[float, float]:
    """(φ̂_J, K) from the secant of p(φ) through the two lowest jammed states of the branch;
    (NaN, NaN) when there are fewer than two or the slope is not positive."""
    if len(branch) < 2:
        return math.nan, math.nan
    a, b = branch[-2], branch[-1]
    dphi = a.packing.phi - b.packing.phi
    k = (a.pressure - b.pressure) / dphi if dphi != 0 else math.nan
    if not k > 0:
        return math.nan, math.nan
    return b.packing.phi - b.pressure / k, k


def _ends_in_pressure_jump(branch: list[MinimizeResult], rtol: float) -> bool:
    """True when the branch's lowest jammed state, at the closed bracket, still carries a pressure
    that its stiffness K (the secant through the branch's two highest states) places more than
    JUMP_WIDTH × rtol above its zero: decompressing it by rtol unjammed it, so the branch ends in
    a collapse (a saddle-node) at finite p, not at p ∝ φ − φ_J."""
    if len(branch) < 2:
        return False
    a, b = branch[0], branch[1]
    k = (a.pressure - b.pressure) / (a.packing.phi - b.packing.phi)
    top = branch[-1]
    return k > 0 and top.pressure > JUMP_WIDTH * rtol * top.packing.phi * k


def _restart_step(width: float, rtol: float, phi: float) -> float:
    """First compression step from an unjammed end that the jammed end was not reached from."""
    return max(4.0 * width, 2.0 * rtol * phi)


def _descend(s: _Search, start: Packing, rtol: float, dphi: float, verify: bool) -> JammingResult:
    """The "descent" search (module docstring): secant steps down the decompression branch of the
    first jammed state until φ̂_J is predicted within 10 rtol, then the bracket checks."""
    s.compress_until_jammed(start, dphi)
    hint = s.lo.packing.phi          # unjammed by compression: a hint, not a bound for the branch
    branch = [s.hi]                  # jammed states of one branch, φ decreasing
    lo: MinimizeResult | None = None  # highest unjammed state found by decompressing the branch
    bisecting = False                # a bracket check failed: bisect on the branch from then on
    while True:
        top = branch[-1]
        phi_top = top.packing.phi
        lo_phi = lo.packing.phi if lo is not None else -math.inf
        if phi_top - lo_phi <= rtol * lo_phi:
            s.hi, s.lo = top, lo
            if not _ends_in_pressure_jump(branch, rtol):
                return s.result("descent", phi_top, *_secant_estimate(branch))
            s.rejam_unjammed_end(rtol, dphi)  # the branch collapses at phi_top: follow it up
            branch, lo = [s.hi], s.lo
            bisecting = False
            continue
        est, k = _secant_estimate(branch)
        usable = not bisecting and math.isfinite(est) and lo_phi < est < phi_top
        if usable and phi_top - est <= FINAL_CHECK_WIDTH * rtol * est:
            below = s.probe(top.packing.at_phi(est * (1.0 - UNJAMMED_CHECK * rtol)))
            if s.jammed(below):
                branch.append(below)
                continue
            lo = below
            if not verify:
                s.hi, s.lo = top, lo
                return s.result("descent", est, est, k)
            above = s.probe(top.packing.at_phi(est * (1.0 + JAMMED_CHECK * rtol)))
            if s.jammed(above):
                s.hi, s.lo = above, lo
                return s.result("descent", est, est, k)
            lo = above
            bisecting = True
            continue
        if usable:
            target = est + (phi_top - est) / DESCENT_RATIO
        else:  # no usable secant yet, or a bracket check failed
            target = 0.5 * (phi_top + (lo_phi if lo is not None else min(hint, phi_top - dphi)))
        r = (s.probe(top.packing.at_phi(target), k * (target - est), _descent_ftol(k, rtol, est))
             if usable else s.probe(top.packing.at_phi(target)))
        if s.jammed(r):
            branch.append(r)
        else:
            lo = r


def _bisect(s: _Search, start: Packing, rtol: float, dphi: float, verify: bool) -> JammingResult:
    """The "bisection" search (module docstring); ``verify`` is not used (its bracket is checked)."""
    s.compress_until_jammed(start, dphi)
    from_lo = True  # the jammed end was compressed from the current unjammed end
    while True:
        while (s.hi.packing.phi - s.lo.packing.phi) > rtol * s.lo.packing.phi:
            from_lo = s.jammed(s.probe(s.lo.packing.at_phi(0.5 * (s.lo.packing.phi + s.hi.packing.phi))))
        # The jammed end must be reached from the final unjammed one: it may come from an
        # earlier, longer compression that fell into another basin.
        if from_lo or s.rejam_unjammed_end(rtol, dphi):
            return s.result("bisection", s.hi.packing.phi)
        from_lo = True


SEARCHES: dict[str, Callable[[_Search, Packing, float, float, bool], JammingResult]] = {
    "descent": _descend,
    "bisection": _bisect,
}


def find_jamming(start: Packing, rtol: float = 1e-7, dphi: float = 2e-3,
                 settings: MinimizerSettings = MinimizerSettings(),
                 progress: ProgressFn | None = None, max_minimizations: int = 400,
                 search: str = "descent", verify: bool = False) -> JammingResult:
    """Locate φ_J from ``start`` (see module docstring).

    Parameters
    ----------
    start : initial configuration (e.g. :func:`packing.system.random_packing`) at a φ below or above
        φ_J; its φ is where the search begins.
    rtol : relative width of the final bracket, (φ_hi − φ_lo)/φ_lo ≤ rtol (default 1e-7).
    dphi : compression step of the first stage (and largest decompression step of a jammed start).
    settings : FIRE settings for every minimisation.
    progress : called as progress(phi, jammed) after each minimisation.
    max_minimizations : budget; RuntimeError when it is spent.
    search : "descent" (default) or "bisection" (module docstring).
    verify : descent only: also minimise the branch at φ̂_J(1 + 0.45 rtol) and require it jammed,
        so that the returned jammed state lies inside the rtol bracket (costly below
        Δφ ≈ N^-2, where FIRE's slowest mode is set by the system size).
    """
    require(math.isfinite(rtol) and 0 < rtol < 0.1, "rtol", "in (0, 0.1)", rtol)
    require(math.isfinite(dphi) and 0 < dphi < 0.5, "dphi", "in (0, 0.5)", dphi)
    require(search in SEARCHES, "search", f"one of {tuple(SEARCHES)}", search)
    require(int(max_minimizations) >= 1, "max_minimizations", ">= 1", max_minimizations)
    searcher = _Search(settings, progress, int(max_minimizations),
                       jamming_threshold(rtol, settings.ftol))
    return SEARCHES[search](searcher, start, rtol, dphi, bool(verify))


def compression_path(delta_phis: Sequence[float], max_ratio: float = 10 ** 0.5,
                     first: float = 1e-6) -> list[float]:
    """Increasing Δφ values visited to reach every target quasi-statically: the targets plus
    geometric intermediate steps so that consecutive Δφ differ by at most ``max_ratio`` (the first
    step goes from φ_J to min(first, smallest target))."""
    path: list[float] = []
    prev = None
    for t in sorted(set(float(x) for x in delta_phis)):
        lo = prev if prev is not None else min(first, t)
        if prev is None and lo < t:
            path.append(lo)
        n = max(1, math.ceil(math.log(t / lo) / math.log(max_ratio) - 1e-12)) if t > lo else 1
        path.extend(lo * (t / lo) ** (k / n) for k in range(1, n))
        path.append(t)
        prev = t
    return path


def state_settings(settings: MinimizerSettings, pressure: float, box_side: float) -> MinimizerSettings:
    """``settings`` with ftol lowered to RELATIVE_FTOL × ``pressure`` (the state's expected
    pressure) where that is tighter, but not below the force round-off of a box of ``box_side``."""
    if not (math.isfinite(pressure) and pressure > 0):
        return settings
    tol = max(min(settings.ftol, RELATIVE_FTOL * pressure), ROUNDOFF_FTOL_PER_LENGTH * box_side)
    return dataclasses.replace(settings, ftol=tol) if tol < settings.ftol else settings


def _minimize_on_branch(jam: JammingResult, base: MinimizeResult, dp: float,
                        settings: MinimizerSettings) -> MinimizeResult:
    """``base`` compressed affinely to φ_J + ``dp`` and minimised to :func:`state_settings` of its
    predicted pressure K dp (the states of :func:`states_above_jamming` and
    :func:`state_at_pressure` alike)."""
    tight = state_settings(settings, jam.stiffness * dp, float(jam.jammed.packing.box.max()))
    return tight.run(base.packing.at_phi(jam.phi_j + dp))


def states_above_jamming(jam: JammingResult, delta_phis: Sequence[float],
                         settings: MinimizerSettings = MinimizerSettings(),
                         progress: ProgressFn | None = None) -> list[MinimizeResult]:
    """Minimised states at φ = φ_J + Δφ for each Δφ > 0, returned in the order given.

    Quasi-static compression from the search's jammed state along :func:`compression_path`: each
    state is compressed affinely from the previous one by at most a factor √10 in Δφ, so that a
    large Δφ is not reached by one big affine jump (which can rearrange small systems). The
    descent's jammed state lies up to 10 rtol above φ_J; a first target below it is reached by
    decompressing it (an elastic step on its branch). Each state is minimised to
    :func:`state_settings` of its predicted pressure K Δφ (K the search's stiffness).
    """
    dps = [float(x) for x in delta_phis]
    for x in dps:
        require(math.isfinite(x) and 0 < x < 1, "delta_phi", "in (0, 1)", x)
    targets = set(dps)
    results: dict[float, MinimizeResult] = {}
    current = jam.jammed
    for dp in compression_path(dps):
        r = current = _minimize_on_branch(jam, current, dp, settings)
        if dp in targets:
            results[dp] = r
            if progress is not None:
                progress(r.packing.phi, is_jammed(r))
    return [results[dp] for dp in dps]


def state_at_pressure(jam: JammingResult, pressure: float, rtol: float = 1e-3,
                      settings: MinimizerSettings = MinimizerSettings(),
                      max_minimizations: int = 100) -> MinimizeResult:
    """The minimised state on the quasi-static compression branch of :func:`states_above_jamming`
    whose virial pressure is within ``rtol`` of ``pressure``.

    From the jammed state at φ_J, Δφ grows by factors of √10 (the largest step of
    :func:`compression_path`; the first state at min(1e-6, a tenth of p/K), K the search's
    stiffness) until p reaches the target; then log p is interpolated linearly in log Δφ between
    the two bracketing states, every trial compressed from the highest state below the target, so
    that no state is reached by a jump of more than √10 in Δφ from its predecessor. Every state is
    minimised as in :func:`states_above_jamming`.
    """
    p_target = float(pressure)
    require(math.isfinite(p_target) and p_target > 0, "pressure", "a finite number > 0", pressure)
    require(0 < rtol < 1, "rtol", "in (0, 1)", rtol)
    p_j = jam.jammed.pressure
    if p_target <= p_j:
        raise ParameterError(f"pressure must be above the pressure at φ_J, {p_j:.3g} (got {p_target!r})")
    count = 0

    def at(base: MinimizeResult, dp: float) -> MinimizeResult:
        nonlocal count
        if count >= max_minimizations:
            raise RuntimeError(f"pressure {p_target} not reached within {max_minimizations} minimisations")
        count += 1
        return _minimize_on_branch(jam, base, dp, settings)

    k = jam.stiffness if math.isfinite(jam.stiffness) and jam.stiffness > 0 else None
    dp = 1e-6 if k is None else min(1e-6, 0.1 * p_target / k)
    lo, dp_lo = jam.jammed, 0.0
    hi = at(lo, dp)
    while hi.pressure < p_target:
        lo, dp_lo = hi, dp
        dp *= math.sqrt(10.0)
        if dp > 0.5:
            raise ParameterError(f"pressure must be reachable below Δφ = 0.5 (got {p_target!r})")
        hi = at(lo, dp)
    dp_hi = dp
    last_low, run = None, 0  # run: trials in a row that replaced the same end (then bisect)
    while abs(hi.pressure / p_target - 1.0) > rtol:
        if dp_hi - dp_lo <= 1e-9 * dp_hi:  # p jumps across the target: a rearrangement
            best = min((lo, hi), key=lambda r: abs(math.log(r.pressure / p_target)))
            warnings.warn(f"pressure {p_target:.6g}: p(Δφ) jumps from {lo.pressure:.6g} to "
                          f"{hi.pressure:.6g} at Δφ = {dp_hi:.6g} (a rearrangement); returning the "
                          f"state at p = {best.pressure:.6g}", RuntimeWarning, stacklevel=2)
            return best
        trial = _next_trial(lo, dp_lo, hi, dp_hi, p_target, interpolate=run < 2)
        r = at(lo, trial)
        if abs(r.pressure / p_target - 1.0) <= rtol:
            return r
        below = r.pressure < p_target
        run = run + 1 if below == last_low else 1
        last_low = below
        if below:
            lo, dp_lo = r, trial
        else:
            hi, dp_hi = r, trial
    return hi


def _next_trial(lo: MinimizeResult, dp_lo: float, hi: MinimizeResult, dp_hi: float, p_target: float,
                interpolate: bool) -> float:
    """Next Δφ between dp_lo and dp_hi: log p interpolated linearly in log Δφ (linearly from the
    origin when dp_lo = 0), or the geometric midpoint when ``interpolate`` is False (regula falsi
    stalling) or the interpolation leaves the bracket."""
    mid = math.sqrt(dp_lo * dp_hi) if dp_lo > 0 else 0.5 * dp_hi
    if not (interpolate and lo.pressure > 0 and hi.pressure > lo.pressure):
        return mid
    if dp_lo > 0:
        slope = math.log(hi.pressure / lo.pressure) / math.log(dp_hi / dp_lo)
        guess = dp_lo * (p_target / lo.pressure) ** (1.0 / slope)
    else:
        guess = dp_hi * p_target / hi.pressure
    return guess if dp_lo < guess < dp_hi else mid
