"""Figures of ``dlbridge compare`` (matplotlib, Agg; PNG and PDF).

1. ``fig1_isostaticity``   N_Δ/N_dof against the distance to the transition, all systems.
2. ``fig2_gap_distributions`` P₊ of the force variable (Δ > 0; packings: extended and buckler
   forces apart) and P₋ of |Δ| (Δ < 0) at the transition, log-binned, with the fitted power laws
   over their fitted ranges.
3. ``fig3_spectra``        density of states of the stiffness part (H0) and of the stress part
   (Hp) at the transition, side by side, eigenvalues in units of the mean non-zero stiffness
   eigenvalue of the same state.
4. ``fig4_energy``         energy (packings, per particle) and training loss (nets) against the
   distance to the transition, with the fitted power laws.
5. ``fig5_test_error``     test error of the nets against N/N* (skipped without network data).
6–7. ``fig6_pressure``, ``fig7_vibrational_dos``: the packings' figures, in :mod:`.packing_plots`;
   :mod:`.figures` lists all seven and draws them (:func:`~.figures.plot_all`).

Figures are built on :class:`matplotlib.figure.Figure` directly, so importing this module never
changes pyplot's global backend. Every figure function returns the files it wrote.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from packing.analysis import ZERO_MODE_RTOL, log_histogram
from packing.io import atomic_output

from .sides import PACKING, SIDES, of_side
from .states import State
from .summary import SystemSummary, fit_error, is_round_packing, pooled_gaps
from .tables import format_pm

FORMATS = ("png", "pdf")
DPI = 150
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
N_BINS = 20


# ------------------------------------------------------------------------------------ helpers
def styles(summaries: Sequence[SystemSummary]) -> list[dict]:
    """One consistent (colour, marker) per system: blues/greens for packings, reds for nets."""
    out, counts = [], {"packing": 0, "network": 0}
    for s in summaries:
        k = counts[s.side]
        counts[s.side] += 1
        palette = s.key.description.colours
        out.append({"color": palette[k % len(palette)], "marker": MARKERS[k % len(MARKERS)]})
    return out


def _new_figure(ncols: int = 1, width: float = 5.2, height: float = 4.0):
    """A Figure with an Agg canvas and ``ncols`` axes in a row."""
    fig = Figure(figsize=(width * ncols, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    return fig, axes


def save(fig: Figure, out_dir: Path, stem: str) -> list[Path]:
    """Write ``stem.png`` and ``stem.pdf`` into out_dir, each atomically (`packing.io.atomic_output`:
    a link at the name is replaced, never written through; whether an existing figure may be
    replaced is decided by the caller, :func:`dlbridge.compare.compare`). The constrained layout
    is computed once, on a first draw, and then frozen: each layout pass re-measures every tick
    label."""
    fig.canvas.draw()
    fig.set_layout_engine("none")
    paths = []
    for ext in FORMATS:
        p = Path(out_dir) / f"{stem}.{ext}"
        with atomic_output(p, overwrite=True) as tmp:
            fig.savefig(tmp, dpi=DPI, format=ext)
        paths.append(p)
    return paths


def binned_by_distance(states: Sequence[State], value) -> tuple[np.ndarray, np.ndarray,
                                                                  np.ndarray]:
    """(distance, mean, sd) of value(state) over the states sharing a distance (to 0.1 % in
    log10), distance > 0 only, sorted by distance; sd is 0 for a single state."""
    groups: dict[float, list[tuple[float, float]]] = {}
    for s in states:
        d = s.distance
        if math.isfinite(d) and d > 0:
            groups.setdefault(round(math.log10(d), 3), []).append((d, value(s)))
    keys = sorted(groups)
    x = np.array([np.mean([p[0] for p in groups[k]]) for k in keys])
    y = np.array([np.mean([p[1] for p in groups[k]]) for k in keys])
    e = np.array([np.std([p[1] for p in groups[k]], ddof=1) if len(groups[k]) > 1 else 0.0
                  for k in keys])
    return x, y, e


def _distance_label(summaries: Sequence[SystemSummary]) -> str:
    """x-axis label naming the distance of each side present."""
    present = {s.side for s in summaries}
    parts = [f"{side.plural}: ${side.distance_tex}$" for side in SIDES.values()
             if side.name in present]
    return "distance to the transition  (" + ";  ".join(parts) + ")"


def _empty_note(ax, text: str) -> None:
    """Write a centred note on an axes that has no data."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")


def _plain_number(x: float, _pos=None) -> str:
    """Tick label 0.3, 2, 1e-05 style (no crowded 3×10⁻¹)."""
    return f"{x:g}"


def tidy_log_axis(axis) -> None:
    """Readable ticks on a log axis: over less than two decades, plain numbers at 1, 2, 5 × 10^k;
    otherwise labelled decades only (minor ticks unlabelled)."""
    lo, hi = sorted(axis.get_view_interval())
    if lo > 0 and math.log10(hi / lo) < 2.0:
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(FuncFormatter(_plain_number))
    axis.set_minor_formatter(NullFormatter())


def _loglog(ax) -> None:
    """Both axes logarithmic, with :func:`tidy_log_axis` applied after the data are in."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.autoscale_view()
    tidy_log_axis(ax.xaxis)
    tidy_log_axis(ax.yaxis)


def _n_bins(n: int) -> int:
    """Log bins for n values: about 2 √n, between 6 and N_BINS."""
    return int(min(N_BINS, max(6, round(2.0 * math.sqrt(n)))))


# ----------------------------------------------------------------------------- figure 1
def _plot_index(ax, summaries: Sequence[SystemSummary], shown: Sequence[SystemSummary]) -> None:
    """N_Δ/N_dof (mean ± sd over seeds) against the distance for the ``shown`` systems (styled
    by their place in ``summaries``), with the isostatic level 1."""
    for s, st in zip(summaries, styles(summaries)):
        if s not in shown:
            continue
        x, y, e = binned_by_distance(s.states, lambda t: t.isostaticity_index)
        if x.size:
            ax.errorbar(x, y, yerr=e, ls="-", lw=1, ms=6, capsize=2, label=s.label, **st)
    ax.axhline(1.0, color="k", lw=1, ls="--", label=r"isostatic  $N_\Delta = N_{\rm dof}$")
    ax.set_xscale("log")
    ax.autoscale_view()
    tidy_log_axis(ax.xaxis)
    ax.set_ylabel(r"isostaticity index  $N_\Delta / N_{\rm dof}$")


def _plot_periodic_levels(ax, summaries: Sequence[SystemSummary]) -> None:
    """Dotted line at N_iso/N_dof = (N_dof + 1)/N_dof, averaged over the states, for each round
    packing (the level its index must reach at φ_J)."""
    for s, st in zip(summaries, styles(summaries)):
        if is_round_packing(s.key) and math.isfinite(s.index_reference):
            ax.axhline(s.index_reference, color=st["color"], lw=1, ls=":",
                       label=r"$N_\Delta = N_{\rm dof} + 1$" + f"  ({s.label.split(' ')[0]})")


def figure_isostaticity(summaries: Sequence[SystemSummary], out_dir: Path) -> list[Path]:
    """N_Δ/N_dof against the distance to the transition (log x), mean ± sd over seeds: all
    systems on one plot; with networks present, a second panel zooms on the packings, whose
    indices differ from 1 by far less than the networks' range."""
    packings = of_side(summaries, PACKING)
    zoom = bool(packings) and len(packings) < len(summaries)
    fig, axes = _new_figure(2 if zoom else 1, width=6.0, height=4.6)
    _plot_index(axes[0], summaries, summaries)
    axes[0].set_xlabel(_distance_label(summaries))
    if zoom:
        _plot_index(axes[1], summaries, packings)
        _plot_periodic_levels(axes[1], summaries)
        axes[1].set_xlabel(_distance_label(packings))
        axes[1].set_title("packings only (zoom)", fontsize=10)
        axes[1].legend(fontsize=8, loc="best")
    else:
        _plot_periodic_levels(axes[0], summaries)
    axes[0].legend(fontsize=8, loc="best")
    fig.suptitle("Constraint counting near jamming (mean ± sd over seeds):  "
                 r"periodic packings at $\varphi_J$: $N_\Delta = N_{\rm dof} + 1$;  "
                 r"nets: $N_\Delta$ = unsatisfied data, $N_{\rm dof} = N$", fontsize=10)
    return save(fig, out_dir, "fig1_isostaticity")


# ----------------------------------------------------------------------------- figure 2
def _plot_distribution(ax, values: np.ndarray, fit, label: str, style: dict) -> None:
    """Log-binned density of ``values`` (markers) and the fitted law over [x_min, x_max]."""
    if values.size == 0:
        return
    h = log_histogram(values, _n_bins(values.size))
    ok = h.counts > 0
    markers = {k: v for k, v in style.items() if k != "ls"}
    ax.plot(h.centers[ok], h.density[ok], ls="none", mfc="none", label=label, **markers)
    if fit is not None:
        x = np.geomspace(fit.x_min, fit.x_max, 50)
        sym = EXPONENT_TEX.get(fit.name, fit.name)
        ax.plot(x, fit.density(x), color=style["color"], lw=1.5, ls=style.get("ls", "-"),
                label=f"  fit ${sym}$ = {format_pm(fit.exponent, fit_error(fit))}")


EXPONENT_TEX = {"theta": r"\theta", "theta_e": r"\theta_e", "theta_l": r"\theta_\ell",
                "gamma": r"\gamma"}


def force_samples(s: SystemSummary) -> list[tuple[str, np.ndarray, object]]:
    """(label suffix, pooled values, fit) of the Δ > 0 populations of a system: a packing's
    extended and buckler forces when split, else the pooled force variable."""
    pops = [st.populations for st in s.exponent_states]
    if pops and all(p is not None and p.bucklers_split for p in pops):
        return [(" extended", np.concatenate([p.extended_forces for p in pops]), s.theta),
                (" bucklers", np.concatenate([p.buckler_forces for p in pops]), s.theta_buckler)]
    if pops and all(p is not None for p in pops):
        return [("", np.concatenate([p.extended_forces for p in pops]), s.theta)]
    g = pooled_gaps(s.exponent_states)
    return [("", g[g > 0], s.theta)]


def gap_sample(s: SystemSummary) -> np.ndarray:
    """The pooled |Δ| of the Δ < 0 population the γ fit saw (non-rattler pairs for packings)."""
    pops = [st.populations for st in s.exponent_states]
    if pops and all(p is not None for p in pops):
        return np.concatenate([p.gaps for p in pops])
    return np.concatenate([st.gap_variable() for st in s.exponent_states] or [np.zeros(0)])


def figure_gap_distributions(summaries: Sequence[SystemSummary], out_dir: Path) -> list[Path]:
    """P₊ (Δ > 0, as the normalised force variable) and P₋ (|Δ|, Δ < 0) at the transition."""
    fig, (ax_p, ax_m) = _new_figure(2, width=5.0, height=4.4)
    for s, st in zip(summaries, styles(summaries)):
        for k, (suffix, values, fit) in enumerate(force_samples(s)):
            style = st if k == 0 else {**st, "marker": "^", "ls": "--", "alpha": 0.7}
            _plot_distribution(ax_p, values, fit, s.label + suffix, style)
        _plot_distribution(ax_m, gap_sample(s), s.gamma, s.label, st)
    ax_p.set_xlabel(r"force  $f/\langle f\rangle$,  $f \propto \Delta^{\alpha-1}$ for "
                    r"$\Delta > 0$  ($\alpha = 2$ harmonic and nets, 5/2 Hertz)")
    ax_p.set_ylabel(r"$P_+(f/\langle f\rangle)$")
    ax_p.set_title(r"violated constraints, $P_+ \sim f^{\theta}$ (contacts, unsatisfied data)",
                   fontsize=10)
    ax_m.set_xlabel(r"gap  $|\Delta|$ for $\Delta < 0$  (packings: $r/\sigma - 1$;  nets: "
                    r"$y f(x) - 1$)")
    ax_m.set_ylabel(r"$P_-(|\Delta|)$")
    ax_m.set_title(r"satisfied constraints, $P_- \sim |\Delta|^{-\gamma}$ (gaps, margins)",
                   fontsize=10)
    for ax in (ax_p, ax_m):
        _loglog(ax)
        if ax.has_data():
            ax.legend(fontsize=7, loc="best")
        else:
            _empty_note(ax, "no values of this sign")
    fig.suptitle("Gap distributions at the transition (pooled over seeds; packings: non-rattlers, "
                 "bucklers = d + 1 contacts split off; lines: ML fits over their range)", fontsize=10)
    return save(fig, out_dir, "fig2_gap_distributions")


# ----------------------------------------------------------------------------- figure 3
def _spectrum_unit(state: State) -> float:
    """Mean of the non-zero stiffness eigenvalues of a state (NaN when none)."""
    ev = state.stiffness_eigenvalues
    scale = float(np.abs(ev).max()) if ev is not None and ev.size else 0.0
    pos = ev[ev > ZERO_MODE_RTOL * scale] if scale > 0 else np.zeros(0)
    return float(pos.mean()) if pos.size else math.nan


def _pooled_spectrum(states: Sequence[State], attr: str) -> tuple[np.ndarray, int, int]:
    """(eigenvalues in units of ⟨λ⟩_stiffness pooled over states, total count, zero modes)."""
    vals, total, zeros = [], 0, 0
    for s in states:
        ev, unit = getattr(s, attr), _spectrum_unit(s)
        if ev is None or not math.isfinite(unit):
            continue
        scale = float(np.abs(ev).max())
        nz = np.abs(ev) > ZERO_MODE_RTOL * scale
        vals.append(ev[nz] / unit)
        total += ev.size
        zeros += int(np.count_nonzero(~nz))
    return (np.concatenate(vals) if vals else np.zeros(0)), total, zeros


def _plot_dos(ax, values: np.ndarray, total: int, style: dict, label: str, ls: str) -> bool:
    """Density of states of the positive ``values`` (fraction of all ``total`` modes per unit
    eigenvalue) on log axes; returns whether anything was drawn."""
    if total == 0 or not np.any(values > 0):
        return False
    h = log_histogram(values[values > 0], N_BINS)
    ok = h.counts > 0
    ax.plot(h.centers[ok], h.density[ok] * h.n_norm / total, ls=ls, lw=1.2, ms=4,
            label=label, **style)
    return True


def figure_spectra(summaries: Sequence[SystemSummary], out_dir: Path) -> list[Path]:
    """Density of states of the stiffness/H0 part (left) and of the stress/Hp part (right; solid:
    λ > 0, dotted: |λ| of λ < 0) at the transition."""
    fig, (ax_k, ax_s) = _new_figure(2, width=5.0, height=4.4)
    handles, labels = [], []
    for s, st in zip(summaries, styles(summaries)):
        k, nk, zk = _pooled_spectrum(s.nearest, "stiffness_eigenvalues")
        trivial = sum(t.n_trivial for t in s.nearest if t.stiffness_eigenvalues is not None)
        _plot_dos(ax_k, k, nk, st, f"{s.label}\n  {nk} modes: {zk - trivial} zero"
                  + (f" + {trivial} translations" if trivial else ""), "-")
        p, n_p, _ = _pooled_spectrum(s.nearest, "stress_eigenvalues")
        drawn = _plot_dos(ax_s, p, n_p, st, None, "-")
        drawn = _plot_dos(ax_s, -p, n_p, {**st, "mfc": "none"}, None, ":") or drawn
        if drawn:
            handles.append(Line2D([], [], ls="-", **st))
            labels.append(s.label)
    ax_k.set_title(r"stiffness part  (packings: $\sum \nabla\Delta\nabla\Delta^{T}$;  "
                   r"nets: $H_0$)", fontsize=10)
    ax_s.set_title(r"stress part  (packings: $\sum \Delta\nabla^2\Delta$;  nets: $H_p$)",
                   fontsize=10)
    for ax in (ax_k, ax_s):
        _loglog(ax)
        ax.set_xlabel(r"$|\lambda| / \langle\lambda\rangle$   ($\langle\lambda\rangle$: "
                      "mean non-zero stiffness eigenvalue)")
        ax.set_ylabel(r"density of states $D(|\lambda|)$  (fraction of modes per unit)")
    if handles:
        handles += [Line2D([], [], color="0.3", ls="-"),
                    Line2D([], [], color="0.3", ls=":", marker="o", mfc="none")]
        labels += [r"$\lambda > 0$", r"$\lambda < 0$ ($|\lambda|$ shown)"]
        ax_s.legend(handles, labels, fontsize=7, loc="best")
    else:
        _empty_note(ax_s, "no stress eigenvalues stored")
    if ax_k.has_data():
        ax_k.legend(fontsize=7, loc="best")
    else:
        _empty_note(ax_k, "no stiffness eigenvalues stored\n(packing jam --hessian)")
    fig.suptitle("Spectra at the transition, pooled over seeds (zero modes, |λ| ≤ 1e-10 max|λ|, "
                 "are off the log axis and counted in the legend)", fontsize=10)
    return save(fig, out_dir, "fig3_spectra")


# ----------------------------------------------------------------------------- figure 4
def _energy_value(state: State) -> float:
    """Energy per particle U/N for a packing, the training loss L for a net."""
    return state.energy / state.n_particles if state.description.energy_per_particle else state.energy


def _plot_single_states(ax, states: Sequence[State], style: dict) -> None:
    """Every state with distance > 0 and energy > 0 as a small faint marker (the values the
    scaling fit uses; on log axes a mean ± sd bar would run below zero)."""
    pts = [(t.distance, _energy_value(t)) for t in states
           if math.isfinite(t.distance) and t.distance > 0 and _energy_value(t) > 0]
    if pts:
        x, y = np.array(pts).T
        ax.plot(x, y, ls="none", ms=3, alpha=0.45, color=style["color"], marker=style["marker"])


def _plot_energy_system(ax, s: SystemSummary, st: dict) -> list:
    """Seed-averaged energies, single seeds and the fitted law of one system; its legend handles."""
    x, y, _ = binned_by_distance(s.states, _energy_value)
    ok = y > 0
    if not np.any(ok):
        return []
    handles = [ax.plot(x[ok], y[ok], ls="none", ms=7, label=s.label, **st)[0]]
    _plot_single_states(ax, s.states, st)
    f = s.energy_scaling
    if f is not None:
        xx = np.geomspace(f.x_min, f.x_max, 30)
        norm = s.states[0].n_particles if s.key.description.energy_per_particle else 1.0
        handles += ax.plot(xx, f(xx) / norm, color=st["color"], lw=1,
                           label=r"  fit $\propto d^{\,b}$, $b$ = "
                           + format_pm(f.exponent, f.stderr))
    return handles


def figure_energy(summaries: Sequence[SystemSummary], out_dir: Path) -> list[Path]:
    """Energy per particle (packings) and training loss (nets) against the distance, log-log,
    with the power law fitted to the total energy / loss (same exponent)."""
    sides = [side for side in SIDES.values() if of_side(summaries, side)]
    fig, axes = _new_figure(len(sides), width=5.0, height=4.2)
    for ax, side in zip(axes, sides):
        handles = []
        for s, st in zip(summaries, styles(summaries)):
            if s.side != side.name:
                continue
            handles += _plot_energy_system(ax, s, st)
        _loglog(ax)
        xlabel, ylabel, title = side.energy_axes
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        if handles:
            handles.append(Line2D([], [], ls="none", marker="o", ms=3, alpha=0.45, color="0.3",
                                  label="single seeds (E = 0 not shown)"))
            ax.legend(handles=handles, fontsize=7, loc="best")
        else:
            _empty_note(ax, "no states with E > 0 on the jammed side")
    fig.suptitle("Energy and loss against the distance to the transition (large markers: mean "
                 "over seeds; lines: least-squares fits to the single seeds)", fontsize=10)
    return save(fig, out_dir, "fig4_energy")


# ----------------------------------------------------------------------------- figure 5
def _test_error_points(states: Sequence[State]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N/N*, mean, sd over seeds) of the test error, sorted by N/N*."""
    pts: dict[float, list[float]] = {}
    for s in states:
        if math.isfinite(s.test_error) and math.isfinite(s.transition) and s.transition > 0:
            pts.setdefault(round(s.control / s.transition, 9), []).append(s.test_error)
    keys = sorted(pts)
    return (np.array(keys), np.array([np.mean(pts[k]) for k in keys]),
            np.array([np.std(pts[k], ddof=1) if len(pts[k]) > 1 else 0.0 for k in keys]))


def figure_test_error(summaries: Sequence[SystemSummary], out_dir: Path) -> list[Path]:
    """Test error against N/N* for every network system; writes nothing (returns []) when there
    is no network state with a test error."""
    nets = [(s, st) for s, st in zip(summaries, styles(summaries)) if s.test_error_peak is not None]
    data = [(s, st, _test_error_points(s.states)) for s, st in nets]
    data = [d for d in data if d[2][0].size]
    if not data:
        return []
    fig, (ax,) = _new_figure(width=6.0, height=4.4)
    for s, st, (x, y, e) in data:
        ax.errorbar(x, y, yerr=e, ls="-", lw=1, ms=6, capsize=2, label=s.label, **st)
    ax.axvline(1.0, color="k", ls="--", lw=1, label=r"jamming  $N = N^*$")
    ax.axhline(0.5, color="0.5", ls=":", lw=1, label="chance level (±1 labels)")
    ax.set_xscale("log")
    ax.autoscale_view()
    tidy_log_axis(ax.xaxis)
    ax.set_xlabel(r"$N / N^*$   (number of parameters over its value at jamming)")
    ax.set_ylabel("test error  (fraction misclassified)")
    ax.set_title("Generalisation across the jamming transition (mean ± sd over seeds)",
                 fontsize=10)
    ax.legend(fontsize=8, loc="best")
    return save(fig, out_dir, "fig5_test_error")
