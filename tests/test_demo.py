"""``dlbridge demo --small`` end to end through the installed command line (slow: about a minute).

Checks what the demo exists to show, read from the table it writes (comparison.csv): discs are
isostatic at the transition (N_Δ = N_dof + 1 in the periodic box, Goodrich et al., PRL 109,
095704, 2012), ellipses and networks hypostatic (N_Δ/N_dof < 1; Mailman et al., PRL 102,
255501, 2009; Geiger et al., PRE 100, 012115, 2019); compare's flat-violation rule against the
reloaded nets; the figures are non-empty PNGs; and existing demo files are not replaced without
--overwrite.
"""
from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FIGURES = ("fig1_isostaticity", "fig2_gap_distributions", "fig3_spectra", "fig4_energy",
           "fig5_test_error", "fig6_pressure", "fig7_vibrational_dos")


def _dlbridge(*argv: str) -> subprocess.CompletedProcess:
    """Run the installed ``dlbridge`` console script (``python -m dlbridge.cli`` without it)."""
    exe = shutil.which("dlbridge")
    cmd = [exe] if exe else [sys.executable, "-m", "dlbridge.cli"]
    return subprocess.run([*cmd, *argv], capture_output=True, text=True, timeout=900,
                          check=False)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """One small demo run into a fresh directory."""
    out = tmp_path_factory.mktemp("demo") / "out"
    proc = _dlbridge("demo", "--small", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out, proc


def _rows(out: Path) -> dict[str, dict[str, str]]:
    """comparison.csv keyed by the first word of the system name (disk, ellipse, net)."""
    with open(out / "comparison.csv", newline="", encoding="utf-8") as fh:
        return {row["system"].split()[0]: row for row in csv.DictReader(fh)}


def test_discs_isostatic_ellipses_and_nets_hypostatic(demo):
    out, _ = demo
    rows = _rows(out)
    assert set(rows) == {"disk", "ellipse", "net"}
    disk = rows["disk"]
    assert disk["verdict"] == "isostatic"
    assert float(disk["isostatic_excess"]) == 0.0          # N_Δ − (N_dof + 1) at every seed
    assert float(disk["n_delta_at_transition"]) == float(disk["n_dof_at_transition"]) + 1
    ellipse, net = rows["ellipse"], rows["net"]
    assert ellipse["verdict"] == "hypostatic", ellipse       # every seed: N_Δ < N_dof
    assert float(ellipse["n_delta_over_n_dof"]) < 1.0
    # nets of P = 40: single seeds just below N* scatter (N_Δ/N from ~0.5 to ~1.1), the seed
    # mean is what the table reports and what must stay below 1
    assert float(net["n_delta_over_n_dof"]) < 1.0, net


def test_stdout_has_files_and_table(demo):
    out, proc = demo
    assert str(out / "comparison.md") in proc.stdout
    table = (out / "comparison.md").read_text(encoding="utf-8")
    assert table.strip() in proc.stdout
    assert "| disk 2D" in table and "| ellipse 2D" in table and "| net random" in table
    for stage in ("[demo 1/5] discs", "[demo 2/5] ellipses", "[demo 3/5] networks",
                  "[demo 4/5] compare", "[demo 5/5] regimes"):
        assert stage in proc.stderr
    assert str(out / "regimes" / "regimes.md") in proc.stdout


def test_regimes_stage_measures_the_lazy_limit_on_mnist_parity(demo):
    """The small regimes scale inside the demo (its numbers: tests/test_regimes.py, slow)."""
    out, _ = demo
    report = (out / "regimes" / "regimes.md").read_text(encoding="utf-8")
    assert "mnist-parity, P = 16" in report and "lazy slope" in report
    assert (out / "regimes" / "regimes3_ensemble.png").read_bytes()[:8] == PNG_MAGIC


def test_figures_are_nonempty_pngs(demo):
    out, _ = demo
    for stem in FIGURES:
        png = out / f"{stem}.png"
        assert png.is_file() and png.stat().st_size > 1000, png
        assert png.read_bytes()[:8] == PNG_MAGIC, png
        assert (out / f"{stem}.pdf").stat().st_size > 0


def test_flat_violations_are_dead_inputs_or_roundoff(demo):
    """compare's flat-violation rule (Hp at round-off with N_Δ > 0) against the nets themselves,
    reloaded and checked by `dlbridge.nets.diagnostics.dead_inputs`: in a flagged net every
    unsatisfied datum is dead (some hidden layer entirely inactive on it) or violated by less
    than 1e-8; in every other net with N_Δ > 0 some live datum is violated beyond that."""
    from dlbridge.compare.states import read_states
    from dlbridge.nets.diagnostics import dead_inputs
    from dlbridge.nets.reload import load_net

    out, _ = demo
    checked = 0
    for st in read_states(out / "nets.h5"):
        if st.n_constraints == 0 or st.stress_eigenvalues is None:
            continue
        net = load_net(out / "nets.h5", st.source.split(":", 1)[1])
        gaps = net.gaps()
        live_violated = (gaps > 1e-8) & ~dead_inputs(net.spec, net.theta, net.data().x_train).dead
        assert st.flat_violations == (not live_violated.any()), st.source
        checked += 1
    assert checked >= 3


def test_refuses_to_overwrite_demo_files(demo):
    out, _ = demo
    before = (out / "discs.h5").stat().st_mtime_ns
    proc = _dlbridge("demo", "--small", "--out", str(out))
    assert proc.returncode == 2
    err = proc.stderr.strip()
    assert err.startswith("dlbridge demo: error: --out holds demo files") and "--overwrite" in err
    assert len(err.splitlines()) == 1
    assert (out / "discs.h5").stat().st_mtime_ns == before



def test_the_page_is_this_runs_and_publishes_as_docs_do(demo, tmp_path):
    """demo.md quotes this run's table and commands and links figures that exist; published into
    a docs folder it renders from its record alone (the check docs/demo.md passes)."""
    import json
    import re

    from dlbridge.workflow.demo_page import PAGE, RECORD, publish, render_page

    out, proc = demo
    page = (out / PAGE).read_text(encoding="utf-8")
    rec = json.loads((out / RECORD).read_text(encoding="utf-8"))
    assert [s["title"] for s in rec["stages"]] == ["discs", "ellipses", "networks", "compare",
                                                   "regimes"]
    for stage in rec["stages"]:
        assert f"`{stage['command']}`" in page and stage["command"].split()[0] in proc.stderr
    assert "| disk 2D" in page and rec["comparison_md"].splitlines()[0] in page
    links = re.findall(r"!\[[^]]*\]\(([^)]+)\)", page)
    assert len(links) == 13 and all((out / link).is_file() for link in links), links
    docs = tmp_path / "docs"
    publish(out, docs)
    text = (docs / PAGE).read_text(encoding="utf-8")
    assert text == render_page(json.loads((docs / RECORD).read_text(encoding="utf-8")), "docs")
    assert all((docs / link).is_file() for link in re.findall(r"!\[[^]]*\]\(([^)]+)\)", text))
