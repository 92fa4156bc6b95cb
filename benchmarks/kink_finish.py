"""The smoothed finish (dlbridge/nets/kinkfinish.py) on stored ReLU nets, with and without its
L-BFGS descent.

Every net of the network files given that is not fitted (optionally only some widths) is
finished from its stored parameters by ``smoothed_finish`` with ``descent_iter`` = each value of
``--descent-iter`` (0: Levenberg–Marquardt only), one thread, and tabulated: the loss and N_Δ
before and after, the outcome (``converged``: the kink certificate, Newton's own convergence or a settled end
point), the kink residual of the end point, the drifts of the last stage (relative fall of the
loss, largest move of a gap / ⟨Δ₊⟩), the iterations and the wall time. The nets of the stored results
come from

    dlbridge train --dataset random --dim 10 --n-train 400 --n-test 0 --depth 2 \\
        --widths 7 7.5 8 --seeds 4 --seed-offset {0,4} --steps 300000 --schedule plateau \\
        --finish none --out a{0,4}.h5

and the tables from ``python benchmarks/kink_finish.py a0.h5 a4.h5 --widths 7 --descent-iter 0
--write results/kink_finish_d0.md`` and, at the same time on the second core, ``python
benchmarks/kink_finish.py a0.h5 --widths 7 --descent-iter 20000 --write
results/kink_finish_d20000.md`` (wall times are those of two processes on 2 cores).
"""
from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import h5py
import torch

from dlbridge.nets.hessian import problem_from_arrays
from dlbridge.nets.kinkfinish import SmoothingSettings, smoothed_finish
from dlbridge.nets.kinkmin import kink_stationarity
from dlbridge.nets.losses import HingeLoss
from dlbridge.nets.reload import load_net

HERE = Path(__file__).resolve().parent


def unfitted_nets(path: str, widths: set[float] | None) -> list[tuple[str, str]]:
    """(state group, stop reason) of ``path``'s nets not ``fitted``, in file order."""
    with h5py.File(path, "r") as f:
        return [(f"/runs/{name}", str(g.attrs.get("stop_reason"))) for name, g in f["runs"].items()
                if g.attrs.get("stop_reason") != "fitted"
                and (widths is None or float(g.attrs["width"]) in widths)]


def finish_row(path: str, group: str, adam: str, descent_iter: int) -> str:
    net = load_net(path, group)
    data = net.data()
    prob = problem_from_arrays(net.spec, net.theta, net.theta0, data.x_train, data.y_train,
                               HingeLoss("quadratic"))
    before = float(prob.loss(prob.theta)), int((prob.gaps(prob.theta) > 0).sum())
    t0 = time.perf_counter()
    out = smoothed_finish(prob, SmoothingSettings(descent_iter=descent_iter))
    wall = time.perf_counter() - t0
    residual = kink_stationarity(dataclasses.replace(prob, theta=out.theta)).bounded_residual
    after = float(prob.loss(out.theta)), int((prob.gaps(out.theta) > 0).sum())
    return (f"| {Path(path).name}:{group.rsplit('/', 1)[-1]} | {net.spec.n_params} | {adam} | "
            f"{before[0]:.4g} | {before[1]} | {out.reason} | {after[0]:.4g} | {after[1]} | "
            f"{residual:.1e} | {out.loss_drift:.1e} | {out.gap_drift:.1e} | {out.iterations} | "
            f"{wall:.0f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", help="network files (dlbridge train)")
    ap.add_argument("--widths", type=float, nargs="*", help="only these widths h")
    ap.add_argument("--descent-iter", type=int, nargs="+", default=[0, 20_000])
    ap.add_argument("--write", type=Path, help="write the table to this file (relative to benchmarks/)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    widths = set(args.widths) if args.widths else None
    lines = ["# The smoothed finish with and without its L-BFGS descent (benchmarks/kink_finish.py)",
             "", __doc__.split("\n\n", 1)[1].strip(), "",
             "| descent_iter | net | N | Adam | L before | N_Δ before | finish | L after | N_Δ after "
             "| kink residual | loss drift | gap drift | iterations | wall (s) |", "|" + "---|" * 14]
    for d in args.descent_iter:
        for path in args.files:
            for group, adam in unfitted_nets(path, widths):
                lines.append(f"| {d} " + finish_row(path, group, adam, d))
                print(lines[-1], flush=True)
    if args.write:
        target = args.write if args.write.is_absolute() else HERE / args.write
        target.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
