"""``dlbridge train``: nets over widths and seeds at fixed P, N* bracketed, states in HDF5.

:func:`train_to_file` is the library call (the demo and this command use it); :func:`add_train_parser`
and :func:`cmd_train` are the command line.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import shlex
from typing import Sequence

from packing.errors import ParameterError, require
from packing.exits import EXIT_STATUS
from packing.io import atomic_h5, check_output_path

from .data import DATASETS
from .finish import FINISHES
from .losses import LOSSES
from .models import ACTIVATIONS, INITS
from .runs import NetRunSpec, describe_diverged, device_name, split_diverged, write_nets
from .train import OPTIMIZERS, SCHEDULES, NetResult
from .transition import Transition, auto_start_width, ensemble_evaluator, find_transition, transition_of_scan

log = logging.getLogger(__name__)

MAX_SEEDS = 10_000


@dataclasses.dataclass(frozen=True)
class TrainOutcome:
    """What :func:`train_to_file` did: the scan, the nets stored, the diverged nets (not
    stored), P, and the stored nets that reached no minimum (stopped by the step budget or
    stalled: ``converged`` False in the file)."""

    transition: Transition
    n_stored: int
    failed: tuple[NetResult, ...]
    n_train: int
    n_unconverged: int = 0


def _widths(values: list[str]) -> list[float] | None:
    if values == ["auto"]:
        return None
    out = []
    for v in values:
        try:
            out.append(float(v))
        except ValueError:
            raise ParameterError(f"--widths must be 'auto' or numbers >= 1 (got {v!r})") from None
    return out


def add_train_parser(sub) -> None:
    """Add ``train`` to an argparse subparsers object; its ``func`` is :func:`cmd_train`."""
    p = sub.add_parser("train", help="train nets over widths and seeds at fixed P, write HDF5",
                       description="Train nets over widths and seeds at fixed P, bracket N* "
                                   "(--widths auto) and write every net's state (HDF5).")
    a = p.add_argument
    a("--dataset", choices=DATASETS, default="random", help="training data (default %(default)s)")
    a("--data-dir", default=None, help="directory of IDX/npz (mnist) or CIFAR-10 batches")
    a("--dim", type=int, default=10, help="input dimension d (PCA components for images)")
    a("--n-train", type=int, default=1000, help="number of training points P")
    a("--n-test", type=int, default=1000, help="number of test points")
    a("--data-seed", type=int, default=0, help="seed of the data draw / split")
    a("--depth", type=int, default=2, help="number of hidden layers L")
    a("--widths", nargs="+", default=["auto"],
      help="'auto' (bracket N* by bisection) or widths h (non-integer allowed)")
    a("--seeds", type=int, default=4,
      help="number of initialisation seeds per width: seeds 0..K-1 (plus --seed-offset)")
    a("--seed-offset", type=int, default=0, help="first seed (default 0)")
    a("--alpha", type=float, default=1.0, help="output scale α of F = α(f − f0)")
    a("--activation", choices=ACTIVATIONS, default="relu",
      help="activation of the hidden layers (default %(default)s)")
    a("--init", choices=INITS, default="orthogonal", help="weight initialisation (default %(default)s)")
    a("--no-bias", action="store_true", help="nets without biases")
    a("--loss", choices=LOSSES, default="quadratic", help="hinge loss (default %(default)s)")
    a("--optimizer", choices=OPTIMIZERS, default="adam", help="optimiser (default %(default)s)")
    a("--steps", type=int, default=20_000, help="step budget per net")
    a("--finish", choices=FINISHES, default="none",
      help="newton: take every unfitted net on to the bottom of its loss by Levenberg–Marquardt "
           "on the exact Hessian (N <= 4000; default none); smoothed: the same for ReLU nets "
           "through their kinks, by a softplus continuation (dlbridge.nets.kinkfinish)")
    a("--schedule", choices=SCHEDULES, default="step",
      help="Adam's learning rate: step (÷10 every 2.5e5 steps, the paper's) or plateau (÷10 per "
           "net when its loss stops falling, back up after each descent to the smallest rate; "
           "converged when a whole descent lowers the loss no more)")
    a("--lr", type=float, default=None, help="initial learning rate / dt (per optimizer default)")
    a("--rel-tol", type=float, default=0.02, help="relative width of the N* bracket (auto)")
    a("--hessian", action="store_true", help="store H, H0, Hp eigenvalues of every net")
    a("--device", choices=("auto", "cpu", "cuda"), default="auto",
      help="torch device; auto takes cuda when available (default %(default)s)")
    a("--out", required=True, help="output HDF5 file")
    a("--overwrite", action="store_true", help="replace an existing output file")
    p.set_defaults(func=cmd_train)


def _validate_train(args: argparse.Namespace) -> list[float] | None:
    require(args.dataset in DATASETS, "--dataset", f"one of {', '.join(DATASETS)}", args.dataset)
    require(args.n_train >= 1, "--n-train", "an integer >= 1 (P >= 1)", args.n_train)
    require(args.n_test >= 0, "--n-test", "an integer >= 0", args.n_test)
    require(args.depth >= 1, "--depth", "an integer >= 1", args.depth)
    require(1 <= args.seeds <= MAX_SEEDS, "--seeds", f"an integer in [1, {MAX_SEEDS}]", args.seeds)
    require(args.seed_offset >= 0, "--seed-offset", "an integer >= 0", args.seed_offset)
    require(args.steps >= 1, "--steps", "an integer >= 1", args.steps)
    require(args.device in ("auto", "cpu", "cuda"), "--device", "one of auto, cpu, cuda",
            args.device)
    widths = _widths(args.widths)
    if widths is not None:
        require(all(math.isfinite(w) and w >= 1 for w in widths), "--widths",
                "'auto' or numbers >= 1", args.widths)
        require(len({f"{w:g}" for w in widths}) == len(widths), "--widths",
                "distinct to 6 significant digits (the precision of the state names)",
                args.widths)
    if args.dataset in ("mnist", "cifar10"):
        require(args.data_dir is not None, "--data-dir", f"given for dataset {args.dataset}",
                args.data_dir)
    return widths


def _run_spec(args: argparse.Namespace) -> NetRunSpec:
    """The :class:`NetRunSpec` of the command line (its width is set per scan point)."""
    return NetRunSpec(dataset=args.dataset, dim=args.dim, n_train=args.n_train,
                      n_test=args.n_test, data_seed=args.data_seed, data_dir=args.data_dir,
                      depth=args.depth, alpha=args.alpha, activation=args.activation,
                      init=args.init, bias=not args.no_bias, loss=args.loss,
                      optimizer=args.optimizer, steps=args.steps, lr=args.lr,
                      finish=args.finish, schedule=args.schedule, hessian=args.hessian,
                      device=args.device)


def _summary(tr: Transition, n_train: int) -> str:
    """One line: N*, P/N*, and the bound with budget-stopped nets counted as fitted."""
    if not tr.bracketed:
        return "N* not bracketed"
    text = f"N* = {tr.n_star:.1f}, P/N* = {n_train / tr.n_star:.3f}"
    if tr.budget_limited:
        text += (f" (budget-limited: {tr.n_star_lower:.1f} if the nets stopped by the step "
                 "budget had fitted)")
    return text


def train_to_file(spec: NetRunSpec, widths: Sequence[float] | None, seeds: Sequence[int],
                  out: str, overwrite: bool, command: str, progress: bool = True,
                  rel_tol: float = 0.02) -> TrainOutcome:
    """Train ``seeds`` at each of ``widths`` (None: bracket N* from the automatic start width),
    write every finite net's state group to ``out`` atomically (diverged nets are not stored;
    when every net diverged nothing is written, so an earlier file is never replaced by an empty
    one), and return the scan with the counts. The output path is checked before any training."""
    spec.validate()
    for w in widths or ():
        dataclasses.replace(spec, width=w).validate()
    check_output_path(out, overwrite)
    data = spec.load_data()
    evaluate = ensemble_evaluator(data, spec.depth, list(seeds), spec.config(), spec.device,
                                  progress=progress, **spec.net_kwargs())
    if widths is None:
        tr = find_transition(evaluate, auto_start_width(data, spec.depth, spec.bias), spec.depth,
                             rel_tol=rel_tol)
    else:
        tr = transition_of_scan(evaluate(widths))
    splits = [(point, *split_diverged(point.results)) for point in tr.points]
    failed = tuple(r for _, _, bad in splits for r in bad)
    n_good = sum(len(good) for _, good, _ in splits)
    if n_good == 0:
        return TrainOutcome(tr, 0, failed, data.n_train)
    with atomic_h5(out, overwrite, command) as f:
        f.attrs["device"] = device_name(spec.device)
        runs = f.require_group("runs")
        f.attrs["n_star_lower"] = tr.n_star_lower
        for point, good, _ in splits:
            write_nets(runs, dataclasses.replace(spec, width=point.h), good, data, tr.n_star)
    n_unconverged = sum(not r.converged for _, good, _ in splits for r in good)
    return TrainOutcome(tr, n_good, failed, data.n_train, n_unconverged)


def cmd_train(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """``dlbridge train``: train, bracket N* (``--widths auto``) and write the HDF5 states.

    Diverged nets (non-finite loss) are reported on stderr and not stored; the exit status is
    then 3 (the other nets are written; with none left, no file is written). Stored nets that
    reached no minimum (step budget or stalled) are counted on stderr, exit status 3 too.
    """
    widths = _validate_train(args)
    seeds = range(args.seed_offset, args.seed_offset + args.seeds)
    res = train_to_file(_run_spec(args), widths, seeds, args.out, args.overwrite,
                        "dlbridge " + shlex.join(argv), progress=not args.quiet,
                        rel_tol=args.rel_tol)
    if res.n_stored == 0:
        log.error("every net diverged (%s); nothing written to %s", describe_diverged(res.failed),
                  args.out)
        return EXIT_STATUS["unconverged"]
    print(f"dlbridge train: {res.n_stored} nets -> {args.out}; "
          f"{_summary(res.transition, res.n_train)}")
    if res.n_unconverged:
        log.warning("%d of %d stored nets reached no minimum (stopped by --steps, or stalled at a "
                    "kink of the loss; converged = False, which compare leaves out): raise "
                    "--steps, or use --finish newton with a smooth --activation",
                    res.n_unconverged, res.n_stored)
    if res.failed:
        log.warning("failed: %s; not stored", describe_diverged(res.failed))
    return EXIT_STATUS["unconverged"] if res.failed or res.n_unconverged else 0
