"""The quartic modes of jammed ellipses (issue 3): docs/figures/quartic_modes.png.

N = 64 bidisperse ellipses (a/b = 1.2 and 1.5, 3 seeds each) are jammed with the package's
protocol and compressed to φ_J + Δφ. For each state the stiffness part of the Hessian has
n_q = N_dof + 1 − N_Δ zero modes besides the two translations (Schreck, Mailman, Chakraborty,
O'Hern, PRE 85, 061305, 2012); the figure plots the n_q lowest eigenvalues of the full Hessian
(those modes, lifted by the stress term) and the lowest eigenvalue of the other modes against Δφ,
with a line of slope 1. Run: ``python docs/quartic_figure.py`` (about a minute on 2 cores).
"""
from __future__ import annotations

import concurrent.futures as cf
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from packing.analysis import count_zero_modes, spectrum  # noqa: E402
from packing.contacts import contact_network  # noqa: E402
from packing.hessian import hessian  # noqa: E402
from packing.protocol import find_jamming, states_above_jamming  # noqa: E402
from packing.system import random_packing  # noqa: E402

N, SEEDS, ASPECTS = 64, (0, 1, 2), (1.2, 1.5)
DPHIS = (1e-6, 1e-5, 1e-4, 1e-3)
OUT = Path(__file__).resolve().parent / "figures" / "quartic_modes.png"


def quartic_data(key: tuple[float, int]) -> list[dict]:
    """Per Δφ: N_Δ, N_dof, n_q (stiffness floppy modes), quartic and lowest other eigenvalues."""
    aspect, seed = key
    jam = find_jamming(random_packing(N, 0.80, 2, shape="ellipse", aspect=aspect, seed=seed))
    rows = []
    for dphi, r in zip(DPHIS, states_above_jamming(jam, DPHIS)):
        net = contact_network(r.packing)
        parts = hessian(r.packing, network=net)
        nq = count_zero_modes(spectrum(parts.stiffness), n_trivial=2).n_floppy
        ev = spectrum(parts.total).eigenvalues
        rows.append(dict(dphi=dphi, n_c=net.n_constraints, n_dof=net.n_dof, nq=nq,
                         quartic=ev[2:2 + nq], other=ev[2 + nq]))
    return rows


def main() -> None:
    keys = [(a, s) for a in ASPECTS for s in SEEDS]
    with cf.ProcessPoolExecutor(max_workers=2) as ex:
        data = dict(zip(keys, ex.map(quartic_data, keys)))
    fig, ax = plt.subplots(figsize=(5.6, 4.2))
    colours = {1.2: "tab:blue", 1.5: "tab:red"}
    for (aspect, seed), rows in data.items():
        for r in rows:
            assert r["nq"] == r["n_dof"] + 1 - r["n_c"], (aspect, seed, r)
        x = np.array([r["dphi"] for r in rows])
        lab = f"a/b = {aspect:g}" if seed == 0 else None
        for r in rows:
            ax.scatter(np.full(r["nq"], r["dphi"]) * (1 + 0.15 * (seed - 1)), r["quartic"],
                       s=6, color=colours[aspect], alpha=0.5, label=lab)
            lab = None
        ax.plot(x, [r["other"] for r in rows], "o-", ms=3, lw=0.8, mfc="white",
                color=colours[aspect], label=(f"lowest non-quartic, a/b = {aspect:g}"
                                              if seed == 0 else None))
    x = np.array(DPHIS)
    q = [np.median(r["quartic"]) for r in data[(1.5, 0)]]
    ax.plot(x, q[0] * x / x[0], "k--", lw=1, label="∝ Δφ")
    ax.set(xscale="log", yscale="log", xlabel="Δφ = φ − φ_J",
           ylabel="eigenvalue of H  (ε / length², unit masses)",
           title=f"Quartic modes of jammed ellipses, N = {N}, 3 seeds")
    counts = ", ".join(f"{a:g}: {np.mean([r['nq'] for k, rs in data.items() if k[0] == a for r in rs]):.1f}"
                       for a in ASPECTS)
    ax.text(0.02, 0.80, f"mean quartic modes n_q = N_dof + 1 − N_Δ  ({counts})",
            transform=ax.transAxes, fontsize=7)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    OUT.parent.mkdir(exist_ok=True)
    fig.savefig(OUT, dpi=130)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
