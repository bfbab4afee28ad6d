"""The "accuracy on the line" chart: one panel per shifted set, logit axes labelled in accuracy.

Layers, back to front: the published population as small grey points (two shades: timm's ImageNet
classifiers, open_clip's CLIP zero-shot models; hovering one names it), the fitted line with its 95% band,
the paper's values as hollow black diamonds (labelled with their tag), and our measured models as large
marks in their page-wide colours with their 95% intervals on both axes. No Streamlit.
"""

from __future__ import annotations

import numpy as np

from core.analysis.charts import PALETTE

__all__ = ["POPULATION_SHADES", "accuracy_on_the_line", "logit_frame"]

POPULATION_SHADES = ("#cfcfcf", "#8a8a8a")
"""timm's ImageNet classifiers (light), open_clip's CLIP zero-shot models (dark)."""
_TICKS = (0.001, 0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)
_LABEL = "format(1 / (1 + exp(-datum.value)), '.3~%')"
_ACCURACY = "1 / (1 + exp(-datum.{}))"


def _logit(values) -> np.ndarray:
    from core.metrics.effective_robustness import transform_accuracy

    return np.round(transform_accuracy(values), 4)


def logit_frame(frame, columns: dict[str, str]):
    """`frame` with logit-transformed copies of its accuracy columns ({source column: new column})."""
    frame = frame.copy()
    for source, target in columns.items():
        frame[target] = _logit(frame[source].to_numpy(float))
    return frame


def _axis(title: str, low: float, high: float):
    import altair as alt

    ticks = [float(_logit(t)) for t in _TICKS if low - 0.05 <= _logit(t) <= high + 0.05]
    return alt.Axis(title=title, values=ticks, labelExpr=_LABEL, grid=True)


def accuracy_on_the_line(population, bands, ours, paper, *, labels: list[str], kinds: list[str],
                         set_labels: dict[str, str], columns: int = 2, width: int = 300, height: int = 250):
    """The chart. `population`: rows `benchmark, kind, point, imagenet, shifted`; `bands`: `line_bands(...)`;
    `ours`: `effective_robustness_table(...)` with a `label` column; `paper`: `paper_points(...)` with `label`;
    `labels`: our models in registry order; `kinds`: the population's two shades in order."""
    import altair as alt

    series = list(labels) + list(kinds)
    colour = alt.Color("series:N", title=None, scale=alt.Scale(
        domain=series, range=[PALETTE[i % len(PALETTE)] for i in range(len(labels))] + list(POPULATION_SHADES)),
        legend=alt.Legend(orient="bottom", columns=2, labelLimit=400, symbolOpacity=1))
    population = logit_frame(population, {"imagenet": "x", "shifted": "y"})[["benchmark", "kind", "point", "x", "y"]] \
        .rename(columns={"kind": "series"})
    bands = logit_frame(bands, {"imagenet": "x", "predicted": "y", "low": "y_low", "high": "y_high"})
    ours = logit_frame(ours, {"imagenet": "x", "shifted": "y", "imagenet_low": "x_low", "imagenet_high": "x_high",
                              "shifted_low": "y_low", "shifted_high": "y_high"}).assign(series=lambda f: f["label"])
    paper = logit_frame(paper, {"imagenet": "x", "shifted": "y"})
    panels = []
    for benchmark in [key for key in set_labels if key in set(bands["benchmark"])]:
        dots = population[population["benchmark"] == benchmark].drop(columns="benchmark")
        band = bands[bands["benchmark"] == benchmark]
        mine = ours[ours["benchmark"] == benchmark]
        marks = paper[paper["benchmark"] == benchmark]
        xs = np.r_[dots["x"], band["x"], mine.get("x_low", []), mine.get("x_high", []), marks["x"]]
        ys = np.r_[dots["y"], mine.get("y_low", []), mine.get("y_high", []), marks["y"]]
        x = alt.X("x:Q", scale=alt.Scale(zero=False, nice=False, domain=[float(xs.min()) - 0.1, float(xs.max()) + 0.1]),
                  axis=_axis("ImageNet top-1 (logit axis)", xs.min(), xs.max()))
        y = alt.Y("y:Q", scale=alt.Scale(zero=False, nice=False, domain=[float(ys.min()) - 0.1, float(ys.max()) + 0.1]),
                  axis=_axis(f"{set_labels[benchmark]} top-1", ys.min(), ys.max()))
        layers = [
            alt.Chart(dots).mark_circle(size=14, opacity=0.75).transform_calculate(
                imagenet=_ACCURACY.format("x"), shifted=_ACCURACY.format("y")).encode(
                x=x, y=y, color=colour, tooltip=[alt.Tooltip("point:N", title="model"), alt.Tooltip("series:N", title="kind"),
                                                 alt.Tooltip("imagenet:Q", format=".1%"),
                                                 alt.Tooltip("shifted:Q", format=".1%", title=set_labels[benchmark])]),
            alt.Chart(band).mark_area(opacity=0.25, color="#555555").encode(x=x, y=alt.Y("y_low:Q"), y2="y_high:Q"),
            alt.Chart(band).mark_line(color="#333333", strokeWidth=1.5).encode(
                x=x, y=y, tooltip=[alt.Tooltip("imagenet:Q", format=".1%"),
                                   alt.Tooltip("predicted:Q", format=".1%", title="line's prediction"),
                                   alt.Tooltip("low:Q", format=".1%", title="band low"),
                                   alt.Tooltip("high:Q", format=".1%", title="band high")]),
        ]
        if len(marks):
            layers.append(alt.Chart(marks).mark_point(shape="diamond", filled=False, size=110, color="black",
                                                      strokeWidth=1.5).encode(
                x=x, y=y, tooltip=["label:N", alt.Tooltip("imagenet:Q", format=".1%", title="paper ImageNet"),
                                   alt.Tooltip("shifted:Q", format=".1%", title="paper"), "tag:N"]))
        if len(mine):
            tips = ["label:N", alt.Tooltip("imagenet:Q", format=".1%"), alt.Tooltip("shifted:Q", format=".1%"),
                    alt.Tooltip("predicted:Q", format=".1%", title="line's prediction"),
                    alt.Tooltip("effective_robustness:Q", format="+.1%", title="effective robustness"),
                    alt.Tooltip("ci_low:Q", format="+.1%"), alt.Tooltip("ci_high:Q", format="+.1%")]
            layers += [alt.Chart(mine).mark_rule(strokeWidth=2).encode(x="x_low:Q", x2="x_high:Q", y=y, color=colour),
                       alt.Chart(mine).mark_rule(strokeWidth=2).encode(x=x, y="y_low:Q", y2="y_high:Q", color=colour),
                       alt.Chart(mine).mark_point(filled=True, size=150, opacity=1, stroke="white",
                                                  strokeWidth=1).encode(x=x, y=y, color=colour, tooltip=tips)]
        panels.append(alt.layer(*layers).properties(width=width, height=height, title=set_labels[benchmark]))
    if not panels:
        return None
    return alt.concat(*panels, columns=columns).resolve_scale(color="shared")
