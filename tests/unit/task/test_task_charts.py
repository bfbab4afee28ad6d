"""The task page's charts (core/task/charts.py): panels, legends and sizing seen in headless Chromium (issue 31)."""

from __future__ import annotations

import pandas as pd

from core.task import charts


def _curves(corruptions):
    rows = [{"model": m, "method": method, "candidate": f"{m} · {method}", "corruption": c, "severity": s,
             "accuracy": 0.9 - 0.1 * s, "drop": 0.1 * s, "label": m}
            for m, method in [("a", "probe"), ("b", "zero-shot"), ("b", "probe")] for c in corruptions
            for s in (0, 1, 3)]
    return pd.DataFrame(rows)


def test_corruption_curves_draw_one_panel_per_corruption_and_no_method_legend():
    corruptions = ["contrast", "defocus_blur", "gaussian_noise", "jpeg_compression", "motion_blur"]
    table = _curves(corruptions)
    spec = charts.corruption_curves(table, ["a", "b"], list(dict.fromkeys(table["candidate"]))).to_dict()
    assert len(spec["concat"]) == 5 and spec["columns"] == 3  # five panels, no sixth (a facet drew its axis)
    assert [panel["title"] for panel in spec["concat"]] == corruptions
    for panel in spec["concat"]:
        assert panel["encoding"]["strokeDash"]["legend"] is None
        assert panel["encoding"]["color"]["legend"] is not None


def test_kappa_matrix_keeps_its_rows_tall_when_the_page_stretches_it():
    names = [f"A long candidate name {i} · 16-shot probe" for i in range(3)]
    table = pd.DataFrame([{"a": a, "b": b, "kappa": 0.3, "ci_low": 0.1, "ci_high": 0.5} for a in names for b in names])
    spec = charts.kappa_matrix(table, names).to_dict()
    # Streamlit gives a chart without `autosize` "fit", which takes the rotated labels out of the height
    assert spec["autosize"] == {"type": "fit-x", "contains": "padding"}
    assert spec["height"] >= 220
