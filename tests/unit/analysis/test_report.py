"""core.report: inline SVGs of the HTML report scale to the width of their card (nothing clipped, prints whole)."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import altair as alt
import pandas as pd

from core.analysis import report


class _Svgs(HTMLParser):
    """Root <svg> elements (not nested ones) with their attributes, and the parent element of each."""

    def __init__(self):
        super().__init__()
        self.stack, self.roots = [], []

    def handle_starttag(self, tag, attrs):
        if tag == "svg" and "svg" not in [t for t, _ in self.stack]:
            self.roots.append((dict(attrs), self.stack[-1] if self.stack else None))
        if tag not in ("meta", "br", "img", "input", "hr", "link"):
            self.stack.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index][0] == tag:
                del self.stack[index:]
                break


def _wide_chart(width: int = 1800):
    table = pd.DataFrame({"factor": [f"factor {i}" for i in range(17)], "ratio": [1 + i / 10 for i in range(17)]})
    return alt.Chart(table).mark_bar().encode(x="factor:N", y="ratio:Q").properties(width=width, height=300)


def test_every_inline_svg_scales_to_its_card():
    pins = pd.DataFrame([{"pin_id": "p1", "page": "mistakes", "title": "wide", "state": "{}",
                          "chart": _wide_chart().to_json(), "table_csv": "", "provenance": json.dumps({"runs": []}),
                          "note": ""}])
    text = report.html_report([], pins)
    parser = _Svgs()
    parser.feed(text)
    assert parser.roots, "the pinned chart is inline SVG"
    for attrs, parent in parser.roots:
        assert float(attrs["width"]) > 1100  # wider than the 1,100 px page: it must scale, not scroll
        assert re.fullmatch(r"0 0 [\d.]+ [\d.]+", attrs["viewbox"])  # (the parser lowercases names) so the drawing scales with the element
        style = attrs["style"].replace(" ", "")
        assert "max-width:100%" in style and "height:auto" in style
        assert parent[0] == "figure" and "chart" in parent[1]["class"]
    css = re.search(r"<style>(.*?)</style>", text, re.S)[1]
    assert "overflow-x" not in css  # no scrollbar that hides part of a chart (and cuts it in print)


def test_scalable_adds_a_viewbox_when_missing_and_keeps_a_style():
    out = report._scalable('<svg width="1767" height="330" style="background:white"><g></g></svg>')
    assert 'viewBox="0 0 1767 330"' in out and 'style="max-width:100%;height:auto;background:white"' in out
    assert out.endswith("<g></g></svg>")


def test_provenance_names_each_runs_data_revision():
    runs = pd.DataFrame({"run_id": ["a", "b", "c"], "model": ["vit_sup"] * 3, "benchmark": ["imagenet-hard"] * 2 +
                         ["cue-conflict"], "source": ["ours", "ours", "authors"],
                         "data_revision": ["taesiri/imagenet-hard@32bfa94 · manifest 0123456789ab", "", ""]})
    rows = report._provenance_rows(runs)
    assert [row["data revision"] for row in rows] == ["taesiri/imagenet-hard@32bfa94 · manifest 0123456789ab",
                                                      "unverified copy", ""]  # imported decisions have no images
