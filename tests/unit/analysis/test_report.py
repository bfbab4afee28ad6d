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


def _beyond_card():
    """The effective-robustness card with numbers (as test_beyond builds them), not measured on a model it lacks."""
    import numpy as np

    from core.analysis.beyond import claim_effective_robustness

    rows = [{"model": m, "benchmark": b, "value": v, "ci_low": v - 0.01, "ci_high": v + 0.01, "n": 10_000}
            for m, v in (("vit_sup", -0.02), ("convnext_sup", -0.01), ("vit_clip", 0.12), ("convnext_clip", 0.1))
            for b in ("imagenet-r", "average")]
    from core.metrics.paired import difference

    rng = np.random.default_rng(0)
    found = difference([0.12, 0.1], [-0.02, -0.01], [0.12 + rng.normal(0, 0.01, 200), 0.1 + rng.normal(0, 0.01, 200)],
                       [-0.02 + rng.normal(0, 0.01, 200), -0.01 + rng.normal(0, 0.01, 200)], n=10_000, paired=True)
    return claim_effective_robustness(
        pd.DataFrame(rows), found, "Line fitted on ImageNet-1k-trained (Taori et al.'s standard line): 980 checkpoints.")


def test_the_report_deck_and_zip_carry_the_card_beyond_the_paper_apart_from_the_claims():
    import io
    import zipfile

    from pptx import Presentation

    card = _beyond_card()
    assert card.verdict == "reproduced"
    text = report.html_report([], None, beyond=[card])
    assert "<h1 id='beyond'>Beyond the paper</h1>" in text and "effective robustness" in text
    assert "Taori et al.&#x27;s standard line" in text and "claim-9" in text  # the line named (escaped)
    assert text.index("id='beyond'") < text.index("<h1>Pinned charts</h1>")
    assert "Beyond the paper" not in report.html_report([], None)  # no card: no section
    deck = Presentation(io.BytesIO(report.pptx_report([], None, beyond=[card])))
    slides = ["\n".join(shape.text_frame.text for shape in slide.shapes if shape.has_text_frame)
              for slide in deck.slides]
    assert slides[1].startswith("Beyond the paper")  # a divider of its own, then the card
    assert "effective robustness" in slides[2] and "CLIP models are more effectively robust" in slides[2]
    names = zipfile.ZipFile(io.BytesIO(report.zip_report([], None, beyond=[card]))).namelist()
    assert "beyond_the_paper/verdicts.csv" in names and "beyond_the_paper/claim_9_effective_robustness.png" in names
