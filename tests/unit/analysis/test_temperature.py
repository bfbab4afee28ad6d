"""core.analysis.temperature and the store's temperature tables: fit once per run, keep it, read it without logits."""

from __future__ import annotations

import csv
import json

import duckdb
import numpy as np
import pytest
from PIL import Image

from core.errors import UserError
from core.metrics import DERIVED_COLUMNS, fit_temperature
from core.store import ResultsStore, RunInfo
from core.analysis.temperature import calibrate_run, calibrate_runs, fit_after_evaluation, stored_temperature
from tests.fixtures.synthetic import write_val_runs


@pytest.fixture
def val_store(tmp_path):
    store = ResultsStore(tmp_path / "results.duckdb")
    write_val_runs(store, ("vit_sup", "convnext_sup"), n=120)
    return store


def _no_logits(*_args, **_kwargs):
    raise AssertionError("read the logits")


def test_calibrate_run_stores_the_fit_of_the_stored_logits(val_store):
    run_id = "synthetic-val-vit_sup"
    assert val_store.temperature_fit(run_id) is None and stored_temperature(val_store, run_id) is None
    result = calibrate_run(val_store, run_id)
    ids, logits = val_store.logits(run_id)
    labels = val_store.calibration_columns(run_id).set_index("image_id").loc[ids, "label"].to_numpy()
    expected = fit_temperature(logits, labels, seed=0)
    record = val_store.temperature_fit(run_id)
    assert record["temperature"] == pytest.approx(expected.temperature, rel=1e-12) == result.temperature
    assert (record["n_fit"], record["n_test"], record["seed"]) == (60, 60, 0)
    assert record["ece_after"] == pytest.approx(expected.ece_after) and record["nll_after"] == pytest.approx(
        expected.nll_after)
    columns = val_store.temperature_columns(run_id)
    assert list(columns["image_id"]) == [ids[i] for i in expected.test_indices]  # the held-out half, in order
    for name in DERIVED_COLUMNS:
        np.testing.assert_allclose(columns[name].to_numpy(dtype=float), expected.test_columns[name].astype(float))


def test_a_stored_fit_is_read_without_logits_and_checked_against_the_run_size(val_store, monkeypatch):
    run_id = "synthetic-val-convnext_sup"
    calibrate_run(val_store, run_id)
    monkeypatch.setattr(ResultsStore, "logits", _no_logits)
    found = stored_temperature(val_store, run_id, 120)
    assert found is not None and len(found.columns) == 60 and found.n_images == 120 and found.temperature > 0
    assert found.record == val_store.temperature_fit(run_id)
    assert found.columns.equals(val_store.temperature_columns(run_id))
    assert stored_temperature(val_store, run_id, 121) is None  # fitted while the run had fewer images


def test_a_refit_replaces_and_delete_run_removes_the_fit(val_store):
    run_id = "synthetic-val-vit_sup"
    calibrate_run(val_store, run_id)
    calibrate_run(val_store, run_id, seed=5)
    counts = val_store.query("SELECT (SELECT count(*) FROM temperature_fits) AS fits, "
                             "(SELECT count(*) FROM temperature_columns) AS columns")
    assert (int(counts["fits"][0]), int(counts["columns"][0])) == (1, 60)
    assert val_store.temperature_fit(run_id)["seed"] == 5
    val_store.delete_run(run_id)
    assert val_store.temperature_fit(run_id) is None and val_store.temperature_columns(run_id).empty


def test_a_store_from_before_the_tables_reads_as_not_fitted(val_store):
    with duckdb.connect(str(val_store.path)) as connection:  # a store written before issue 7
        connection.execute("DROP TABLE temperature_columns")
        connection.execute("DROP TABLE temperature_fits")
    reader = ResultsStore(val_store.path)  # read-only access only: the tables are not created
    assert reader.temperature_fit("synthetic-val-vit_sup") is None
    assert reader.temperature_columns("synthetic-val-vit_sup").empty
    assert reader.temperature_fit_and_columns("synthetic-val-vit_sup") is None
    assert stored_temperature(reader, "synthetic-val-vit_sup") is None
    assert calibrate_run(reader, "synthetic-val-vit_sup") is not None  # the writer path creates them
    assert reader.temperature_fit("synthetic-val-vit_sup") is not None


def test_class_subset_runs_fit_over_their_classes(tmp_path, rng):
    store = ResultsStore(tmp_path / "results.duckdb")
    subset = list(range(1, 1000, 5))
    labels = np.array(subset)[rng.integers(0, 200, 80)]
    logits = (2 * rng.standard_normal((80, 1000))).astype(np.float16)
    logits[np.arange(80), labels] += np.float16(4)
    store.start_run(RunInfo("r-subset", "vit_sup", "imagenet-r", "", "paper", 80, class_subset=json.dumps(subset)))
    from core.metrics.calibration import derived_columns, derived_row

    derived = derived_columns(logits, labels, subset)
    store.write_batch([{"run_id": "r-subset", "image_id": f"{i:03d}.jpg", "label": int(labels[i]),
                        **derived_row(derived, i)} for i in range(80)],
                      [("r-subset", f"{i:03d}.jpg", logits[i].tobytes()) for i in range(80)])
    store.finish_run("r-subset", "done")
    assert calibrate_runs(store, ["r-subset"], say=lambda _: None) == 1
    expected = fit_temperature(logits, labels, class_subset=subset)
    assert store.temperature_fit("r-subset")["temperature"] == pytest.approx(expected.temperature, rel=1e-12)
    assert expected.temperature != pytest.approx(fit_temperature(logits, labels).temperature, rel=1e-3)


def test_calibrate_runs_fits_each_calibrated_run_once_and_says_so(val_store):
    val_store.start_run(RunInfo("cue", "vit_sup", "cue-conflict", "", "paper", 1, store_logits=False))
    said = []
    assert calibrate_runs(val_store, say=said.append) == 2
    assert len(said) == 2 and said[0].startswith("run 1/2 vit_sup on imagenet-val") and "T = " in said[0]
    said.clear()
    assert calibrate_runs(val_store, say=said.append) == 0
    assert all("already fitted" in line for line in said) and len(said) == 2
    assert calibrate_runs(val_store, ["synthetic-val-vit_sup"], refit=True, say=said.append) == 1
    with pytest.raises(UserError, match="No run nope"):
        calibrate_runs(val_store, ["nope"], say=said.append)


def test_cli_calibrate_all_then_one_run(val_store, monkeypatch, capsys):
    from core.cli import main

    monkeypatch.setenv("BAE_RESULTS_DB", str(val_store.path))
    assert main(["calibrate", "--all"]) == 0
    out = capsys.readouterr().out
    assert "run 1/2" in out and "run 2/2" in out and "ECE" in out
    assert main(["calibrate", "--run", "synthetic-val-vit_sup", "--refit"]) == 0
    assert "run 1/1 vit_sup" in capsys.readouterr().out
    assert main(["calibrate", "--run", "missing"]) == 2
    assert "python -m core status" in capsys.readouterr().err
    monkeypatch.setenv("BAE_RESULTS_DB", str(val_store.path.parent / "none.duckdb"))
    assert main(["calibrate", "--all"]) == 2


def test_fit_after_evaluation_never_fails_the_run(val_store, monkeypatch):
    from core.run.evaluation import RunSummary

    summaries = [RunSummary("synthetic-val-vit_sup", "vit_sup", "done", 120),
                 RunSummary("synthetic-val-convnext_sup", "convnext_sup", "stopped", 3)]
    said = []
    fit_after_evaluation(val_store, summaries, benchmark="imagenet-val", variant="", class_subset=None,
                         store_logits=True, say=said.append)
    assert val_store.temperature_fit("synthetic-val-vit_sup") is not None
    assert val_store.temperature_fit("synthetic-val-convnext_sup") is None  # not finished: not fitted
    assert len(said) == 1 and said[0].startswith("vit_sup: temperature scaling T = ")
    fit_after_evaluation(val_store, summaries, benchmark="imagenet-val", variant="scale=1.5", class_subset=None,
                         store_logits=True, say=said.append)  # not on the Calibration page: nothing to do
    assert len(said) == 1
    monkeypatch.setattr(ResultsStore, "logits", lambda *_: (_ for _ in ()).throw(OSError("disk gone")))
    fit_after_evaluation(val_store, summaries, benchmark="imagenet-val", variant="", class_subset=None,
                         store_logits=True, say=said.append)
    assert "disk gone" in said[-1] and "python -m core calibrate --run synthetic-val-vit_sup" in said[-1]


def _val_folder(root, n=12):
    from core.data.imagenet import imagenet_x_file

    rng = np.random.default_rng(0)
    with open(imagenet_x_file("filename_label.csv"), newline="") as handle:
        names = [row["file_name"] for row in csv.DictReader(handle)][:n]
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(root / name, format="JPEG")
    return root


def test_an_evaluation_fits_the_runs_it_finishes(tmp_path, tiny_models_toml, monkeypatch):
    from core.run.evaluation import evaluate

    store = ResultsStore(tmp_path / "results.duckdb")
    said = []
    summaries = evaluate(["tiny_vit"], "imagenet-val", _val_folder(tmp_path / "val"), store=store, workers=0,
                         say=said.append)
    record = store.temperature_fit(summaries[0].run_id)
    assert summaries[0].status == "done" and record is not None and (record["n_fit"], record["n_test"]) == (6, 6)
    assert any("temperature scaling T = " in line for line in said)

    import core.analysis.temperature

    def broken(*_args, **_kwargs):
        raise RuntimeError("no fit today")

    monkeypatch.setattr(core.analysis.temperature, "calibrate_run", broken)
    said.clear()
    summaries = evaluate(["tiny_convnext"], "imagenet-val", tmp_path / "val", store=store, workers=0,
                         say=said.append)
    assert summaries[0].status == "done" and store.run_status(summaries[0].run_id) == "done"
    assert any("no fit today" in line and "the run is complete and kept" in line for line in said)
    assert store.temperature_fit(summaries[0].run_id) is None


@pytest.mark.parametrize(("stored", "expected"), [(None, None), (float("nan"), None), ("", None), ("[1, 6]", [1, 6]),
                                                  ([3, 8], [3, 8]), ([], None)])
def test_the_runs_class_subset_is_read_in_every_form(stored, expected):
    from core.analysis.temperature import _subset

    assert _subset(stored) == expected
