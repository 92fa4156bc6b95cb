"""`dlbridge` command line: ``dlbridge train …`` (``compare`` and ``demo`` join as subcommands).

Errors on bad input print one line ``dlbridge: error: <message>`` on stderr and exit with 2;
nothing is written then (the output path is checked before any training, and files are written
atomically).
"""
from __future__ import annotations

import argparse
import math
import shlex
import sys
from typing import Sequence

import numpy as np
import torch

from packing.errors import ParameterError, require
from packing.hessian import ZERO_MODE_RTOL, count_zero_modes
from packing.io import atomic_h5, check_output_path, write_state

from .data import DATASETS, Dataset, load_dataset
from .hessian import analyze, problem_from_arrays
from .losses import LOSSES, HingeLoss
from .models import ACTIVATIONS, INITS
from .train import OPTIMIZERS, NetResult, TrainConfig
from .transition import (ScanPoint, Transition, auto_start_width, ensemble_evaluator,
                         find_transition, transition_from_scan)

DEFAULT_LR = {"adam": 1e-2, "fire": 1e-1, "flow": 1.0}


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors are one line on stderr and exit status 2."""

    def error(self, message: str):  # noqa: D401 - argparse API
        print(f"dlbridge: error: {message.splitlines()[0]}", file=sys.stderr)
        raise SystemExit(2)


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


def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train nets over widths and seeds at fixed P, write HDF5")
    a = p.add_argument
    a("--dataset", default="random", help=f"one of {', '.join(DATASETS)} (default random)")
    a("--data-dir", default=None, help="directory of IDX/npz (mnist) or CIFAR-10 batches")
    a("--dim", type=int, default=10, help="input dimension d (PCA components for images)")
    a("--n-train", type=int, default=1000, help="number of training points P")
    a("--n-test", type=int, default=1000, help="number of test points")
    a("--data-seed", type=int, default=0, help="seed of the data draw / split")
    a("--depth", type=int, default=2, help="number of hidden layers L")
    a("--widths", nargs="+", default=["auto"],
      help="'auto' (bracket N* by bisection) or widths h (non-integer allowed)")
    a("--seeds", type=int, default=4, help="number of initialisation seeds per width")
    a("--alpha", type=float, default=1.0, help="output scale α of F = α(f − f0)")
    a("--activation", default="relu", help=f"one of {', '.join(ACTIVATIONS)}")
    a("--init", default="orthogonal", help=f"one of {', '.join(INITS)}")
    a("--no-bias", action="store_true", help="nets without biases")
    a("--loss", default="quadratic", help=f"one of {', '.join(LOSSES)}")
    a("--optimizer", default="adam", help=f"one of {', '.join(OPTIMIZERS)}")
    a("--steps", type=int, default=20_000, help="step budget per net")
    a("--lr", type=float, default=None, help="initial learning rate / dt (per optimizer default)")
    a("--rel-tol", type=float, default=0.02, help="relative width of the N* bracket (auto)")
    a("--hessian", action="store_true", help="store H, H0, Hp eigenvalues of every net")
    a("--device", default="auto", help="auto, cpu or cuda")
    a("--out", required=True, help="output HDF5 file")
    a("--overwrite", action="store_true", help="replace an existing output file")
    a("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one subparser per subcommand."""
    parser = _Parser(prog="dlbridge", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_train(sub)
    from .compare import add_compare_parser
    from .demo import add_demo_parser

    add_compare_parser(sub)
    add_demo_parser(sub)
    return parser


def _validate_train(args: argparse.Namespace) -> list[float] | None:
    require(args.dataset in DATASETS, "--dataset", f"one of {', '.join(DATASETS)}", args.dataset)
    require(args.n_train >= 1, "--n-train", "an integer >= 1 (P >= 1)", args.n_train)
    require(args.n_test >= 0, "--n-test", "an integer >= 0", args.n_test)
    require(args.depth >= 1, "--depth", "an integer >= 1", args.depth)
    require(args.seeds >= 1, "--seeds", "an integer >= 1", args.seeds)
    require(args.steps >= 1, "--steps", "an integer >= 1", args.steps)
    require(args.device in ("auto", "cpu", "cuda"), "--device", "one of auto, cpu, cuda",
            args.device)
    widths = _widths(args.widths)
    if widths is not None:
        require(all(math.isfinite(w) and w >= 1 for w in widths), "--widths",
                "'auto' or numbers >= 1", args.widths)
    require(not args.hessian or args.loss == "quadratic", "--hessian",
            "used with --loss quadratic (the constraint form of the analysis)", args.loss)
    if args.dataset != "random":
        require(args.data_dir is not None, "--data-dir", f"given for dataset {args.dataset}",
                args.data_dir)
    return widths


def _config(args: argparse.Namespace) -> TrainConfig:
    lr = DEFAULT_LR.get(args.optimizer, 1e-2) if args.lr is None else args.lr
    # the learning-rate schedule is TrainConfig's (the paper's shape: ÷10 every 250k steps), not
    # tied to the budget: a decay every steps/10 measured ~1.7x larger N* (benchmarks/NSTAR.md)
    return TrainConfig(optimizer=args.optimizer, max_steps=args.steps, lr=lr, loss=args.loss,
                       check_every=max(1, args.steps // 20))


def _scan(args, data: Dataset, widths, config: TrainConfig) -> tuple[list[ScanPoint], float]:
    net_kwargs = dict(activation=args.activation, bias=not args.no_bias, alpha=args.alpha,
                      init=args.init)
    evaluate = ensemble_evaluator(data, args.depth, list(range(args.seeds)), config,
                                  args.device, progress=not args.quiet, **net_kwargs)
    if widths is None:
        tr: Transition = find_transition(evaluate, auto_start_width(data, args.depth,
                                                                    not args.no_bias),
                                         args.depth, rel_tol=args.rel_tol)
        return list(tr.points), tr.n_star
    points = evaluate(widths)
    return points, transition_from_scan(points)


def _state_attrs(args, r: NetResult, point: ScanPoint, n_star: float) -> dict:
    s = r.spec
    return {
        "side": "network", "control_name": "n_params", "control": s.n_params,
        "transition": n_star if math.isfinite(n_star) else "none",
        "energy": r.loss, "n_dof": s.n_params, "n_constraints": r.n_delta, "seed": r.seed,
        "n_params": s.n_params, "width": point.h, "widths": np.asarray(s.widths),
        "depth": s.depth, "n_train": len(r.deltas), "dataset": args.dataset, "alpha": s.alpha,
        "train_loss": r.loss, "test_error": r.test_error, "train_error": r.train_error,
        "steps": r.steps, "converged": r.converged, "stop_reason": r.stop_reason,
        "n_eff": s.n_eff, "activation": s.activation, "bias": s.bias, "init": s.init,
        "optimizer": args.optimizer, "loss": args.loss, "dim": s.d_in,
    }


def _state_datasets(r: NetResult) -> dict:
    h = r.history
    return {"gaps": r.deltas, "parameters": r.theta, "history_steps": h.steps,
            "history_loss": h.loss, "history_n_constraints": h.n_delta,
            "history_train_error": h.train_error, "history_test_error": h.test_error,
            "history_displacement": h.displacement}


def _hessian_part(r: NetResult, data: Dataset, loss: str, device: str) -> tuple[dict, dict]:
    """Mode counts and spectra of one net by the shared analysis (:func:`dlbridge.hessian.analyze`).

    Zero modes of H and of H0 are |λ| ≤ ZERO_MODE_RTOL·max|λ|; ``jacobian_rank`` is the rank of
    the N_Δ × N Jacobian (= rank H0), ``n_floppy_modes`` = N − rank.
    """
    dev = "cuda" if device == "cuda" or (device == "auto" and torch.cuda.is_available()) else "cpu"
    prob = problem_from_arrays(r.spec, r.theta, r.theta0, data.x_train, data.y_train,
                               HingeLoss(loss), dev)
    res = analyze(prob, fit_exponents=False)
    h = res.hessian_spectrum
    attrs = {"n_negative_modes": res.negative.n_negative,
             "n_zero_modes": count_zero_modes(h, n_translations=0).n_zero_modes,
             "mode_tol": ZERO_MODE_RTOL, "spectrum_complete": h.complete}
    if res.modes is not None:
        attrs.update(jacobian_rank=res.modes.rank, n_floppy_modes=res.modes.n_floppy)
    dsets = {"hessian_eigenvalues": h.eigenvalues,
             "stiffness_eigenvalues": res.stiffness_spectrum.eigenvalues,
             "stress_eigenvalues": res.stress_spectrum.eigenvalues}
    return attrs, dsets


def cmd_train(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """``dlbridge train``: train, bracket N* (``--widths auto``) and write the HDF5 states."""
    widths = _validate_train(args)
    check_output_path(args.out, args.overwrite)
    data = load_dataset(args.dataset, args.dim, args.n_train, args.n_test, args.data_seed,
                        args.data_dir)
    config = _config(args)
    points, n_star = _scan(args, data, widths, config)
    with atomic_h5(args.out, args.overwrite, "dlbridge " + shlex.join(argv)) as f:
        runs = f.require_group("runs")
        for point in points:
            for r in point.results:
                attrs, dsets = _state_attrs(args, r, point, n_star), _state_datasets(r)
                if args.hessian:
                    ha, hd = _hessian_part(r, data, args.loss, args.device)
                    attrs.update(ha)
                    dsets.update(hd)
                write_state(runs, f"L{r.spec.depth}_h{point.h:g}_seed{r.seed}", attrs, dsets)
    summary = f"N* = {n_star:.1f}, P/N* = {data.n_train / n_star:.3f}" \
        if math.isfinite(n_star) else "N* not bracketed"
    print(f"dlbridge train: {sum(len(p.results) for p in points)} nets -> {args.out}; {summary}",
          file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dlbridge`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    try:
        return args.func(args, argv)
    except ParameterError as exc:
        print(f"dlbridge: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
