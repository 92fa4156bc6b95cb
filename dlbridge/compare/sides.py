"""The concept table of the comparison: what each side (packings, networks) means by the names the
HDF5 contract shares, in one description object per side instead of branches on ``side``.

Dictionary (Geiger et al., PRE 100, 012115, 2019, Table I): particle overlaps ↔ unsatisfied data
Δ_μ > 0; φ ↔ −N (a packing jams on compression, a net on reducing its size); φ_J ↔ N*; N_dof =
(d + n_rot) N′ − d ↔ N; an isostatic state has N_Δ = N_dof + 1 in a periodic box
(Goodrich, Liu, Nagel, PRL 109, 095704, 2012) and N_Δ = N for a net.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

from packing.io import SYSTEM_KEYS
from packing.shapes import ROUND


def _packing_label(f: dict) -> str:
    """``disk 2D N=64 harmonic``, ``ellipse 2D N=64 a=1.5 harmonic``."""
    aspect = "" if f["shape"] in ROUND else f" a={f['aspect_ratio']:g}"
    return f"{f['shape']} {f['dim']}D N={f['n_particles']}{aspect} {f['potential']}"


def _network_label(f: dict) -> str:
    """``net random L=2 P=500``, ``net random L=2 P=500 α=10``."""
    alpha = "" if f["alpha"] == 1 else f" α={f['alpha']:g}"
    return f"net {f['dataset']} L={f['depth']} P={f['n_train']}{alpha}"


@dataclasses.dataclass(frozen=True)
class Side:
    """What one side is to the comparison.

    name : the contract's ``side`` attribute. plural : its systems in figure labels.
    system_keys : the attributes that make two states
    the same system. label : the system's name from those fields. transition_csv/_md : the name
    of the transition (φ_J, N*); distance_csv/_md/_tex : the definition of the distance d > 0 on
    the jammed side; distance : d from (control, transition). isostatic_offset : N_Δ − N_dof of an
    isostatic state. every_gap_counted : N_Δ = #{gaps > 0} (nets; a packing's N_Δ counts the
    contacts between non-rattlers only). translations_trivial : the d global translations are
    symmetry zero modes.
    own_seed_transition : the per-seed transition is re-derived from the seed's own scan (nets)
    instead of the stored value (packings). nearest_fallback : a realisation with no state on the
    jammed side may use its active state nearest the transition. energy_per_particle : figures
    divide the energy by N. energy_axes : (x label, y label, title) of the energy figure.
    colours : the figures' palette.
    """

    name: str
    plural: str
    system_keys: tuple[str, ...]
    label: Callable[[dict], str]
    transition_csv: str
    transition_md: str
    distance_csv: str
    distance_md: str
    distance_tex: str
    distance: Callable[[float, float], float]
    isostatic_offset: int
    every_gap_counted: bool
    translations_trivial: bool
    own_seed_transition: bool
    nearest_fallback: bool
    energy_per_particle: bool
    energy_axes: tuple[str, str, str]
    colours: tuple[str, ...]


PACKING = Side(
    name="packing", plural="packings", system_keys=SYSTEM_KEYS["packing"], label=_packing_label,
    transition_csv="phi_J", transition_md="φ_J", distance_csv="dphi = phi - phi_J",
    distance_md="Δφ = φ − φ_J", distance_tex=r"\Delta\varphi = \varphi - \varphi_J",
    distance=lambda control, transition: control - transition, isostatic_offset=1,
    every_gap_counted=False, translations_trivial=True, own_seed_transition=False, nearest_fallback=False,
    energy_per_particle=True,
    energy_axes=(r"$d = \Delta\varphi = \varphi - \varphi_J$",
                 r"energy per particle  $U/N$  (units of $\varepsilon$)",
                 r"packings (harmonic: $U \propto \Delta\varphi^2$, Hertz: "
                 r"$\Delta\varphi^{5/2}$)"),
    colours=("#1f77b4", "#2ca02c", "#17becf", "#9467bd", "#8c564b"))

NETWORK = Side(
    name="network", plural="nets", system_keys=SYSTEM_KEYS["network"], label=_network_label,
    transition_csv="N*", transition_md="N*", distance_csv="1 - N/N*", distance_md="1 − N/N*",
    distance_tex=r"1 - N/N^*", distance=lambda control, transition: 1.0 - control / transition,
    isostatic_offset=0, every_gap_counted=True, translations_trivial=False, own_seed_transition=True,
    nearest_fallback=True, energy_per_particle=False,
    energy_axes=(r"$d = 1 - N/N^*$", r"training loss  $L$  (quadratic hinge)",
                 r"networks below the transition ($N < N^*$)"),
    colours=("#d62728", "#ff7f0e", "#e377c2", "#bcbd22", "#7f7f7f"))

SIDES = {s.name: s for s in (PACKING, NETWORK)}
"""The sides in report order (packings first)."""


def of_side(items, side: Side) -> list:
    """The items (states, summaries: anything with a ``side`` name) of one side, in order."""
    return [x for x in items if x.side == side.name]
