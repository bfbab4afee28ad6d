"""core.metrics.imagenet_x against the imagenet-x package's own pipeline on the same predictions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.data.imagenet import imagenet_x_file
from core.data.imagenet_x import FACTORS, imagenet_x_annotations
from core.metrics import imagenet_x_error_ratios, slice_accuracy


@pytest.fixture(scope="module")
def predictions():
    """Synthetic predictions for all 50,000 val images: right 75% of the time, more often wrong on `pose`."""
    labels = pd.read_csv(imagenet_x_file("filename_label.csv"))
    rng = np.random.default_rng(0)
    top = imagenet_x_annotations().set_index("file_name")
    pose = labels["file_name"].map(top["pose"]).fillna(0).to_numpy().astype(bool)
    right = rng.uniform(size=len(labels)) < np.where(pose, 0.55, 0.75)
    predicted = np.where(right, labels["label"], (labels["label"] + rng.integers(1, 1000, len(labels))) % 1000)
    return labels["file_name"].to_numpy(), predicted


def _reference_imagenet_x(file_names, predicted) -> pd.Series:
    from imagenet_x import FACTORS as PACKAGE_FACTORS
    from imagenet_x import augment_model_predictions, compute_factor_accuracies, error_ratio, load_annotations

    model = pd.DataFrame({"file_name": file_names, "predicted_class": predicted, "predicted_probability": 1.0})
    augmented = augment_model_predictions(load_annotations(), {"synthetic": model})
    accuracies = compute_factor_accuracies(augmented, PACKAGE_FACTORS, error_type="is_correct")
    return error_ratio(accuracies).loc["synthetic"]


def test_error_ratios_match_the_imagenet_x_package(predictions):
    ours = imagenet_x_error_ratios(*predictions).set_index("factor")["error_ratio"]
    reference = _reference_imagenet_x(*predictions)
    for factor in FACTORS:
        assert ours[factor] == pytest.approx(reference[factor], rel=1e-9), factor
    assert ours["pose"] > 1.3  # the planted weakness shows


def test_conventions_top_factor_and_prototypes_filtered(predictions):
    table = imagenet_x_error_ratios(*predictions)
    assert table.attrs["n"] == 46_110
    top = imagenet_x_annotations()[list(FACTORS)].sum(axis=1)
    assert top.max() == 1 and (top == 1).mean() > 0.999  # top factor: one per image (a couple have none)
    assert table["count"].sum() == int(top.sum())


def test_multi_factor_slices(predictions):
    both = slice_accuracy(*predictions, ["pose", "background"])
    pose = slice_accuracy(*predictions, ["pose"])
    assert 0 < both["count"] < pose["count"]


def test_inputs_are_validated():
    with pytest.raises(ValueError, match="one prediction per file name"):
        imagenet_x_error_ratios(["a"], [1, 2])
    with pytest.raises(ValueError, match="None of the file names"):
        imagenet_x_error_ratios(["x.jpg"], [1])


def test_store_ids_map_to_annotated_file_names_as_os_path_basename_does():
    import os

    from core.analysis.tables import error_ratio_table, file_names

    ids = ["ILSVRC2012_val_00000001.JPEG", "n01440764/ILSVRC2012_val_00000293.JPEG", "a/b/c.png", "x/"]
    assert list(file_names(ids)) == [os.path.basename(i) for i in ids]
    assert list(file_names(pd.Series(ids, dtype="string[pyarrow]"))) == [os.path.basename(i) for i in ids]
    # nested (WNID-folder) ids give the same ratios as the flat names ImageNet-X annotates
    names = pd.read_csv(imagenet_x_file("filename_label.csv"))["file_name"][:3000]
    labels = pd.read_csv(imagenet_x_file("filename_label.csv"))["label"][:3000].to_numpy()
    pred = np.where(np.arange(3000) % 3 == 0, (labels + 1) % 1000, labels)
    flat = error_ratio_table({"m": pd.DataFrame({"image_id": names, "pred": pred})})
    nested = error_ratio_table({"m": pd.DataFrame({"image_id": "n00000000/" + names, "pred": pred})})
    pd.testing.assert_frame_equal(flat, nested)
    assert flat["error_ratio"].notna().any()


def test_error_ratio_intervals_match_imagenet_x_error_ratios():
    from core.data.imagenet_x import FACTORS, imagenet_x_annotations
    from core.metrics import error_ratio_intervals, imagenet_x_error_ratios

    annotations = imagenet_x_annotations()
    sample = annotations.sample(2000, random_state=0)
    rng = np.random.default_rng(0)
    preds = np.where(rng.random(len(sample)) < 0.7, sample["class"].to_numpy(), rng.integers(0, 1000, len(sample)))
    table = error_ratio_intervals(sample["file_name"].to_numpy(), preds, annotations, n_resamples=50)
    expected = imagenet_x_error_ratios(sample["file_name"].to_numpy(), preds, annotations)
    merged = table.merge(expected, on="factor", suffixes=("", "_metric"))
    assert len(merged) == len(FACTORS)
    np.testing.assert_allclose(merged["error_ratio"], merged["error_ratio_metric"], equal_nan=True)
    mean = table.set_index("factor").loc["mean"]
    assert mean["error_ratio"] == pytest.approx(np.nanmean(expected["error_ratio"]))
    finite = table.dropna(subset=["error_ratio"])
    assert (finite["ci_low"] <= finite["error_ratio"]).all() and (finite["error_ratio"] <= finite["ci_high"]).all()
    assert (finite.set_index("factor").loc["mean", "ci_high"] - finite.set_index("factor").loc["mean", "ci_low"]) > 0


def test_error_ratios_at_matched_rows_equal_the_file_name_join(predictions):
    from core.metrics import imagenet_x_error_ratios_at

    names, predicted = predictions
    rows = pd.Index(imagenet_x_annotations()["file_name"]).get_indexer(names)  # an independent join
    shuffled = np.random.default_rng(1).permutation(int((rows >= 0).sum()))  # the order does not matter
    at = imagenet_x_error_ratios_at(rows[rows >= 0][shuffled], predicted[rows >= 0][shuffled])
    expected = imagenet_x_error_ratios(names, predicted)
    pd.testing.assert_frame_equal(at, expected)
    assert at.attrs == expected.attrs
    with pytest.raises(ValueError, match="None of the file names"):
        imagenet_x_error_ratios_at([], [])
    with pytest.raises(ValueError, match="each file name once"):
        imagenet_x_error_ratios_at([3, 3], [1, 2])
    with pytest.raises(ValueError, match="one prediction per annotation row"):
        imagenet_x_error_ratios_at([3], [1, 2])
    with pytest.raises(ValueError, match=r"annotation rows in \[0, 46110\)"):
        imagenet_x_error_ratios_at([46_110], [1])


def test_the_store_join_gives_the_ratios_and_slices_of_the_pandas_join(tmp_path):
    """What the Mistakes page reads (`ResultsStore.rows_by_file_name`, `matched_*`) against the frames it read
    before (every row into pandas, `error_ratio_table`, `slice_rows`), on ids nested in class folders, unreadable
    images and names ImageNet-X does not annotate."""
    from core.analysis.tables import error_ratio_table, matched_error_ratio_table, matched_slice_rows, slice_rows
    from core.store import ResultsStore, RunInfo

    labels = pd.read_csv(imagenet_x_file("filename_label.csv"))[:6000]
    rng = np.random.default_rng(2)
    pred = np.where(rng.random(len(labels)) < 0.7, labels["label"], rng.integers(0, 1000, len(labels)))
    ids = [f"n{label:08d}/{name}" if i % 2 else name for i, (name, label) in enumerate(zip(labels["file_name"],
                                                                                         labels["label"]))]
    ids[:50] = [f"extra/{i}.JPEG" for i in range(50)]
    store = ResultsStore(tmp_path / "results.duckdb")
    store.start_run(RunInfo("r", "m", "imagenet-val", "", "paper", len(ids)))
    store.write_batch([{"run_id": "r", "image_id": image_id, "path": f"/val/{image_id}", "label": int(label),
                        "pred": int(p), "correct": bool(p == label), "error": "unreadable" if i % 97 == 0 else None}
                       for i, (image_id, label, p) in enumerate(zip(ids, labels["label"], pred))])
    before = store.query("SELECT image_id, path, label, pred, error FROM predictions WHERE run_id = 'r'")
    before = before[before["error"].isna()]
    (found,) = store.rows_by_file_name(["r"], imagenet_x_annotations()["file_name"], ("pred", "path"))

    pd.testing.assert_frame_equal(matched_error_ratio_table({"r": (found["match"], found["pred"])}),
                                  error_ratio_table({"r": before}))
    columns = ["file_name", "class", *FACTORS, "path", "pred", "correct"]
    old = slice_rows(before, [])[columns].reset_index(drop=True)
    new = matched_slice_rows(found["match"], found["pred"], found["path"])[columns]
    pd.testing.assert_frame_equal(new, old)
    assert len(new) > 4000 and not new["correct"].all()


def test_matched_slice_rows_follow_file_names_when_the_two_annotation_files_differ(monkeypatch):
    import core.data.imagenet_x as imagenet_x
    from core.analysis.tables import matched_slice_rows, slice_rows

    top = imagenet_x_annotations().iloc[:6].reset_index(drop=True)
    multi = imagenet_x_annotations("multi").iloc[[5, 3, 1, 0, 4]].reset_index(drop=True)  # reordered, one missing
    monkeypatch.setattr(imagenet_x, "imagenet_x_annotations", lambda which="top": top if which == "top" else multi)
    rows, pred, path = np.array([2, 0, 5, 1]), np.array([7, 8, 9, 10]), np.array(["c", "a", "f", "b"], dtype=object)
    found = matched_slice_rows(rows, pred, path)
    stored = pd.DataFrame({"image_id": top["file_name"].to_numpy()[rows], "path": path, "pred": pred})
    columns = ["file_name", "class", *FACTORS, "path", "pred", "correct"]
    pd.testing.assert_frame_equal(found[columns], slice_rows(stored, [], multi)[columns].reset_index(drop=True),
                                  check_dtype=False)
    assert found["path"].tolist() == ["a", "f", "b"]  # the image multi lacks (row 2) is left out, order kept
