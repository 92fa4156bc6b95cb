"""Scan widths at fixed P: fraction fitted, N_Δ/N, stop reasons. Usage: see argparse."""
import argparse
import collections
import json
import sys
import time

import numpy as np
import torch

from dlbridge.nets.data import random_sphere
from dlbridge.nets.diagnostics import dead_inputs
from dlbridge.nets.models import make_spec
from dlbridge.nets.train import TrainConfig, train_ensemble

ap = argparse.ArgumentParser()
ap.add_argument("--p", type=int, default=1000)
ap.add_argument("--d", type=int, default=10)
ap.add_argument("--L", type=int, default=3)
ap.add_argument("--hs", type=float, nargs="+")
ap.add_argument("--seeds", type=int, default=4)
ap.add_argument("--steps", type=int, default=20000)
ap.add_argument("--lr", type=float, default=1e-2)
ap.add_argument("--decay-every", type=int, default=2000)
ap.add_argument("--decay-factor", type=float, default=2.0)
ap.add_argument("--lr-min", type=float, default=1e-5)
ap.add_argument("--check-every", type=int, default=1000)
ap.add_argument("--rtol", type=float, default=1e-5)
ap.add_argument("--alpha", type=float, default=1.0)
ap.add_argument("--nobias", action="store_true")
ap.add_argument("--opt", default="adam")
ap.add_argument("--data-seed", type=int, default=0)
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--json", default=None)
ap.add_argument("--activation", default="relu")
a = ap.parse_args()
torch.set_num_threads(a.threads)
data = random_sphere(a.d, a.p, 0, seed=a.data_seed)
cfg = TrainConfig(optimizer=a.opt, max_steps=a.steps, lr=a.lr, decay_every=a.decay_every,
                  decay_factor=a.decay_factor, lr_min=a.lr_min, check_every=a.check_every, loss_rtol=a.rtol)
specs = [make_spec(a.d, a.L, h, alpha=a.alpha, bias=not a.nobias, activation=a.activation)
         for h in a.hs for _ in range(a.seeds)]
seeds = [s for _ in a.hs for s in range(a.seeds)]
t = time.time()
res = train_ensemble(specs, seeds, data, cfg, device="cpu")
el = time.time() - t
print(f"# {' '.join(sys.argv[1:])}  time {el:.0f}s")
print(f"{'h':>6} {'N':>6} {'Nw':>6} {'P/Nw':>6} {'fit':>5} {'NdN':>6} {'NdNw_nf':>8} reasons steps nds"
      + ("  dead inputs at init/end, dead among unsatisfied" if a.activation == "relu" else ""))


def dead_counts(r):
    """(dead inputs at init, at the end, dead among the unsatisfied data at the end)."""
    start = dead_inputs(r.spec, r.theta0, data.x_train).n_dead
    end = dead_inputs(r.spec, r.theta, data.x_train).dead
    return start, int(end.sum()), int((end & (r.gaps > 0)).sum())


rows = []
for i, h in enumerate(a.hs):
    rs = res[i*a.seeds:(i+1)*a.seeds]
    sp = rs[0].spec
    N = sp.n_params
    Nw = sum(o*i_ for o, i_ in sp.shapes)
    fit = np.mean([r.fitted for r in rs])
    nds = [r.n_constraints for r in rs]
    nf = [r.n_constraints/Nw for r in rs if not r.fitted]
    reasons = collections.Counter(r.stop_reason for r in rs)
    dead = [dead_counts(r) for r in rs] if a.activation == "relu" else []
    print(f"{h:6.2f} {N:6d} {Nw:6d} {a.p/Nw:6.2f} {fit:5.2f} {np.mean(nds)/N:6.3f} "
          f"{np.mean(nf) if nf else float('nan'):8.3f} "
          f"{dict(reasons)} {[r.steps for r in rs]} {nds}" + (f"  {dead}" if dead else ""))
    rows.append(dict(h=h, N=N, Nw=Nw, fit=fit, nds=nds, reasons=[r.stop_reason for r in rs],
                     steps=[r.steps for r in rs], dead=dead))
if a.json:
    json.dump(dict(args=vars(a), rows=rows, time=el), open(a.json, "w"))
