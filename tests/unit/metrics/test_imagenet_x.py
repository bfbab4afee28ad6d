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
