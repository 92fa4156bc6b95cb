"""`dlbridge` command line: ``dlbridge train …`` (``compare`` and ``demo`` join as subcommands).

Errors on bad input print one line ``dlbridge: error: <message>`` on stderr and exit with 2;
nothing is written then (the output path is checked before any training, and files are written
atomically).
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import shlex
import sys
from typing import Sequence

from packing.errors import ParameterError, require
from packing.io import atomic_h5, check_output_path

from .data import DATASETS, Dataset
from .losses import LOSSES
from .models import ACTIVATIONS, INITS
from .runs import NetRunSpec, describe_diverged, device_name, split_diverged, write_nets
from .train import OPTIMIZERS
from .transition import (Transition, auto_start_width, ensemble_evaluator, find_transition,
                         transition_of_scan)


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

    from .sweep_cli import add_sweep_parsers

    add_compare_parser(sub)
    add_demo_parser(sub)
    add_sweep_parsers(sub)
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
    if args.dataset != "random":
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
                      hessian=args.hessian, device=args.device)


def _scan(args, spec: NetRunSpec, data: Dataset, widths) -> Transition:
    evaluate = ensemble_evaluator(data, args.depth, list(range(args.seeds)), spec.config(),
                                  args.device, progress=not args.quiet, **spec.net_kwargs())
    if widths is None:
        return find_transition(evaluate, auto_start_width(data, args.depth, not args.no_bias),
                               args.depth, rel_tol=args.rel_tol)
    return transition_of_scan(evaluate(widths))


def _summary(tr: Transition, n_train: int) -> str:
    """One line: N*, P/N*, and the bound with budget-stopped nets counted as fitted."""
    if not tr.bracketed:
        return "N* not bracketed"
    text = f"N* = {tr.n_star:.1f}, P/N* = {n_train / tr.n_star:.3f}"
    if tr.budget_limited:
        text += (f" (budget-limited: {tr.n_star_lower:.1f} if the nets stopped by the step "
                 "budget had fitted)")
    return text


def cmd_train(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """``dlbridge train``: train, bracket N* (``--widths auto``) and write the HDF5 states.

    Diverged nets (non-finite loss) are reported on stderr and not stored; the exit status is
    then 3 (the other nets are written).
    """
    widths = _validate_train(args)
    spec = _run_spec(args)
    spec.validate()
    check_output_path(args.out, args.overwrite)
    data = spec.load_data()
    tr = _scan(args, spec, data, widths)
    n_good, failed = 0, []
    with atomic_h5(args.out, args.overwrite, "dlbridge " + shlex.join(argv)) as f:
        f.attrs["device"] = device_name(spec.device)
        runs = f.require_group("runs")
        f.attrs["n_star_lower"] = tr.n_star_lower
        for point in tr.points:
            good, bad = split_diverged(point.results)
            write_nets(runs, dataclasses.replace(spec, width=point.h), good, data, tr.n_star)
            n_good, failed = n_good + len(good), failed + bad
    print(f"dlbridge train: {n_good} nets -> {args.out}; {_summary(tr, data.n_train)}",
          file=sys.stderr)
    if failed:
        print(f"dlbridge train: failed: {describe_diverged(failed)}; not stored", file=sys.stderr)
        return 3
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
