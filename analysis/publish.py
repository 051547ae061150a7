"""report.md and its figures from an Analysis: which sections a sweep gets (comparisons,
EDQ, lenses) and which figures; the plotting stack is imported here, only when drawing."""

from __future__ import annotations

from pathlib import Path

from analysis import compare, edq, lens_report, lenses, report, summary
from analysis.tables import Analysis


def write_all(
    a: Analysis, out: Path, source: str, notes: list[str], lens_panels: bool = False
) -> tuple[Path, list[str]]:
    """Write report.md and the figures (PNG and PDF) into `out`; (report.md, the figures'
    names). lens_panels: every lens against t per condition too (always for one)."""
    from analysis import figures  # matplotlib and seaborn: only once there is a figure to draw

    out.mkdir(parents=True, exist_ok=True)
    names = figures.draw(a, out, lens_panels=lens_panels)
    extra = report.comparison_section(a.agg, a.upto) if a.several else []
    extra += compare.protocol_section(a.protocols, a.conditions)
    extra += compare.regime_section(a.regimes, a.conditions)
    rows = a.sweep.rows
    if edq.has_exact(rows):
        extra += report.exact_section(edq.per_t(rows), edq.agreement(rows), edq.pearson(rows))
    if a.lens.lenses:
        extra += lens_report.lens_section(a.lens, a.reps)
    head = summary.section(summary.frame(a.conditions))
    path = report.write(out, source, notes, a.reps, a.conditions, names, extra, head)
    return path, names


def lens_series(a: Analysis):
    """The lenses' per-(condition, D, t) values and, where run dirs kept them, the
    cross-model matrices: what the lenses figures draw."""
    cross = lenses.cross_matrices(a.sweep.runs) if a.sweep.blocks is not None else {}
    return lenses.series(a.sweep.rows, a.lens.lenses), cross
