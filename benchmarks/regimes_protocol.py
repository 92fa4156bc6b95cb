"""The measurements behind the training protocol of ``dlbridge regimes`` (dlbridge/nets/regimes.py):

1. ``lazy``: how far gradient flow on the soft hinge gets in the lazy regime (α = 10⁴) within a
   step budget, against P — the reason the explicit flow's scale (small) uses P = 16;
2. ``fire``: FIRE against gradient flow at equal α and budget — kernel change, weight change
   and the size of the test outputs |F|;
3. ``implicit``: the linearly implicit flow (dlbridge/nets/implicit.py) on the cases where the
   explicit flow did not finish (P = 64 and 1000), and at P = 500 as the default scale runs it,
   up to α = 10⁶ at h = 64, where the kernel change reaches its 1/α law only beyond α = 10⁴.

Each row: P, h, α, optimiser, steps, stop reason, N_Δ left, kernel change, weight change, mean
|F| on the test points, per seed. Writes benchmarks/results/regimes_protocol.md with --write.

    python benchmarks/regimes_protocol.py lazy fire implicit --write
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from dlbridge.nets.regimes import RegimeSpec, train_regime

CASES = {
    "lazy": [dict(n_train=p, width=16.0, alphas=(1e4,), steps=steps, optimizer="flow")
             for p, steps in ((32, 100_000), (64, 100_000))],
    "fire": [dict(n_train=1000, width=20.0, alphas=(10.0,), steps=20_000, optimizer=opt)
             for opt in ("flow", "fire")],
    "implicit": [dict(n_train=64, width=16.0, alphas=(1e4,), steps=3000, optimizer="implicit"),
                 dict(n_train=500, width=16.0, alphas=(1e4, 1.0, 0.01), steps=3000,
                      optimizer="implicit"),
                 dict(n_train=1000, width=20.0, alphas=(1e4, 10.0), steps=3000,
                      optimizer="implicit"),
                 dict(n_train=500, width=64.0, alphas=(1e3, 1e4, 1e5, 1e6), steps=3000,
                      optimizer="implicit")],
}
OUT = Path(__file__).resolve().parent / "results" / "regimes_protocol.md"


def run_case(params: dict, seeds=(0, 1)) -> list[str]:
    spec = RegimeSpec(n_test=1000, n_probe=200, device="cpu", **params)
    t0 = time.perf_counter()
    nets = train_regime(spec, list(seeds))
    wall = time.perf_counter() - t0
    rows = []
    for n in nets:
        r = n.result
        rows.append(f"| {spec.n_train} | {spec.width:g} | {r.spec.alpha:g} | {spec.optimizer} | "
                    f"{r.seed} | {r.steps} | {r.stop_reason} | {r.n_constraints} | "
                    f"{n.kernel_change:.3g} | {n.weight_change:.3g} | "
                    f"{np.abs(n.test_outputs).mean():.3g} | {wall:.0f} |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("which", nargs="+", choices=sorted(CASES))
    ap.add_argument("--write", action="store_true", help=f"write {OUT}")
    args = ap.parse_args()
    torch.set_num_threads(2)
    lines = ["# The regimes protocol (benchmarks/regimes_protocol.py)", "",
             "MNIST parity (embedded), d = 10, L = 2, softplus, soft hinge β = 20, 2 seeds.", "",
             "| P | h | α | optimiser | seed | steps | stop | N_Δ left | ‖ΔΘ‖/‖Θ₀‖ | ‖Δw‖/‖w₀‖ "
             "| ⟨|F|⟩ test | wall (s, both seeds) |", "|" + "---|" * 12]
    for name in args.which:
        for params in CASES[name]:
            rows = run_case(params)
            print("\n".join(rows), flush=True)
            lines += rows
    if args.write:
        OUT.parent.mkdir(exist_ok=True)
        OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
