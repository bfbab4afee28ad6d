"""Altair chart builders shared by the pages (tidy frames in, charts out; no Streamlit)."""

from __future__ import annotations

__all__ = ["PALETTE", "color_scale", "shape_bias_overall", "shape_bias_per_class", "to_png", "to_svg"]

PALETTE = ("#4C78A8", "#F58518", "#54A24B", "#B279A2", "#E45756", "#72B7B2", "#EECA3B", "#9D755D", "#BAB0AC",
           "#FF9DA6")
HUMAN_COLOR = "#D62728"


def color_scale(labels: list[str]):
    """One colour per decision maker, in registry order, so every page colours a model alike."""
    import altair as alt

    colours = [HUMAN_COLOR if label.startswith("Humans") else PALETTE[i % len(PALETTE)] for i, label in enumerate(labels)]
    return alt.Scale(domain=list(labels), range=colours)


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
