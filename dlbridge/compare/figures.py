"""Every figure of ``dlbridge compare``: the list, the files and :func:`plot_all`
(figures 1–5 in :mod:`.plots`, the packings' figures 6–7 in :mod:`.packing_plots`)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from packing.errors import require

from .packing_plots import figure_pressure, figure_vibrational_dos
from .plots import (
    FORMATS,
    figure_energy,
    figure_gap_distributions,
    figure_isostaticity,
    figure_spectra,
    figure_test_error,
)
from .summary import SystemSummary

FIGURE_STEMS = ("fig1_isostaticity", "fig2_gap_distributions", "fig3_spectra", "fig4_energy",
                "fig5_test_error", "fig6_pressure", "fig7_vibrational_dos")
"""The figures :func:`plot_all` can write (each as every one of :data:`FORMATS`)."""


def figure_files(out_dir: str | Path) -> list[Path]:
    """Every file :func:`plot_all` may write into out_dir."""
    return [Path(out_dir) / f"{stem}.{ext}" for stem in FIGURE_STEMS for ext in FORMATS]


def plot_all(summaries: Sequence[SystemSummary], out_dir: str | Path) -> list[Path]:
    """All seven figures (the fifth only with network data, the sixth only with packing
    pressures, the seventh only with packing Hessians); returns the files written."""
    out = Path(out_dir)
    require(out.is_dir(), "out_dir", "an existing directory", str(out))
    require(len(summaries) >= 1, "summaries", "at least one system", len(summaries))
    files: list[Path] = []
    for fn in (figure_isostaticity, figure_gap_distributions, figure_spectra, figure_energy,
               figure_test_error, figure_pressure, figure_vibrational_dos):
        files += fn(summaries, out)
    return files
