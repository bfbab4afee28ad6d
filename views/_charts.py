"""Altair charts on the pages without Streamlit's global Altair lock, their specs cached by content.

`st.altair_chart` converts every chart with `chart.to_dict()` (full Vega-Lite schema validation) while it
holds one lock shared by every session of the server, so ten viewers opening chart pages together queue on
it. Here a chart becomes its Vega-Lite spec once (no lock, no validation: the builders in `core.charts` are
validated by their tests) and is drawn with `st.vega_lite_chart`; the spec is cached by the chart's own
JSON, so the same view in another session or a rerun with the same inputs reuses it.
"""

from __future__ import annotations

import hashlib
import json

import streamlit as st

from views._cache import cache

__all__ = ["spec", "show", "spec_json"]


def _key(chart) -> str:
    return hashlib.sha256(chart.to_json(validate=False, indent=None, sort_keys=False).encode()).hexdigest()


def spec(chart) -> dict:
    """The chart's Vega-Lite spec (data inline), shared: do not modify it."""
    if isinstance(chart, dict):
        return chart
    text = chart.to_json(validate=False, indent=None, sort_keys=False)
    return cache("chart_specs", 256).get(hashlib.sha256(text.encode()).hexdigest(), lambda: json.loads(text))


def spec_json(chart) -> str:
    """The chart's spec as JSON (what exports and pins take)."""
    return chart if isinstance(chart, str) else json.dumps(spec(chart))


def show(chart, where=None, **options) -> None:
    """Draw an Altair chart (or a spec) full width, like `st.altair_chart(chart, width="stretch")`."""
    target = where if where is not None else st
    target.vega_lite_chart(dict(spec(chart)), width="stretch", **options)
