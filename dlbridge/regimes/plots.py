"""Figures of the (h, α) phase diagram (matplotlib, Agg; PNG and PDF via compare.plots.save).

1. ``regimes1_test_error``     single-net test error over the (h, α) plane (fitted nets).
2. ``regimes2_kernel_change``  ‖Θ − Θ₀‖/‖Θ₀‖ against α (code convention, left) and
   α_paper = α/√h (right) for every width, with a slope −1 guide, the threshold and α*.
3. ``regimes3_ensemble``       test error against N: single nets (mean ± s.e.) and the
   ensemble predictor sign(F̄), one colour per α scanned over the widths.
4. ``regimes4_fluctuations``   ‖F − F̄‖ against N on log-log axes with the fitted N^a and the
   predicted N^(−1/4), same α.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np

from ..compare.plots import MARKERS, _new_figure, save
from .cells import Cell, group_by
from .fits import Crossover, Exponent

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2")


def _scanned(cells: Sequence[Cell]) -> dict[float, list[Cell]]:
    """The cells with two fitted seeds or more by α, keeping the α scanned over the most widths
    (four or more when some α has them: the scan grid), so that N-trends are not drawn from
    the three widths of the plane."""
    groups = {a: [c for c in g if c.n_fitted >= 2] for a, g in group_by(cells, "alpha").items()}
    need = 4 if any(len(g) >= 4 for g in groups.values()) else 2
    return {a: g for a, g in groups.items() if len(g) >= need}


def test_error_plane(cells: Sequence[Cell], out_dir: Path) -> list[Path]:
    """Figure 1: the single-net test error on the grid of widths × α (empty: no fitted net)."""
    widths = sorted({c.first.width for c in cells})
    alphas = sorted({c.first.alpha for c in cells})
    grid = np.full((len(widths), len(alphas)), np.nan)
    for c in cells:
        grid[widths.index(c.first.width), alphas.index(c.first.alpha)] = c.test_error[0]
    fig, (ax,) = _new_figure(1, 5.6, 4.2)
    im = ax.imshow(100 * grid, origin="lower", aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(alphas)), [f"{a:g}" for a in alphas])
    ax.set_yticks(range(len(widths)), [f"{w:g}" for w in widths])
    ax.set_xlabel(r"$\alpha$ (code: last layer $1/h$; $\alpha_{paper}=\alpha/\sqrt{h}$)")
    ax.set_ylabel("width h")
    fig.colorbar(im, ax=ax, label="test error (%)")
    for (i, j), v in np.ndenumerate(grid):
        if math.isfinite(v):
            ax.text(j, i, f"{100 * v:.1f}", ha="center", va="center", color="w", fontsize=7)
    return save(fig, out_dir, "regimes1_test_error")


def kernel_change(cells: Sequence[Cell], stars: Sequence[Crossover], threshold: float,
                  out_dir: Path) -> list[Path]:
    """Figure 2: the kernel change against α in both conventions, one curve per width."""
    fig, axes = _new_figure(2, 5.0, 4.0)
    for k, (width, group) in enumerate(group_by(cells, "width").items()):
        group = [c for c in group if c.n_fitted >= 1]
        if not group:
            continue
        a = np.array([c.first.alpha for c in group])
        m = np.array([c.log_kernel_change[0] for c in group])
        s = np.nan_to_num(np.array([c.log_kernel_change[1] for c in group]))
        sqrt_n_last = group[0].first.alpha / group[0].first.alpha_paper
        style = dict(color=COLOURS[k % len(COLOURS)], marker=MARKERS[k % len(MARKERS)],
                     capsize=2, label=f"h = {width:g}")
        for ax, x in zip(axes, (a, a / sqrt_n_last)):
            ax.errorbar(x, 10**m, yerr=[10**m - 10**(m - s), 10**(m + s) - 10**m], **style)
    for star in stars:
        axes[0].axvline(star.alpha_code, color="0.7", lw=0.6)
        axes[1].axvline(star.alpha_paper, color="0.7", lw=0.6)
    a_all = np.array([c.first.alpha for c in cells])
    guide = np.geomspace(max(a_all.min(), 1.0), a_all.max(), 10)
    axes[0].plot(guide, guide[0] / guide * 0.5 * threshold, "k--", lw=0.8, label="slope −1")
    for ax, name in zip(axes, (r"$\alpha$ (code)", r"$\alpha_{paper}=\alpha/\sqrt{h}$")):
        ax.axhline(threshold, color="k", lw=0.5, ls=":")
        ax.set(xscale="log", yscale="log", xlabel=name,
               ylabel=r"$\|\Theta-\Theta_0\|/\|\Theta_0\|$")
    axes[0].legend(fontsize=7)
    return save(fig, out_dir, "regimes2_kernel_change")


def ensemble(cells: Sequence[Cell], out_dir: Path) -> list[Path]:
    """Figure 3: single-net and ensemble test errors against N, one colour per α."""
    fig, (ax,) = _new_figure(1, 5.4, 4.0)
    for k, (alpha, group) in enumerate(_scanned(cells).items()):
        n = np.array([c.first.n_params for c in group])
        e = np.array([c.test_error for c in group])
        ens = np.array([c.ensemble_error for c in group])
        col = COLOURS[k % len(COLOURS)]
        ax.errorbar(n, 100 * e[:, 0], yerr=100 * e[:, 1], color=col, marker="o", capsize=2,
                    label=fr"single, $\alpha$={alpha:g}")
        ax.plot(n, 100 * ens, color=col, marker="s", ls="--", mfc="none",
                label=fr"ensemble, $\alpha$={alpha:g}")
    ax.set(xscale="log", xlabel="N (parameters)", ylabel="test error (%)")
    ax.legend(fontsize=7)
    return save(fig, out_dir, "regimes3_ensemble")


def fluctuations(cells: Sequence[Cell], fits: dict[float, Exponent], out_dir: Path) -> list[Path]:
    """Figure 4: ‖F − F̄‖ against N per α with the fitted law and the N^(−1/4) prediction."""
    fig, (ax,) = _new_figure(1, 5.4, 4.0)
    for k, (alpha, group) in enumerate(_scanned(cells).items()):
        col = COLOURS[k % len(COLOURS)]
        n = np.array([c.first.n_params for c in group])
        ax.plot(n, [c.fluctuation for c in group], color=col, marker="o", ls="none",
                label=fr"$\alpha$={alpha:g}")
        fit = fits.get(alpha)
        if fit is not None:
            xs = np.geomspace(n.min(), n.max(), 20)
            ax.plot(xs, fit.fit(xs), color=col, lw=0.8,
                    label=fr"$N^{{{fit.value:.2f}\pm{fit.error:.2f}}}$")
            ax.plot(xs, fit.fit(xs[0]) * (xs / xs[0]) ** -0.25, color=col, lw=0.6, ls=":")
    ax.set(xscale="log", yscale="log", xlabel="N (parameters)",
           ylabel=r"$\|F-\bar F\|$ (per test point)", title=r"dotted: $N^{-1/4}$")
    ax.legend(fontsize=7)
    return save(fig, out_dir, "regimes4_fluctuations")
