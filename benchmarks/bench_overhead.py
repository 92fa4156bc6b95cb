"""What the output discipline costs: the default test suite and the demo, this checkout against an
earlier version, in the same run.

    python benchmarks/bench_overhead.py                       # against 276f954, ~20 min on 2 cores
    python benchmarks/bench_overhead.py --before-ref REF --repeat 2

"before" is the git ref ``--before-ref``, checked out in benchmarks/_work/ (git-ignored) and imported
through PYTHONPATH; "after" is this checkout. Each tree has its own numba cache, warmed by one
untimed demo; then the timed commands run in turn, before and after alternating (before first in
odd repeats, after first in even ones), so that a drift of the machine's speed touches both. Wall
time of ``python -m pytest -q`` (the README's test command, in the tree's root, with its own
pyproject's options) and of ``dlbridge demo``. Writes benchmarks/results/overhead.md and
overhead.json (``--commands`` one of them: that table only).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_jamming  # noqa: E402

OUT = HERE / "results"
COMMANDS = {
    "default test suite": ["-m", "pytest", "-q", "-p", "no:cacheprovider"],
    "dlbridge demo": ["-m", "dlbridge.cli", "demo", "--out", "{tmp}/demo"],
}


def _timed(tree: Path, argv: list[str], cache: Path) -> float:
    """Wall seconds of ``python argv`` run in ``tree`` with ``tree`` first on the import path."""
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, PYTHONPATH=str(tree), NUMBA_CACHE_DIR=str(cache),
                   PYTHONDONTWRITEBYTECODE="1")
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, *[a.format(tmp=tmp) for a in argv]], cwd=tree,
                              env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{argv} failed in {tree} ({proc.returncode}):\n"
                           f"{(proc.stdout + proc.stderr)[-3000:]}")
    return seconds


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before-ref", default="276f954")
    ap.add_argument("--repeat", type=int, default=1, help="timed runs per command and version")
    ap.add_argument("--commands", nargs="+", choices=list(COMMANDS), default=list(COMMANDS),
                    metavar="NAME", help=f"among: {', '.join(map(repr, COMMANDS))}")
    args = ap.parse_args(argv)
    trees = {"before": bench_jamming._before_tree(args.before_ref), "after": bench_jamming.ROOT}
    caches = {v: Path(tempfile.mkdtemp(prefix=f"numba-{v}-")) for v in trees}
    for v, tree in trees.items():
        _timed(tree, COMMANDS["dlbridge demo"], caches[v])
    times: dict[str, dict[str, list[float]]] = {c: {v: [] for v in trees} for c in args.commands}
    for name in args.commands:
        cmd = COMMANDS[name]
        for k in range(args.repeat):
            for v, tree in list(trees.items())[::1 if k % 2 == 0 else -1]:
                times[name][v].append(_timed(tree, cmd, caches[v]))
                print(f"{name} {v}: {times[name][v][-1]:.1f} s", file=sys.stderr)
    _write(times, args)
    return 0


def _earlier_runs() -> list[dict]:
    """The runs recorded in overhead.json (a file of one run, without a "runs" list, is one)."""
    path = OUT / "overhead.json"
    if not path.exists():
        return []
    data = json.loads(path.read_text())
    return data["runs"] if "runs" in data else [data]


def _table(run: dict) -> list[str]:
    lines = [f"`python benchmarks/bench_overhead.py --repeat {run['repeat']} --commands "
             f"{' '.join(repr(c) for c in run['seconds'])}` on {run['date']} against "
             f"{run['before_ref']}, {run['cpus']} CPUs: best of each version, and the ratio of each "
             "pair (after / before, in the order run).", "",
             "| command | before (s) | after (s) | best after / best before | pairs |",
             "|---|---|---|---|---|"]
    for name, by_version in run["seconds"].items():
        b, a = by_version["before"], by_version["after"]
        pairs = ", ".join(f"{y / x:.3f}" for x, y in zip(b, a))
        lines.append(f"| {name} | {min(b):.1f} | {min(a):.1f} | {min(a) / min(b):.3f} | {pairs} |")
    return lines + [""]


def _write(times: dict, args: argparse.Namespace) -> None:
    """Add this run to overhead.json (earlier runs kept) and rewrite overhead.md from all."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    runs = _earlier_runs() + [{"date": stamp, "before_ref": args.before_ref,
                               "cpus": os.cpu_count(), "repeat": args.repeat, "seconds": times}]
    OUT.mkdir(exist_ok=True)
    (OUT / "overhead.json").write_text(json.dumps({"runs": runs}, indent=1) + "\n")
    lines = ["# The output discipline's cost: this checkout against an earlier version", "",
             "Numba caches warm, before and after alternating within each run; raw numbers in "
             "[overhead.json](overhead.json). Most recent run last.", ""]
    for run in runs:
        run.setdefault("repeat", len(next(iter(run["seconds"].values()))["before"]))
        lines += _table(run)
    (OUT / "overhead.md").write_text("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())
