"""FIRE benchmark: this package vs jax-md vs LAMMPS on the same bidisperse disc start.

    benchmarks/_work/peers-venv/bin/python benchmarks/bench_fire.py            # N = 1024, 4096
    benchmarks/_work/peers-venv/bin/python benchmarks/bench_fire.py --quick    # N = 256 smoke test

One process, pinned to one CPU core (sched_setaffinity, as `taskset -c` does) with every thread
pool limited to one thread, set before numpy/numba/jax/lammps load. For each N the three
minimisers start from benchmarks/start.py's positions and run FIRE to max|F| < ftol; each final
state is re-checked with an independent O(N²) numpy force computation (peers.py). Writes a Markdown
table (µs per FIRE step, steps, total seconds, converged, final energy, ratios to this package)
with machine, versions, date and the exact command to benchmarks/RESULTS.md (or --out).

Compile/JIT warm-up is excluded from the timed figures and reported apart: jax-md compiles the
jitted loop before the timed call; this package is warmed up on a small system first.
"""
from __future__ import annotations

import os
import sys

# --- pin to one thread before any numerical library loads ---------------------------------------
for _var in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_cpu_multi_thread_eigen=false"
                           " --xla_force_host_platform_device_count=1").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")


def _pin(core):
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity)"
    allowed = sorted(os.sched_getaffinity(0))
    core = allowed[0] if core is None else core
    os.sched_setaffinity(0, {core})
    return f"core {core} (of {allowed})"


import argparse  # noqa: E402
import datetime  # noqa: E402
import importlib.metadata as md  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def _version(dist):
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return "not installed"


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_commit():
    try:
        out = subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", HERE, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
        if out.returncode == 0:
            return out.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return "unknown"


# --------------------------------------------------------------------------- this package
def run_package(positions, diameters, box, ftol, max_steps, fire_params):
    """This package's disc FIRE minimiser (packing.minimize) with the shared FIRE time steps."""
    import numpy as np

    from packing import Packing, minimize

    extra = dict(dt0=fire_params["dt_start"], dt_max_factor=fire_params["dt_max"] / fire_params["dt_start"])

    # JIT warm-up on a small system of the same kind (excluded from timing; numba's cache is
    # usually warm already)
    from start import make_start
    t0 = time.perf_counter()
    xw, dw, bw = make_start(64, seed=12345)
    minimize(Packing(xw, bw, dw), method="fire", ftol=ftol, max_steps=50, **extra)
    warm = time.perf_counter() - t0

    p = Packing(positions, box, diameters)
    t0 = time.perf_counter()
    res = minimize(p, method="fire", ftol=ftol, max_steps=max_steps, **extra)
    seconds = time.perf_counter() - t0
    steps = int(res.steps)
    return dict(steps=steps, seconds=seconds, us_per_step=1e6 * seconds / max(steps, 1),
                energy=float(res.energy), max_force=float(res.max_force),
                converged=bool(res.converged),
                positions=np.asarray(res.packing.positions) % np.asarray(box),
                info=dict(warmup_seconds=warm, fire_params_passed=extra))


# --------------------------------------------------------------------------- driver
def _fmt(x, spec):
    return "—" if x is None else format(x, spec)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke test: N = 256 only, result to "
                    "benchmarks/_work/RESULTS-quick.md unless --out is given")
    ap.add_argument("--n", type=int, nargs="+", help="system sizes (default 1024 4096)")
    ap.add_argument("--phi", type=float, default=0.86, help="packing fraction of the start")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random start")
    ap.add_argument("--ftol", type=float, default=1e-12, help="stop when max_i |F_i| < ftol")
    ap.add_argument("--max-steps", type=int, default=200_000, help="FIRE step limit")
    ap.add_argument("--dt-max", type=float, default=0.5,
                    help="FIRE dt_max for all codes (Bitzek's 10×dt_start = 1.0 exceeds the "
                         "velocity-Verlet stability limit 2/sqrt(λ_max) ≈ 0.9 here; see README)")
    ap.add_argument("--norm", choices=("max", "inf"), default="inf",
                    help="inf: largest Cartesian component (this package's max|F|, LAMMPS "
                         "'norm inf'); max: largest per-disc |F_i| (LAMMPS 'norm max')")
    ap.add_argument("--codes", nargs="+", default=["package", "jaxmd", "lammps"],
                    choices=("package", "jaxmd", "lammps"), help="which minimisers to run")
    ap.add_argument("--jaxmd-format", default="ordered_sparse",
                    choices=("dense", "sparse", "ordered_sparse", "none"),
                    help="jax-md neighbour list format ('none': all pairs)")
    ap.add_argument("--lammps-integrator", default="verlet", choices=("verlet", "eulerimplicit"))
    ap.add_argument("--repeat", type=int, default=1,
                    help="run each code this many times and keep the fastest (shared machines)")
    ap.add_argument("--core", type=int, default=None, help="CPU core to pin to")
    ap.add_argument("--out", default=None, help="Markdown output (default benchmarks/RESULTS.md)")
    args = ap.parse_args(argv)

    pinned = _pin(args.core)
    import peers
    from start import make_start

    sizes = args.n or ([256] if args.quick else [1024, 4096])
    out = args.out or os.path.join(HERE, "_work" if args.quick else "", "RESULTS-quick.md"
                                   if args.quick else "RESULTS.md")
    fire = dict(peers.FIRE, dt_max=args.dt_max)
    command = "benchmarks/_work/peers-venv/bin/python benchmarks/bench_fire.py " + " ".join(
        argv if argv is not None else sys.argv[1:])
    started = datetime.datetime.now(datetime.timezone.utc)
    load0 = os.getloadavg() if hasattr(os, "getloadavg") else None

    runners = {
        "package": ("this package (numba)",
                    lambda x, d, b: run_package(x, d, b, args.ftol, args.max_steps, fire)),
        "jaxmd": ("jax-md", lambda x, d, b: peers.run_jaxmd(
            x, d, b, args.ftol, args.max_steps, neighbor_format=args.jaxmd_format,
            norm=args.norm, fire=fire)),
        "lammps": ("LAMMPS", lambda x, d, b: peers.run_lammps(
            x, d, b, args.ftol, args.max_steps, norm=args.norm,
            integrator=args.lammps_integrator, fire=fire)),
    }

    results = {}
    for n in sizes:
        x, d, b = make_start(n, phi=args.phi, seed=args.seed)
        for code in args.codes:
            label, fn = runners[code]
            best, err = None, None
            for _ in range(max(1, args.repeat)):
                try:
                    r = fn(x.copy(), d.copy(), b.copy())
                except ImportError as exc:
                    err = f"not available ({exc})"
                    break
                except Exception as exc:  # report, keep going with the other codes
                    err = f"failed: {type(exc).__name__}: {exc}"
                    traceback.print_exc()
                    break
                if best is None or r["seconds"] < best["seconds"]:
                    best = r
            if best is not None:
                e_ref, f_ref = peers.reference_energy_forces(best["positions"], d, b)
                fn_max, fn_inf = peers.force_norms(f_ref)
                best["ref_energy"] = e_ref
                best["ref_max_force"] = fn_max if args.norm == "max" else fn_inf
                best["ref_converged"] = best["ref_max_force"] < args.ftol
                best.pop("positions")
            results[(n, code)] = best if best is not None else {"error": err}
            r = results[(n, code)]
            if "error" in r:
                print(f"N={n:5d} {label:22s} {r['error']}", flush=True)
            else:
                print(f"N={n:5d} {label:22s} {r['us_per_step']:10.1f} µs/step {r['steps']:8d} steps "
                      f"{r['seconds']:9.3f} s  E={r['energy']:.6g}  ref max|F|={r['ref_max_force']:.2e}"
                      f"  converged={r['ref_converged']}  {r.get('info', {})}", flush=True)

    # --------------------------------------------------------------- Markdown
    lines = []
    w = lines.append
    w("# FIRE benchmark: this package vs jax-md vs LAMMPS\n")
    w(f"Generated {started.strftime('%Y-%m-%d %H:%M UTC')} by `benchmarks/bench_fire.py` "
      f"(package commit {_git_commit()}).\n")
    w("Same start for every code: N bidisperse discs (50:50, d = 1.0 and 1.4), square periodic box, "
      f"φ = {args.phi}, positions uniform from `numpy.random.default_rng({args.seed})` "
      "(benchmarks/start.py). Harmonic contacts U = Σ ½(1 − r/σ_ij)², mass 1, float64. FIRE until "
      f"max_i |F_i| < {args.ftol:g} "
      f"({'per-disc force magnitude' if args.norm == 'max' else 'largest Cartesian component'}), "
      "verified for every code by an independent O(N²) numpy force computation on its final positions.\n")
    w("FIRE parameters (all codes, as far as each allows): " +
      ", ".join(f"{k} {v:g}" for k, v in fire.items()) + ". Deviations: see benchmarks/README.md.\n")
    w("Ratios are peer / this package (> 1: this package is faster). µs/step = total / steps; total is "
      "the wall time of the minimisation call (JIT/compile excluded, listed below).\n")
    for n in sizes:
        w(f"\n## N = {n}\n")
        w("| code | µs/step | steps | total s | converged (independent check) | final energy U | "
          "max force (independent) | µs/step ratio | total-time ratio |")
        w("|---|---:|---:|---:|---|---:|---:|---:|---:|")
        pk = results.get((n, "package"))
        pk_ok = pk is not None and "error" not in pk
        for code in args.codes:
            label = runners[code][0]
            r = results[(n, code)]
            if "error" in r:
                w(f"| {label} | {r['error'].split(' (')[0]} | | | | | | | |")
                continue
            if pk_ok:
                rs = f"{r['us_per_step'] / pk['us_per_step']:.2f}"
                rt = f"{r['seconds'] / pk['seconds']:.2f}"
            else:
                rs = rt = "n/a"
            w(f"| {label} | {r['us_per_step']:.1f} | {r['steps']} | {r['seconds']:.3f} | "
              f"{'yes' if r['ref_converged'] else 'NO'} | {r['energy']:.6g} | "
              f"{r['ref_max_force']:.2e} | {rs} | {rt} |")
        energies = [results[(n, c)]["ref_energy"] for c in args.codes if "error" not in results[(n, c)]]
        if len(energies) > 1:
            lo, hi = min(energies), max(energies)
            w(f"\nFinal energies span {lo:.4g} … {hi:.4g} (max/min = {hi / lo:.2f}); the codes take "
              "different paths and can land in different minima, so only the order of magnitude is "
              "expected to agree.\n")
        notes = []
        for code in args.codes:
            r = results[(n, code)]
            if "error" in r:
                if r["error"].startswith("not available"):
                    notes.append(f"- {runners[code][0]}: {r['error']}")
                continue
            info = r.get("info", {})
            if code == "jaxmd":
                notes.append(f"- jax-md: neighbour list {info.get('neighbor_list')} (skin "
                             f"{info.get('skin')}, capacity ×{info.get('capacity_multiplier')}), "
                             f"compile {info.get('compile_seconds', 0):.2f} s and set-up "
                             f"{info.get('setup_seconds', 0):.2f} s excluded")
            elif code == "lammps":
                notes.append(f"- LAMMPS: integrator {info.get('integrator')}, neighbour skin "
                             f"{info.get('skin')}, {info.get('force_evaluations')} force evaluations, "
                             f"stop: {info.get('stopping_criterion')}; LAMMPS's own loop time "
                             f"{_fmt(info.get('loop_seconds'), '.3f')} s")
            elif code == "package":
                notes.append(f"- this package: JIT warm-up {info.get('warmup_seconds', 0):.2f} s "
                             f"excluded; FIRE parameters passed: {info.get('fire_params_passed')}")
        if notes:
            w("\n" + "\n".join(notes) + "\n")

    w("\n## Machine and versions\n")
    w(f"- CPU: {_cpu_model()}, {os.cpu_count()} logical cores; run pinned to {pinned}, one thread "
      "per library (OMP/NUMBA/BLAS = 1, XLA eigen multithreading off)")
    if load0:
        w(f"- load average at start: {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f} (shared machine: "
          "other jobs can inflate timings)")
    w(f"- OS: {platform.platform()}; Python {platform.python_version()}")
    vers = {dist: _version(dist) for dist in
            ("numpy", "numba", "scipy", "jax", "jaxlib", "jax-md", "lammps", "mpich", "jamming-bridge")}
    w("- " + ", ".join(f"{k} {v}" for k, v in vers.items()))
    w(f"- repeat: {args.repeat} (fastest kept)\n")
    w("## Reproduce\n")
    w("```bash\n# once: the peers' virtual environment (see benchmarks/README.md)\n"
      "bash benchmarks/setup_peers_venv.sh\n" + command.strip() + "\n```\n")
    text = "\n".join(lines)
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    with open(out, "w") as fh:
        fh.write(text)
    print(f"wrote {out}", flush=True)
    bad = [k for k, r in results.items() if "error" not in r and not r["ref_converged"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
