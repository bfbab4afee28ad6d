"""AppTest: the Findings page on a cue-conflict store (offline model + authors' decisions + humans), pins,
URL state on an analysis page, and the exports read back (HTML parsed, deck opened with python-pptx)."""

from __future__ import annotations

import io
import json
import zipfile
from html.parser import HTMLParser

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import shared_data


@pytest.fixture(scope="session")
def cue_store(tmp_path_factory):
    """effnet_lite0 on 64 cue-conflict images, the paper authors' decisions and the 10 human observers."""
    from core.run.evaluation import evaluate
    from core.run.decisions import import_author_decisions, import_human_decisions
    from core.store import ResultsStore

    cue = shared_data("cue-conflict")
    humans = shared_data("cue-conflict-human")
    authors = shared_data("cue-conflict-paper-models")
    store = ResultsStore(tmp_path_factory.mktemp("cue") / "results.duckdb")
    quiet = {"store": store, "say": lambda _: None}
    evaluate(["effnet_lite0"], "cue-conflict", cue, limit=64, seed=0, workers=0, **quiet)
    import_author_decisions(authors, **quiet)
    import_human_decisions(humans, **quiet)
    return store


def _findings(monkeypatch, db) -> AppTest:
    monkeypatch.setenv("BAE_RESULTS_DB", str(db))
    at = AppTest.from_file("../../app.py", default_timeout=300).run()
    at.switch_page("views/findings.py").run()
    return at


def test_findings_page_gives_claim_5_a_verdict_and_says_what_to_run_for_the_rest(monkeypatch, cue_store):
    from core.analysis.evidence import assess, collect_evidence

    at = _findings(monkeypatch, cue_store.path)
    assert not at.exception
    summary = at.dataframe[0].value.set_index("claim")
    verdicts = dict(zip(summary.index.str.split(".").str[0].astype(int), summary["verdict"]))
    assert verdicts[5] in ("reproduced", "contradicted", "inconclusive")
    assert all(verdicts[n] == "not measured" for n in (1, 2, 3, 4, 6, 7, 8))
    infos = " ".join(info.value for info in at.info)
    assert "--benchmark imagenet-val" in infos and "--benchmark pug-imagenet" in infos and "core probe" in infos
    # the card's verdict is the one the pure functions give on the store's own numbers
    expected = next(r for r in assess(collect_evidence(cue_store)) if r.claim.number == 5)
    assert verdicts[5] == expected.verdict
    numbers = expected.numbers.set_index("model")
    assert set(numbers.index) == {"vit_sup", "convnext_sup", "vit_clip", "convnext_clip"}
    assert set(numbers["source"]) == {"authors"}  # effnet_lite0 is not a paper model; the authors' release fills in
    assert any("authors' released decisions" in caption.value for caption in at.caption)
    # each part shows the difference it was decided on (issue 18), and the card its combination rule
    assert any("paired over 1,200 images" in markdown.value for markdown in at.markdown)
    assert any("reproduced only if all 3 parts are" in caption.value for caption in at.caption)


def test_pins_and_url_state_round_trip(monkeypatch, analysis_store, tmp_path):
    import shutil

    from core.store import ResultsStore

    db = tmp_path / "results.duckdb"
    shutil.copy(analysis_store, db)
    monkeypatch.setenv("BAE_RESULTS_DB", str(db))
    at = AppTest.from_file("../../app.py", default_timeout=300)
    at.query_params["robustness_models"] = ["tiny_vit", "no_such_model"]
    at.run()
    at.switch_page("views/robustness.py").run()
    # a stale model in the link is left out with a note; the valid one is restored
    assert not at.exception
    assert at.multiselect(key="robustness_models").value == ["tiny_vit"]
    assert any("no_such_model" in caption.value for caption in at.caption)
    at.text_input(key="robustness_chart_pin_note").input("shown in the meeting")
    at.button(key="robustness_chart_pin").click().run()
    assert not at.exception
    pins = ResultsStore(db).pins()
    assert len(pins) == 1 and pins["page"][0] == "robustness" and pins["note"][0] == "shown in the meeting"
    assert json.loads(pins["state"][0])["robustness_models"] == ["tiny_vit"]
    assert json.loads(pins["chart"][0])["layer"]  # the chart's own Vega-Lite spec
    assert json.loads(pins["provenance"][0])["runs"][0]["model"] == "tiny_vit"

    at.switch_page("views/findings.py").run()
    assert not at.exception
    assert any("Pinned charts" in header.value for header in at.header)
    assert at.text_input(key=f"findings_pin_note_{pins['pin_id'][0]}").value == "shown in the meeting"

    # bad numbers in a link are ignored with a note, never an exception
    at = AppTest.from_file("../../app.py", default_timeout=300)
    at.query_params["calibration_bins"] = "abc"
    at.run()
    at.switch_page("views/calibration.py").run()
    assert not at.exception
    assert at.number_input(key="calibration_bins").value == 15
    assert any("calibration_bins" in caption.value for caption in at.caption)


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.charts, self.urls = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "figure" and "data-chart" in attrs:
            self.charts.append(attrs["data-chart"])
        for name in ("src", "href"):
            if attrs.get(name):
                self.urls.append(attrs[name])


def test_exports_read_back(cue_store, tmp_path):
    from pptx import Presentation

    from core.analysis.report import write_report

    cue_store.add_pin("shape-texture", "shape bias", {"shape_makers": ["Humans (10 observers, pooled)"]},
                      chart=json.dumps({"data": {"values": [{"a": 1, "b": 2}]}, "mark": "bar",
                                        "encoding": {"x": {"field": "a", "type": "quantitative"},
                                                     "y": {"field": "b", "type": "quantitative"}}}),
                      table_csv="a,b\n1,2\n", note="a pinned note")
    html_path, deck_path, zip_path = tmp_path / "r.html", tmp_path / "r.pptx", tmp_path / "r.zip"
    assert write_report("html", html_path, cue_store) < 5_000_000
    text = html_path.read_text()
    parser = _Collector()
    parser.feed(text)
    assert parser.charts == ["claim-5", "pin-1"]  # the one measured claim and the pin
    assert "http" not in text and not parser.urls
    assert "a pinned note" in text and "Provenance" in text
    # the card beyond the paper, apart from the eight (not measured here: no published population downloaded)
    assert text.index("<h1 id='beyond'>Beyond the paper</h1>") < text.index("<h1>Pinned charts</h1>")
    assert "effective robustness" in text and "9. Beyond the paper: CLIP models are more effectively robust" in text

    write_report("pptx", deck_path, cue_store)
    deck = Presentation(io.BytesIO(deck_path.read_bytes()))
    slides = list(deck.slides)
    assert len(slides) == 1 + 8 + 2 + 1  # title, eight claims, the divider and card beyond the paper, one pin
    assert slides[9].shapes.title.text == "Beyond the paper"
    beyond = " ".join(shape.text_frame.text for shape in slides[10].shapes if shape.has_text_frame)
    assert "effective robustness" in beyond and "timm-results openclip-results" in beyond  # what to download
    assert "which claims do our runs reproduce" in " ".join(shape.text_frame.text for shape in slides[0].shapes)
    titles = [None] + [slide.shapes.title.text for slide in slides[1:]]
    assert titles[1].startswith("1. CLIP models make fewer mistakes") and titles[5].startswith("5. ConvNeXt is more texture-biased") and titles[-1] == "Pinned: shape bias"
    pictures = [sum(shape.shape_type == 13 for shape in slide.shapes) for slide in slides]  # 13: PICTURE
    assert pictures[5] == 1 and pictures[-1] == 1 and pictures[1] == 0  # claim 1 is not measured: no chart

    write_report("zip", zip_path, cue_store)
    names = zipfile.ZipFile(zip_path).namelist()
    assert {"claim_5_shape_bias.png", "claim_5_shape_bias.svg", "claim_5_shape_bias_numbers.csv",
            "pin_1_shape_bias.png", "pin_1_shape_bias.csv", "verdicts.csv",
            "beyond_the_paper/verdicts.csv", "beyond_the_paper/claim_9_effective_robustness_numbers.csv"} <= set(names)
