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
    # the default line: the ImageNet-1k-trained checkpoints (the fixture's 40 and deit3 fb_in1k), one point each
    in1k = len({name for name, *_ in tables.timm_population() if name.endswith(".a1_in1k") or name.endswith("fb_in1k")})
    assert (er["checkpoints in the fit"] == in1k).all()
    assert (er["line fitted on"] == "ImageNet-1k-trained (Taori et al.'s standard line)").all()
    assert any(f"{in1k} checkpoints per set" in caption.value and "Left out as unknown pretraining: 0" in caption.value
               for caption in at.caption)
    spec = _line_spec(at)
    assert len(spec["concat"]) == 5  # V2, ReaL, Sketch, R, A: every set with a published population
    assert "ImageNet-1k-trained" in " ".join(spec["title"]["text"])  # the chart names its line (kept in exports)
    tooltips = json.dumps(spec)
    assert '"title": "model"' in tooltips or '"title":"model"' in tooltips  # hovering a grey point names it
    assert '"title": "pretraining"' in tooltips or '"title":"pretraining"' in tooltips  # and its pretraining
    at.radio(key="robustness_fit_on").set_value("timm").run()
    assert not at.exception
    er_timm = next(frame.value for frame in at.dataframe if "effective robustness" in frame.value.columns)
    checkpoints = len({name for name, *_ in tables.timm_population()})  # ConvNeXt-B at two sizes counts once
    assert checkpoints == len(tables.timm_population()) - 1 and (er_timm["checkpoints in the fit"] == checkpoints).all()
    at.radio(key="robustness_fit_on").set_value("all").run()
    assert not at.exception
    er_all = next(frame.value for frame in at.dataframe if "effective robustness" in frame.value.columns)
    assert (er_all["checkpoints in the fit"] > checkpoints).any()  # the CLIP models joined the fit


def test_the_population_filter_narrows_the_fit_and_lives_in_the_url(monkeypatch, analysis_store, published):
    at = _page(monkeypatch, analysis_store, published)
    at.radio(key="robustness_fit_on").set_value("timm").run()
    at.multiselect(key="robustness_pretraining").set_value(["in1k"]).run()
    assert not at.exception
    er = next(frame.value for frame in at.dataframe if "effective robustness" in frame.value.columns)
    assert (er["checkpoints in the fit"] == tables.N_TIMM + 1).all()  # every timm checkpoint, of those in1k
    assert at.query_params["robustness_pretraining"] in ("in1k", ["in1k"])  # AppTest gives one value bare
    assert any("Population filter: pretraining in1k" in caption.value for caption in at.caption)
    at.multiselect(key="robustness_family").set_value(["deit"]).run()  # one in1k DeiT: too few for a line
    assert not at.exception
    assert any("fewer than 3 published checkpoints" in caption.value for caption in at.caption)


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
    assert json.loads(pins["state"][0])["robustness_fit_on"] in ("in1k", ["in1k"])  # the URL state, as saved
    assert "effective_robustness" in pins["table_csv"][0].splitlines()[0]
    assert vlc.vegalite_to_svg(pins["chart"][0]).startswith("<svg")  # what the Findings exports render
