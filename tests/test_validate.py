"""The literature checks (dlbridge.compare.references) and the ``dlbridge validate`` command."""
import math
import subprocess
import sys

import pytest

from dlbridge.compare.references import RULES, Check, _reference, checks_markdown
from dlbridge.workflow.validate import SCALES, selected_scale


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "dlbridge.cli", *args], capture_output=True,
                          text=True, cwd=cwd)


def check(value, error, reference=0.42, bar=0.04, **kw):
    return Check("sys", "θ", value, error, reference, "key", "source", bar=bar, **kw)


def test_check_agreement_in_standard_errors():
    c = check(0.40, 0.01)
    assert c.z == pytest.approx(2.0)
    assert c.resolved and c.within_bar and c.verdict == "agrees"
    assert check(0.37, 0.01).verdict == "disagrees"                  # 5 σ and outside the bar
    assert check(0.39, 0.01).verdict.startswith("within the bar")     # 3 σ, inside the bar
    assert check(0.30, 0.2).verdict.startswith("not resolved")       # error > bar
    assert check(0.40, 0.01, bar=0.01).verdict == "agrees within error, outside the bar"
    low = check(0.55, 0.05, reference=0.4, bar=None, lower_bound=True)
    assert low.z == 0.0 and low.verdict == "agrees"
    assert check(0.2, 0.05, reference=0.4, bar=None, lower_bound=True).z == pytest.approx(4.0)
    assert check(math.nan, math.nan).verdict == "not measured"
    assert check(0.40, math.nan).verdict == "not resolved (one state: no error)"


def test_a_mean_over_one_state_has_no_error():
    from dlbridge.compare.references import _mean_and_error
    from dlbridge.compare.summary import estimate

    assert math.isnan(_mean_and_error(estimate([2.3]))[1])
    mean, err = _mean_and_error(estimate([1.0, 2.0, 3.0]))
    assert mean == 2.0 and err == pytest.approx(1.0 / math.sqrt(3.0))


def test_every_rule_has_a_reference_in_data():
    for rule in RULES:
        value, source = _reference(rule)
        assert source, rule.key
        assert math.isfinite(value) or rule.note, rule.quantity


def test_checks_markdown_lists_sources_once():
    text = checks_markdown([check(0.40, 0.01), check(0.41, 0.02)])
    assert text.count("| sys | θ |") == 2
    assert text.count("- `key`: source") == 1


def test_validate_rejects_bad_input_in_one_line(tmp_path):
    r = run("validate", "--scale", "huge", "--out", str(tmp_path / "v"))
    assert r.returncode == 2 and "--scale" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = run("validate", "--workers", "0", "--out", str(tmp_path / "v"))
    assert r.returncode == 2 and "--workers" in r.stderr
    out = tmp_path / "done"
    out.mkdir()
    (out / "report.md").write_text("earlier report")
    r = run("validate", "--out", str(out))
    assert r.returncode == 2 and "--overwrite" in r.stderr
    assert (out / "report.md").read_text() == "earlier report"
    assert not (out / "runs").exists()
    for bad in (["--systems", "grains"], ["--seeds", "0"]):
        r = run("validate", *bad, "--out", str(tmp_path / "w"))
        assert r.returncode == 2 and bad[0] in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "w").exists()


def test_a_scale_restricted_to_systems_and_seeds():
    big = SCALES["cluster"]
    part = selected_scale(big, ["nets", "spheres"], 3)
    assert [n for n, _ in part.systems] == ["spheres", "nets"]
    spheres, nets = (g for _, g in part.systems)
    assert spheres.axes["seed"] == [0, 1, 2] and nets.fixed["seeds"] == [0, 1, 2]
    assert spheres.fixed == dict(big.systems)["spheres"].fixed
    assert nets.axes == dict(big.systems)["nets"].axes
    assert "this run: spheres, nets; seeds 0 … 2" in part.purpose
    assert selected_scale(big) is big
    only = selected_scale(big, ["discs"])
    assert dict(only.systems)["discs"] is dict(big.systems)["discs"]


def test_scales_grow():
    sizes = {name: dict(s.systems)["spheres"].fixed["n"] for name, s in SCALES.items()}
    assert sizes["small"] < sizes["large"] < sizes["cluster"]
    for s in SCALES.values():
        assert [n for n, _ in s.systems] == ["spheres", "discs", "ellipses", "nets"]


@pytest.mark.slow
def test_small_validation_measures_gamma_and_theta_e_of_spheres(tmp_path):
    """The small scale end to end (≈ 3 min on 2 cores): every system present in the report,
    and the sphere and disc exponents within their reported errors for N = 256, 8 seeds
    (measured: spheres θ_e 0.53 ± 0.23, γ 0.364 ± 0.139, b 0.56; discs θ_e 0.42 ± 0.19,
    γ 0.315 ± 0.051, b 0.41). γ at this size moves by more than its error between draws: on the
    same disc states, leaving one seed out gives 0.30 … 0.42 as the KS cut-off jumps between
    ranks ~400 and ~900 of the pooled gaps, and the earlier protocol's trajectories gave
    0.398 ± 0.031; hence 2 errors, not a fixed width."""
    out = tmp_path / "val"
    r = run("validate", "--scale", "small", "--out", str(out), "--quiet")
    assert r.returncode == 0, r.stderr[-2000:]
    report = (out / "report.md").read_text()
    for name in ("sphere 3D N=256", "disk 2D N=256", "ellipse 2D N=128", "net random"):
        assert name in report
    rows = {}
    checks_table = report[report.index("## Checks"):report.index("What the exponents")]
    for line in checks_table.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 4 and cells[1].startswith(("sphere", "disk")):
            value, _, err = cells[3].partition(" ± ")
            rows[(cells[1].split()[0], cells[2])] = (float(value), float(err.split()[0]))
    for shape in ("sphere", "disk"):
        g, g_err = rows[(shape, "γ (gaps)")]
        assert abs(g - 0.41) < 2 * g_err + 0.02 and 0 < g_err < 0.2
        t, t_err = rows[(shape, "θ_e (extended forces)")]
        assert abs(t - 0.42) < 3 * t_err + 0.02
        b, b_err = rows[(shape, "b of N_Δ/N_dof − iso ∝ Δφ^b")]
        assert abs(b - 0.5) < 0.1
