"""AppTest: each analysis page renders from the filled store, shows real values, and says what is missing."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

ANALYSES = ["views/calibration.py", "views/robustness.py", "views/mistakes.py", "views/pug.py"]


def _page(monkeypatch, db, page) -> AppTest:
    monkeypatch.setenv("BAE_RESULTS_DB", str(db))
    at = AppTest.from_file("../../app.py", default_timeout=180).run()
    at.switch_page(page).run()
    return at


@pytest.mark.parametrize("page", ANALYSES)
def test_empty_store_names_the_command(monkeypatch, tmp_path, page):
    at = _page(monkeypatch, tmp_path / "empty.duckdb", page)
    assert not at.exception
    assert "python -m core evaluate" in at.info[0].value


def test_calibration_page(monkeypatch, analysis_store):
    at = _page(monkeypatch, analysis_store, "views/calibration.py")
    assert not at.exception
    table = at.dataframe[0].value.set_index("label")
    assert set(table.index) >= {"Tiny ViT (random)", "EfficientNet-Lite0 (offline)"}
    assert table["ECE"].between(0, 1).all() and (table["n"] == 120).all()
    # several models on ImageNet val: each reliability facet must hold only its own model's bars
    import json

    charts = at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")
    reliability = json.loads(charts[0].proto.spec)
    assert reliability["facet"]["field"] == "label" and len(table) >= 3
    assert all("data" not in layer for layer in reliability["spec"]["layer"])
    at.number_input(key="calibration_bins").set_value(10)
    at.toggle(key="calibration_temperature").set_value(True)
    at.run()
    assert not at.exception
    scaled = at.dataframe[0].value
    assert scaled["temperature"].notna().all() and (scaled["n"] == 60).all()  # held-out half
    at.selectbox(key="calibration_benchmark").select("imagenet-r")
    at.run()
    assert not at.exception and (at.dataframe[0].value["n"] == 100).all()  # half of 200, temperature still on


def test_robustness_page(monkeypatch, analysis_store):
    at = _page(monkeypatch, analysis_store, "views/robustness.py")
    assert not at.exception
    table = at.dataframe[0].value
    assert {"imagenet-val", "imagenet-r"} <= set(table.columns)
    assert table.loc["Tiny ViT (random)", ["imagenet-val", "imagenet-r"]].notna().all()  # every benchmark per model
    assert "imagenet-real" in table.columns  # derived from the val rows' ReaL labels
    assert any("Not in the store yet" in caption.value for caption in at.caption)


def test_mistakes_page(monkeypatch, analysis_store):
    at = _page(monkeypatch, analysis_store, "views/mistakes.py")
    assert not at.exception
    ratios = at.dataframe[0].value
    assert len(ratios) == 16 and "Tiny ViT (random)" in ratios.columns
    at.multiselect(key="mistakes_slice").set_value(["pose", "background"])
    at.run()
    assert not at.exception
    slice_table = at.dataframe[1].value
    assert set(slice_table["model"]) >= {"Tiny ViT (random)"} and (slice_table["n"] >= 0).all()


def test_pug_page(monkeypatch, analysis_store):
    at = _page(monkeypatch, analysis_store, "views/pug.py")
    assert not at.exception
    table = at.dataframe[0].value
    assert len(table) == 10 and {"Tiny ViT (random)", "Tiny ConvNeXt (random)"} <= set(table.columns)


def test_invariance_page_chart_and_live_sliders(monkeypatch, analysis_store):
    at = _page(monkeypatch, analysis_store, "views/invariance.py")
    assert not at.exception
    assert at.get("vega_lite_chart") or at.get("arrow_vega_lite_chart")
    at.multiselect(key="invariance_models").set_value(["effnet_lite0"])
    at.run()
    assert not at.exception
    first = at.dataframe[-1].value
    assert {"tiger cat", "tabby cat", "Egyptian Mau"} & set(first["class"][:3])  # the example cat at scale 1
    at.select_slider(key="invariance_scale").set_value(3)
    at.run()
    assert not at.exception
    zoomed = at.dataframe[-1].value
    assert zoomed["p"].tolist() != first["p"].tolist()  # a 3× zoom changes what the model sees


def test_invariance_live_sliders_on_a_stored_val_image(monkeypatch, analysis_store):
    at = _page(monkeypatch, analysis_store, "views/invariance.py")
    at.radio(key="invariance_source").set_value("Image from a dataset in the store")
    at.run()
    at.multiselect(key="invariance_models").set_value(["tiny_vit"])
    at.select_slider(key="invariance_shift").set_value(30)
    at.radio(key="invariance_kind").set_value("shift")
    at.run()
    assert not at.exception
    assert at.selectbox(key="invariance_dataset_image").value.startswith("ILSVRC2012_val_")
    assert len(at.dataframe[-1].value) == 5


def test_invariance_empty_store_lists_the_settings(monkeypatch, tmp_path):
    at = _page(monkeypatch, tmp_path / "empty.duckdb", "views/invariance.py")
    assert not at.exception
    assert "--variant scale=1.5" in at.info[0].value


def test_transfer_page_runs_a_probe_in_the_background(monkeypatch, tmp_path, rng):
    import time

    from core import jobs
    from core.store import ResultsStore
    from tests.unit.metrics.test_transfer import _colour_dataset

    _colour_dataset(tmp_path / "colours", rng, per_class=8)
    at = _page(monkeypatch, tmp_path / "results.duckdb", "views/transfer.py")
    assert not at.exception and "python -m core probe" in at.info[0].value
    at.multiselect(key="transfer_models").set_value(["effnet_lite0"])
    at.text_input(key="transfer_data").input(str(tmp_path / "colours"))
    next(button for button in at.button if button.label == "Start in the background").click().run()
    assert not at.exception and at.success
    job = jobs.jobs()[0]
    deadline = time.monotonic() + 120
    while job.running and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(ResultsStore(tmp_path / "results.duckdb").probes()) == 1, open(job.log).read()[-1500:]
    at.run()
    assert not at.exception
    assert at.dataframe[0].value["test_accuracy"].tolist() == [1.0]
