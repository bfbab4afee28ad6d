"""The "accuracy on the line" chart: one panel per shifted set, logit axes labelled in accuracy.

Layers, back to front: the published population as small grey points (two shades: timm's ImageNet
classifiers, open_clip's CLIP zero-shot models; hovering one names it), the fitted line with its 95% band,
the paper's values as hollow black diamonds (labelled with their tag), and our measured models as large
marks in their page-wide colours with their 95% intervals on both axes. No Streamlit.
"""

from __future__ import annotations

import numpy as np

from core.analysis.charts import PALETTE

__all__ = ["POPULATION_SHADES", "accuracy_on_the_line", "logit_frame", "SpecChart"]

POPULATION_SHADES = ("#bdbdbd", "#d4a373", "#6e6e6e")
"""The population's kinds in the order given: the checkpoints in the line's fit (light grey), the other timm
checkpoints (sand: extra pretraining data, the ones whose distance from the line is the finding), open_clip's
CLIP zero-shot models (dark grey)."""
_HOVER = {"pretraining": "pretraining", "family": "family", "param_count": "parameters (M)"}
"""Optional population columns the hover shows."""
_TICKS = (0.001, 0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)
_LABEL = "format(1 / (1 + exp(-datum.value)), '.1~%')"
_ACCURACY = "1 / (1 + exp(-datum.{}))"


class SpecChart:
    """A finished Vega-Lite spec with the two methods exports and pins call on an Altair chart.

    The population (~1,500 points per set) goes into the spec's `datasets` as plain records after Altair has
    built the rest: Altair copies and converts inline data on every composition (about 2 s for this chart on
    2 cores), which a page would pay on every change of model selection.
    """

    def __init__(self, spec: dict) -> None:
        self.spec = spec

    def to_dict(self, validate: bool = False) -> dict:  # noqa: ARG002 - the signature of Altair's
        import copy

        return copy.deepcopy(self.spec)

    def to_json(self, indent: int | None = None) -> str:
        import json

        return json.dumps(self.spec, indent=indent)


def _logit(values) -> np.ndarray:
    from core.metrics.effective_robustness import transform_accuracy

    return np.round(transform_accuracy(values), 4)


def logit_frame(frame, columns: dict[str, str]):
    """`frame` with logit-transformed copies of its accuracy columns ({source column: new column})."""
    frame = frame.copy()
    for source, target in columns.items():
        frame[target] = _logit(frame[source].to_numpy(float))
    return frame


def _axis(title: str, low: float, high: float) -> dict:
    from core.metrics.effective_robustness import transform_accuracy

    ticks = [float(transform_accuracy(t)) for t in _TICKS if low - 0.05 <= transform_accuracy(t) <= high + 0.05]
    return {"title": title, "values": ticks, "labelExpr": _LABEL, "grid": True}


def _position(field: str, low: float, high: float, title: str) -> dict:
    return {"field": field, "type": "quantitative", "axis": _axis(title, low, high),
            "scale": {"zero": False, "nice": False, "domain": [float(low) - 0.1, float(high) + 0.1]}}


def _tip(field: str, title: str | None = None, number: str | None = None) -> dict:
    tip = {"field": field, "type": "quantitative" if number else "nominal"}
    if number:
        tip["format"] = number
    if title:
        tip["title"] = title
    return tip


def _records(frame) -> list[dict]:
    """Plain JSON records (NaN → None) of a small frame."""
    return [{key: (None if isinstance(value, float) and not np.isfinite(value) else value) for key, value in row.items()}
            for row in frame.to_dict("records")]


def accuracy_on_the_line(population, bands, ours, paper, *, labels: list[str], kinds: list[str],
                         set_labels: dict[str, str], columns: int = 2, width: int = 300, height: int = 250,
                         title: str = "", shades: list[str] | None = None):
    """The chart, as a Vega-Lite spec (`SpecChart`). `population`: rows `benchmark, kind, point, imagenet,
    shifted` (and, shown on hover where present, `pretraining, family, param_count`);
    `bands`: `line_bands(...)`; `ours`: `effective_robustness_table(...)` with a `label` column;
    `paper`: `paper_points(...)` with `label`; `labels`: our models in registry order; `kinds`: the
    population's shades in order; `shades`: each kind's colour (default: `POPULATION_SHADES` in the kinds' order);
    `title`: which line (its fit choice and checkpoints), above the panels, kept in
    exports and pins. None when no set has a line.

    Written as a plain spec rather than through Altair: Altair copies and converts inline data at every
    composition step (about 2 s for ~8,000 points on 2 busy cores), which the page would pay on every change
    of model selection; this takes a few tens of milliseconds.
    """
    import altair as alt

    series = list(labels) + list(kinds)
    colour = {"field": "series", "type": "nominal", "title": None,
              "scale": {"domain": series,
                        "range": [PALETTE[i % len(PALETTE)] for i in range(len(labels))]
                        + list(shades or [POPULATION_SHADES[i % len(POPULATION_SHADES)] for i in range(len(kinds))])},
              "legend": {"orient": "bottom", "columns": 2, "labelLimit": 400, "symbolOpacity": 1}}
    extra = [column for column in _HOVER if column in population.columns]
    population = logit_frame(population, {"imagenet": "x", "shifted": "y"})[
        ["benchmark", "kind", "point", "x", "y", *extra]].rename(columns={"kind": "series"})
    bands = logit_frame(bands, {"imagenet": "x", "predicted": "y", "low": "y_low", "high": "y_high"})
    ours = logit_frame(ours, {"imagenet": "x", "shifted": "y", "imagenet_low": "x_low", "imagenet_high": "x_high",
                              "shifted_low": "y_low", "shifted_high": "y_high"}).assign(series=lambda f: f["label"])
    paper = logit_frame(paper, {"imagenet": "x", "shifted": "y"})
    panels, datasets = [], {}
    for benchmark in [key for key in set_labels if key in set(bands["benchmark"])]:
        dots = population[population["benchmark"] == benchmark].drop(columns="benchmark")
        name = f"population-{benchmark}"
        datasets[name] = _records(dots) if extra else dots.to_dict("records")
        band = bands[bands["benchmark"] == benchmark].drop(columns="benchmark")
        mine = ours[ours["benchmark"] == benchmark]
        marks = paper[paper["benchmark"] == benchmark]
        xs = np.r_[dots["x"], band["x"], mine["x_low"], mine["x_high"], marks["x"]]
        ys = np.r_[dots["y"], mine["y_low"], mine["y_high"], marks["y"]]
        x = _position("x", xs.min(), xs.max(), "ImageNet top-1 (logit axis)")
        y = _position("y", ys.min(), ys.max(), "top-1 on the set (logit axis)")
        layers = [
            {"data": {"name": name}, "mark": {"type": "circle", "size": 14, "opacity": 0.75},
             "transform": [{"calculate": _ACCURACY.format("x"), "as": "imagenet"},
                           {"calculate": _ACCURACY.format("y"), "as": "shifted"}],
             "encoding": {"x": x, "y": y, "color": colour, "tooltip": [
                 _tip("point", "model"), _tip("series", "kind"), _tip("imagenet", None, ".1%"),
                 _tip("shifted", set_labels[benchmark], ".1%"),
                 *[_tip(column, _HOVER[column], ".1f" if column == "param_count" else None) for column in extra]]}},
            {"data": {"values": _records(band)}, "mark": {"type": "area", "opacity": 0.25, "color": "#555555",
                                                          "clip": True},
             "encoding": {"x": x, "y": {"field": "y_low", "type": "quantitative"},
                          "y2": {"field": "y_high"}}},
            {"data": {"values": _records(band)}, "mark": {"type": "line", "color": "#333333", "strokeWidth": 1.5,
                                                          "clip": True},
             "encoding": {"x": x, "y": y, "tooltip": [
                 _tip("imagenet", None, ".1%"), _tip("predicted", "line's prediction", ".1%"),
                 _tip("low", "band low", ".1%"), _tip("high", "band high", ".1%")]}},
        ]
        if len(marks):
            layers.append({"data": {"values": _records(marks[["label", "x", "y", "imagenet", "shifted", "tag"]])},
                           "mark": {"type": "point", "shape": "diamond", "filled": False, "size": 110,
                                    "color": "black", "strokeWidth": 1.5},
                           "encoding": {"x": x, "y": y, "tooltip": [
                               _tip("label"), _tip("imagenet", "paper ImageNet", ".1%"),
                               _tip("shifted", "paper", ".1%"), _tip("tag")]}})
        if len(mine):
            values = {"values": _records(mine[["label", "series", "x", "y", "x_low", "x_high", "y_low", "y_high",
                                               "imagenet", "shifted", "predicted", "effective_robustness", "ci_low",
                                               "ci_high"]])}
            tips = [_tip("label"), _tip("imagenet", None, ".1%"), _tip("shifted", None, ".1%"),
                    _tip("predicted", "line's prediction", ".1%"),
                    _tip("effective_robustness", "effective robustness", "+.1%"), _tip("ci_low", None, "+.1%"),
                    _tip("ci_high", None, "+.1%")]
            layers += [
                {"data": values, "mark": {"type": "rule", "strokeWidth": 2},
                 "encoding": {"x": {"field": "x_low", "type": "quantitative"}, "x2": {"field": "x_high"}, "y": y,
                              "color": colour}},
                {"data": values, "mark": {"type": "rule", "strokeWidth": 2},
                 "encoding": {"x": x, "y": {"field": "y_low", "type": "quantitative"}, "y2": {"field": "y_high"},
                              "color": colour}},
                {"data": values, "mark": {"type": "point", "filled": True, "size": 150, "opacity": 1,
                                          "stroke": "white", "strokeWidth": 1},
                 "encoding": {"x": x, "y": y, "color": colour, "tooltip": tips}}]
        panels.append({"title": set_labels[benchmark], "width": width, "height": height, "layer": layers})
    if not panels:
        return None
    spec = {"$schema": alt.SCHEMA_URL, "concat": panels, "columns": columns,
            "resolve": {"scale": {"color": "shared"}}, "datasets": datasets}
    if title:
        import textwrap

        spec["title"] = {"text": textwrap.wrap(title, 110), "anchor": "start", "fontSize": 12, "fontWeight": "normal"}
    return SpecChart(spec)
