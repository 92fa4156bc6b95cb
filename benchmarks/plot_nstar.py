"""Figure of the stored N* scans and the MNIST cusp (benchmarks/results/nstar/*.json, written by
nstar_scan.py --json and mnist_cusp.py --json): docs/figures/nstar_cusp.png.

(a) fraction of seeds reaching N_Δ = 0 against N_eff/P for the random-data scans (d = 12:
P = 500, 1000, 2000, depth 2, 3, 5; d = 20: P = 3000, L = 3); (b) share of the unsatisfied data
that are dead inputs (dlbridge.nets.diagnostics) at the end of the L = 3 and L = 5 scans at P = 500;
(c) MNIST-parity test error against N.
It also prints N*_eff and P/N*_eff of every stored random-data scan (the bracket rule of
dlbridge.nets.transition: smallest width with ≥ ½ of the seeds fitted, and the largest width below it),
and, over the scans with dead-input counts, the share of the unsatisfied data that are dead inputs
by depth and stop reason.
Usage: python benchmarks/plot_nstar.py [--out FILE]
"""
import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from dlbridge.nets.models import make_spec  # noqa: E402
from dlbridge.nstar import half_fitted_bracket  # noqa: E402  (the N* rule of find_transition)

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "nstar"
# 10⁵-step budget checks stored one width per file: the bracket they make together
MERGED = {"p2000_d12_L3 10^5 steps": ("p2000_d12_L3_h16_1e5.json", "p2000_d12_L3_h17_1e5.json"),
          "p2000_d12_L5 10^5 steps": ("p2000_d12_L5_1e5.json", "p2000_d12_L5_h15_1e5.json"),
          "p3000_d20_L3 10^5 steps": ("p3000_d20_L3_h18_1e5.json", "p3000_d20_L3_h19_1e5.json")}


def _runs(files):
    """(args of the first file, {h: row} of all the files' widths) of stored nstar_scan.py runs."""
    runs = [json.loads((RESULTS / f).read_text()) for f in files]
    return runs[0]["args"], {r["h"]: r for d in runs for r in d["rows"]}


def _scan(name):
    """(N_eff/P, fitted fraction, label) of one stored nstar_scan.py run."""
    d = json.loads((RESULTS / name).read_text())
    a = d["args"]
    act = a.get("activation", "relu")
    n_eff = [make_spec(a["d"], a["L"], r["h"], activation=act).n_eff for r in d["rows"]]
    return (np.array(n_eff) / a["p"], np.array([r["fit"] for r in d["rows"]]),
            f"P = {a['p']}, d = {a['d']}, L = {a['L']}")


def _panel_scans(ax):
    for name in ("p500_d12_L3.json", "p500_d12_L5.json", "p1000_d12_L2.json", "p1000_d12_L3.json",
                 "p1000_d12_L5.json", "p2000_d12_L3.json", "p2000_d12_L5.json",
                 "p3000_d20_L3.json"):
        if (RESULTS / name).exists():
            x, y, label = _scan(name)
            ax.plot(x, y, "o-", label=label)
    for files in MERGED.values():
        a, rows = _runs(files)
        pts = sorted((make_spec(a["d"], a["L"], h).n_eff / a["p"], r["fit"]) for h, r in rows.items())
        ax.plot(*zip(*pts), "*--", ms=9, label=f"P = {a['p']}, d = {a['d']}, L = {a['L']}, 10⁵ steps")
    ax.axvline(1 / 3.05, color="k", ls="--", lw=1, label="paper P/N* = 3.05 (h = 51)")
    ax.axhline(0.5, color="grey", lw=0.5)
    ax.set(xlabel="N_eff / P", ylabel="fraction of nets with N_Δ = 0",
           title="random data, Adam 3·10⁴ steps (stars: 10⁵)")
    ax.legend(fontsize=7)


def _n_star_row(name, files=None):
    """'name  h_lo h_hi  N*_eff ± half-bracket  P/N*_eff ±' of one stored scan (or of the widths
    of ``files`` taken together), or None when the widths do not bracket N*."""
    a, rows = _runs(files or (name,))
    lo, hi = half_fitted_bracket({h: r["fit"] for h, r in rows.items()})
    if lo is None or hi is None:
        return None
    n_lo, n_hi = (make_spec(a["d"], a["L"], h, activation=a.get("activation", "relu")).n_eff
                  for h in (lo, hi))
    n_star, err = 0.5 * (n_lo + n_hi), 0.5 * (n_hi - n_lo)
    return (f"{name:32s} h {lo:6.2f} … {hi:6.2f}  N*_eff {n_star:7.1f} ± {err:5.1f}  "
            f"P/N*_eff {a['p'] / n_star:5.2f} ± {a['p'] * err / n_star**2:4.2f}")


def print_table():
    """N* of every stored random-data width scan (files without an ``fit`` column are skipped)."""
    rows = [_n_star_row(path.name) for path in sorted(RESULTS.glob("p*.json"))]
    rows += [_n_star_row(name, files) for name, files in MERGED.items()]
    print("\n".join(r for r in rows if r))


def print_dead_tally():
    """By depth and stop reason, over every stored scan with dead counts: nets with N_Δ > 0, their
    unsatisfied data, and how many of those are dead inputs."""
    tally = {}
    for path in sorted(RESULTS.glob("p*.json")):
        a, rows = _runs((path.name,))
        for r in rows.values():
            for reason, n_delta, dead in zip(r["reasons"], r["nds"], r.get("dead") or []):
                if n_delta > 0:
                    t = tally.setdefault((a["L"], reason), [0, 0, 0])
                    t[0], t[1], t[2] = t[0] + 1, t[1] + n_delta, t[2] + dead[2]
    for (depth, reason), (nets, unsat, dead) in sorted(tally.items()):
        print(f"L = {depth} {reason:9s} {nets:3d} nets  {dead:5d} of {unsat:5d} unsatisfied data "
              f"dead ({dead / unsat:.0%})")


def _dead_share(name):
    """(N_eff/P, share of the unsatisfied data that are dead inputs) of a scan with dead counts."""
    d = json.loads((RESULTS / name).read_text())
    a, x, share = d["args"], [], []
    for r in d["rows"]:
        unsat = sum(r["nds"])
        if unsat:
            x.append(make_spec(a["d"], a["L"], r["h"]).n_eff / a["p"])
            share.append(sum(dd[2] for dd in r["dead"]) / unsat)
    return np.array(x), np.array(share), f"P = {a['p']}, L = {a['L']}"


def _panel_dead(ax):
    for name in ("p500_d12_L3_dead.json", "p500_d12_L5.json"):
        if (RESULTS / name).exists():
            x, y, label = _dead_share(name)
            ax.plot(x, y, "o-", label=label)
    ax.set(xlabel="N_eff / P", ylabel="dead inputs / unsatisfied data", ylim=(0, 1),
           title="unsatisfied data that are dead inputs")
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


def _panel_ensemble(ax):
    d = json.loads((RESULTS / "mnist_p500_L2_ensemble.json").read_text())
    rows = d["rows"]
    n = [r["N"] for r in rows]
    ax.errorbar(n, [r["test_error"] for r in rows], yerr=[r["sem"] for r in rows], fmt="o-",
                ms=4, capsize=2, label=f"single nets (mean of {d['args']['seeds']} seeds)")
    ens = np.array([r["ensemble_error"] for r in rows])
    ax.errorbar(n, ens, yerr=np.sqrt(ens * (1 - ens) / d["args"]["n_test"]), fmt="s--", ms=4,
                capsize=2, label="ensemble sign(F̄), F = f(w) − f(w₀) (binomial s.e.)")
    ax.axvspan(91, 115, color="orange", alpha=0.3, label="N* bracket")
    ax.set(xscale="log", xlabel="N (parameters)", ylabel="test error",
           title="single nets and their ensemble, P = 500")
    ax.legend(fontsize=7)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(HERE.parent / "docs" / "figures" / "nstar_cusp.png"))
    a = ap.parse_args()
    fig, axes = plt.subplots(1, 4, figsize=(20, 4))
    _panel_scans(axes[0])
    _panel_dead(axes[1])
    _panel_cusp(axes[2])
    _panel_ensemble(axes[3])
    fig.tight_layout()
    fig.savefig(a.out, dpi=130)
    print(a.out)
    print_table()
    print_dead_tally()


if __name__ == "__main__":
    main()
