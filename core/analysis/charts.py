"""Altair chart builders shared by the pages (tidy frames in, charts out; no Streamlit)."""

from __future__ import annotations

import math

__all__ = ["PALETTE", "color_scale", "grouped_bars", "reliability_diagram", "confidence_histogram", "shape_bias_overall", "shape_bias_per_class", "to_png",
           "facet_columns",
           "to_svg"]

PALETTE = ("#4C78A8", "#F58518", "#54A24B", "#B279A2", "#E45756", "#72B7B2", "#EECA3B", "#9D755D", "#BAB0AC",
           "#FF9DA6")
HUMAN_COLOR = "#D62728"


def color_scale(labels: list[str]):
    """One colour per decision maker, in registry order, so every page colours a model alike."""
    import altair as alt

    colours = [HUMAN_COLOR if label.startswith("Humans") else PALETTE[i % len(PALETTE)] for i, label in enumerate(labels)]
    return alt.Scale(domain=list(labels), range=colours)


def grouped_bars(table, *, x: str, order: list[str] | None, value: str, title: str, reference=None,
                 percent: bool = True, label_angle: int = 0, baseline: float | None = None,
                 tooltip: tuple = (), height: int = 340):
    """One bar per model within each `x` group (colour = model, registry order), 95% interval lines
    where `ci_low`/`ci_high` exist, and the paper's values from `reference` (rows with `label`, `x`,
    `value`, `tag`) as black ticks: a separate mark, so quoted numbers never pass for ours."""
    import altair as alt

    labels = list(dict.fromkeys(table["label"]))
    axis_format = "%" if percent else None
    number = ".1%" if percent else ".2f"
    scale = alt.Undefined
    top = _top(table["ci_high"] if "ci_high" in table else None, table[value],
               None if reference is None or not len(reference) else reference["value"],
               [baseline] if baseline is not None else None)
    if percent and "ci_high" in table:
        # an all-zero run still gets a readable axis; the paper's ticks and the baseline lie inside it (a fixed
        # domain that ended at our bars left the ticks floating above the frame, off the axis)
        scale = alt.Scale(domain=[0, min(1.0, max(0.05, top * 1.05))])
    elif not percent and top > 0:
        # ratios: the axis ends on a labelled half step above every bar, interval and paper tick (a free scale
        # ended between grid lines, so ticks near the top sat above the last labelled line, looking off the axis)
        scale = alt.Scale(domain=[0, math.ceil(top * 1.02 / 0.5) * 0.5], nice=False)
    x_encoding = alt.X(f"{x}:N", sort=order, title=None, axis=alt.Axis(labelAngle=label_angle, labelOverlap=False))
    offset = alt.XOffset("label:N", sort=labels)
    base = alt.Chart(table).encode(x=x_encoding, xOffset=offset)
    tips = ["label:N", f"{x}:N", alt.Tooltip(f"{value}:Q", format=number)]
    if "ci_low" in table:
        tips += [alt.Tooltip("ci_low:Q", format=number), alt.Tooltip("ci_high:Q", format=number)]
    layers = [base.mark_bar().encode(
        y=alt.Y(f"{value}:Q", axis=alt.Axis(format=axis_format) if axis_format else alt.Undefined, title=title,
                scale=scale),
        color=alt.Color("label:N", scale=color_scale(labels), title=None,
                        legend=alt.Legend(orient="bottom", labelLimit=400, columns=2 if len(labels) > 2 else 0)),
        tooltip=tips + list(tooltip))]
    if "ci_low" in table:
        layers.append(base.mark_rule().encode(y="ci_low:Q", y2="ci_high:Q"))
    if baseline is not None:
        layers.append(alt.Chart(table).mark_rule(strokeDash=[4, 4], color="gray").encode(y=alt.datum(baseline)))
    if reference is not None and len(reference):
        layers.append(alt.Chart(reference).mark_tick(color="black", thickness=2, size=12).encode(
            x=alt.X(f"{x}:N", sort=order), xOffset=offset, y="value:Q",
            tooltip=["label:N", f"{x}:N", alt.Tooltip("value:Q", format=number, title="paper"), "tag:N", "source:N"]))
    return alt.layer(*layers).properties(height=height)


def _top(*columns) -> float:
    """The largest finite value over several columns (None and NaN skipped; 0 when there is none)."""
    import numpy as np

    values = [np.asarray(column, dtype=float) for column in columns if column is not None]
    values = np.concatenate(values) if values else np.array([])
    values = values[np.isfinite(values)]
    return float(values.max()) if len(values) else 0.0


def _filled_bins(bins):
    return bins[bins["count"] > 0].assign(center=lambda frame: (frame["lower"] + frame["upper"]) / 2)


def reliability_diagram(bins, labels: list[str]):
    """One reliability diagram per model (`bins`: reliability_bins rows with a `label` column).

    Every layer takes its data from the faceted parent (none carries its own), so each facet draws
    only its model's bins; the diagonal is a rule between two data values, not a second dataset.
    """
    import altair as alt

    filled = _filled_bins(bins)
    scale = color_scale(labels)
    bars = alt.Chart().mark_bar(opacity=0.8, width=10).encode(
        x=alt.X("center:Q", title="confidence", scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("accuracy:Q", title="accuracy", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("label:N", scale=scale, legend=None),
        tooltip=["label:N", alt.Tooltip("lower:Q", format=".2f"), alt.Tooltip("upper:Q", format=".2f"), "count:Q",
                 alt.Tooltip("confidence:Q", format=".3f"), alt.Tooltip("accuracy:Q", format=".3f")])
    gaps = alt.Chart().mark_rule(color="#E45756", strokeWidth=3).encode(
        x="center:Q", y="accuracy:Q", y2="confidence:Q",
        tooltip=["label:N", alt.Tooltip("confidence:Q", format=".3f"), alt.Tooltip("accuracy:Q", format=".3f")])
    diagonal = alt.Chart().mark_rule(color="gray", strokeDash=[4, 4]).encode(
        x=alt.datum(0), y=alt.datum(0), x2=alt.datum(1), y2=alt.datum(1))
    side = _facet_width(len(labels))
    return alt.layer(bars, gaps, diagonal, data=filled).properties(width=side, height=side).facet(
        facet=alt.Facet("label:N", title=None, sort=list(labels)), columns=facet_columns(len(labels)))


def confidence_histogram(bins, labels: list[str]):
    """Images per confidence bin, one facet per model."""
    import altair as alt

    return alt.Chart(_filled_bins(bins)).mark_bar().encode(
        x=alt.X("center:Q", title="confidence", scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("count:Q", title="images"), color=alt.Color("label:N", scale=color_scale(labels), legend=None),
        tooltip=["label:N", "count:Q", alt.Tooltip("lower:Q", format=".2f")]).properties(
        width=_facet_width(len(labels)), height=150).facet(
        facet=alt.Facet("label:N", title=None, sort=list(labels)), columns=facet_columns(len(labels)))


def facet_columns(n: int) -> int:
    """Facets per row: at most three of 200 px (about 700 px with axes, inside the page's content column),
    and two rows of two for four models rather than three and one."""
    return max(1, min(3, 2 if n in (2, 4) else n))


def _facet_width(n: int) -> int:
    return 200 if facet_columns(n) == 3 else 260


def shape_bias_overall(table, paper=None):
    """Shape bias per decision maker with its 95% interval; paper values as separate hollow marks."""
    import altair as alt

    order = list(table["label"])
    scale = color_scale(order)
    y = alt.Y("label:N", sort=order, title=None, axis=alt.Axis(labelLimit=360, labelOverlap=False))
    base = alt.Chart(table)
    bars = base.mark_rule(strokeWidth=2).encode(x=alt.X("ci_low:Q", title="shape bias (← texture · shape →)",
                                                         scale=alt.Scale(domain=[0, 1])),
                                                x2="ci_high:Q", y=y, color=alt.Color("label:N", scale=scale, legend=None))
    points = base.mark_point(filled=True, size=90).encode(
        x="shape_bias:Q", y=y, color=alt.Color("label:N", scale=scale, legend=None),
        tooltip=["label:N", alt.Tooltip("shape_bias:Q", format=".3f"), alt.Tooltip("ci_low:Q", format=".3f"),
                 alt.Tooltip("ci_high:Q", format=".3f"), "decisions:Q", "source:N"])
    layers = [bars, points]
    if paper is not None and len(paper):
        layers.append(alt.Chart(paper).mark_point(shape="diamond", filled=False, size=140, color="black").encode(
            x="value:Q", y=alt.Y("label:N", sort=order),
            tooltip=["label:N", alt.Tooltip("value:Q", format=".3f", title="paper"), "tag:N", "source:N"]))
    return alt.layer(*layers).properties(height=max(120, 34 * len(order)))


def shape_bias_per_class(table, labels: list[str]):
    """model-vs-human's per-class plot: classes down, shape bias across, one colour per decision maker."""
    import altair as alt

    scale = color_scale(labels)
    points = alt.Chart(table).mark_point(filled=True, size=60, opacity=0.85).encode(
        x=alt.X("shape_bias:Q", title="shape bias", scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("class:N", title=None, sort="ascending", axis=alt.Axis(labelOverlap=False)),
        color=alt.Color("label:N", scale=scale, title=None,
                        legend=alt.Legend(orient="bottom", columns=2, labelLimit=400)),
        shape=alt.Shape("label:N", scale=alt.Scale(domain=labels), legend=None),
        tooltip=["label:N", "class:N", alt.Tooltip("shape_bias:Q", format=".2f"), "n:Q"])
    means = alt.Chart(table).mark_rule(strokeDash=[4, 3]).encode(
        x="mean(shape_bias):Q", color=alt.Color("label:N", scale=scale, legend=None))
    return alt.layer(points, means).properties(height=16 * 26)


def to_png(chart) -> bytes:
    import vl_convert as vlc

    return vlc.vegalite_to_png(chart.to_json(), scale=2)


def to_svg(chart) -> str:
    import vl_convert as vlc

    return vlc.vegalite_to_svg(chart.to_json())
