"""What the Newton finish (dlbridge/nets/finish.py) does to the nets Adam leaves unfitted.

The nets of `dlbridge validate`'s large scale (random data, P = 400, d = 10, L = 2, 40 000 Adam
steps), trained once per width as one ensemble; every net Adam left unfitted is then finished
from its last parameters (`dlbridge.nets.train.finished`, the same code as `--finish newton`).
Per width: Adam's stop reasons, the finish's outcomes, the loss before and after, N_Δ/N of the
minima reached, and the finish's wall time. Softplus (smooth: minima exist as points of the
loss) and ReLU (the validation's activation, whose ∇L jumps at a^ℓ = 0).

    python benchmarks/net_finish.py --write
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
import time
from pathlib import Path

import numpy as np
import torch

from dlbridge.nets.runs import NetRunSpec, train_width
from dlbridge.nets.train import finished

BASE = NetRunSpec(dataset="random", dim=10, n_train=400, n_test=0, depth=2, steps=40_000)
CASES = (("softplus", (6.0, 7.0, 8.0, 9.0)), ("relu", (8.0, 9.0)))
SEEDS = tuple(range(8))
OUT = Path(__file__).resolve().parent / "results" / "net_finish.md"


def _counts(reasons) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(collections.Counter(reasons).items()))


def run_width(activation: str, width: float) -> str:
    spec = dataclasses.replace(BASE, activation=activation, width=width)
    data = spec.load_data()
    t0 = time.perf_counter()
    plain = train_width(spec, list(SEEDS), data)
    adam_wall = time.perf_counter() - t0
    todo = [r for r in plain if r.stop_reason not in ("fitted", "diverged")]
    t0 = time.perf_counter()
    done = [finished(r, data, spec.config().hinge, torch.device("cpu")) for r in todo]
    finish_wall = time.perf_counter() - t0
    n = plain[0].spec.n_params
    minima = [r.n_constraints / n for r in done if r.stop_reason == "converged"]
    ratio = [d.loss / max(p.loss, 1e-300) for p, d in zip(todo, done)]
    iters = [d.finish_iterations for d in done]
    return (f"| {activation} | {width:g} | {n} | {_counts(r.stop_reason for r in plain)} | "
            f"{_counts(d.stop_reason for d in done) or '—'} | "
            f"{np.median(ratio) if ratio else float('nan'):.2g} | "
            f"{', '.join(f'{m:.2f}' for m in minima) or '—'} | "
            f"{int(np.median(iters)) if iters else 0} | {adam_wall:.0f} | {finish_wall:.0f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help=f"write {OUT}")
    args = ap.parse_args()
    torch.set_num_threads(1)
    lines = ["# The Newton finish on nets Adam left unfitted (benchmarks/net_finish.py)", "",
             f"Random data, P = {BASE.n_train}, d = {BASE.dim}, L = {BASE.depth}, quadratic "
             f"hinge, {BASE.steps} Adam steps, seeds {SEEDS[0]}–{SEEDS[-1]}, one thread. "
             "Loss ratio: finished/Adam, median over the nets finished. N_Δ/N: each net the "
             "finish took to a minimum with unsatisfied data.", "",
             "| activation | h | N | Adam | after the finish | loss ratio | N_Δ/N at minima "
             "| finish steps (median) | Adam wall (s) | finish wall (s) |", "|" + "---|" * 10]
    for activation, widths in CASES:
        for width in widths:
            lines.append(run_width(activation, width))
            print(lines[-1], flush=True)
    if args.write:
        OUT.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
