"""Altair charts of a task (tidy frames in, charts out; no Streamlit): k-shot curves, corruption curves, κ matrix.

Colours follow the models' registry order (`core.analysis.charts.color_scale` over model labels), so a model
keeps its colour across its methods and across pages.
"""

from __future__ import annotations

__all__ = ["kshot_curve", "corruption_curves", "kappa_matrix"]


def kshot_curve(table, labels: list[str], *, full=None):
    """Top-1 against k (log axis) per model, a band for its 95% interval; `full`: the full probe's top-1 as a
    dashed rule per model (rows with `label`, `accuracy`)."""
    import altair as alt

    from core.analysis.charts import color_scale

    scale = color_scale(labels)
    x = alt.X("k:Q", scale=alt.Scale(type="log", base=2), axis=alt.Axis(values=sorted(set(table["k"]))),
              title="labelled images per class (k)")
    base = alt.Chart(table).encode(x=x, color=alt.Color("label:N", scale=scale, title=None,
                                                        legend=alt.Legend(orient="bottom", labelLimit=400)))
    tips = ["label:N", "k:Q", alt.Tooltip("accuracy:Q", format=".1%"), alt.Tooltip("ci_low:Q", format=".1%"),
            alt.Tooltip("ci_high:Q", format=".1%"), "draws:Q"]
    layers = [base.mark_area(opacity=0.15).encode(y="ci_low:Q", y2="ci_high:Q"),
              base.mark_line(point=True).encode(y=alt.Y("accuracy:Q", title="top-1 on the test split",
                                                        axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
                                                tooltip=tips)]
    if full is not None and len(full):
        layers.append(alt.Chart(full).mark_rule(strokeDash=[5, 3]).encode(
            y="accuracy:Q", color=alt.Color("label:N", scale=scale, legend=None),
            tooltip=["label:N", alt.Tooltip("accuracy:Q", format=".1%", title="full probe")]))
    return alt.layer(*layers).properties(height=320)


def corruption_curves(table, labels: list[str], candidates: list[str]):
    """Top-1 against severity (0 = clean) per candidate, one panel per corruption; dashed lines for zero-shot.

    Panels are concatenated, three to a row, each with its own axes: a wrapped facet draws the last row's
    x axis under every column, an empty panel where the corruptions do not fill the row. The dash is
    explained in the page's caption, not a legend of its own (its black symbols read as another model)."""
    import altair as alt

    from core.analysis.charts import color_scale, facet_columns

    corruptions = sorted(set(table["corruption"]))
    line = alt.Chart(table).mark_line(point=True).encode(
        x=alt.X("severity:O", title="severity"),
        y=alt.Y("accuracy:Q", title="top-1", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("label:N", scale=color_scale(labels), title=None,
                        legend=alt.Legend(orient="bottom", labelLimit=400)),
        strokeDash=alt.StrokeDash("method:N", legend=None,
                                  scale=alt.Scale(domain=["probe", "zero-shot"], range=[[1, 0], [5, 3]])),
        detail="candidate:N",
        tooltip=["candidate:N", "corruption:N", "severity:O", alt.Tooltip("accuracy:Q", format=".1%"),
                 alt.Tooltip("drop:Q", format=".1%", title="relative drop")])
    panels = [line.transform_filter(alt.datum.corruption == name).properties(title=name, width=220, height=200)
              for name in corruptions]
    return alt.concat(*panels, columns=facet_columns(len(corruptions))).properties(
        autosize=alt.AutoSizeParams(type="pad", contains="padding"))


def kappa_matrix(table, order: list[str]):
    """Error consistency κ for every pair of candidates, a diverging colour around 0, values printed."""
    import altair as alt

    columns = alt.Axis(labelAngle=-40, labelLimit=180, labelOverlap=False)  # every column named
    base = alt.Chart(table).encode(x=alt.X("b:N", sort=order, title=None, axis=columns),
                                   y=alt.Y("a:N", sort=order, title=None, axis=alt.Axis(labelLimit=220)))
    cells = base.mark_rect().encode(
        color=alt.Color("kappa:Q", scale=alt.Scale(scheme="redblue", domain=[-1, 1]), title="κ"),
        tooltip=["a:N", "b:N", alt.Tooltip("kappa:Q", format=".2f"), alt.Tooltip("ci_low:Q", format=".2f"),
                 alt.Tooltip("ci_high:Q", format=".2f")])
    # κ is undefined for a candidate right (or wrong) on every image: "—", not "null"
    text = base.transform_calculate(shown="isValid(datum.kappa) ? format(datum.kappa, '.2f') : '—'").mark_text(
        fontSize=12).encode(text="shown:N")
    side = max(220, 70 * len(order))
    # fit-x: the page stretches the width, and the height stays the cells' own; with Streamlit's default "fit"
    # the rotated column labels (up to 180 px) came out of the height and squeezed the rows to a strip
    return alt.layer(cells, text).properties(width=side, height=side,
                                             autosize=alt.AutoSizeParams(type="fit-x", contains="padding"))
