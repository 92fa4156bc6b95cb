"""Network-side benchmarks (not timed tests): batched ensemble vs a loop, exact Hessian vs autodiff.

1. 32 nets (d = 10, P = 1000, L = 2, widths 8 … 12) trained for a fixed number of Adam steps as ONE
   batched ensemble (dlbridge.nets.train.train_ensemble) vs a Python loop of torch.optim.Adam runs
   (dlbridge.nets.reference.train_reference). Target: ≥ 2× on CPU, ≥ 8× on a GPU.
2. Exact loss Hessian (dlbridge.nets.hessian.hessian_split) of the 1291-parameter net 10→30→30→1 on
   P = 1000 points vs torch.func.hessian (dense float64). Target ≥ 5×. Both are checked equal.

Usage: python benchmarks/bench_networks.py [--device cpu|cuda] [--steps 200] [--write]
(--write appends/replaces the section of benchmarks/RESULTS_networks.md for this device).
"""
from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch

from dlbridge.nets.data import random_sphere
from dlbridge.nets.hessian import hessian_split, problem_from_arrays
from dlbridge.nets.models import NetSpec, init_params, make_spec
from dlbridge.nets.reference import train_reference
from dlbridge.nets.train import TrainConfig, train_ensemble


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def bench_ensemble(device: str, steps: int) -> dict:
    """Wall time of 32 nets × ``steps`` Adam steps, batched vs looped; checks equal losses."""
    data = random_sphere(10, 1000, 0, seed=0)
    specs = [make_spec(10, 2, 8 + 4 * k / 31) for k in range(32)]
    seeds = list(range(32))
    cfg = TrainConfig(max_steps=steps, check_every=10 * steps, n_measure=10)
    train_ensemble(specs[:2], seeds[:2], data, TrainConfig(max_steps=5), device)   # warm-up
    _sync(device)
    t0 = time.perf_counter()
    batched = train_ensemble(specs, seeds, data, cfg, device)
    _sync(device)
    t_batch = time.perf_counter() - t0
    t0 = time.perf_counter()
    loop = [train_reference(s, sd, data, cfg, device) for s, sd in zip(specs, seeds)]
    _sync(device)
    t_loop = time.perf_counter() - t0
    err = max(abs(r.loss - ref[2]) / max(ref[2], 1e-300) for r, ref in zip(batched, loop))
    return {"t_batch": t_batch, "t_loop": t_loop, "speedup": t_loop / t_batch, "max_rel_loss_diff": err}


def bench_hessian(device: str) -> dict:
    """Exact split Hessian vs torch.func.hessian on 10→30→30→1 (N = 1291), P = 1000."""
    spec = NetSpec(10, (30, 30))
    data = random_sphere(10, 1000, 0, seed=1)
    th0 = init_params(spec, 0)
    th = th0 + 0.5 * torch.randn(spec.n_params, dtype=torch.float64,
                                 generator=torch.Generator().manual_seed(1))
    prob = problem_from_arrays(spec, th, th0, data.x_train, data.y_train, device=device)
    hessian_split(prob)
    _sync(device)
    t0 = time.perf_counter()
    split = hessian_split(prob)
    h0, hp = split.stiffness, split.stress
    _sync(device)
    t_exact = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = torch.func.hessian(prob.loss)(prob.theta)
    _sync(device)
    t_auto = time.perf_counter() - t0
    diff = float((h0 + hp - ref).abs().max())
    return {"n_params": spec.n_params, "n_active": int((prob.gaps() > 0).sum()),
            "t_exact": t_exact, "t_autodiff": t_auto, "speedup": t_auto / t_exact,
            "max_abs_diff": diff}


def _section(device: str, ens: dict, hes: dict, steps: int) -> str:
    name = torch.cuda.get_device_name() if device == "cuda" else platform.processor() or "cpu"
    return "\n".join([
        f"## {device}: {name} (torch {torch.__version__}, {torch.get_num_threads()} threads)",
        "",
        "| benchmark | dlbridge | reference | speed-up |",
        "|---|---|---|---|",
        f"| 32 nets × {steps} Adam steps (d=10, P=1000, L=2, h=8…12) | batched "
        f"{ens['t_batch']:.2f} s | loop {ens['t_loop']:.2f} s | {ens['speedup']:.1f}× |",
        f"| exact Hessian N={hes['n_params']}, P=1000 (N_Δ={hes['n_active']}) | "
        f"{hes['t_exact']:.2f} s | torch.func.hessian {hes['t_autodiff']:.2f} s | "
        f"{hes['speedup']:.1f}× |",
        "",
        f"Checks: max relative loss difference batched vs loop {ens['max_rel_loss_diff']:.1e}; "
        f"max |H − H_autodiff| = {hes['max_abs_diff']:.1e}.",
        "",
    ])


def main() -> None:
    """Run both benchmarks, print the table, optionally write it into RESULTS_networks.md."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    ens, hes = bench_ensemble(args.device, args.steps), bench_hessian(args.device)
    text = _section(args.device, ens, hes, args.steps)
    print(text)
    if args.write:
        path = Path(__file__).with_name("RESULTS_networks.md")
        old = path.read_text() if path.exists() else "# Network benchmarks (bench_networks.py)\n\n"
        head = f"## {args.device}:"
        keep = [s for s in old.split("\n## ") if not ("## " + s).startswith(head)]
        path.write_text("\n## ".join(keep).rstrip() + "\n\n" + text)


if __name__ == "__main__":
    main()
