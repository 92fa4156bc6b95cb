"""The demo's own page: ``demo.md`` and its record ``demo.json``, written into the demo's output
folder from what the run measured (the stage commands and times, compare's table, notes and
verdicts, the regimes checks, the snapshots' contact counts), with the text that explains each
number and figure.

``docs/demo.md`` is this page of one run of ``dlbridge demo --out demo-out``, published with
``python -m dlbridge.workflow.demo_page demo-out docs``: the record goes to ``docs/demo.json``, the
figures to ``docs/figures/``, and the page is rendered from the record with the figure links of
the docs (:data:`LINKS`). A test renders ``docs/demo.json`` again and finds ``docs/demo.md``
unchanged, so the page cannot drift from the run it shows.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

from packing.errors import require
from packing.io import atomic_output, cpu_name, git_commit, git_dirty, package_version

RECORD = "demo.json"
PAGE = "demo.md"
SNAPSHOT_LABEL = "dphi_1.000e-04"
"""The state the snapshots draw: seed 0, Δφ = 10⁻⁴ above its φ_J."""
SNAPSHOTS = {"discs": "snapshot_discs.png", "ellipses": "snapshot_ellipses.png"}
"""Demo packing file (key of ``demo.FILES``) → the snapshot figure drawn of it."""

LINKS = {"demo": {"compare": "", "snapshot": "", "regimes": "regimes/", "docs": None},
         "docs": {"compare": "figures/", "snapshot": "figures/", "regimes": "figures/", "docs": ""}}
"""Where the page's figures and the repository's docs are, relative to the page: in the demo's
folder (the docs are not there: they are named, not linked) and in docs/."""

VERDICT_ORDER = ("agrees", "tension", "disagrees", "not resolved", "not measured", "reported")
"""The verdicts of :func:`dlbridge.compare.references.checks`, in the order the page lists them
(each verdict's first words)."""


# ------------------------------------------------------------------------------ the record
def snapshot_facts(path: Path, group: str) -> dict[str, Any]:
    """Counts of one stored state the page quotes: particles, contacts of non-rattlers (N_Δ),
    rattlers and N_dof (after rattler removal)."""
    import h5py

    with h5py.File(path, "r") as f:
        a = f[group].attrs
        return {"group": group, "n": int(a["n_particles"]), "n_constraints": int(a["n_constraints"]),
                "n_rattlers": int(a["n_rattlers"]), "n_dof": int(a["n_dof"]),
                "delta_phi": float(a["delta_phi"])}


def _regimes_excerpt(regimes_md: str) -> str:
    """The regimes report's checks and crossover tables (from "## Against the literature" up to
    "## Every cell")."""
    start = regimes_md.find("## Against the literature")
    end = regimes_md.find("## Every cell")
    if start < 0:
        return ""
    return regimes_md[start:end if end > start else None].strip() + "\n"


def demo_record(size: str, argv: Sequence[str], stages: Sequence[Mapping[str, Any]],
                wall: float, cpu: float, comparison_md: str, notes: Sequence[str],
                warnings: Sequence[str], verdicts: Sequence[Mapping[str, str]],
                regimes_md: str, snapshots: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Everything the page states about one run, JSON-serialisable (:func:`render_page`)."""
    return {"size": size, "command": "dlbridge demo " + " ".join(argv), "stages": list(stages),
            "wall_s": wall, "cpu_s": cpu, "cpu": cpu_name(), "package_version": package_version(),
            "git_commit": git_commit(), "git_dirty": git_dirty(), "comparison_md": comparison_md,
            "notes": list(notes), "warnings": list(warnings), "verdicts": list(verdicts),
            "regimes_md": _regimes_excerpt(regimes_md), "snapshots": dict(snapshots)}


# ------------------------------------------------------------------------------ the page
INTRO = """\
# The demo: both jamming transitions, measured by the same code

This page is written by `dlbridge demo` itself (`demo.md` in its output folder, from its record
`demo.json`); every number on it is this run's. `dlbridge demo` runs five commands with small
embedded sizes, each through the same library function as its own command (nothing is
re-implemented), and writes everything into `--out`:
"""

STAGE_TEXT = {
    "discs": "50:50 bidisperse harmonic discs, diameter ratio 1.4, periodic box → `discs.h5`",
    "ellipses": "soft ellipses of aspect 1.5, otherwise the same → `ellipses.h5`",
    "networks": ("random data, the widths whose parameter count N is the smallest above each "
                 "N/P of the preset's grid (0.3 … 2.0) → `nets.h5`"),
    "compare": "the three files → `comparison.csv`, `comparison.md`, `fig1…fig7` (PNG and PDF)",
    "regimes": ("nets on the embedded MNIST-parity data over widths h and output scales α → "
                "`regimes/` (`regimes.md`, `regimes.csv`, `regimes1…4`): the real-data "
                "generalisation of the demo, since the nets of the networks stage have random "
                "labels and their test error is chance by construction"),
}
"""Stage title → what the page says it does and writes."""

PHYSICS = """\
## What the numbers mean

**Transition.** φ_J is found per seed by compressing with FIRE minimisation until jammed, then by
secant steps on p(φ) down the decompression branch to a relative 1e-7 (O'Hern et al., PRE 68,
011306, 2003); the spread over seeds is the finite-size spread of φ_J they describe. N* is
located at fixed P by the width at which half of the seeds fit every datum (Geiger et al.,
PRE 100, 012115, 2019); the column gives each seed's own N* by the same rule (`dlbridge.nstar`).
A large net stopped by the step budget with N_Δ > 0 (`stop_reason` "budget") does not move the
bracket. At the demo's tiny widths P/N* stays below the paper's large-width ≈ 3: narrow ReLU
nets lose units and stop at minima with N_Δ > 0 (benchmarks/NSTAR.md measures P/N* against
width and budget).

**N_Δ/N_dof and the verdict.** Discs jam isostatic, N_Δ = N_dof + 1 after rattler removal (the
extra constraint of a jammed state in a periodic box; Goodrich et al., PRL 109, 095704, 2012), so
N_Δ/N_iso = 1 and N_Δ/N_dof = 1 + 1/N_dof. Ellipses of aspect 1.5 jam with N_Δ < N_dof
(hypostatic; Mailman et al., PRL 102, 255501, 2009). For networks Geiger et al. 2019 report a
jump of N_Δ/N to > 0.4 just below N* at larger sizes. At the demo's P most narrow ReLU nets
below N* end at minima of dead units: N_Δ > 0 while the stress part Hp is round-off, because
their unsatisfied inputs reach no curved part of the net. `compare` names each one in a warning
and leaves it out, so the network row rests on the few nets that are left.

**Zero modes.** An isostatic disc packing's stiffness matrix has no zero modes besides the d
global translations; a hypostatic ellipse packing has N_dof + 1 − N_Δ of them, the modes Mailman
et al. show to be stabilised only at quartic order. A network's H0 (Gauss–Newton part) has rank
at most N_Δ, so most of its N eigenvalues vanish; those directions are stabilised, if at all, by
Hp (Geiger et al. 2019).

**θ and γ.** Packing forces are split as the literature splits them: contacts of bucklers
(non-rattlers with exactly d + 1 contacts) and the other, extended, contacts; rattlers' pairs are
left out of forces and gaps alike. Every exponent is pooled over seeds; its error is a bootstrap
over seeds combined with a fit-range systematic (`packing.analysis.exponents`), and the table's
last section sets each number beside its reference with the bar the project accepts. Network gaps
at round-off (|Δ| below max(1e-8 ⟨Δ₊⟩, 1e-12)) are marginal constraints: counted in the
"marginal / state" column, neither plotted nor fitted. The network row depends on the CPU at
round-off level (nets stopped by the step budget amplify differences of 1e-16 between torch's
kernels); the packing rows do not. The numbers at the published sizes are in
{validation} (`dlbridge validate --scale large`).

**Scaling exponents b.** Above jamming, N_Δ/N_dof − (N_dof+1)/N_dof ∝ Δφ^(1/2) and U ∝ Δφ² for
harmonic discs (O'Hern et al. 2003); ellipses follow the same harmonic energy law while their
contact number barely moves. The network exponents come from a few states per seed at the demo's
P and are not a measurement at this size.
"""

FIGURES = (
    ("compare", "fig1_isostaticity.png",
     "**Figure 1 — N_Δ/N_dof against the distance to the transition.** Left: all systems on one "
     "plot; discs approach their level (N_dof+1)/N_dof (dotted, right) as Δφ → 0, ellipses stay "
     "below 1 (Mailman et al. 2009), and networks fall from N_Δ > N deep in the jammed phase to "
     "N_Δ/N < 1 next to N* (Geiger et al. 2019). Right: the packings alone; the disc excess grows "
     "like Δφ^(1/2) above the finite-size plateau (O'Hern et al. 2003; Goodrich et al. 2012)."),
    ("compare", "fig2_gap_distributions.png",
     "**Figure 2 — distributions of Δ > 0 (forces) and Δ < 0 (gaps) at the transition.** Left: "
     "disc forces of extended contacts (circles, solid fit θ_e) and of bucklers (triangles, dashed "
     "fit θ_ℓ); the bucklers carry most of the smallest forces, which is why a pooled fit sits far "
     "below 0.42. Right: gaps between non-rattlers, P₋ ~ |Δ|^−γ, the signature of marginal "
     "stability near jamming. Ellipse distributions are not power laws (Brito et al., PNAS 115, "
     "11736, 2018); their lines only summarise the fitted range."),
    ("compare", "fig3_spectra.png",
     "**Figure 3 — spectra of the stiffness/H0 part (left) and the stress/Hp part (right).** The "
     "legend counts the exact zero modes. The stress part of packings is small and of both signs "
     "(∝ Δ). A net's Hp = Σ ℓ'(Δ) ∇²f vanishes when its unsatisfied inputs reach only dead ReLU "
     "units (∇²f = 0 there): such states, minima of dead units rather than jammed ones, have an "
     "Hp at round-off; compare names them in its warnings and leaves them out, so the net drawn "
     "here is one whose violated constraints are curved, with an Hp of both signs."),
    ("compare", "fig4_energy.png",
     "**Figure 4 — energy and loss against the distance.** Packings follow U ∝ Δφ² (harmonic "
     "contacts, O'Hern et al. 2003); large markers are seed means, small ones single seeds. The "
     "network loss falls towards N* with a seed-to-seed scatter that this P cannot resolve into a "
     "law (Geiger et al. 2019)."),
    ("compare", "fig5_test_error.png",
     "**Figure 5 — test error against N/N*.** With random labels there is nothing to generalise: "
     "single nets stay at chance on both sides of N* (Geiger et al. 2019 use random labels to "
     "locate N*, and real data for the test-error cusp; the regimes stage below is real data). "
     "Only converged nets are drawn."),
    ("compare", "fig6_pressure.png",
     "**Figure 6 — pressure against Δφ.** Harmonic packings follow p ∝ Δφ^(α−1) = Δφ (O'Hern et "
     "al. 2003), every state reached on the quasi-static compression branch from its φ_J; p/Δφ "
     "against the other seeds' is how `compare` spots a seed whose φ_J is misplaced."),
    ("compare", "fig7_vibrational_dos.png",
     "**Figure 7 — vibrational density of states D(ω) of the packings, ω = √λ of the full "
     "Hessian (unit masses), at each stored Δφ.** In isostatic packings the plateau of excess "
     "modes reaches down to ω* ∝ Δφ^(1/2) (Silbert, Liu, Nagel, PRL 95, 098301, 2005); at N = 128 "
     "the edge shows in the Δφ = 1e-2 curve, which falls below ω ≈ 0.1, while for Δφ ≤ 1e-4 ω* "
     "lies near the lowest frequencies so small a box has. Hypostatic ellipses add a band of "
     "low-frequency quartic modes whose frequencies fall with Δφ (Brito et al., PNAS 115, 11736, "
     "2018)."),
)
"""(kind, file, caption) of the comparison figures, in page order."""

REGIME_FIGURES = (
    ("regimes", "regimes1_test_error.png",
     "**Test error over the (h, α) plane.** Single fitted nets, seed mean, per width and α."),
    ("regimes", "regimes2_kernel_change.png",
     "**Kernel change against α.** ‖Θ − Θ₀‖/‖Θ₀‖ of every fitted net (seed mean) against α in "
     "the code convention (left; last layer 1/h) and α_paper = α/√h (right). At large α it falls "
     "as 1/α, the lazy limit; the dotted line is the threshold 1 that defines α*. The nets have no "
     "biases: a last-layer bias adds the all-ones matrix to Θ and hides the weights' O(1/h) part."),
    ("regimes", "regimes3_ensemble.png",
     "**Single nets against their ensemble.** Test error of single nets (mean ± s.e. over seeds) "
     "and of the ensemble predictor sign(F̄) against N, in the feature and the lazy regime. At "
     "P = 16 the differences are within the seed noise; the stored default run "
     "({regimes_default}, P = 500, 8 seeds) resolves them."),
    ("regimes", "regimes4_fluctuations.png",
     "**Output fluctuations.** ‖F − F̄‖ over seeds against N (expected ∝ N^(−1/4), Geiger et al., "
     "J. Stat. Mech. 2020, 023401) and ε − ε_ens."),
)

LIMITS = """\
## Limits of the demo (sizes chosen to run in minutes)

- The network side is the weak one at this size: P/N* at the demo's widths is far from its large-width value
  (benchmarks/NSTAR.md), nets near N* stop at the step budget or at minima of dead units rather
  than at jammed minima, and the network θ, γ, b and verdict are not meaningful here.
- At these particle numbers finite-size effects set the plateau of figure 1 below Δφ ≈ 1e-4 and
  limit the force distributions to a few hundred values, so no exponent is resolved against its
  bar; the validation report measures them at N = 1024.
- Bigger runs use the same commands: `packing jam … --n 1024 --seeds 20`, `dlbridge train
  --widths auto …`, then `dlbridge compare`.
"""


def _run_facts(rec: Mapping[str, Any]) -> str:
    stages = ", ".join(f"{s['wall_s']:.1f} s ({s['title']})" for s in rec["stages"])
    dirty = " with uncommitted changes" if rec.get("git_dirty") else ""
    commit = (rec.get("git_commit") or "no git checkout")[:12]
    return (f"This run: `{rec['command']}` ({rec['size']} sizes) on {rec['cpu']}, package "
            f"{rec['package_version']}, commit {commit}{dirty}: {rec['wall_s']:.0f} s wall "
            f"({rec['cpu_s']:.0f} s CPU); the stages took {stages}. The runs are seeded; numba "
            "kernels are compiled and cached by the first run after installation, which is "
            "slower by that compilation.\n")


def _stage_list(rec: Mapping[str, Any]) -> str:
    return "\n".join(f"{i}. `{s['command']}`: {STAGE_TEXT.get(s['title'], s['title'])}."
                     for i, s in enumerate(rec["stages"], 1)) + "\n"


def _doc(path: str, links: Mapping[str, str | None]) -> str:
    """A document of the repository's docs/: a link from docs/, its name elsewhere."""
    return f"`docs/{path}`" if links["docs"] is None else f"[{path}]({links['docs']}{path})"


def _messages(rec: Mapping[str, Any]) -> str:
    lines = [f"- note: {n}" for n in rec["notes"]] + [f"- warning: {w}" for w in rec["warnings"]]
    if not lines:
        return "`compare` had no note or warning on this run.\n"
    return "What `compare` said on stderr (the table leaves these states out):\n\n" + \
        "\n".join(lines) + "\n"


def _verdict_group(verdict: str) -> str:
    return next((v for v in VERDICT_ORDER if verdict.startswith(v)), verdict)


def _verdicts(rec: Mapping[str, Any]) -> str:
    groups: dict[str, list[str]] = {}
    for v in rec["verdicts"]:
        groups.setdefault(_verdict_group(v["verdict"]), []).append(
            f"{v['quantity']} ({v['system']})")
    order = [g for g in VERDICT_ORDER if g in groups] + sorted(set(groups) - set(VERDICT_ORDER))
    lines = [f"- **{g}**: {'; '.join(groups[g])}." for g in order]
    return ("What this run resolves, from the last table's verdicts (\"not resolved\": the error "
            "alone is larger than the bar, so this size cannot test the number):\n\n"
            + "\n".join(lines) + "\n")


def _snapshots(rec: Mapping[str, Any], links: Mapping[str, str]) -> str:
    snaps = rec["snapshots"]
    if not snaps:
        return ""
    images = "\n".join(f"![{name}]({links['snapshot']}{SNAPSHOTS[name]})" for name in snaps)
    counts = "; ".join(
        f"the {name} have N_Δ = {s['n_constraints']} contacts between non-rattlers, "
        f"{s['n_rattlers']} rattler(s) and N_dof + 1 = {s['n_dof'] + 1}" for name, s in snaps.items())
    return (f"{images}\n\n**The packings themselves.** Seed 0 of each packing file at Δφ = 10⁻⁴, as "
            "`packing plot FILE GROUP` draws it: small and large particles in two blues, rattlers "
            "in grey, each contact a line between the centres with width proportional to its "
            f"force. The forces concentrate on chains, with many weak contacts between them. "
            f"In this run {counts}.\n")


def _figures(items, links: Mapping[str, str | None]) -> str:
    regimes_default = _doc("regimes/default/regimes.md", links)
    return "\n".join(f"![{Path(name).stem}]({links[kind]}{name})\n\n"
                     f"{caption.format(regimes_default=regimes_default)}\n"
                     for kind, name, caption in items)


def _demoted(markdown: str) -> str:
    """Headings one level down, for a report quoted under a section of the page."""
    return "\n".join("#" + ln if ln.startswith("## ") else ln for ln in markdown.splitlines()) + "\n"


def render_page(rec: Mapping[str, Any], where: str = "demo") -> str:
    """The Markdown page of a :func:`demo_record`, with the figure links of ``where`` (a key of
    :data:`LINKS`)."""
    links = LINKS[where]
    parts = [INTRO, _stage_list(rec), _run_facts(rec), _messages(rec),
             "## The table (this run)\n", _demoted(rec["comparison_md"].strip()), _verdicts(rec),
             PHYSICS.format(validation=_doc("validation/large/report.md", links)),
             "## The figures\n", _snapshots(rec, links), _figures(FIGURES, links),
             "## The regimes stage (MNIST parity)\n"]
    if rec["regimes_md"]:
        parts.append(_demoted(rec["regimes_md"].strip()))
    parts += [_figures(REGIME_FIGURES, links), LIMITS]
    return "\n".join(p for p in parts if p)


# ------------------------------------------------------------------------------ files
def write_page(out_dir: Path, rec: Mapping[str, Any]) -> tuple[Path, Path]:
    """``demo.json`` and ``demo.md`` in the demo's folder, each written whole."""
    record, page = out_dir / RECORD, out_dir / PAGE
    with atomic_output(record, overwrite=True) as tmp:
        tmp.write_text(json.dumps(rec, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    with atomic_output(page, overwrite=True) as tmp:
        tmp.write_text(render_page(rec, "demo"), encoding="utf-8")
    return record, page


def page_figures(out_dir: Path, rec: Mapping[str, Any]) -> list[Path]:
    """The PNG files the page shows, where the demo wrote them."""
    names = [SNAPSHOTS[n] for n in rec["snapshots"]] + [name for _, name, _ in FIGURES]
    return [out_dir / n for n in names] + [out_dir / "regimes" / n for _, n, _ in REGIME_FIGURES]


def publish(out_dir: Path, docs: Path) -> Path:
    """Copy a demo run's page into ``docs``: the record as ``docs/demo.json``, its figures into
    ``docs/figures/``, the page rendered with the docs' links as ``docs/demo.md``."""
    require((out_dir / RECORD).is_file(), "OUT", f"a dlbridge demo folder (with its {RECORD})",
            str(out_dir))
    rec = json.loads((out_dir / RECORD).read_text(encoding="utf-8"))
    missing = [str(p) for p in page_figures(out_dir, rec) if not p.is_file()]
    require(not missing, "OUT", "a demo folder with every figure of its page",
            missing[0] if missing else "")
    figures = page_figures(out_dir, rec)
    (docs / "figures").mkdir(parents=True, exist_ok=True)
    for p in figures:
        shutil.copyfile(p, docs / "figures" / p.name)
    with atomic_output(docs / RECORD, overwrite=True) as tmp:
        tmp.write_text(json.dumps(rec, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    with atomic_output(docs / PAGE, overwrite=True) as tmp:
        tmp.write_text(render_page(rec, "docs"), encoding="utf-8")
    return docs / PAGE


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m dlbridge.workflow.demo_page OUT DOCS``: publish a demo run into docs/."""
    from packing.exits import run_command

    p = argparse.ArgumentParser(prog="python -m dlbridge.workflow.demo_page",
                                description="Publish a dlbridge demo run's page into docs/.")
    p.add_argument("out", type=Path, help="the demo's --out folder")
    p.add_argument("docs", type=Path, help="the docs folder (docs/ of the repository)")
    args = p.parse_args(argv)

    def body() -> int:
        print(f"wrote {publish(args.out, args.docs)}")
        return 0
    return run_command("demo_page", body)


if __name__ == "__main__":
    sys.exit(main())
