"""The phase diagram's numbers gathered and written as Markdown and CSV, each measured exponent
against its literature value (data/literature.json). torch-free.

:func:`summarise` takes the nets of a run and returns a :class:`RegimesSummary`: the cells, the
lazy slope per width with two α ≥ ``lazy_alpha_min`` or more, α* per width with at least
:data:`MIN_ALPHAS_CROSSOVER` α values in both conventions and its scaling with h, and per α
the fluctuation and ensemble-gain exponents over the widths.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import numpy as np

from packing.analysis import ScalingFit
from packing.literature import load_reference

from .cells import Cell, RegimeState, group_by, group_cells
from .fits import (
    KERNEL_THRESHOLD,
    Crossover,
    Exponent,
    crossover,
    crossover_exponent,
    ensemble_gain_exponent,
    fluctuation_exponent,
    lazy_slope,
)

MIN_ALPHAS_CROSSOVER = 4
"""Widths with fewer α values (the scan grid's two) get no α*: one interval of several decades
is no interpolation."""

REFERENCES = {"lazy slope": "regimes_lazy_kernel_change",
              "alpha* (paper)": "regimes_alpha_star_scaling",
              "fluctuation": "regimes_output_fluctuation",
              "ensemble gain": "regimes_generalisation_convergence"}

_WHY_NO_FIT = {"lazy slope": "fewer than 2 seeds fitted at 2 α or more",
               "fluctuation": "fewer than 3 widths with 2 fitted nets or more",
               "ensemble gain": "fewer than 3 widths with 2 fitted nets or more and ε > ε_ens"}


@dataclasses.dataclass(frozen=True)
class RegimesSummary:
    cells: tuple[Cell, ...]
    lazy_alpha_min: float
    threshold: float
    lazy: dict
    stars: tuple[Crossover, ...]
    star_fit_code: ScalingFit | None
    star_fit_paper: ScalingFit | None
    fluctuation: dict
    gain: dict



def summarise(nets: Sequence[RegimeState], lazy_alpha_min: float,
              threshold: float = KERNEL_THRESHOLD) -> RegimesSummary:
    """Every number of the phase diagram from the nets of one (dataset, P, depth)."""
    cells = group_cells(nets)
    by_w = group_by(cells, "width")
    lazy = {w: lazy_slope(g, lazy_alpha_min) for w, g in by_w.items()
            if sum(c.first.alpha >= lazy_alpha_min for c in g) >= 2}
    stars = tuple(s for s in (crossover(g, g[0].first.n_last, threshold) for g in by_w.values()
                              if len(g) >= MIN_ALPHAS_CROSSOVER) if s is not None)
    by_a = group_by(cells, "alpha")
    fluct = {a: fluctuation_exponent(g) for a, g in by_a.items()}
    gain = {a: ensemble_gain_exponent(g) for a, g in by_a.items()}
    return RegimesSummary(tuple(cells), lazy_alpha_min, threshold, lazy, stars,
                          crossover_exponent(stars, "code"), crossover_exponent(stars, "paper"),
                          fluct, gain)


def _pm(v: float, e: float, digits: int = 3) -> str:
    if not math.isfinite(v):
        return "–"
    return f"{v:.{digits}f} ± {e:.{digits}f}" if math.isfinite(e) else f"{v:.{digits}f}"


def _reference_value(name: str) -> str:
    r = load_reference(REFERENCES[name])
    return f"{r['value']:g} (`{r['key']}`)"


def _z(value: float, error: float, ref: float) -> str:
    if not (math.isfinite(value) and math.isfinite(error) and error > 0):
        return "–"
    return f"{(value - ref) / error:+.1f}"


def cell_rows(summary: RegimesSummary) -> list[dict]:
    """One row per cell: the columns of the CSV and of the Markdown table."""
    rows = []
    for c in summary.cells:
        e, se = c.test_error
        k, sk = c.log_kernel_change
        w, _ = c.weight_change
        rows.append({"width": c.first.width, "n_params": c.first.n_params,
                     "alpha": c.first.alpha, "alpha_paper": c.first.alpha_paper,
                     "seeds": len(c.nets), "fitted": c.n_fitted, "test_error": e,
                     "test_error_sem": se, "ensemble_error": c.ensemble_error,
                     "kernel_change": 10**k if math.isfinite(k) else math.nan,
                     "log10_kernel_change_sem": sk, "weight_change": w,
                     "fluctuation": c.fluctuation,
                     "median_steps": float(np.median([n.steps for n in c.nets]))})
    return rows


def csv_text(summary: RegimesSummary) -> str:
    """The cells as CSV (one line per (width, α))."""
    rows = cell_rows(summary)
    head = list(rows[0])
    return "\n".join([",".join(head)] + [",".join(f"{r[h]:.6g}" for h in head) for r in rows]) + "\n"


def _exponent_line(label: str, fit: Exponent | None, ref_name: str) -> str:
    if fit is None:
        return (f"| {label} | – | {_reference_value(ref_name)} | – | "
                f"{_WHY_NO_FIT[ref_name]} |")
    ref = load_reference(REFERENCES[ref_name])["value"]
    points = "nets, slope per seed" if ref_name == "lazy slope" else "points"
    return (f"| {label} | {_pm(fit.value, fit.error)} | {_reference_value(ref_name)} | "
            f"{_z(fit.value, fit.error, ref)} | {fit.fit.n_points} {points}, "
            f"x ∈ [{fit.fit.x_min:g}, {fit.fit.x_max:g}] |")


def checks_markdown(summary: RegimesSummary) -> str:
    """The measured exponents against the literature, one table row each."""
    lines = ["| quantity | measured | literature | z (σ) | stands on |", "|---|---|---|---|---|"]
    for w, fit in sorted(summary.lazy.items()):
        lines.append(_exponent_line(f"lazy slope d log‖ΔΘ‖/d log α, h = {w:g} "
                                    f"(α ≥ {summary.lazy_alpha_min:g})", fit, "lazy slope"))
    sp = summary.star_fit_paper
    if sp is not None:
        ref = load_reference(REFERENCES["alpha* (paper)"])["value"]
        lines.append(f"| α*_paper ∝ h^b ({len(summary.stars)} widths) | {_pm(sp.exponent, sp.stderr)}"
                     f" | {_reference_value('alpha* (paper)')} | {_z(sp.exponent, sp.stderr, ref)}"
                     f" | least squares over the α* below |")
    for a, fit in summary.fluctuation.items():
        lines.append(_exponent_line(f"‖F − F̄‖ ∝ N^a, α = {a:g}", fit, "fluctuation"))
    for a, fit in summary.gain.items():
        lines.append(_exponent_line(f"ε − ε_ens ∝ N^c, α = {a:g}", fit, "ensemble gain"))
    return "\n".join(lines) + "\n"


def crossover_markdown(summary: RegimesSummary) -> str:
    """α* per width in both conventions."""
    lines = [f"Threshold ‖ΔΘ‖/‖Θ₀‖ = {summary.threshold:g}.", "",
             "| h | α*_code | α*_paper = α*_code/√h |", "|---|---|---|"]
    for s in summary.stars:
        f = 10**s.log_alpha_error
        lines.append(f"| {s.width:g} | {s.alpha_code:.3g} (×/÷ {f:.2f}) | "
                     f"{s.alpha_paper:.3g} (×/÷ {f:.2f}) |")
    sc = summary.star_fit_code
    if sc is not None:
        lines += ["", f"α*_code ∝ h^({sc.exponent:.3f} ± {sc.stderr:.3f}) (0 expected)."]
    return "\n".join(lines) + "\n"


def cells_markdown(summary: RegimesSummary) -> str:
    """The table of every cell."""
    lines = ["| h | N | α | α_paper | fitted/seeds | ε single (%) | ε ensemble (%) | ‖ΔΘ‖/‖Θ₀‖ "
             "| ‖Δw‖/‖w₀‖ | ‖F − F̄‖ | steps (median) |", "|" + "---|" * 11]
    for r in cell_rows(summary):
        lines.append(f"| {r['width']:g} | {r['n_params']} | {r['alpha']:g} | {r['alpha_paper']:.3g} "
                     f"| {r['fitted']}/{r['seeds']} "
                     f"| {_pm(100 * r['test_error'], 100 * r['test_error_sem'], 2)} "
                     f"| {100 * r['ensemble_error']:.2f} | {r['kernel_change']:.3g} "
                     f"| {r['weight_change']:.3g} | {r['fluctuation']:.3g} | {r['median_steps']:.0f} |")
    return "\n".join(lines) + "\n"
