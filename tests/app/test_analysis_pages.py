"""AppTest: each analysis page renders from the filled store, shows real values, and says what is missing."""

from __future__ import annotations

import pandas as pd
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


def test_a_cold_calibration_open_reads_every_runs_columns_on_one_connection(monkeypatch, tmp_path):
    """Four models on ImageNet val: the page read each run's calibration columns on a connection of its own;
    now one connection reads them all, and the table is the same as reading them one by one."""
    import duckdb

    from core.metrics import expected_calibration_error
    from core.store import ResultsStore
    from tests.fixtures.synthetic import write_val_runs

    store = ResultsStore(tmp_path / "results.duckdb")
    write_val_runs(store)
    opened = []
    connect = duckdb.connect
    monkeypatch.setattr(duckdb, "connect", lambda *args, **kwargs: opened.append(args) or connect(*args, **kwargs))
    at = _page(monkeypatch, store.path, "views/calibration.py")
    assert not at.exception
    table = at.dataframe[0].value.set_index("label")
    assert len(table) == 4
    assert len(opened) <= 4, opened  # the runs list, the columns of all four runs, the temperature fits
    runs = store.runs()
    first = runs[(runs["benchmark"] == "imagenet-val") & (runs["model"] == "vit_sup")].iloc[-1]
    alone = store.calibration_columns(first["run_id"])
    ece = expected_calibration_error(alone["cal_conf"].to_numpy(), alone["cal_correct"].to_numpy(bool), n_bins=15)
    assert table.loc["ViT-sup (DeiT3-B/16)", "ECE"] == pytest.approx(ece)


def test_calibration_fits_on_demand_once_then_reads_no_logits(monkeypatch, tmp_path):
    import streamlit as st

    from core.store import ResultsStore
    from tests.fixtures.synthetic import write_val_runs

    store = ResultsStore(tmp_path / "results.duckdb")
    run_ids = write_val_runs(store, ("vit_sup", "convnext_sup"), n=120)  # written without a fit
    assert all(store.temperature_fit(run_id) is None for run_id in run_ids)
    at = _page(monkeypatch, store.path, "views/calibration.py")
    at.toggle(key="calibration_temperature").set_value(True)
    at.run()
    assert not at.exception
    fitted = at.dataframe[0].value.set_index("label")
    assert fitted["temperature"].notna().all() and (fitted["n"] == 60).all()
    stored = {run_id: store.temperature_fit(run_id) for run_id in run_ids}
    assert all(record is not None for record in stored.values())  # kept for every later session
    assert sorted(fitted["temperature"]) == pytest.approx(sorted(r["temperature"] for r in stored.values()))

    st.cache_data.clear()  # a new app process: nothing cached, only the store

    def no_logits(*_args, **_kwargs):
        raise AssertionError("the Calibration page read logits although the fit is stored")

    monkeypatch.setattr(ResultsStore, "logits", no_logits)
    at = AppTest.from_file("../../app.py", default_timeout=180)
    at.query_params["calibration_temperature"] = "1"
    at.run()
    at.switch_page("views/calibration.py").run()
    assert not at.exception
    again = at.dataframe[0].value.set_index("label")
    assert again["temperature"].to_dict() == pytest.approx(fitted["temperature"].to_dict())
    assert again["ECE"].to_dict() == pytest.approx(fitted["ECE"].to_dict())


def test_calibration_shows_a_fit_it_could_not_save(monkeypatch, tmp_path):
    from core.store import ResultsStore, StoreLocked
    from tests.fixtures.synthetic import write_val_runs

    store = ResultsStore(tmp_path / "results.duckdb")
    write_val_runs(store, ("vit_sup",), n=40)

    def busy(*_args, **_kwargs):
        raise StoreLocked("locked")

    monkeypatch.setattr(ResultsStore, "write_temperature_fit", busy)
    at = _page(monkeypatch, store.path, "views/calibration.py")
    at.toggle(key="calibration_temperature").set_value(True)
    at.run()
    assert not at.exception
    assert at.dataframe[0].value["temperature"].notna().all() and (at.dataframe[0].value["n"] == 20).all()
    assert any("shown but not saved" in caption.value for caption in at.caption)
    assert store.temperature_fit("synthetic-val-vit_sup") is None


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
    # the cached per-slice numbers equal a count over the slice's rows, done here from the store
    from core.analysis.tables import count_accuracy, slice_rows
    from core.store import ResultsStore
    from views._models import model_label

    store = ResultsStore(analysis_store)
    runs = store.runs()
    for row in slice_table.itertuples():
        run = runs[(runs["benchmark"] == "imagenet-val") & (runs["source"] == "ours")
                   & (runs["model"].map(model_label) == row.model)].iloc[-1]
        rows = store.query("SELECT image_id, path, label, pred, error FROM predictions WHERE run_id = ?",
                           [run["run_id"]])
        sliced = slice_rows(rows[rows["error"].isna()], ["pose", "background"])
        assert row.n == len(sliced) > 0
        expected = count_accuracy(int(sliced["correct"].sum()), len(sliced), n_resamples=300)
        assert row.accuracy == pytest.approx(expected["accuracy"]) and row.ci_low == pytest.approx(expected["ci_low"])


def _shown_range(at) -> tuple[int, int, int]:
    import re

    for caption in at.caption:
        found = re.match(r"Images ([\d,]+)–([\d,]+) of ([\d,]+) ", caption.value)
        if found:
            return tuple(int(group.replace(",", "")) for group in found.groups())
    raise AssertionError("no 'Images a–b of n' caption")


def _thumbnails(at) -> int:
    return len(at.get("image")) + sum("image file not available" in caption.value for caption in at.caption)


def test_mistakes_images_are_paged_and_the_page_is_in_the_link(monkeypatch, analysis_store):
    at = _page(monkeypatch, analysis_store, "views/mistakes.py")
    at.multiselect(key="mistakes_slice").set_value([])  # every annotated image: more than two pages wrong
    at.run()
    assert not at.exception
    first, last, total = _shown_range(at)
    assert (first, last) == (1, 18) and total > 36 and _thumbnails(at) == 18
    at.number_input(key="mistakes_wrong_page").set_value(2).run()
    assert not at.exception
    assert _shown_range(at) == (19, 36, total) and _thumbnails(at) == 18
    assert at.query_params["mistakes_wrong_page"] in (["2"], "2")
    pages = -(-total // 18)
    at.number_input(key="mistakes_wrong_page").set_value(pages).run()
    assert _shown_range(at) == ((pages - 1) * 18 + 1, total, total) and _thumbnails(at) == total - (pages - 1) * 18
    other = [option for option in at.selectbox(key="mistakes_wrong_model").options
             if option != at.selectbox(key="mistakes_wrong_model").value][0]
    at.selectbox(key="mistakes_wrong_model").select(other).run()
    assert not at.exception and _shown_range(at)[0] == 1  # another list starts at its first page

    at = AppTest.from_file("../../app.py", default_timeout=180)  # the link reopens the same page
    at.query_params.update({"mistakes_slice": "", "mistakes_wrong_page": "3"})
    at.run()
    at.switch_page("views/mistakes.py").run()
    assert not at.exception and _shown_range(at)[:2] == (37, 54)
    # the link box, redrawn after the list, carries the page and does not call it unused
    assert not any("does not use" in caption.value for caption in at.caption)
    assert any("mistakes_wrong_page=3" in code.value for code in at.code)
    at = AppTest.from_file("../../app.py", default_timeout=180)
    at.query_params.update({"mistakes_slice": "", "mistakes_wrong_page": "9999"})
    at.run()
    at.switch_page("views/mistakes.py").run()
    assert not at.exception and _shown_range(at)[0] == 1
    assert any("mistakes_wrong_page" in caption.value for caption in at.caption)  # said why it was ignored


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

    from core.run import jobs
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


def test_runs_on_two_data_revisions_of_one_benchmark_are_never_pooled(monkeypatch, analysis_store, tmp_path):
    import shutil

    import duckdb

    db = tmp_path / "results.duckdb"
    shutil.copy(analysis_store, db)
    with duckdb.connect(str(db)) as con:  # the latest ImageNet-R run was made on a downloaded, pinned copy
        latest = con.execute("SELECT run_id, model FROM runs WHERE benchmark = 'imagenet-r' AND variant = '' "
                             "ORDER BY started_at DESC LIMIT 1").fetchone()
        con.execute("UPDATE runs SET data_revision = 'https://github.com/hendrycks/imagenet-r · manifest "
                    "0123456789ab' WHERE run_id = ?", [latest[0]])
    at = _page(monkeypatch, db, "views/robustness.py")
    assert not at.exception
    table = at.dataframe[0].value
    shown = {"tiny_vit": "Tiny ViT (random)", "tiny_convnext": "Tiny ConvNeXt (random)"}
    other = next(label for model, label in shown.items() if model != latest[1])
    assert table.loc[shown[latest[1]], "imagenet-r"] == table.loc[shown[latest[1]], "imagenet-r"]  # not NaN
    assert table.loc[other, "imagenet-r"] == "—"  # its run is on an unverified copy: not beside the other
    assert table.loc[other, "imagenet-val"] == table.loc[other, "imagenet-val"]  # val runs share a revision
    assert any(caption.value == "imagenet-r: showing runs on https://github.com/hendrycks/imagenet-r; 1 run on "
               "unverified copy not pooled with them" for caption in at.caption)
