"""ImageNet-X error ratios (Idrissi et al., ICLR 2023, https://arxiv.org/abs/2211.01866)."""

from __future__ import annotations

import numpy as np

__all__ = ["imagenet_x_error_ratios", "imagenet_x_error_ratios_at", "slice_accuracy", "error_ratio_intervals"]


def imagenet_x_error_ratios(file_names, predicted_classes, annotations=None):
    """Per factor: (1 − accuracy on images with that factor) / (1 − accuracy on all annotated images).

    A ratio above 1 means the model errs more often when the factor is present. Conventions of the
    imagenet-x package, which the paper used: top factor per image, prototypes filtered, class
    errors (prediction ≠ label); predictions are matched to annotations by file name (inner join).

    Args:
        file_names: val file names (`ILSVRC2012_val_00000001.JPEG`), one per prediction.
        predicted_classes: predicted ImageNet class indices.
        annotations: a frame like `core.data.imagenet_x.imagenet_x_annotations()` (the default).

    Returns:
        DataFrame with `factor`, `error_ratio`, `accuracy`, `count`; `attrs["accuracy"]` and
        `attrs["n"]` hold the overall accuracy and number of matched images.
    """
    import pandas as pd

    from core.data.imagenet_x import FACTORS

    if annotations is None:
        from core.data.imagenet_x import imagenet_x_annotations

        annotations = imagenet_x_annotations()
    names = np.asarray(file_names, dtype=object)
    predicted = np.asarray(predicted_classes)
    if names.shape != predicted.shape:
        raise ValueError(f"Expected one prediction per file name, got {names.shape} and {predicted.shape}.")
    predictions = pd.DataFrame({"file_name": names, "pred": predicted})
    if predictions["file_name"].duplicated().any():
        raise ValueError("Expected each file name once, got duplicates.")
    merged = annotations.merge(predictions, on="file_name", how="inner")
    if merged.empty:
        raise ValueError(_NONE_ANNOTATED)
    return _error_ratios(merged["pred"].to_numpy() == merged["class"].to_numpy(),
                         {factor: merged[factor].to_numpy() for factor in FACTORS})


_NONE_ANNOTATED = "None of the file names has an ImageNet-X annotation (expected ILSVRC2012_val_*.JPEG)."


def imagenet_x_error_ratios_at(rows, predicted_classes, annotations=None):
    """`imagenet_x_error_ratios` of predictions already matched to their annotations: `rows[i]` is the
    position in `annotations` of the image predicted `predicted_classes[i]` (a join done elsewhere, e.g. by the
    results store, `ResultsStore.rows_by_file_name`); unannotated images are simply absent.

    Returns the same table as `imagenet_x_error_ratios` on the file names behind `rows`.

    Raises:
        ValueError: no rows, rows of different length than the predictions, or an annotated image twice.
    """
    from core.data.imagenet_x import FACTORS

    if annotations is None:
        from core.data.imagenet_x import imagenet_x_annotations

        annotations = imagenet_x_annotations()
    rows, predicted = _matched(rows, predicted_classes, len(annotations))
    classes = annotations["class"].to_numpy()[rows]
    factors = annotations[list(FACTORS)].to_numpy()[rows]
    return _error_ratios(predicted == classes, {factor: factors[:, i] for i, factor in enumerate(FACTORS)})


def _matched(rows, predicted_classes, n_annotations: int) -> tuple[np.ndarray, np.ndarray]:
    rows, predicted = np.asarray(rows, dtype=np.int64), np.asarray(predicted_classes)
    if rows.shape != predicted.shape:
        raise ValueError(f"Expected one prediction per annotation row, got {rows.shape} and {predicted.shape}.")
    if not len(rows):
        raise ValueError(_NONE_ANNOTATED)
    if rows.min() < 0 or rows.max() >= n_annotations:
        raise ValueError(f"Expected annotation rows in [0, {n_annotations}), got [{rows.min()}, {rows.max()}].")
    if np.bincount(rows, minlength=n_annotations).max() > 1:
        raise ValueError("Expected each file name once, got duplicates.")
    return rows, predicted


def _error_ratios(correct: np.ndarray, factors: dict):
    """The ratio table from each matched image's correctness and its 0/1 factor columns."""
    import pandas as pd

    overall = float(correct.mean())
    rows = []
    for factor, values in factors.items():
        mask = values.astype(bool)
        count = int(mask.sum())
        accuracy = float(correct[mask].mean()) if count else float("nan")
        ratio = (1 - accuracy) / (1 - overall) if count and overall < 1 else float("nan")
        rows.append({"factor": factor, "error_ratio": ratio, "accuracy": accuracy, "count": count})
    table = pd.DataFrame(rows)
    table.attrs.update(accuracy=overall, n=len(correct))
    return table


def slice_accuracy(file_names, predicted_classes, factors, annotations=None) -> dict[str, float]:
    """Accuracy and count on images that have *all* of `factors` (multi-factor annotations)."""
    from core.data.imagenet_x import imagenet_x_annotations

    annotations = imagenet_x_annotations("multi") if annotations is None else annotations
    import pandas as pd

    merged = annotations.merge(pd.DataFrame({"file_name": list(file_names), "pred": list(predicted_classes)}),
                               on="file_name", how="inner")
    mask = np.ones(len(merged), dtype=bool)
    for factor in factors:
        mask &= merged[factor].to_numpy().astype(bool)
    count = int(mask.sum())
    correct = merged["pred"].to_numpy()[mask] == merged["class"].to_numpy()[mask]
    return {"accuracy": float(correct.mean()) if count else float("nan"), "count": count}


def error_ratio_intervals(file_names, predicted_classes, annotations=None, *, n_resamples: int = 200,
                          seed: int = 0):
    """ImageNet-X error ratios per factor, plus their mean ('mean'), with 95% bootstrap intervals over images.

    Point values are `core.metrics.imagenet_x_error_ratios`; the resamples recompute the same ratio,
    (1 − acc on factor) / (1 − acc overall), vectorised over factors.
    """
    import pandas as pd

    from core.data.imagenet_x import FACTORS

    if annotations is None:
        from core.data.imagenet_x import imagenet_x_annotations

        annotations = imagenet_x_annotations()
    point = imagenet_x_error_ratios(file_names, predicted_classes, annotations)
    merged = annotations.merge(pd.DataFrame({"file_name": np.asarray(file_names, dtype=object),
                                             "pred": np.asarray(predicted_classes)}), on="file_name", how="inner")
    wrong = (merged["pred"].to_numpy() != merged["class"].to_numpy()).astype(np.float64)
    masks = merged[list(FACTORS)].to_numpy().astype(np.float64)
    # images with the same factors and outcome are interchangeable: resample counts per such cell
    code = (masks.astype(np.int64) @ (1 << np.arange(masks.shape[1], dtype=np.int64))) * 2 + wrong.astype(np.int64)
    cell_codes, first, cell_of = np.unique(code, return_index=True, return_inverse=True)
    cell_masks, cell_wrong = masks[first], wrong[first]
    cells = cell_codes
    rng = np.random.default_rng(seed)
    samples = np.full((n_resamples, len(FACTORS) + 1), np.nan)
    for i in range(n_resamples):
        weights = np.bincount(cell_of[rng.integers(0, len(wrong), len(wrong))], minlength=len(cells))
        weights = weights.astype(np.float64)
        overall = (weights * cell_wrong).sum() / weights.sum()
        counts = weights @ cell_masks
        with np.errstate(invalid="ignore", divide="ignore"):
            ratios = ((weights * cell_wrong) @ cell_masks / counts) / overall
        samples[i, :-1] = ratios
        samples[i, -1] = np.nanmean(ratios) if np.isfinite(ratios).any() else np.nan
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            low = np.nanpercentile(samples, 2.5, axis=0)
            high = np.nanpercentile(samples, 97.5, axis=0)
    rows = point[["factor", "error_ratio", "count"]].to_dict("records")
    rows.append({"factor": "mean", "error_ratio": float(np.nanmean(point["error_ratio"])), "count": len(merged)})
    table = pd.DataFrame(rows)
    table["ci_low"] = np.minimum(low, table["error_ratio"])
    table["ci_high"] = np.maximum(high, table["error_ratio"])
    table["n"] = len(merged)
    return table
