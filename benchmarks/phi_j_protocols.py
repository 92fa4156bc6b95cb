"""⟨φ_J⟩ and its spread over seeds: this checkout's search against an earlier version's, same starts.

    python benchmarks/phi_j_protocols.py                  # 10 seeds of N = 1024, 2D discs and 3D spheres

Each (system, version, seed) runs in a fresh process through the worker of bench_jamming.py (two
at a time); "before" is the git ref ``--before-ref``, checked out in benchmarks/_work/. Reports the
mean, its standard error, the standard deviation over seeds, the paired difference (same start)
and the unpaired difference in combined standard errors. Writes benchmarks/RESULTS_phi_j_protocols.md
and benchmarks/results/phi_j_protocols.json.
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import datetime
import json
import math
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_jamming  # noqa: E402


def _stats(xs: list[float]) -> tuple[float, float, float]:
    m = sum(xs) / len(xs)
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))
    return m, sd / math.sqrt(len(xs)), sd


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--systems", nargs="*", default=["discs 2D", "spheres 3D"])
    ap.add_argument("--before-ref", default="96f7ae0")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    trees = {"after": bench_jamming.ROOT, "before": bench_jamming._before_tree(args.before_ref)}
    tasks = [(system, version, seed) for system in args.systems for version in trees
             for seed in range(args.seeds)]
    with cf.ThreadPoolExecutor(args.workers) as ex:
        runs = list(ex.map(lambda t: bench_jamming._run(trees[t[1]], t[0], args.n, t[2], []), tasks))
    rows = [dict(system=s, version=v, seed=k, phi_j=r["phi_j"], seconds=r["seconds"], steps=r["steps"])
            for (s, v, k), r in zip(tasks, runs)]
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    (HERE / "results").mkdir(exist_ok=True)
    with open(HERE / "results" / "phi_j_protocols.json", "w") as f:
        json.dump({"date": stamp, "before_ref": args.before_ref, "n": args.n, "runs": rows}, f, indent=1)
    lines = [f"# ⟨φ_J⟩ of the φ_J searches, N = {args.n}, {args.seeds} seeds",
             "",
             f"`python benchmarks/phi_j_protocols.py` on {stamp}; \"before\" = git {args.before_ref} "
             "(bisection from below), \"after\" = this checkout (descent); same random starts "
             "(seeds 0 … {}), rtol = 1e-7. Raw numbers: [results/phi_j_protocols.json]"
             "(results/phi_j_protocols.json).".format(args.seeds - 1),
             "",
             "| system | ⟨φ_J⟩ before | ⟨φ_J⟩ after | sd before | sd after | after − before (paired) "
             "| unpaired, in combined s.e. | s per seed before / after |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for system in args.systems:
        by = {v: sorted((r for r in rows if r["system"] == system and r["version"] == v),
                        key=lambda r: r["seed"]) for v in trees}
        (mb, eb, sb), (ma, ea, sa) = (_stats([r["phi_j"] for r in by[v]]) for v in ("before", "after"))
        md, ed, _ = _stats([a["phi_j"] - b["phi_j"] for a, b in zip(by["after"], by["before"])])
        tb, ta = (sum(r["seconds"] for r in by[v]) / len(by[v]) for v in ("before", "after"))
        lines.append(f"| {system} | {mb:.5f} ± {eb:.5f} | {ma:.5f} ± {ea:.5f} | {sb:.5f} | {sa:.5f} | "
                     f"{md:+.5f} ± {ed:.5f} | {(ma - mb) / math.hypot(ea, eb):+.2f} | {tb:.1f} / {ta:.1f} |")
    lines += ["", "Two processes ran at a time, so the seconds are wall times on a loaded 2-core machine."]
    out = HERE / "RESULTS_phi_j_protocols.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
