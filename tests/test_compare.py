"""``dlbridge compare``: reading, grouping, the table numbers, the figures and the one-line errors.

Packings come from ``packing jam`` (small N, fast); networks are SYNTHETIC files written here under
the HDF5 contract with known answers: N* = 1000 at P = 2000, N_Δ = round(N (C0 + A d^B)) with
d = 1 − N/N*, loss L = L0 d² (exponent 2 exactly), gaps with P₊(Δ) ∝ Δ^θ and P₋(|Δ|) ∝ |Δ|^−γ,
stiffness (H0) spectra with exactly N − N_Δ zero modes, and a test-error cusp at N = N*.
Every table number is checked against a value recomputed here from the HDF5 attributes.
"""
from __future__ import annotations

import argparse
import math
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from scipy import stats

from dlbridge import compare as cmp
from packing.errors import ParameterError
from packing.io import atomic_h5, write_state

# ------------------------------------------------------------------------- synthetic networks
NET_P = 2000
NET_NSTAR = 1000.0
NET_NS = (300, 450, 600, 750, 850, 950, 1050, 1200, 1500, 2000)
NET_SEEDS = (0, 1, 2)
C0, A_IDX, B_IDX = 0.55, 0.5, 0.5      # N_Δ/N = C0 + A d^B below N*
L0 = 0.3                              # loss L = L0 d²
THETA, GAMMA = 0.4, 0.3               # P₊ ∝ Δ^θ on (0, 0.5],  P₋ ∝ |Δ|^−γ on (0, 1]
PEAK_ERR = 0.45                       # test error cusp at N = N*


def synthetic_net_state(n: int, seed: int, rng: np.random.Generator) -> tuple[dict, dict]:
    """(attrs, datasets) of one synthetic net state (module docstring)."""
    d = 1.0 - n / NET_NSTAR
    n_delta = int(round(n * (C0 + A_IDX * d ** B_IDX))) if d > 0 else 0
    pos = 0.5 * rng.random(n_delta) ** (1.0 / (1.0 + THETA))
    neg = -(rng.random(NET_P - n_delta) ** (1.0 / (1.0 - GAMMA)))
    gaps = rng.permutation(np.concatenate([pos, neg]))
    stiff = np.concatenate([1e-15 * rng.standard_normal(n - n_delta),
                            rng.uniform(1e-3, 1.0, n_delta)]) if n_delta else rng.uniform(
        1e-3, 1.0, n)
    stress = 1e-2 * rng.standard_normal(n)
    x = n / NET_NSTAR
    attrs = {"side": "network", "control_name": "n_params", "control": n,
             "transition": NET_NSTAR, "energy": L0 * d * d if d > 0 else 0.0, "n_dof": n,
             "n_constraints": n_delta, "seed": seed, "n_params": n, "width": n / 10.0,
             "depth": 2, "n_train": NET_P, "dataset": "synthetic", "alpha": 1.0,
             "train_loss": L0 * d * d if d > 0 else 0.0,
             "test_error": PEAK_ERR - 0.1 * abs(math.log(x)) + 0.002 * seed,
             "steps": 1000, "converged": True}
    data = {"gaps": gaps, "stiffness_eigenvalues": np.sort(stiff),
            "stress_eigenvalues": np.sort(stress),
            "hessian_eigenvalues": np.sort(stiff + stress)}
    return attrs, data


def write_synthetic_network(path: Path, seeds=NET_SEEDS, depth: int = 2,
                            transition: float | str = NET_NSTAR) -> Path:
    """A synthetic network file (the HDF5 contract of packing.io) with the known answers of the
    docstring; ``transition`` is the stored N* ("none": not stored, as in a sweep)."""
    with atomic_h5(path, command="synthetic network file (tests/test_compare.py)") as f:
        runs = f.require_group("runs")
        for seed in seeds:
            rng = np.random.default_rng(1000 + seed)
            for n in NET_NS:
                attrs, data = synthetic_net_state(n, seed, rng)
                attrs["depth"] = depth
                attrs["transition"] = transition
                write_state(runs, f"L{depth}_N{n}_seed{seed}", attrs, data)
    return path


# ------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """A real disc-packing file (packing jam, N = 48, 3 seeds) and a synthetic network file."""
    tmp = tmp_path_factory.mktemp("compare")
    disks = tmp / "disks.h5"
    cmd = [sys.executable, "-m", "packing.cli", "jam", "--n", "48", "--seeds", "3",
           "--delta-phi", "1e-6", "1e-4", "1e-3", "1e-2", "--hessian", "--no-progress",
           "--out", str(disks)]
    exe = shutil.which("packing")
    if exe is not None:
        cmd = [exe] + cmd[3:]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    return {"disks": disks, "nets": write_synthetic_network(tmp / "nets.h5"), "tmp": tmp}


@pytest.fixture(scope="module")
def result(files) -> cmp.CompareResult:
    """compare() on both files, figures included."""
    return cmp.compare([files["disks"], files["nets"]], files["tmp"] / "out", n_bootstrap=50)


def _attrs(path: Path) -> list[dict]:
    """Every state group's attributes (independent reader: plain h5py visit)."""
    out = []

    def visit(name, obj):
        if isinstance(obj, h5py.Group) and "side" in obj.attrs:
            a = dict(obj.attrs)
            a["gaps"] = obj["gaps"][()]
            a["stiffness"] = obj["stiffness_eigenvalues"][()] if "stiffness_eigenvalues" in obj \
                else None
            out.append(a)

    with h5py.File(path, "r") as f:
        f["runs"].visititems(visit)
    return out


def _summary(result, side: str) -> cmp.SystemSummary:
    (s,) = [s for s in result.summaries if s.side == side]
    return s


# ------------------------------------------------------------------------------- grouping
def test_a_file_given_twice_or_copied_is_counted_once(files, tmp_path):
    """``a.h5 ./a.h5``, a symbolic link and a byte copy add no seed: the summary equals the one of
    the file read once, and the notes say what was left out."""
    nets = files["nets"]
    link, copy = tmp_path / "link.h5", tmp_path / "copy.h5"
    link.symlink_to(nets)
    shutil.copyfile(nets, copy)
    once = cmp.compare([nets], tmp_path / "once", n_bootstrap=0, figures=False)
    twice = cmp.compare([nets, Path(str(nets.parent) + "/./" + nets.name), link, copy],
                        tmp_path / "twice", n_bootstrap=0, figures=False)
    assert cmp.table_row(once.summaries[0]) == cmp.table_row(twice.summaries[0])
    n_states = len(NET_SEEDS) * len(NET_NS)
    assert len(twice.notes) == 2 + n_states
    assert sum("the same file as" in n for n in twice.notes) == 2
    assert sum("the same state as" in n for n in twice.notes) == n_states


def test_every_physical_parameter_separates_systems(files, tmp_path):
    """Nets that differ only in the input dimension, the activation, the loss, the bias, the
    initialisation, the optimiser or the data seed are different systems; a state without those
    (newer) attributes is read with "none" in their place."""
    base, data = synthetic_net_state(600, 0, np.random.default_rng(0))
    variants = {"dim": 12, "activation": "tanh", "loss": "linear", "bias": False,
                "init": "normal", "optimizer": "fire", "data_seed": 3}
    path = tmp_path / "variants.h5"
    with atomic_h5(path, command="variants (tests/test_compare.py)") as f:
        runs = f.require_group("runs")
        write_state(runs, "plain", base, data)
        for name, value in variants.items():
            write_state(runs, name, dict(base, **{name: value}), data)
    groups = cmp.group_systems(cmp.read_states(path))
    assert len(groups) == 1 + len(variants)
    plain = [k for k in groups if all(v == "none" for n, v in k.fields if n in variants)]
    assert len(plain) == 1


def test_grouping_by_system(files):
    states = cmp.load_states([files["disks"], files["nets"]])
    extra = write_synthetic_network(files["tmp"] / "nets_L3.h5", seeds=(0,), depth=3)
    groups = cmp.group_systems(states + cmp.read_states(extra))
    labels = [k.label for k in groups]
    assert labels == ["disk 2D N=48 harmonic", "net synthetic L=2 P=2000",
                      "net synthetic L=3 P=2000"]
    sizes = [len(v) for v in groups.values()]
    assert sizes == [3 * 4, len(NET_SEEDS) * len(NET_NS), len(NET_NS)]


# ----------------------------------------------------------------------------- packings
def test_packing_row_against_attributes(files, result):
    s = _summary(result, "packing")
    at = _attrs(files["disks"])
    phi_j = {a["seed"]: a["phi_j"] for a in at}
    vals = np.array(list(phi_j.values()))
    assert s.transition.n == 3
    assert s.transition.mean == pytest.approx(vals.mean(), rel=1e-14)
    assert s.transition.std == pytest.approx(vals.std(ddof=1), rel=1e-10)
    nearest = [min((a for a in at if a["seed"] == k), key=lambda a: a["phi"] - a["phi_j"])
               for k in phi_j]
    assert all(a["phi"] - a["phi_j"] == pytest.approx(1e-6, rel=1e-3) for a in nearest)
    idx = [a["n_constraints"] / a["n_dof"] for a in nearest]
    iso = [a["n_constraints"] / (a["n_dof"] + 1) for a in nearest]
    assert s.index.mean == pytest.approx(np.mean(idx), rel=1e-14)
    assert s.iso_index.mean == pytest.approx(np.mean(iso), rel=1e-14)
    # discs near φ_J in a periodic box: N_Δ = N_dof + 1 (Goodrich et al. 2012); a seed whose
    # Δφ = 1e-6 state kept an extra contact shows up as "mixed" — the table reports what it finds
    excess = [int(a["n_constraints"] - a["n_dof"] - 1) for a in nearest]
    assert all(0 <= e <= 2 for e in excess)
    want = "isostatic" if not any(excess) else \
        f"mixed ({excess.count(0)}/{len(excess)} isostatic)" if 0 in excess else "hyperstatic"
    assert s.verdict == want
    row = cmp.table_row(s)
    assert row["isostatic_excess"] == pytest.approx(np.mean(excess), rel=1e-14)
    assert row["n_delta_over_n_iso"] == pytest.approx(np.mean(iso), rel=1e-14)
    assert abs(row["n_delta_over_n_iso"] - 1.0) <= 2.0 / min(a["n_dof"] for a in nearest)


def test_packing_zero_modes_and_scaling(files, result):
    s = _summary(result, "packing")
    at = _attrs(files["disks"])
    nearest = [min((a for a in at if a["seed"] == k), key=lambda a: a["phi"] - a["phi_j"])
               for k in {a["seed"] for a in at}]
    # zero modes of the stiffness part minus the 2 translations, from the raw eigenvalues
    zeros = [int(np.sum(np.abs(a["stiffness"]) <= 1e-10 * np.abs(a["stiffness"]).max())) - 2
             for a in nearest]
    assert s.zero_modes.mean == pytest.approx(np.mean(zeros)) and s.zero_modes.n == 3
    # energy: total U against Δφ, log-log least squares recomputed here over the jammed states
    dphi = np.array([a["phi"] - a["phi_j"] for a in at])
    u = np.array([a["energy"] for a in at])
    jammed = np.array([bool(a["jammed"]) for a in at])
    ref = stats.linregress(np.log10(dphi[jammed]), np.log10(u[jammed]))
    assert s.energy_scaling.exponent == pytest.approx(ref.slope, rel=1e-10)
    assert s.energy_scaling.stderr == pytest.approx(ref.stderr, rel=1e-10)
    assert abs(s.energy_scaling.exponent - 2.0) < 0.15       # harmonic: U ∝ Δφ²
    # excess contacts per dof, (N_Δ − N_dof − 1)/N_dof, over the states where it is > 0
    y = np.array([(a["n_constraints"] - a["n_dof"] - 1) / a["n_dof"] for a in at])
    if np.count_nonzero(y > 0) >= 3:
        ref = stats.linregress(np.log10(dphi[y > 0]), np.log10(y[y > 0]))
        assert s.index_scaling.exponent == pytest.approx(ref.slope, rel=1e-10)


def test_unjammed_packing_state_is_left_out_of_the_energy_fit(files, tmp_path):
    """A state above φ_J that rearranged into an unjammed configuration (attribute jammed False,
    as `packing jam` stores it) is named in the warnings and does not enter the energy fit."""
    path = tmp_path / "disks.h5"
    shutil.copy(files["disks"], path)
    with h5py.File(path, "r+") as f:
        groups = []
        f["runs"].visititems(lambda name, obj: groups.append(obj) if isinstance(obj, h5py.Group)
                             and "side" in obj.attrs else None)
        victim = groups[1]
        victim.attrs["jammed"] = False
        victim.attrs["energy"] = 1e-27
        name = victim.name
    (s,) = cmp.compare([path], tmp_path / "out", n_bootstrap=10, figures=False).summaries
    at = [a for a in _attrs(path) if a["jammed"]]
    ref = stats.linregress(np.log10([a["phi"] - a["phi_j"] for a in at]),
                           np.log10([a["energy"] for a in at]))
    assert s.energy_scaling.exponent == pytest.approx(ref.slope, rel=1e-10)
    assert s.energy_scaling.n_points == len(at)
    assert any(name in w and "unjammed" in w for w in s.warnings)


# ----------------------------------------------------------------------------- networks
def test_network_row_against_known_answers(files, result):
    s = _summary(result, "network")
    at = _attrs(files["nets"])
    # per-seed bracket: largest N with N_Δ > 0 is 950, smallest fitted above is 1050
    assert s.transition.mean == pytest.approx(1000.0) and s.transition.n == len(NET_SEEDS)
    below = [a for a in at if a["control"] == 950]
    idx = np.mean([a["n_constraints"] / a["n_dof"] for a in below])
    assert s.index.mean == pytest.approx(idx, rel=1e-14)
    assert idx == pytest.approx(C0 + A_IDX * 0.05 ** B_IDX, abs=1e-3)
    assert s.verdict == "hypostatic" and s.index.mean < 1.0
    assert s.zero_modes.mean == pytest.approx(np.mean([a["n_dof"] - a["n_constraints"]
                                                       for a in below]))
    assert s.energy_scaling.exponent == pytest.approx(2.0, abs=1e-10)      # L = L0 d² exactly
    assert s.energy_scaling.n_points == len(NET_SEEDS) * sum(n < NET_NSTAR for n in NET_NS)
    # N_Δ/N − (value at the transition) against 1 − N/N*, recomputed from the attributes
    own = {a["seed"]: a["n_constraints"] / a["n_dof"] for a in below}
    pts = [(1 - a["control"] / NET_NSTAR, a["n_constraints"] / a["n_dof"] - own[a["seed"]])
           for a in at if a["control"] < 950]
    x, y = np.array(pts).T
    ref = stats.linregress(np.log10(x), np.log10(y))
    assert s.index_scaling.exponent == pytest.approx(ref.slope, rel=1e-10)
    assert s.index_scaling.stderr == pytest.approx(ref.stderr, rel=1e-10)
    # the test-error cusp sits at the N nearest N* on the higher side of the synthetic law
    assert s.test_error_peak[0] in (0.95, 1.05)


def test_exponents_of_synthetic_gaps_within_error_bars(result):
    s = _summary(result, "network")
    # θ's fit also takes the correction e^(−c f), from the few hundred forces below 0.3 ⟨f⟩ of
    # the 6 nets at the transition: its error is wider than the pure law's γ
    for fit, true, largest in ((s.theta, THETA, 0.6), (s.gamma, GAMMA, 0.2)):
        err = cmp.fit_error(fit)
        assert 0 < err < largest
        assert abs(fit.exponent - true) < 3 * err, (fit.name, fit.exponent, err, true)


def test_fit_scaling_recovers_power_law():
    x = np.geomspace(1e-4, 1e-1, 12)
    rng = np.random.default_rng(3)
    y = 2.5 * x ** 0.5 * np.exp(0.05 * rng.standard_normal(x.size))
    f = cmp.fit_scaling(x, y)
    assert abs(f.exponent - 0.5) < 3 * f.stderr
    assert f.prefactor == pytest.approx(2.5, rel=0.2)
    assert cmp.fit_scaling(x[:2], y[:2]) is None


# ------------------------------------------------------------------------------- outputs
def test_tables_and_figures_written(result, files):
    out = files["tmp"] / "out"
    names = {p.name for p in result.files}
    for stem in ("fig1_isostaticity", "fig2_gap_distributions", "fig3_spectra", "fig4_energy",
                 "fig5_test_error", "fig6_pressure", "fig7_vibrational_dos"):
        for ext in ("png", "pdf"):
            assert f"{stem}.{ext}" in names
            assert (out / f"{stem}.{ext}").stat().st_size > 5000
    rows = (out / "comparison.csv").read_text().splitlines()
    assert rows[0].split(",") == list(cmp.CSV_COLUMNS) and len(rows) == 3
    md = (out / "comparison.md").read_text()
    assert md == result.markdown and "isostatic" in md and "hypostatic" in md


def test_packings_only_skips_figure_5(files):
    from dlbridge.compare.plots import figure_test_error

    out = files["tmp"] / "out_packings"
    res = cmp.compare([files["disks"]], out, n_bootstrap=0, figures=False)
    assert len(res.summaries) == 1 and res.summaries[0].test_error_peak is None
    assert figure_test_error(res.summaries, out) == []
    assert not (out / "fig5_test_error.png").exists()


def test_cli_prints_table(files, capsys):
    out = files["tmp"] / "out_cli"
    assert cmp.main([str(files["nets"]), "--out", str(out), "--no-figures"]) == 0
    assert "| net synthetic L=2 P=2000 |" in capsys.readouterr().out
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    cmp.add_compare_parser(sub)
    args = parser.parse_args(["compare", str(files["nets"]), "--out", str(out)])
    assert args.func is cmp.run_compare


# -------------------------------------------------------------------------------- errors
def _one_line_error(capsys, argv, *words):
    assert cmp.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("compare: error:")
    for w in words:
        assert w in err
    return err


def test_missing_file(files, capsys):
    missing = str(files["tmp"] / "nope.h5")
    _one_line_error(capsys, [missing, "--out", str(files["tmp"] / "o1")], "FILE", missing)


def test_truncated_file(files, capsys):
    bad = files["tmp"] / "truncated.h5"
    data = files["disks"].read_bytes()
    bad.write_bytes(data[: len(data) // 3])
    _one_line_error(capsys, [str(bad), "--out", str(files["tmp"] / "o2")], str(bad))
    with pytest.raises(ParameterError, match="truncated"):
        cmp.read_states(bad)


def test_foreign_hdf5_and_text_file(files, capsys):
    foreign = files["tmp"] / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f.create_dataset("x", data=np.arange(3))
    _one_line_error(capsys, [str(foreign), "--out", str(files["tmp"] / "o3")], str(foreign),
                    "schema")
    text = files["tmp"] / "notes.h5"
    text.write_text("not an HDF5 file\n")
    _one_line_error(capsys, [str(text), "--out", str(files["tmp"] / "o3")], str(text))


def test_out_is_a_file(files, capsys):
    target = files["tmp"] / "a_file"
    target.write_text("x")
    _one_line_error(capsys, [str(files["nets"]), "--out", str(target)], "--out", "directory")
    assert target.read_text() == "x"


def test_no_partial_output_on_bad_input(files):
    out = files["tmp"] / "o_partial"
    with pytest.raises(ParameterError):
        cmp.compare([files["nets"], files["tmp"] / "missing.h5"], out)
    assert not out.exists()


def test_outputs_are_never_written_through_links_nor_replaced_without_overwrite(files, tmp_path):
    """An existing table is kept without ``overwrite``; a link at a table or figure name (to a
    file elsewhere, or dangling) is refused without it and replaced, not followed, with it."""
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere.txt"
    out.mkdir()
    elsewhere.write_text("precious")
    (out / "comparison.md").write_text("earlier table")
    (out / "comparison.csv").symlink_to(elsewhere)
    (out / "fig1_isostaticity.png").symlink_to(tmp_path / "nowhere" / "fig.png")
    with pytest.raises(ParameterError, match="--overwrite"):
        cmp.compare([files["nets"]], out, n_bootstrap=0)
    assert (out / "comparison.md").read_text() == "earlier table"
    res = cmp.compare([files["nets"]], out, n_bootstrap=0, overwrite=True)
    assert elsewhere.read_text() == "precious"
    assert not (tmp_path / "nowhere").exists()
    for p in (out / "comparison.csv", out / "fig1_isostaticity.png"):
        assert p.is_file() and not p.is_symlink() and p in res.files
    assert (out / "comparison.md").read_text() == res.markdown
    assert not list(out.glob(".*.tmp"))


def test_packing_populations_against_the_stored_contacts(files, result):
    """Bucklers and populations of the real disc file, recounted with a plain loop."""
    s = _summary(result, "packing")
    assert len(s.exponent_states) == 3 and s.gamma is not None
    # 3 states of 48 discs hold fewer than 20 extended forces below 0.3 <f>: no θ fit
    assert s.theta is None
    for st in s.exponent_states:
        pop = st.populations
        z = {}
        for (i, j), g in zip(st.pairs, st.gaps):
            if g > 0 and not st.rattlers[i] and not st.rattlers[j]:
                z[i] = z.get(i, 0) + 1
                z[j] = z.get(j, 0) + 1
        assert pop.n_bucklers == sum(1 for k, c in z.items() if c == 3)
        live = [(i, j, g) for (i, j), g in zip(st.pairs, st.gaps)
                if not st.rattlers[i] and not st.rattlers[j]]
        assert pop.gaps.size == sum(1 for *_, g in live if g < 0)
        assert pop.extended_forces.size + pop.buckler_forces.size == sum(
            1 for *_, g in live if g > 0)
    assert 0 < s.buckler_fraction < 1


def test_nets_without_a_stored_transition_use_the_seeds_own(files, tmp_path):
    path = write_synthetic_network(tmp_path / "sweep-like.h5", transition="none")
    res = cmp.compare([path], tmp_path / "out", n_bootstrap=0, figures=False)
    (s,) = res.summaries
    assert s.transition.mean == pytest.approx(1000.0)
    assert all(st.transition == pytest.approx(1000.0) for st in s.states)
    assert any("N* not stored" in w for w in s.warnings)
    assert s.nearest and all(st.control == 950 for st in s.nearest)


def test_a_state_whose_pressure_contradicts_its_distance_is_left_out(files, tmp_path):
    """p/Δφ far from the other seeds' value means φ_J of that seed is misplaced."""
    copy = tmp_path / "misplaced.h5"
    shutil.copy(files["disks"], copy)
    with h5py.File(copy, "r+") as f:
        groups = []
        f["runs"].visititems(lambda n, o: groups.append(o) if isinstance(o, h5py.Group)
                             and "side" in o.attrs and o.attrs["delta_phi"] < 2e-6 else None)
        bad = groups[0]
        bad.attrs["pressure"] = 100.0 * bad.attrs["pressure"]
        bad_seed = int(bad.attrs["seed"])
    res = cmp.compare([copy], tmp_path / "out", n_bootstrap=0, figures=False)
    (s,) = res.summaries
    assert bad_seed not in {st.seed for st in s.nearest} and len(s.nearest) == 2
    assert any("misplaced" in w and f"seed {bad_seed}" in w for w in s.warnings)


def test_nets_with_flat_violations_are_left_out_of_the_transition(result):
    """A net whose unsatisfied inputs reach only dead ReLU units has Hp = 0 up to float64 noise
    (a minimum of dead units): it is not taken as the state at the transition nor fitted, and a
    warning names it. Packings never qualify (their stress part is ∝ the overlaps)."""
    import dataclasses

    from dlbridge.compare.summary import summarize_system

    discs, nets = _summary(result, "packing"), _summary(result, "network")
    assert not any(t.flat_violations or t.stress_at_roundoff for t in discs.states)
    dead = nets.nearest[0]
    flat = dataclasses.replace(dead, stress_eigenvalues=1e-17 * dead.stress_eigenvalues)
    assert flat.flat_violations and not dead.flat_violations
    assert not dataclasses.replace(flat, stress_eigenvalues=np.zeros(0)).flat_violations
    states = [flat if t is dead else t for t in nets.states]
    again = summarize_system(nets.key, states, n_bootstrap=0)
    (moved,) = [t for t in again.nearest if t.realisation == dead.realisation]
    assert moved is not flat and moved.n_constraints > 0 and not moved.flat_violations
    assert flat not in again.exponent_states and len(again.nearest) == len(nets.nearest)
    named = [w for w in again.warnings if w.startswith(flat.source)]
    assert len(named) == 1 and "round-off" in named[0]


def test_vibrational_dos_pools_the_full_hessian_per_distance(result, files):
    """Figure 7's frequencies against a plain h5py read: per stored Δφ, ω = √λ of every
    hessian_eigenvalues entry above the zero-mode threshold, pooled over the seeds."""
    from dlbridge.compare import packing_plots as plots
    from packing.analysis import ZERO_MODE_RTOL

    expected: dict[float, list] = {}
    sizes: dict[float, int] = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Group) and "hessian_eigenvalues" in obj:
            ev = obj["hessian_eigenvalues"][()]
            dp = float(obj.attrs["control"]) - float(obj.attrs["transition"])
            if dp > 0 and not obj.attrs.get("unjammed", False):
                key = float(f"{dp:.2g}")
                expected.setdefault(key, []).append(np.sqrt(ev[ev > ZERO_MODE_RTOL * np.abs(ev).max()]))
                sizes[key] = sizes.get(key, 0) + ev.size

    with h5py.File(files["disks"], "r") as f:
        f["runs"].visititems(visit)
    got = plots.frequencies_by_distance(_summary(result, "packing"))
    assert sorted(got) == sorted(expected) and len(got) == 4
    for dp, (w, total, seeds) in got.items():
        np.testing.assert_allclose(np.sort(w), np.sort(np.concatenate(expected[dp])), rtol=1e-12)
        assert seeds == len(expected[dp]) and total == sizes[dp]
    assert plots.figure_vibrational_dos([_summary(result, "network")], files["tmp"]) == []


def test_dead_inputs_are_left_out_of_the_gap_variables(result):
    """Dead inputs (no active unit between them and the output: no gradient, no constraint) are
    counted but enter neither P₊ nor P₋; ⟨f⟩ = 1 is taken over the live unsatisfied data."""
    import dataclasses

    net = _summary(result, "network").nearest[0]
    gaps = np.array([-0.5, -1e-3, 2e-3, 0.3, 1.0, 1.0, -0.2])
    dead = np.array([False, False, False, False, True, True, True])
    live = dataclasses.replace(net, gaps=gaps, dead=None)
    cut = dataclasses.replace(net, gaps=gaps, dead=dead)
    assert live.n_dead_violations == 0 and cut.n_dead_violations == 2
    np.testing.assert_allclose(np.sort(live.gap_variable()), [1e-3, 0.2, 0.5])
    np.testing.assert_allclose(np.sort(cut.gap_variable()), [1e-3, 0.5])
    np.testing.assert_allclose(np.sort(cut.force_variable()), np.array([2e-3, 0.3]) / 0.151)
    assert live.force_variable().size == 4
