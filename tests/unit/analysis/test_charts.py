"""core.analysis.charts: the reliability diagram draws each model's bins in its own facet only."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
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
