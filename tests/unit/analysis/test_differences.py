"""core.analysis.differences: the store reads behind the paired differences, against counts and metrics taken by
hand from the same rows; paired when the models share their images, unpaired (and saying so) when not."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

MODELS = ("vit_sup", "convnext_sup", "vit_clip", "convnext_clip")


def _write(store, run_id, model, benchmark, correct, *, condition=None, ids=None, labels=None, preds=None):
    from core.store import RunInfo

    ids = ids if ids is not None else [f"{i}.jpg" for i in range(len(correct))]
    store.start_run(RunInfo(run_id, model, benchmark, "", "paper", len(correct), data_root="/synthetic"))
    store.write_batch([{"run_id": run_id, "image_id": ids[i], "label": 1,
                        "labels": [] if labels is None else labels[i],
                        "pred": 1 if preds is None else preds[i], "correct": bool(c),
                        "condition": None if condition is None else condition[i]} for i, c in enumerate(correct)])
    store.finish_run(run_id, "done")


@pytest.fixture
def accuracy_store(tmp_path):
    """ImageNet-C-like runs (two conditions) of the four models on the same 80 images, and a V2 run where
    vit_clip has only the first 50 images (a --limit sample)."""
    from core.store import ResultsStore

    store = ResultsStore(tmp_path / "results.duckdb")
    rng = np.random.default_rng(0)
    truth = {}
    condition = ["fog/1" if i % 2 else "snow/3" for i in range(80)]
    for k, model in enumerate(MODELS):
        correct = rng.random(80) < 0.4 + 0.1 * k
        truth[("c", model)] = correct
        _write(store, f"c-{model}", model, "imagenet-c", correct, condition=condition)
        size = 50 if model == "vit_clip" else 80
        correct = rng.random(size) < 0.5
        truth[("v2", model)] = correct
        _write(store, f"v2-{model}", model, "imagenet-v2", correct)
    return store, truth, np.array(condition)


def test_outcome_cells_count_the_rows_by_hand(accuracy_store):
    from core.analysis.differences import outcome_cells

    store, truth, condition = accuracy_store
    cells = outcome_cells(store, [(f"c-{m}", "imagenet-c", k) for k, m in enumerate(MODELS)], 4, by_condition=True)
    assert cells["n"].sum() == 80
    by_hand = pd.DataFrame({f"m{k}": truth[("c", m)].astype(int) for k, m in enumerate(MODELS)})
    by_hand["stratum"] = ["imagenet-c|" + c for c in condition]
    expected = by_hand.groupby(["stratum", "m0", "m1", "m2", "m3"]).size()
    got = cells.astype({f"m{k}": int for k in range(4)}).set_index(["stratum", "m0", "m1", "m2", "m3"])["n"]
    assert got.sort_index().to_dict() == expected.sort_index().to_dict()
    limited = outcome_cells(store, [(f"v2-{m}", "imagenet-v2", k) for k, m in enumerate(MODELS)], 4)
    assert limited["m2"].isna().sum() > 0 and limited["n"].sum() == 80  # vit_clip lacks 30 images


def test_accuracy_differences_paired_and_unpaired(accuracy_store):
    from core.analysis.differences import accuracy_differences, outcome_cells

    store, truth, condition = accuracy_store
    sets = [("imagenet-c", outcome_cells(store, [(f"c-{m}", "imagenet-c", k) for k, m in enumerate(MODELS)], 4,
                                         by_condition=True))]
    comparisons = [("convnext_sup-vit_sup", ("convnext_sup",), ("vit_sup",)),
                   ("supervised-clip", ("vit_sup", "convnext_sup"), ("vit_clip", "convnext_clip"))]
    found = accuracy_differences(sets, MODELS, comparisons, n_resamples=400)

    def per_condition_mean(values):
        return np.mean([values[condition == c].mean() for c in ("fog/1", "snow/3")])

    one = found["convnext_sup-vit_sup"]
    assert one.paired and one.n == 80
    assert one.value == pytest.approx(per_condition_mean(truth[("c", "convnext_sup")])
                                      - per_condition_mean(truth[("c", "vit_sup")]))
    pair = found["supervised-clip"]
    means = {m: per_condition_mean(truth[("c", m)]) for m in MODELS}
    assert pair.value == pytest.approx((means["vit_sup"] + means["convnext_sup"]) / 2
                                       - (means["vit_clip"] + means["convnext_clip"]) / 2)
    assert pair.ci_low <= pair.value <= pair.ci_high
    v2 = [("imagenet-v2", outcome_cells(store, [(f"v2-{m}", "imagenet-v2", k) for k, m in enumerate(MODELS)], 4))]
    limited = accuracy_differences(v2, MODELS, [("clip", ("vit_clip",), ("convnext_clip",)),
                                                ("sup", ("convnext_sup",), ("vit_sup",))], n_resamples=400)
    assert not limited["clip"].paired and "unpaired" in limited["clip"].method
    assert limited["clip"].value == pytest.approx(truth[("v2", "vit_clip")].mean()
                                                  - truth[("v2", "convnext_clip")].mean())
    assert limited["sup"].paired  # the two supervised models did share their 80 images


def test_val_differences_match_the_metrics(tmp_path):
    from core.analysis.tables import file_names
    from core.data.imagenet_x import imagenet_x_annotations
    from core.analysis.differences import val_differences
    from core.metrics import expected_calibration_error, imagenet_x_error_ratios
    from core.store import ResultsStore
    from tests.fixtures.synthetic import write_val_runs

    store = ResultsStore(tmp_path / "results.duckdb")
    write_val_runs(store, n=400)
    rows = store.query("SELECT r.model, p.image_id, p.pred, p.conf, p.correct FROM predictions p JOIN runs r "
                       "USING (run_id)")
    by_model = {m: g.sample(frac=1, random_state=k).assign(file_name=lambda f: file_names(f["image_id"]))
                for k, (m, g) in enumerate(rows.groupby("model"))}  # each model in its own row order
    annotations = imagenet_x_annotations()
    found = val_differences(by_model, annotations, n_resamples=300)
    ece = found["ece"].set_index("model")["value"]
    ratios = found["ratios"]
    for model, frame in by_model.items():
        assert ece[model] == pytest.approx(expected_calibration_error(frame["conf"].to_numpy(),
                                                                      frame["correct"].to_numpy(), n_bins=15))
        reference = imagenet_x_error_ratios(list(frame["file_name"]), frame["pred"].to_numpy(), annotations)
        ours = ratios[(ratios["model"] == model) & (ratios["factor"] != "mean")]
        assert ours["error_ratio"].to_numpy() == pytest.approx(reference["error_ratio"].to_numpy(), nan_ok=True)
        gap = found["calibration"][f"gap:{model}"]
        assert gap.value == pytest.approx(frame["conf"].astype(float).mean() - frame["correct"].mean(), abs=1e-7)
    means = ratios[ratios["factor"] == "mean"].set_index("model")["error_ratio"]
    mistakes = found["mistakes"]["clip-supervised"]
    assert mistakes.paired and mistakes.value == pytest.approx(
        (means["vit_clip"] + means["convnext_clip"]) / 2 - (means["vit_sup"] + means["convnext_sup"]) / 2)
    pair = found["calibration"]["supervised-clip"]
    assert pair.value == pytest.approx((ece["vit_sup"] + ece["convnext_sup"]) / 2
                                       - (ece["vit_clip"] + ece["convnext_clip"]) / 2)
    # one model on a --limit sample: nothing is paired any more, and the numbers stay each model's own
    by_model["vit_clip"] = by_model["vit_clip"].iloc[:250]
    limited = val_differences(by_model, annotations, n_resamples=100)
    assert not limited["calibration"]["supervised-clip"].paired
    assert limited["ece"].set_index("model")["n"]["vit_clip"] == 250


def test_shape_bias_differences_pairing():
    from core.analysis.differences import shape_bias_differences

    rng = np.random.default_rng(3)
    classes = np.array(list("abcdefgh"))
    shape, texture = classes[rng.integers(0, 8, 300)], classes[rng.integers(0, 8, 300)]
    frames = {}
    for model in MODELS:
        decision = np.where(rng.random(300) < 0.5, shape, texture)
        frames[model] = pd.DataFrame({"image_id": [f"{i}.png" for i in range(300)], "shape": shape,
                                      "texture": texture, "decision16": decision})
    found = shape_bias_differences(frames, n_resamples=200)
    assert set(found) == {"convnext_sup-vit_sup", "convnext_clip-vit_clip", "clip-supervised"}
    assert all(d.paired and d.n == int((shape != texture).sum()) for d in found.values())
    frames["vit_sup"] = frames["vit_sup"].iloc[:100]
    assert not shape_bias_differences(frames, n_resamples=200)["convnext_sup-vit_sup"].paired


def test_counts_from_cells_equal_the_stores_counts(accuracy_store):
    """The robustness table's per-run counts now come from the same cells as the differences: they must
    equal `ResultsStore.accuracy_counts` (by condition), including a run with fewer images."""
    from core.analysis.differences import counts_from_cells, outcome_cells, split_cells

    store, _, _ = accuracy_store
    triples = [(f"{prefix}-{m}", benchmark, k) for prefix, benchmark in (("c", "imagenet-c"), ("v2", "imagenet-v2"))
               for k, m in enumerate(MODELS)]
    cells = outcome_cells(store, triples, 4, by_condition=True)
    ours = counts_from_cells(cells, triples)
    theirs = store.accuracy_counts([t[0] for t in triples], by_condition=True)

    def tidy(frame):
        return frame.assign(condition=frame["condition"].fillna("")).sort_values(["run_id", "condition"])[
            ["run_id", "condition", "n", "correct"]].reset_index(drop=True).astype({"n": int, "correct": int})

    pd.testing.assert_frame_equal(tidy(ours), tidy(theirs))
    sets = dict(split_cells(cells, ["imagenet-c", "imagenet-v2"]))
    assert sets["imagenet-c"]["n"].sum() == 80 and sets["imagenet-v2"]["n"].sum() == 80


def test_outcome_cells_fall_back_to_exact_ids_when_a_group_holds_more_rows_than_models(tmp_path):
    """The hash grouping is checked: an image listed twice in a run makes a group with more rows than
    models, and the exact grouping by id then counts that image once, as one image."""
    from core.analysis.differences import outcome_cells
    from core.store import ResultsStore

    store = ResultsStore(tmp_path / "results.duckdb")
    _write(store, "a", "vit_sup", "imagenet-v2", [True, False, True], ids=["x", "y", "x"])
    _write(store, "b", "convnext_sup", "imagenet-v2", [False, False], ids=["x", "y"])
    cells = outcome_cells(store, [("a", "v2", 0), ("b", "v2", 1)], 2)
    assert cells["n"].sum() == 2
    assert cells.set_index(["m0", "m1"])["n"].to_dict() == {(0.0, 0.0): 1, (1.0, 0.0): 1}


def test_val_and_real_read_together_count_the_rows_by_hand(tmp_path):
    """outcome_cells(real="paired"): each val image's val outcome and ReaL hit per model, NULL ReaL where the image
    has no ReaL labels; its ReaL and val parts equal the separate reads."""
    from core.analysis.differences import outcome_cells, relabelled_cells
    from core.store import ResultsStore

    store = ResultsStore(tmp_path / "results.duckdb")
    rng = np.random.default_rng(1)
    n = 60
    labels = [[] if i % 7 == 0 else [1, 2] if i % 3 else [3] for i in range(n)]  # 9 images without ReaL labels
    truth = {}
    for k, model in enumerate(MODELS[:2]):
        preds = rng.integers(0, 4, n)
        truth[model] = (preds == 1, np.array([p in lab if lab else np.nan for p, lab in zip(preds, labels)], float))
        _write(store, f"val-{model}", model, "imagenet-val", preds == 1, labels=labels, preds=[int(p) for p in preds])
    runs = [(f"val-{m}", "imagenet-val", k) for k, m in enumerate(MODELS[:2])]
    paired = outcome_cells(store, runs, 2, real="paired")
    assert list(paired.columns) == ["stratum", "m0", "m1", "m2", "m3", "n"] and paired["n"].sum() == n
    by_hand = pd.DataFrame({"m0": truth[MODELS[0]][0].astype(float), "m1": truth[MODELS[1]][0].astype(float),
                            "m2": truth[MODELS[0]][1], "m3": truth[MODELS[1]][1]})
    columns = ["m0", "m1", "m2", "m3"]
    expected = by_hand.fillna(-1).groupby(columns).size().to_dict()  # -1: no ReaL label
    assert paired.fillna(-1).set_index(columns)["n"].to_dict() == expected
    real = outcome_cells(store, [(r, "imagenet-real", k) for r, _, k in runs], 2, real=True)
    key = ["stratum", "m0", "m1"]
    assert relabelled_cells(paired, 2).set_index(key)["n"].sort_index().to_dict() == \
        real.set_index(key)["n"].sort_index().to_dict()
    val = outcome_cells(store, runs, 2)
    assert relabelled_cells(paired, 2, "imagenet-val", real=False).set_index(key)["n"].sort_index().to_dict() == \
        val.set_index(key)["n"].sort_index().to_dict()


def _assert_same_val_differences(a: dict, b: dict) -> None:
    for name in ("ratios", "ece", "gap"):
        pd.testing.assert_frame_equal(a[name], b[name])
    for name in ("mistakes", "texture", "calibration"):
        assert a[name].keys() == b[name].keys()
        for key in a[name]:  # Difference dataclasses: value, interval, p, n, paired (NaN equal to NaN)
            np.testing.assert_equal(dataclasses.astuple(a[name][key]), dataclasses.astuple(b[name][key]))


@pytest.mark.parametrize("limited", [False, True])
def test_val_rows_keyed_by_hash_give_the_numbers_of_the_ids(tmp_path, limited):
    """The Findings read the val rows keyed by a hash of the id, each image's ImageNet-X row found in DuckDB
    (`evidence._val_rows`, `ResultsStore.keyed_columns`): every number of claims 1-3 equals the one computed from
    the ids and their file names; also where one model ran on fewer images (each model resampled alone)."""
    from core.analysis.differences import val_differences
    from core.analysis.evidence import _val_rows
    from core.analysis.tables import file_names
    from core.data.imagenet_x import imagenet_x_annotations
    from core.store import ResultsStore
    from tests.fixtures.synthetic import write_val_runs

    store = ResultsStore(tmp_path / "results.duckdb")
    if limited:
        write_val_runs(store, MODELS[:3], n=600)
        write_val_runs(store, MODELS[3:], n=450, seed=1)
    else:
        write_val_runs(store, n=600)
    annotations = imagenet_x_annotations()
    val = store.runs()
    keyed = _val_rows(store, val, annotations)
    assert all("annotation" in rows and "file_name" not in rows for rows in keyed.values())
    rows = store.prediction_columns(tuple(val["run_id"]), ("image_id", "pred", "conf", "correct"), readable_only=True,
                                    by_image=True)
    by_ids = {run.model: rows[rows["run_id"] == run.run_id].assign(
        file_name=lambda frame: file_names(frame["image_id"])) for run in val.itertuples()}
    found = val_differences(keyed, annotations, n_resamples=200)
    assert found["calibration"]["supervised-clip"].paired is not limited
    assert np.isfinite(found["mistakes"]["clip-supervised"].value) and len(found["ratios"]) == 4 * 17
    _assert_same_val_differences(found, val_differences(by_ids, annotations, n_resamples=200))


def test_val_rows_read_the_ids_where_two_ids_of_a_run_share_a_key(tmp_path, monkeypatch):
    """A repeated key (two ids sharing a hash, or an image listed twice) cannot align the models by key: the ids
    themselves and their file names are read, as before, and give the same numbers as a read of the ids."""
    from core.analysis.differences import val_differences
    from core.analysis.evidence import _val_rows
    from core.data.imagenet_x import imagenet_x_annotations
    from core.store import ResultsStore
    from tests.fixtures.synthetic import write_val_runs

    store = ResultsStore(tmp_path / "results.duckdb")
    write_val_runs(store, n=300)
    annotations = imagenet_x_annotations()
    keyed = _val_rows(store, store.runs(), annotations)
    real = ResultsStore.keyed_columns

    def colliding(self, *args, **kwargs):
        found = real(self, *args, **kwargs)
        found[2].loc[1, "key"] = found[2].loc[0, "key"]  # a third model's second id hashes like its first
        return found

    monkeypatch.setattr(ResultsStore, "keyed_columns", colliding)
    by_ids = _val_rows(store, store.runs(), annotations)
    assert all("file_name" in rows and rows["image_id"].is_unique for rows in by_ids.values())
    ids = store.prediction_columns(["synthetic-val-vit_sup"], ("image_id",), by_image=True)["image_id"]
    assert by_ids["vit_sup"]["file_name"].tolist() == ids.tolist()  # the fixture's ids are the file names
    _assert_same_val_differences(val_differences(by_ids, annotations, n_resamples=100),
                                 val_differences(keyed, annotations, n_resamples=100))


def test_the_findings_state_the_same_intervals_whatever_order_the_rows_were_written_in(tmp_path):
    """Two copies of the same results whose rows were inserted in other orders (DuckDB keeps insertion order; a
    parallel insert does not fix it) give the same val claims to the last digit: the bootstraps resample rows by
    position, so the rows are read in image-id order."""
    from core.analysis import evidence
    from core.store import ResultsStore
    from tests.fixtures.synthetic import write_val_runs

    first = ResultsStore(tmp_path / "a.duckdb")
    write_val_runs(first, n=400)
    second = ResultsStore(tmp_path / "b.duckdb")
    second._ensure_schema()
    with second._connect(read_only=False) as connection:
        connection.execute(f"ATTACH '{first.path}' AS a (READ_ONLY)")
        connection.execute("INSERT INTO runs SELECT * FROM a.runs")
        connection.execute("INSERT INTO predictions SELECT * FROM a.predictions ORDER BY hash(image_id || 'x')")
    stored = [store.query("SELECT image_id FROM predictions ORDER BY rowid LIMIT 5")["image_id"].tolist()
              for store in (first, second)]
    assert stored[0] != stored[1]  # the copies' rows do lie in other orders
    found = [evidence.collect_section(store, "val", evidence.section_inputs(store.runs(), "val", store),
                                      n_differences=200) for store in (first, second)]
    for name in ("mistakes", "texture", "calibration"):
        a, b = found[0][name]["differences"], found[1][name]["differences"]
        assert a.keys() == b.keys() and len(a)
        for key in a:
            np.testing.assert_equal(dataclasses.astuple(a[key]), dataclasses.astuple(b[key]))
    pd.testing.assert_frame_equal(found[0]["calibration"]["ece"], found[1]["calibration"]["ece"])
