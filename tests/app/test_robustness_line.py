"""AppTest: the Robustness page's "accuracy on the line" section, with the published tables in their real formats
(tiny copies) and without them."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from tests.unit.data import published as tables


def _page(monkeypatch, db, data) -> AppTest:
    monkeypatch.setenv("BAE_RESULTS_DB", str(db))
    monkeypatch.setenv("BAE_DATA_DIR", str(data))
    at = AppTest.from_file("../../app.py", default_timeout=240).run()
    at.switch_page("views/robustness.py").run()
    return at


@pytest.fixture
def published(monkeypatch, tmp_path):
    tables.write_tables(monkeypatch, tmp_path / "data")
    return tmp_path / "data"


def _line_spec(at) -> dict:
    charts = at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")
    specs = [json.loads(chart.proto.spec) for chart in charts]
    return next(spec for spec in specs if "concat" in spec)


def test_the_line_chart_and_effective_robustness_table_of_our_models(monkeypatch, analysis_store, published):
    at = _page(monkeypatch, analysis_store, published)
    assert not at.exception
    er = next(frame.value for frame in at.dataframe if "effective robustness" in frame.value.columns)
    # the tiny models come from models.toml: measured, they appear as ours
    assert {"Tiny ViT (random)", "Tiny ConvNeXt (random)"} <= set(er["model"])
    assert set(er["set"]) == {"imagenet-r", "imagenet-real"}  # the sets the store holds that have a line
    assert ((er["95% low"] <= er["effective robustness"]) & (er["effective robustness"] <= er["95% high"])).all()
    assert (er["models in the fit"] == len(tables.timm_population())).all()
    spec = _line_spec(at)
    assert len(spec["concat"]) == 5  # V2, ReaL, Sketch, R, A: every set with a published population
    tooltips = json.dumps(spec)
    assert '"title": "model"' in tooltips or '"title":"model"' in tooltips  # hovering a grey point names it
    at.radio(key="robustness_fit_on").set_value("all").run()
    assert not at.exception
    er_all = next(frame.value for frame in at.dataframe if "effective robustness" in frame.value.columns)
    assert (er_all["models in the fit"] > len(tables.timm_population())).any()  # the CLIP models joined the fit


def test_without_the_published_tables_the_page_says_what_to_download(monkeypatch, analysis_store, tmp_path):
    at = _page(monkeypatch, analysis_store, tmp_path / "nothing")
    assert not at.exception
    assert any("python -m core download timm-results openclip-results" in info.value for info in at.info)
    assert at.dataframe[0].value is not None  # the bars and their table are still there


def test_the_line_chart_pins_and_exports_like_the_others(monkeypatch, analysis_store, published, tmp_path):
    import shutil

    import vl_convert as vlc

    from core.store import ResultsStore

    db = tmp_path / "pins.duckdb"
    shutil.copy(analysis_store, db)
    at = _page(monkeypatch, db, published)
    at.text_input(key="robustness_line_pin_note").input("CLIP above the line")
    at.button(key="robustness_line_pin").click().run()
    assert not at.exception
    pins = ResultsStore(db).pins()
    assert len(pins) == 1 and pins["note"][0] == "CLIP above the line"
    spec = json.loads(pins["chart"][0])
    assert len(spec["concat"]) == 5 and spec["datasets"]
    assert json.loads(pins["state"][0])["robustness_fit_on"] in ("timm", ["timm"])  # the URL state, as saved
    assert "effective_robustness" in pins["table_csv"][0].splitlines()[0]
    assert vlc.vegalite_to_svg(pins["chart"][0]).startswith("<svg")  # what the Findings exports render
