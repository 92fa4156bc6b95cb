"""The figures of ``dlbridge compare`` that only packings have (matplotlib, Agg; PNG and PDF).

6. ``fig6_pressure``        pressure against Δφ with the fitted power law (skipped without packing
   pressures).
7. ``fig7_vibrational_dos`` D(ω) of the packings' full Hessians at each stored Δφ (skipped without
   stored Hessians).

Built with the helpers of :mod:`.plots`; :mod:`.figures` lists all seven.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np

from packing.analysis import ZERO_MODE_RTOL, fit_scaling, log_histogram

from .plots import N_BINS, _loglog, _new_figure, save, styles
from .summary import SystemSummary
from .tables import format_pm


# ----------------------------------------------------------------------------- figure 6
def _pressure_points(s: SystemSummary) -> tuple[np.ndarray, np.ndarray]:
    """(Δφ, p) of the jammed packing states with a stored pressure > 0 (the summary's states:
    seeds with a misplaced φ_J are already left out, summary.drop_misplaced)."""
    pts = [(t.distance, t.pressure) for t in s.states if not t.unjammed
           and math.isfinite(t.pressure) and t.pressure > 0 and math.isfinite(t.distance)
           and t.distance > 0]
    return (np.array(pts).T if pts else (np.zeros(0), np.zeros(0)))


def figure_pressure(summaries: Sequence[SystemSummary], out_dir: Path) -> list[Path]:
    """Pressure against Δφ for every packing system with stored pressures (single states and
    the least-squares law p ∝ Δφ^b, against b = α − 1 of O'Hern et al., PRE 68, 011306, 2003);
    writes nothing (returns []) without such states."""
    data = [(s, st, *_pressure_points(s)) for s, st in zip(summaries, styles(summaries))
            if s.side == "packing"]
    data = [d for d in data if d[2].size >= 3]
    if not data:
        return []
    fig, (ax,) = _new_figure(width=6.0, height=4.4)
    for s, st, x, y in data:
        ax.plot(x, y, ls="none", ms=4, alpha=0.6, label=s.label, **st)
        f = fit_scaling(x, y)
        if f is not None:
            xx = np.geomspace(f.x_min, f.x_max, 30)
            ax.plot(xx, f(xx), color=st["color"], lw=1,
                    label=r"  fit $p \propto \Delta\varphi^{\,b}$, $b$ = "
                    + format_pm(f.exponent, f.stderr))
    _loglog(ax)
    ax.set_xlabel(r"$\Delta\varphi = \varphi - \varphi_J$")
    ax.set_ylabel(r"virial pressure  $p$")
    ax.legend(fontsize=7, loc="best")
    fig.suptitle(r"Pressure above jamming, $p \propto \Delta\varphi^{\alpha-1}$ (misplaced and "
                 "rearranged states left out)", fontsize=10)
    return save(fig, out_dir, "fig6_pressure")


# ----------------------------------------------------------------------------- figure 7
def frequencies_by_distance(s: SystemSummary) -> dict[float, tuple[np.ndarray, int, int]]:
    """Δφ → (ω of the non-zero modes pooled over seeds, all modes, seeds) from the stored full
    Hessians of the jammed states (unit masses, mass-weighted coordinates: ω = √λ). Zero modes,
    |λ| ≤ ZERO_MODE_RTOL max|λ| (the d translations, rattlers), are counted in "all modes" but
    have no frequency; the few negative λ beyond that (stress part at rearrangements) are left
    out too. States at equal Δφ up to round-off (φ − φ_J recomputed per seed) are pooled."""
    pooled: dict[float, list] = {}
    for t in s.states:
        ev = t.hessian_eigenvalues
        if t.unjammed or ev is None or not ev.size or not (math.isfinite(t.distance) and t.distance > 0):
            continue
        key = float(f"{t.distance:.2g}")
        w, total, seeds = pooled.setdefault(key, ([], [0], [0]))
        w.append(np.sqrt(ev[ev > ZERO_MODE_RTOL * float(np.abs(ev).max())]))
        total[0] += ev.size
        seeds[0] += 1
    return {k: (np.concatenate(w), total[0], seeds[0]) for k, (w, total, seeds) in sorted(pooled.items())}


def figure_vibrational_dos(summaries: Sequence[SystemSummary], out_dir: Path) -> list[Path]:
    """Vibrational density of states D(ω) of the packings at each stored Δφ, one panel per
    system (Silbert, Liu, Nagel, PRL 95, 098301, 2005: the plateau of excess modes reaches down
    to ω* ∝ Δφ^(1/2) in isostatic packings; hypostatic ellipses add a band of quartic modes at
    low ω, Brito et al., PNAS 115, 11736, 2018). Writes nothing (returns []) without stored
    Hessians (``packing jam --hessian``)."""
    data = [(s, frequencies_by_distance(s)) for s in summaries if s.side == "packing"]
    data = [(s, d) for s, d in data if d]
    if not data:
        return []
    fig, axes = _new_figure(len(data), width=5.0, height=4.2)
    for ax, (s, by) in zip(axes, data):
        colors = _distance_colors(len(by))
        for c, (dp, (w, total, seeds)) in zip(colors, by.items()):
            h = log_histogram(w, N_BINS)
            ok = h.counts > 0
            ax.plot(h.centers[ok], h.density[ok] * h.n_norm / total, "-o", ms=3, lw=1.1,
                    color=c, label=rf"$\Delta\varphi$ = {dp:g}  ({seeds} seeds)")
        _loglog(ax)
        ax.set_title(s.label, fontsize=10)
        ax.set_xlabel(r"frequency $\omega = \sqrt{\lambda}$  (unit masses)")
        ax.set_ylabel(r"$D(\omega)$  (fraction of all modes per unit $\omega$)")
        ax.legend(fontsize=7, loc="best")
    fig.suptitle(r"Vibrational density of states above jamming: the plateau ends at "
                 r"$\omega^* \propto \Delta\varphi^{1/2}$ (zero modes left out)", fontsize=10)
    return save(fig, out_dir, "fig7_vibrational_dos")


def _distance_colors(n: int) -> list:
    """n colours from dark (smallest Δφ) to light (largest)."""
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(0.85 * k / max(n - 1, 1)) for k in range(n)]
