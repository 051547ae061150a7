"""report.md and its figures from an Analysis: which sections a sweep gets (comparisons,
collapse rates, curation, EDQ, lenses) and which figures; the plotting stack is imported
here, only when drawing."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from analysis import compare, curation, edq, lens_report, phase, report, summary
from analysis.tables import Analysis

if TYPE_CHECKING:
    from analysis.figures import Drawn


def write_all(
    a: Analysis,
    out: Path,
    source: str,
    notes: list[str],
    lens_panels: bool = False,
    phase_figure: bool = False,
    pdf: bool = True,
) -> tuple[Path, list[Drawn]]:
    """Write report.md and the figures (PNG, and PDF unless not `pdf`) into `out`;
    (report.md, the figure files). lens_panels: every lens against t per condition too
    (always for one); phase_figure: the phase diagram for a single condition too."""
    from analysis import figures  # matplotlib and seaborn: only once there is a figure to draw

    out.mkdir(parents=True, exist_ok=True)
    a.lens  # noqa: B018  computed here, once, before the figures' workers fork
    drawn = figures.draw(a, out, figures.Options(lens_panels, phase_figure, pdf))
    extra = report.comparison_section(a.agg, a.upto) if a.several else []
    extra += phase.section(a.conditions)
    extra += compare.protocol_section(a.protocols, a.conditions)
    extra += compare.regime_section(a.regimes, a.conditions)
    extra += curation.section(a.curations, a.conditions)
    rows = a.sweep.rows
    if edq.has_exact(rows):
        extra += report.exact_section(edq.per_t(rows), edq.agreement(rows), edq.pearson(rows))
    if a.lens.lenses:
        extra += lens_report.lens_section(a.lens, a.reps)
    head = summary.section(summary.frame(a.conditions))
    path = report.write(out, source, notes, a.reps, a.conditions, drawn, extra, head)
    return path, drawn
