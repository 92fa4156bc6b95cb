"""The measurements behind the training protocol of ``dlbridge regimes`` (dlbridge/nets/regimes.py):

1. ``lazy``: how far gradient flow on the soft hinge gets in the lazy regime (α = 10⁴) within a
   step budget, against P — the reason the explicit flow's scale (small) uses P = 16;
2. ``fire``: FIRE against gradient flow at equal α and budget — kernel change, weight change
   and the size of the test outputs |F|;
3. ``implicit``: the linearly implicit flow (dlbridge/nets/implicit.py) on the cases where the
   explicit flow did not finish (P = 64 and 1000), and at P = 500, up to α = 10⁶ at h = 64,
   where the kernel change reaches its 1/α law only beyond α = 10⁴ (biases in every layer);
4. ``bias``: the same nets with and without biases at h = 32 and 128 (P = 500): with a
   last-layer bias, whose gradient ∂f/∂b = 1 adds the all-ones matrix to Θ, ‖ΔΘ‖/‖Θ₀‖ at
   fixed α falls as 1/h; without, it does not depend on h (the default of ``dlbridge regimes``).

Each row: P, h, biases, α, optimiser, steps, stop reason, N_Δ left, kernel change, weight
change, mean |F| on the test points, per seed; ``--write [FILE]`` writes the table (default
benchmarks/results/regimes_protocol.md).

    python benchmarks/regimes_protocol.py lazy fire implicit --write
    python benchmarks/regimes_protocol.py bias --write benchmarks/results/regimes_bias.md
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from dlbridge.nets.regimes import RegimeSpec, train_regime

_BIASED = dict(bias=True)    # lazy, fire and implicit: biases in every layer, as first measured
CASES = {
    "lazy": [dict(n_train=p, width=16.0, alphas=(1e4,), steps=steps, optimizer="flow", **_BIASED)
             for p, steps in ((32, 100_000), (64, 100_000))],
    "fire": [dict(n_train=1000, width=20.0, alphas=(10.0,), steps=20_000, optimizer=opt,
                  **_BIASED)
             for opt in ("flow", "fire")],
    "implicit": [dict(n_train=p, width=h, alphas=a, steps=3000, optimizer="implicit", **_BIASED)
                 for p, h, a in ((64, 16.0, (1e4,)), (500, 16.0, (1e4, 1.0, 0.01)),
                                 (1000, 20.0, (1e4, 10.0)), (500, 64.0, (1e3, 1e4, 1e5, 1e6)))],
    "bias": [dict(n_train=500, width=h, alphas=(0.1, 10.0, 1e4), steps=3000,
                  optimizer="implicit", bias=b) for b in (True, False) for h in (32.0, 128.0)],
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
        rows.append(f"| {spec.n_train} | {spec.width:g} | {spec.bias} | {r.spec.alpha:g} | "
                    f"{spec.optimizer} | "
                    f"{r.seed} | {r.steps} | {r.stop_reason} | {r.n_constraints} | "
                    f"{n.kernel_change:.3g} | {n.weight_change:.3g} | "
                    f"{np.abs(n.test_outputs).mean():.3g} | {wall:.0f} |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("which", nargs="+", choices=sorted(CASES))
    ap.add_argument("--write", nargs="?", const=OUT, type=Path, metavar="FILE",
                    help=f"write the table to FILE (default {OUT})")
    args = ap.parse_args()
    torch.set_num_threads(2)
    lines = ["# The regimes protocol (benchmarks/regimes_protocol.py)", "",
             "MNIST parity (embedded), d = 10, L = 2, softplus, soft hinge β = 20, 2 seeds.", "",
             "| P | h | biases | α | optimiser | seed | steps | stop | N_Δ left | ‖ΔΘ‖/‖Θ₀‖ | ‖Δw‖/‖w₀‖ "
             "| ⟨|F|⟩ test | wall (s, both seeds) |", "|" + "---|" * 13]
    for name in args.which:
        for params in CASES[name]:
            rows = run_case(params)
            print("\n".join(rows), flush=True)
            lines += rows
    if args.write:
        args.write.parent.mkdir(exist_ok=True)
        args.write.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
