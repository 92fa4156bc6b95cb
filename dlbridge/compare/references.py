"""Each measured number beside its literature value: the table of checks that ``dlbridge compare``
appends to its report and ``dlbridge validate`` writes as its verdict.

A :class:`Check` is one quantity of one system: the value ± error, the reference value and its
source (a key of data/literature.json), the agreement z = |value − reference| / error in standard
errors, and the bar the project accepts (|value − reference| ≤ bar). Which quantity is checked
against which reference is the table :data:`RULES`, one :class:`Rule` per line.

A check whose error is larger than its bar cannot decide anything at that sample size; it is
reported as "not resolved" rather than as agreement.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable, Sequence

from packing.analysis import PooledExponent
from packing.literature import load_reference
from packing.shapes import ROUND

from .summary import Estimate, SystemSummary, fit_error


@dataclasses.dataclass(frozen=True)
class Check:
    """One measured quantity against its reference (module docstring).

    detail : the parts of the error (statistical, range) when known.
    lower_bound : the reference is a lower bound (N_Δ/N > 0.4 for nets): agreement means
    value ≥ reference within the error. bar : the accepted |value − reference| (None: report
    only). note : what the reference does or does not promise for this system.
    """

    system: str
    quantity: str
    value: float
    error: float
    reference: float
    key: str
    source: str
    bar: float | None = None
    lower_bound: bool = False
    note: str = ""
    detail: str = ""

    @property
    def measured(self) -> str:
        """value ± error, with the error's parts when known."""
        text = f"{_cell(self.value)} ± {_cell(self.error)}"
        return f"{text} ({self.detail})" if self.detail else text

    @property
    def z(self) -> float:
        """|value − reference| / error (for a lower bound: how far below it, 0 when above)."""
        diff = self.value - self.reference
        if self.lower_bound:
            diff = min(diff, 0.0)
        if not (math.isfinite(self.error) and self.error > 0):
            return math.inf if diff != 0 else 0.0
        return abs(diff) / self.error

    @property
    def resolved(self) -> bool:
        """False when the error alone exceeds the bar: the sample cannot test the number."""
        return self.bar is None or (math.isfinite(self.error) and self.error <= self.bar)

    @property
    def within_bar(self) -> bool | None:
        """|value − reference| ≤ bar (None without a bar)."""
        if self.bar is None:
            return None
        if self.lower_bound:
            return self.value >= self.reference - self.bar
        return abs(self.value - self.reference) <= self.bar

    @property
    def verdict(self) -> str:
        """agrees / within the bar / tension / disagrees / not resolved / reported (words)."""
        if self.note and self.bar is None:
            return "reported (no power law expected)" if "hypostatic" in self.note else "reported"
        if not math.isfinite(self.value):
            return "not measured"
        if not self.resolved:
            if not math.isfinite(self.error):
                return "not resolved (one state: no error)"
            return f"not resolved (error {self.error:.2g} > bar {self.bar:g})"
        inside = self.within_bar
        if self.z <= 2.0:
            return "agrees" if inside in (None, True) else "agrees within error, outside the bar"
        if inside:
            return f"within the bar, {self.z:.1f} σ off"
        return "tension" if self.z <= 3.0 else "disagrees"


@dataclasses.dataclass(frozen=True)
class Rule:
    """A quantity of the systems ``applies`` selects, read by ``measure`` as (value, error),
    checked against ``key`` (``subkey`` of a dict-valued record)."""

    quantity: str
    applies: Callable[[SystemSummary], bool]
    measure: Callable[[SystemSummary], tuple[float, float]]
    key: str
    subkey: str | None = None
    bar: float | None = None
    lower_bound: bool = False
    note: str = ""
    reference: float | None = None      # the record states a formula: its value here
    attribute: str | None = None        # the SystemSummary exponent the rule reads, if any


def _round(s: SystemSummary) -> bool:
    return s.side == "packing" and s.key.get("shape") in ROUND


def _aspherical(s: SystemSummary) -> bool:
    return s.side == "packing" and s.key.get("shape") not in ROUND


def _net(s: SystemSummary) -> bool:
    return s.side == "network"


def _exponent(name: str) -> Callable[[SystemSummary], tuple[float, float]]:
    def measure(s: SystemSummary) -> tuple[float, float]:
        fit = getattr(s, name)
        return (math.nan, math.nan) if fit is None else (fit.exponent, fit_error(fit))
    return measure


def _error_detail(s: SystemSummary, rule: "Rule") -> str:
    """"stat x, range y" for pooled exponents (the two parts of their error)."""
    fit = getattr(s, rule.attribute, None) if rule.attribute else None
    if isinstance(fit, PooledExponent):
        return f"stat {fit.statistical:.3f}, range {fit.systematic:.3f}"
    return ""


def _excess(s: SystemSummary) -> tuple[float, float]:
    return _mean_and_error(s.excess)


def _index_scaling(s: SystemSummary) -> tuple[float, float]:
    f = s.index_scaling
    return (math.nan, math.nan) if f is None else (f.exponent, f.stderr)


def _net_index(s: SystemSummary) -> tuple[float, float]:
    return _mean_and_error(s.index)


def _mean_and_error(e: Estimate) -> tuple[float, float]:
    """(mean, standard error over the states) of an Estimate; the error is NaN for one state."""
    return e.mean, (e.std / math.sqrt(e.n) if e.n > 1 and math.isfinite(e.std) else math.nan)


HYPOSTATIC_NOTE = ("hypostatic packings: P(f) and g(h) are not expected to be power laws "
                   "(Brito et al., PNAS 115, 11736, 2018); fitted exponents are summaries only")

def _exponent_rule(quantity: str, applies, attribute: str, key: str, subkey: str | None = None,
                   **kw) -> Rule:
    """A rule on one of the SystemSummary's pooled exponents."""
    return Rule(quantity, applies, _exponent(attribute), key, subkey, attribute=attribute, **kw)


RULES: tuple[Rule, ...] = (
    # bars of the validation (issue acceptance): θ_e ± 0.04, θ_l ± 0.06, γ ± 0.05
    _exponent_rule("θ_e (extended forces)", _round, "theta", "theta_force_meanfield", bar=0.04),
    _exponent_rule("θ_l (buckler forces)", _round, "theta_buckler",
                   "exponents_packing_numerics_lerner2013", "theta_local", bar=0.06),
    # P(f) ~ f^min(θ_e, θ_l) (Lerner, Düring, Wyart 2013): all forces, whatever defines a buckler
    _exponent_rule("θ of all forces (→ min(θ_e, θ_l))", _round, "theta_all",
                   "exponents_packing_numerics_lerner2013", "theta_local", bar=0.06),
    _exponent_rule("γ (gaps)", _round, "gamma", "gamma_gap_meanfield", bar=0.05),
    Rule("N_Δ − (N_dof + 1) at φ_J", _round, _excess, "N_Delta_isostatic_periodic", bar=0.5,
         reference=0.0),
    Rule("b of N_Δ/N_dof − iso ∝ Δφ^b", _round, _index_scaling, "exponent_Z_excess", bar=0.05),
    _exponent_rule("θ (forces)", _aspherical, "theta", "hypostatic_no_powerlaw",
                   note=HYPOSTATIC_NOTE),
    _exponent_rule("γ (gaps)", _aspherical, "gamma", "hypostatic_no_powerlaw",
                   note=HYPOSTATIC_NOTE),
    _exponent_rule("θ (unsatisfied Δ)", _net, "theta", "net_theta_gamma_geiger", "theta",
                   bar=0.15),
    _exponent_rule("γ (satisfied Δ)", _net, "gamma", "net_theta_gamma_geiger", "gamma",
                   bar=0.15),
    Rule("N_Δ/N just below N*", _net, _net_index, "net_NDelta_over_N_below_Nstar",
         lower_bound=True),
)


def _reference(rule: Rule) -> tuple[float, str]:
    """(value, citation) of a rule's record; NaN for records without a number."""
    rec = load_reference(rule.key)
    source = str(rec.get("source", ""))
    if rule.reference is not None:
        return rule.reference, source
    value = rec.get("value")
    if rule.subkey is not None:
        value = value[rule.subkey]
    return (math.nan if value is None else float(value)), source


def checks(summaries: Sequence[SystemSummary]) -> list[Check]:
    """Every rule of :data:`RULES` applied to every system it selects, in system order."""
    out = []
    for s in summaries:
        for rule in RULES:
            if not rule.applies(s):
                continue
            value, error = rule.measure(s)
            ref, source = _reference(rule)
            out.append(Check(system=s.label, quantity=rule.quantity, value=value, error=error,
                             reference=ref, key=rule.key + (f".{rule.subkey}" if rule.subkey else ""),
                             source=source, bar=rule.bar, lower_bound=rule.lower_bound,
                             note=rule.note, detail=_error_detail(s, rule)))
    return out


def _cell(v: float, digits: int = 3) -> str:
    return "—" if not math.isfinite(v) else f"{v:.{digits}f}"


def checks_markdown(items: Sequence[Check]) -> str:
    """The checks as a Markdown table, with the sources listed once under it."""
    lines = ["| system | quantity | measured | reference | bar | z (σ) | verdict |",
             "|---|---|---|---|---|---|---|"]
    sources: dict[str, str] = {}
    for c in items:
        ref = ("> " if c.lower_bound else "") + _cell(c.reference)
        ref = "—" if not math.isfinite(c.reference) else f"{ref} [{c.key}]"
        bar = "—" if c.bar is None else f"± {c.bar:g}"
        z = "—" if c.bar is None and c.note else _cell(c.z, 1)
        lines.append(f"| {c.system} | {c.quantity} | {c.measured} | {ref} "
                     f"| {bar} | {z} | {c.verdict} |")
        sources.setdefault(c.key.split(".")[0], c.source)
    lines.append("")
    lines += [f"- `{k}`: {v}" for k, v in sources.items()]
    notes = sorted({c.note for c in items if c.note})
    lines += [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"
