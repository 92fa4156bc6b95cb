"""Ellipses against discs: time to φ_J over many seeds, and where the ratio comes from.

    python benchmarks/bench_shape_ratio.py                  # N = 256 (8 seeds), 1024 (5 seeds)
    python benchmarks/bench_shape_ratio.py --n 256 --seeds 4

One seed of `bench_jamming.py` per point is not enough for a ratio: a compression step that lands
a few 1e-6 above φ_J relaxes for 10⁵ FIRE steps, and one such seed sets the ratio at its N. Here
each (shape, N, seed) is one `find_jamming` from `random_packing(N, 0.80, 2, seed)` (ellipses
a/b = 1.5), in a fresh single-threaded process after a numba warm-up (`bench_jamming._run`). The
ratio of mean times is given with a bootstrap error over seeds (resampled independently for the
two shapes), beside the ratio of medians, and split into its two factors: FIRE steps per search
and cost per particle-step. Writes benchmarks/RESULTS_shape_ratio.md and
benchmarks/results/shape_ratio.json.
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_jamming import ROOT, _run  # noqa: E402  (the same worker and warm-up)

SHAPES = {"discs": "discs 2D", "ellipses": "ellipses 2D a/b 1.5"}
DEFAULT_PLAN = {256: 8, 1024: 5}
BOOTSTRAP = 2000


def _ratio_of_means(num: list[float], den: list[float], rng: np.random.Generator) -> tuple[float, float]:
    """mean(num)/mean(den) and its bootstrap standard error (seeds resampled per shape)."""
    a, b = np.asarray(num), np.asarray(den)
    boot = [rng.choice(a, a.size).mean() / rng.choice(b, b.size).mean() for _ in range(BOOTSTRAP)]
    return float(a.mean() / b.mean()), float(np.std(boot, ddof=1))


def _summary(rows: list[dict], n: int, rng: np.random.Generator) -> dict:
    by = {k: [r for r in rows if r["shape"] == k and r["n"] == n] for k in SHAPES}
    t = {k: [r["seconds"] for r in v] for k, v in by.items()}
    steps = {k: [r["steps"] for r in v] for k, v in by.items()}
    per = {k: [1e9 * r["seconds"] / r["steps"] / n for r in v] for k, v in by.items()}
    ratio, err = _ratio_of_means(t["ellipses"], t["discs"], rng)
    return {"n": n, "seeds": len(t["discs"]), "times": t, "ratio_of_means": ratio, "ratio_error": err,
            "ratio_of_medians": statistics.median(t["ellipses"]) / statistics.median(t["discs"]),
            "steps_ratio": float(np.mean(steps["ellipses"]) / np.mean(steps["discs"])),
            "cost_ratio": float(np.mean(per["ellipses"]) / np.mean(per["discs"])),
            "ns_per_particle_step": {k: float(np.mean(v)) for k, v in per.items()},
            "largest_share": {k: [max(p["steps"] for p in r["probes"]) / r["steps"] for r in v]
                              for k, v in by.items()}}


def _markdown(summaries: list[dict], stamp: str) -> str:
    head = ("| N | seeds | discs: mean (median) s | ellipses: mean (median) s | ellipses / discs: "
            "ratio of means | of medians | FIRE steps ratio | cost per particle-step ratio |\n"
            "|---:|---:|---:|---:|---:|---:|---:|---:|")
    lines = [head]
    for s in summaries:
        d, e = s["times"]["discs"], s["times"]["ellipses"]
        lines.append(f"| {s['n']} | {s['seeds']} | {np.mean(d):.2f} ({statistics.median(d):.2f}) | "
                     f"{np.mean(e):.2f} ({statistics.median(e):.2f}) | "
                     f"{s['ratio_of_means']:.2f} ± {s['ratio_error']:.2f} | "
                     f"{s['ratio_of_medians']:.2f} | {s['steps_ratio']:.2f} | {s['cost_ratio']:.2f} |")
    seeds = []
    for s in summaries:
        for k in SHAPES:
            times = ", ".join(f"{x:.2f}" for x in s["times"][k])
            share = ", ".join(f"{100 * x:.0f}" for x in s["largest_share"][k])
            seeds.append(f"| {k} | {s['n']} | {s['ns_per_particle_step'][k]:.1f} | {times} | {share} |")
    return f"""# Ellipses (a/b = 1.5) against discs: time to φ_J over seeds

`python benchmarks/bench_shape_ratio.py` on {stamp}, {platform.processor() or platform.machine()},
one thread per process, seeds 0 … K−1 from `random_packing(N, 0.80, 2, seed)`, rtol 1e-7, FIRE to
1e-12, the package defaults. Raw numbers: [results/shape_ratio.json](results/shape_ratio.json).
The ratio of means carries a bootstrap standard error over seeds. The last two columns split it:
time = (FIRE steps) × (cost per particle-step) × N.

{chr(10).join(lines)}

Every seed: the mean cost per particle-step, the search times, and the share of the search's FIRE
steps taken by its single largest minimisation (a share near 100 % is a compression step that
landed just above or below φ_J and crept there).

| shape | N | ns per particle-step | seconds per seed | largest minimisation, % of steps |
|---|---:|---:|---|---|
{chr(10).join(seeds)}
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="*", help="sizes (default 256 and 1024)")
    ap.add_argument("--seeds", type=int, help="seeds per size (default 8 at 256, 5 at 1024)")
    ap.add_argument("--out", default=str(HERE / "RESULTS_shape_ratio.md"))
    args = ap.parse_args(argv)
    plan = {n: args.seeds or DEFAULT_PLAN.get(n, 5) for n in (args.n or DEFAULT_PLAN)}
    if any(k < 2 for k in plan.values()):
        ap.error("--seeds must be at least 2 (a ratio over seeds)")
    rows = []
    for n, k in plan.items():
        for shape, system in SHAPES.items():
            for seed in range(k):
                r = _run(ROOT, system, n, seed, [])
                rows.append({"shape": shape, "n": n, "seed": seed, "seconds": r["seconds"],
                             "steps": r["steps"], "minimizations": r["minimizations"],
                             "phi_j": r["phi_j"], "probes": r["probes"]})
                print(f"{shape:9s} N={n:5d} seed {seed}: {r['seconds']:7.2f} s {r['steps']:8d} steps",
                      flush=True)
    rng = np.random.default_rng(0)
    summaries = [_summary(rows, n, rng) for n in plan]
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    (HERE / "results").mkdir(exist_ok=True)
    with open(HERE / "results" / "shape_ratio.json", "w") as f:
        json.dump({"date": stamp, "rows": rows, "summaries": summaries}, f, indent=1)
    Path(args.out).write_text(_markdown(summaries, stamp))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
