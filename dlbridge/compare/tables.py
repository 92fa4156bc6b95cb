"""The comparison table of ``dlbridge compare``: one row per system, as CSV (every number, see
:data:`CSV_COLUMNS`) and as Markdown (value ± error, with the definitions and the literature's
reference values from data/literature.json)."""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any, Sequence

from packing.analysis import PooledExponent, ScalingFit
from packing.io import atomic_output

from .references import checks, checks_markdown
from .summary import SystemSummary, estimate, fit_error

# ------------------------------------------------------------------------------------ table
CSV_COLUMNS = (
    "system", "side", "n_states", "n_seeds", "transition_name", "transition_mean",
    "transition_std", "transition_n", "distance_definition", "distance_at_transition",
    "n_delta_at_transition", "n_dof_at_transition", "n_delta_over_n_dof", "n_delta_over_n_dof_std",
    "isostatic_offset", "n_delta_over_n_iso", "n_delta_over_n_iso_std", "isostatic_excess",
    "verdict", "stiffness_zero_modes", "stiffness_zero_modes_std", "stiffness_zero_modes_n",
    "theta", "theta_err", "theta_n_used", "theta_x_max", "gamma", "gamma_err", "gamma_n_used",
    "gamma_x_max", "theta_buckler", "theta_buckler_err", "theta_buckler_n_used",
    "theta_buckler_x_max", "theta_all", "theta_all_err", "theta_all_n_used", "theta_all_x_max",
    "buckler_fraction", "exponent_states", "marginal_per_state",
    "index_reference", "n_delta_exponent", "n_delta_exponent_err",
    "n_delta_exponent_points", "energy_exponent", "energy_exponent_err", "energy_exponent_points",
    "test_error_peak_n_over_nstar", "test_error_peak",
)


def _fit_cells(fit: PooledExponent | None) -> list[float]:
    """[exponent, error, n_used, x_max] of a gap fit (NaN when absent)."""
    if fit is None:
        return [math.nan] * 4
    return [fit.exponent, fit_error(fit), fit.n_used, fit.x_max]


def _scaling_cells(fit: ScalingFit | None) -> list[float]:
    """[exponent, stderr, points] of a scaling fit (NaN when absent)."""
    return [math.nan] * 3 if fit is None else [fit.exponent, fit.stderr, fit.n_points]


def table_row(s: SystemSummary) -> dict[str, Any]:
    """The CSV row of one system, keyed by :data:`CSV_COLUMNS`."""
    zm = s.zero_modes
    peak = s.test_error_peak or (math.nan, math.nan)
    cells = [s.label, s.side, len(s.states), len({st.realisation for st in s.states}),
             s.key.description.transition_csv, s.transition.mean, s.transition.std,
             s.transition.n, s.key.description.distance_csv, s.nearest_distance.mean,
             estimate(st.n_constraints for st in s.nearest).mean,
             estimate(st.n_dof for st in s.nearest).mean, s.index.mean, s.index.std,
             s.key.description.isostatic_offset, s.iso_index.mean, s.iso_index.std, s.excess.mean,
             s.verdict, *((math.nan, math.nan, 0) if zm is None else (zm.mean, zm.std, zm.n)),
             *_fit_cells(s.theta), *_fit_cells(s.gamma), *_fit_cells(s.theta_buckler),
             *_fit_cells(s.theta_all),
             s.buckler_fraction, len(s.exponent_states), s.n_marginal.mean, s.index_reference,
             *_scaling_cells(s.index_scaling), *_scaling_cells(s.energy_scaling), *peak]
    return dict(zip(CSV_COLUMNS, cells))


def format_pm(value: float, error: float | None = None) -> str:
    """``value ± error`` rounded to the error's second significant digit (4 significant digits
    without an error); "—" for NaN."""
    if value is None or not math.isfinite(value):
        return "—"
    if error is None or not math.isfinite(error) or error <= 0:
        return f"{value:.4g}"
    decimals = max(0, 1 - int(math.floor(math.log10(error))))
    return f"{value:.{decimals}f} ± {error:.{decimals}f}"


def _md_fit(fit: PooledExponent | None) -> str:
    """θ or γ cell: value ± error (n points used)."""
    return "—" if fit is None else f"{format_pm(fit.exponent, fit_error(fit))} (n={fit.n_used})"


def _md_scaling(fit: ScalingFit | None) -> str:
    """Scaling exponent cell: b ± stderr (n points)."""
    return "—" if fit is None else f"{format_pm(fit.exponent, fit.stderr)} (n={fit.n_points})"


MD_HEADER = ("system", "seeds", "transition (mean ± sd over seeds)", "N_Δ/N_dof at transition",
             "N_Δ/N_iso (N_iso = N_dof+1 packings, N nets)", "verdict",
             "stiffness/H0 zero modes", "θ (packings: θ_e)", "θ_l (bucklers)", "γ",
             "marginal / state", "b: N_Δ/N_dof − ref ∝ d^b", "b: E ∝ d^b",
             "distance d")


def markdown_row(s: SystemSummary) -> list[str]:
    """The Markdown cells of one system (:data:`MD_HEADER`)."""
    zm, side = s.zero_modes, s.key.description
    return [s.label, str(len({st.realisation for st in s.states})),
            f"{side.transition_md} = {format_pm(s.transition.mean, s.transition.std)}",
            format_pm(s.index.mean, s.index.std), format_pm(s.iso_index.mean, s.iso_index.std),
            s.verdict, "—" if zm is None else format_pm(zm.mean, zm.std),
            _md_fit(s.theta), _md_fit(s.theta_buckler), _md_fit(s.gamma),
            format_pm(s.n_marginal.mean), _md_scaling(s.index_scaling),
            _md_scaling(s.energy_scaling), side.distance_md]


def markdown_table(summaries: Sequence[SystemSummary]) -> str:
    """The comparison as a Markdown table followed by the definitions and reference values."""
    lines = ["| " + " | ".join(MD_HEADER) + " |", "|" + "---|" * len(MD_HEADER)]
    lines += ["| " + " | ".join(markdown_row(s)) + " |" for s in summaries]
    lines += [
        "", "Definitions:",
        "- At the transition: per seed the state with the smallest Δφ > 0 (packings), the largest "
        "N < N* with N_Δ > 0 (nets; minima of dead units, whose stress part is round-off, left "
        "out); values are mean ± sd over those states.",
        "- N_iso = N_dof + 1 in a periodic box (Goodrich, Liu, Nagel, PRL 109, 095704, 2012), "
        "N for nets. Zero modes exclude the d global translations.",
        "- θ, γ: ML fits pooled over seeds (packing.analysis.exponents), the 3 smallest values "
        "only setting the lower cut: θ of P₊(f) ∝ f^θ e^(−c f) on f ≤ 0.3 (f ∝ Δ^(α−1)/⟨·⟩; c "
        "takes the bend toward the bulk, which a pure law would put into θ; range error from "
        "the cuts 0.2 and 0.5), γ of P₋(|Δ|) ~ |Δ|^−γ with the KS-chosen upper cut (range error "
        "from the cuts at 5, 10, 25 % of the sample); errors: bootstrap over seeds (≥ Fisher) and "
        "range in quadrature. Packings: non-rattlers only; θ is "
        "θ_e of the extended forces, θ_l that of the contacts of bucklers (non-rattlers with "
        "d + 1 contacts), θ of all forces that of both together, whose small-f law is "
        "f^min(θ_e, θ_l) (Lerner, Düring, Wyart, Soft Matter 9, 8252, 2013); γ's lower cut is the mean "
        "overlap. Nets: every converged net with "
        "0 < 1 − N/N* ≤ 0.2 that is not a minimum of dead units, its dead inputs (data reaching "
        "the output through no active ReLU unit: no gradient, no constraint) left out of θ and "
        "γ. Marginal constraints "
        "(|Δ| ≤ 1e-8 ⟨Δ₊⟩) are counted, not fitted. "
        "Hypostatic packings (ellipses, ellipsoids) are not expected to give power laws (Brito et al., PNAS "
        "115, 11736, 2018): there θ, γ only summarise the fitted range.",
        "- b: least squares on log-log axes (± stderr); ref = N_iso/N_dof (discs, spheres), the "
        "seed's own value at its transition (ellipses, ellipsoids, nets; those states left out of "
        "the fit). "
        "Nets: d uses N* from the file; the transition column uses per-seed brackets.",
    ]
    lines += ["", "## Against the literature (data/literature.json)", "",
              "z: distance to the reference in standard errors of the measurement; bar: the "
              "agreement the project accepts. \"not resolved\": the error alone is larger than the "
              "bar, so these sizes cannot test the number.", "",
              checks_markdown(checks(summaries))]
    return "\n".join(lines) + "\n"


TABLE_FILES = ("comparison.csv", "comparison.md")


def _csv_text(summaries: Sequence[SystemSummary]) -> str:
    """The CSV table (:data:`CSV_COLUMNS`, floats to 10 significant digits)."""
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS)
    w.writeheader()
    for s in summaries:
        w.writerow({k: (f"{v:.10g}" if isinstance(v, float) else v)
                    for k, v in table_row(s).items()})
    return buf.getvalue()


def write_tables(summaries: Sequence[SystemSummary], out_dir: Path,
                 overwrite: bool = True) -> tuple[Path, Path]:
    """Write ``comparison.csv`` and ``comparison.md`` into out_dir, each atomically
    (`packing.io.atomic_output`); return their paths."""
    paths = []
    for name, text in zip(TABLE_FILES, (_csv_text(summaries), markdown_table(summaries))):
        path = Path(out_dir) / name
        with atomic_output(path, overwrite) as tmp:
            tmp.write_text(text, encoding="utf-8", newline="")
        paths.append(path)
    return paths[0], paths[1]
