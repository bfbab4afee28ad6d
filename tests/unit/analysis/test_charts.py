"""core.analysis.charts: the reliability diagram draws each model's bins in its own facet only."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import vl_convert as vlc

from core.analysis import charts
from core.metrics import reliability_bins

LABELS = ["Model A", "Model B", "Model C"]


def _bins(rng):
    frames = []
    for label in LABELS:
        confidence = rng.uniform(0.2, 1.0, 400)
        frames.append(reliability_bins(confidence, rng.random(400) < confidence, n_bins=10).assign(label=label))
    return pd.concat(frames, ignore_index=True)


def test_every_reliability_layer_is_split_by_the_facet(rng):
    bins = _bins(rng)
    spec = json.loads(charts.reliability_diagram(bins, LABELS).to_json())
    assert spec["facet"]["field"] == "label"
    layers = spec["spec"]["layer"]
    assert len(layers) == 3 and all("data" not in layer for layer in layers)  # no layer escapes the facet
    rows = spec["datasets"][spec["data"]["name"]]
    filled = bins[bins["count"] > 0]
    for label in LABELS:  # per facet: exactly that model's bins, each accuracy a proportion
        facet = [row for row in rows if row["label"] == label]
        expected = filled[filled["label"] == label]
        assert len(facet) == len(expected)
        np.testing.assert_allclose(sorted(r["accuracy"] for r in facet), sorted(expected["accuracy"]))
        assert all(0 <= r["accuracy"] <= 1 for r in facet)


def test_rendered_diagram_draws_one_bar_per_model_bin(rng):
    # rendered by Vega itself: with the old layered-data chart each facet drew every model's bars (3×)
    bins = _bins(rng)
    svg = vlc.vegalite_to_svg(charts.reliability_diagram(bins, LABELS).to_json())
    assert svg.count('aria-roledescription="bar"') == int((bins["count"] > 0).sum())
    histogram = vlc.vegalite_to_svg(charts.confidence_histogram(bins, LABELS).to_json())
    assert histogram.count('aria-roledescription="bar"') == int((bins["count"] > 0).sum())


def test_download_exports_are_made_on_click_and_are_real_files(rng):
    from views._widgets import _export

    chart = charts.reliability_diagram(_bins(rng), LABELS)
    assert _export(charts.to_png, chart)[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in _export(charts.to_svg, chart)
    assert b"Export failed" in _export(lambda _: 1 / 0, chart)  # a failed export is a message, not a crash


def _y_domain(spec) -> list[float]:
    domains = [layer["encoding"]["y"]["scale"]["domain"] for layer in spec["layer"]
               if isinstance(layer.get("encoding", {}).get("y"), dict) and "scale" in layer["encoding"]["y"]]
    assert len(domains) == 1, "one layer fixes the shared y scale"
    return domains[0]


def test_paper_reference_ticks_lie_inside_the_y_domain():
    """Robustness-like case: our bars end near 0.40, the paper's ticks reach 0.89."""
    table = pd.DataFrame({"label": ["A", "B", "A", "B"], "benchmark": ["val", "val", "r", "r"],
                          "accuracy": [0.38, 0.35, 0.30, 0.22], "ci_low": [0.36, 0.33, 0.28, 0.20],
                          "ci_high": [0.40, 0.37, 0.32, 0.24]})
    reference = pd.DataFrame({"label": ["A", "B", "A", "B"], "benchmark": ["val", "val", "r", "r"],
                              "value": [0.89, 0.85, 0.60, 0.64], "tag": "P", "source": "paper"})
    spec = json.loads(charts.grouped_bars(table, x="benchmark", order=["val", "r"], value="accuracy", title="top-1",
                                          reference=reference).to_json())
    low, high = _y_domain(spec)
    assert low <= reference["value"].min() and reference["value"].max() <= high <= 1.0
    assert not spec.get("resolve", {}).get("scale", {}).get("y") == "independent"  # ticks share that scale
    # and a baseline above the bars is inside too; without references the axis still ends near the bars
    with_baseline = json.loads(charts.grouped_bars(table, x="benchmark", order=None, value="accuracy", title="t",
                                                   baseline=0.7).to_json())
    assert _y_domain(with_baseline)[1] >= 0.7
    plain = json.loads(charts.grouped_bars(table, x="benchmark", order=None, value="accuracy", title="t").to_json())
    assert _y_domain(plain)[1] == pytest.approx(0.40 * 1.05)


def test_ratio_charts_end_on_a_labelled_step_above_the_paper_ticks():
    """ImageNet-X-like case: ratios near 1, the paper's ticks reach 2.4; the axis must reach a half step
    above them (2.5), not end between grid lines with the ticks drawn above the last label."""
    table = pd.DataFrame({"label": ["A", "B", "A", "B"], "factor": ["pose", "pose", "texture", "texture"],
                          "error_ratio": [1.0, 0.9, 1.2, 1.1], "ci_low": [0.9, 0.8, 1.1, 1.0],
                          "ci_high": [1.1, 1.0, 1.3, 1.2]})
    reference = pd.DataFrame({"label": ["A", "B"], "factor": ["texture", "texture"], "value": [2.4, 2.3],
                              "tag": "E", "source": "paper"})
    spec = json.loads(charts.grouped_bars(table, x="factor", order=["pose", "texture"], value="error_ratio",
                                          title="error ratio", reference=reference, percent=False,
                                          baseline=1.0).to_json())
    low, high = _y_domain(spec)
    assert low == 0 and high == 2.5
    plain = json.loads(charts.grouped_bars(table, x="factor", order=None, value="error_ratio", title="t",
                                           percent=False).to_json())
    assert _y_domain(plain) == [0, 1.5]  # no ticks: the axis ends just above the highest interval (1.3)


@pytest.mark.parametrize("n, columns", [(1, 1), (2, 2), (3, 3), (4, 2), (5, 3), (8, 3)])
def test_facet_rows_fit_the_content_column(n, columns):
    assert charts.facet_columns(n) == columns
    labels = [f"model {i}" for i in range(n)]
    bins = pd.concat([reliability_bins(np.linspace(0.1, 0.9, 50), np.arange(50) % 2 == 0, n_bins=5).assign(label=label)
                      for label in labels], ignore_index=True)
    svg = vlc.vegalite_to_svg(charts.reliability_diagram(bins, labels).to_json())
    width = float(svg.split('width="', 1)[1].split('"', 1)[0])
    assert width <= 760  # Streamlit's content column is about 730–870 px wide at common window sizes
