"""Test error of MNIST-parity nets vs N across the jamming transition (Spigler et al., J. Phys. A
52, 474001, 2019: the test error of nets trained to the bottom of the hinge loss has a cusp at N*).

Trains every (width, seed) as one batched ensemble (full-batch Adam, constant lr) on P PCA-whitened
MNIST-parity training images (the embedded file, or raw MNIST files with --mnist), and prints per
width: N, fraction fitted, mean N_Δ/N, mean test error ± its standard error over seeds, the test
error of the ensemble predictor sign(F̄) (F = f(w) − f(w₀) averaged over every seed of the width,
fitted or not: Geiger et al., J. Stat. Mech. 2020, 023401, ensemble averaging removes the
divergence of the output at N* and with it the cusp), stop reasons. Usage: see --help.
"""
import argparse
import json
import sys
import time

import numpy as np
import torch

from dlbridge.nets.data import load_dataset
from dlbridge.nets.models import EnsembleModel, make_spec
from dlbridge.nets.train import TrainConfig, train_ensemble
from dlbridge.regimes.cells import ensemble_error

ap = argparse.ArgumentParser()
ap.add_argument("--mnist", default=None, metavar="DIR",
                help="raw MNIST files (PCA on the P training images); default: the embedded "
                     "mnist-parity file (32 whitened components of the 10k test split)")
ap.add_argument("--p", type=int, default=500)
ap.add_argument("--n-test", type=int, default=4000)
ap.add_argument("--d", type=int, default=10)
ap.add_argument("--L", type=int, default=2)
ap.add_argument("--hs", type=float, nargs="+", required=True)
ap.add_argument("--seeds", type=int, default=4)
ap.add_argument("--steps", type=int, default=20000)
ap.add_argument("--lr", type=float, default=1e-2)
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--json", default=None)
a = ap.parse_args()
torch.set_num_threads(a.threads)
data = (load_dataset("mnist-parity", a.d, a.p, a.n_test, seed=0) if a.mnist is None
        else load_dataset("mnist", a.d, a.p, a.n_test, seed=0, data_dir=a.mnist))
cfg = TrainConfig(max_steps=a.steps, lr=a.lr, decay_factor=1.0, check_every=1000)
specs = [make_spec(a.d, a.L, h) for h in a.hs for _ in range(a.seeds)]
seeds = [s for _ in a.hs for s in range(a.seeds)]
t = time.time()
res = train_ensemble(specs, seeds, data, cfg, device="cpu")
print(f"# {' '.join(sys.argv[1:])}  time {time.time() - t:.0f}s")
print(f"{'h':>6} {'N':>6} {'N_eff':>6} {'fitted':>6} {'NdN':>6} {'test_err':>9} {'sem':>6} "
      f"{'ens_err':>8}  stops")
rows = []
for i, h in enumerate(a.hs):
    rs = res[i * a.seeds:(i + 1) * a.seeds]
    sp = rs[0].spec
    err = np.array([r.test_error for r in rs])
    model = EnsembleModel([r.spec for r in rs])
    x_test = torch.as_tensor(data.x_test, dtype=torch.float64)
    with torch.no_grad():
        outputs = (model.forward(model.pack([torch.as_tensor(r.theta) for r in rs]), x_test)
                   - model.forward(model.pack([torch.as_tensor(r.theta0) for r in rs]), x_test))
    ens = ensemble_error(outputs.numpy(), data.y_test)
    row = dict(h=h, N=sp.n_params, N_eff=sp.n_eff, fitted=float(np.mean([r.fitted for r in rs])),
               ndn=float(np.mean([r.n_constraints for r in rs]) / sp.n_params),
               test_error=float(err.mean()), sem=float(err.std(ddof=1) / np.sqrt(len(err))),
               ensemble_error=ens,
               stops=[r.stop_reason for r in rs], train_error=[r.train_error for r in rs])
    rows.append(row)
    print(f"{h:6.2f} {row['N']:6d} {row['N_eff']:6d} {row['fitted']:6.2f} {row['ndn']:6.3f} "
          f"{row['test_error']:9.4f} {row['sem']:6.4f} {ens:8.4f}  {row['stops']}")
if a.json:
    json.dump(dict(args=vars(a), rows=rows), open(a.json, "w"))
