"""Figure of the stored N* scans and the MNIST cusp (benchmarks/results/nstar/*.json, written by
nstar_scan.py --json and mnist_cusp.py --json): docs/figures/nstar_cusp.png.

(a) fraction of seeds reaching N_Δ = 0 against N_eff/P for the d = 12 random-data scans
(P = 500, 1000, 2000; depth 2, 3, 5); (b) MNIST-parity test error against N.
Usage: python benchmarks/plot_nstar.py [--out FILE]
"""
import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from dlbridge.models import make_spec  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "nstar"


def _scan(name):
    """(N_eff/P, fitted fraction, label) of one stored nstar_scan.py run."""
    d = json.loads((RESULTS / name).read_text())
    a = d["args"]
    act = a.get("activation", "relu")
    n_eff = [make_spec(a["d"], a["L"], r["h"], activation=act).n_eff for r in d["rows"]]
    return (np.array(n_eff) / a["p"], np.array([r["fit"] for r in d["rows"]]),
            f"P = {a['p']}, L = {a['L']}")


def _panel_scans(ax):
    for name in ("p500_d12_L3.json", "p1000_d12_L2.json", "p1000_d12_L3.json",
                 "p1000_d12_L5.json", "p2000_d12_L3.json"):
        if (RESULTS / name).exists():
            x, y, label = _scan(name)
            ax.plot(x, y, "o-", label=label)
    ax.axvline(1 / 3.05, color="k", ls="--", lw=1, label="paper P/N* = 3.05 (h = 51)")
    ax.axhline(0.5, color="grey", lw=0.5)
    ax.set(xlabel="N_eff / P", ylabel="fraction of nets with N_Δ = 0",
           title="random data, d = 12, Adam 3·10⁴ steps")
    ax.legend(fontsize=7)


def _panel_cusp(ax):
    for name, fmt in (("mnist_p500_L2.json", "s-"), ("mnist_p500_L2_8seeds.json", "o-")):
        d = json.loads((RESULTS / name).read_text())
        rows = d["rows"]
        ax.errorbar([r["N"] for r in rows], [r["test_error"] for r in rows],
                    yerr=[r["sem"] for r in rows], fmt=fmt, ms=4, capsize=2,
                    label=f"{d['args']['seeds']} seeds")
    ax.axvspan(91, 107, color="orange", alpha=0.3, label="N* bracket (8 seeds)")
    ax.set(xscale="log", xlabel="N (parameters)", ylabel="test error",
           title="MNIST parity, P = 500, d = 10, L = 2")
    ax.legend(fontsize=7)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(HERE.parent / "docs" / "figures" / "nstar_cusp.png"))
    a = ap.parse_args()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    _panel_scans(axes[0])
    _panel_cusp(axes[1])
    fig.tight_layout()
    fig.savefig(a.out, dpi=130)
    print(a.out)


if __name__ == "__main__":
    main()
