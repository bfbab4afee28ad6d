"""Analyses over stored per-image results: tidy tables for the pages, built from core.metrics."""

from __future__ import annotations

import numpy as np

__all__ = ["shape_bias_table", "shape_bias_class_table", "accuracy_with_interval"]


def shape_bias_table(decisions, *, n_resamples: int = 1000, seed: int = 0, counts_for=None):
    """One row per decision maker: shape bias with a 95% bootstrap interval, fractions and n.

    `decisions` has columns maker, image_id, shape, texture, decision16 (one row per decision). `counts_for(n)`
    gives the resample counts of n decisions (default: `bootstrap_counts(n, n_resamples, seed)`; a page passes
    its cached ones, so makers of the same size share one matrix across calls).
    """
    import pandas as pd

    from core.metrics import bootstrap_counts, shape_bias

    rows, counts_by_size = [], {}  # makers with as many decisions share the resamples (the same seed draws them)
    for maker, group in decisions.groupby("maker", sort=False):
        shape, texture, decision = (group[c].to_numpy(dtype=object) for c in ("shape", "texture", "decision16"))
        result = shape_bias(shape, texture, decision)
        if len(shape) not in counts_by_size:
            counts_by_size[len(shape)] = (counts_for(len(shape)) if counts_for else
                                          bootstrap_counts(len(shape), n_resamples=n_resamples, seed=seed))
        low, high = shape_bias_interval(shape, texture, decision, counts_by_size[len(shape)])
        rows.append({"maker": maker, **result, "ci_low": low, "ci_high": high, "decisions": len(shape)})
    return pd.DataFrame(rows)


def shape_bias_interval(shape, texture, decision, counts, *, level: float = 0.95) -> tuple[float, float]:
    """95% bootstrap interval of `shape_bias` from resample `counts` (`bootstrap_counts`): a resample's
    shape bias is (shape hits)/(shape + texture hits) on conflict images, two weighted sums, so one
    product gives every resample; the same interval as `bootstrap_interval` with the same seed."""
    from core.metrics import percentile_interval

    shape, texture, decision = (np.asarray(x, dtype=object) for x in (shape, texture, decision))
    conflict = shape != texture
    hits = np.stack([conflict & (decision == shape), conflict & (decision == texture)], axis=1).astype(np.float64)
    sums = counts.astype(np.float64) @ hits
    with np.errstate(invalid="ignore", divide="ignore"):
        values = sums[:, 0] / (sums[:, 0] + sums[:, 1])
    return percentile_interval(values, level=level)


def shape_bias_class_table(decisions):
    """Per decision maker and shape class: shape bias (model-vs-human's per-class plot)."""
    import pandas as pd

    from core.metrics import shape_bias_per_class

    frames = []
    for maker, group in decisions.groupby("maker", sort=False):
        table = shape_bias_per_class(group["shape"], group["texture"], group["decision16"])
        table.insert(0, "maker", maker)
        frames.append(table)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def accuracy_with_interval(correct, *, n_resamples: int = 1000, seed: int = 0) -> dict[str, float]:
    """Mean of a 0/1 array with its 95% bootstrap interval (`proportion_interval`: from the counts alone)."""
    correct = np.asarray(correct, dtype=np.float64)
    return count_accuracy(int(correct.sum()), len(correct), n_resamples=n_resamples, seed=seed)


def count_accuracy(successes: int, n: int, *, n_resamples: int = 1000, seed: int = 0) -> dict[str, float]:
    """Accuracy k/n with its 95% percentile-bootstrap interval, from the two counts (a SQL `GROUP BY`)."""
    from core.metrics import proportion_interval

    low, high = proportion_interval(int(successes), int(n), n_resamples=n_resamples, seed=seed)
    return {"accuracy": successes / n, "ci_low": low, "ci_high": high, "n": int(n)}


SHIFTED = ("imagenet-real", "imagenet-v2", "imagenet-a", "imagenet-r", "imagenet-sketch", "imagenet-hard", "imagenet-c")
"""The paper's 7 shifted sets whose mean is its robustness 'Average' (ImageNet val excluded)."""


def robustness_table(runs, counts, real_counts=None, *, n_resamples: int = 500):
    """Top-1 per model and benchmark, with 95% intervals; ImageNet-ReaL from the val runs' ReaL counts.

    `runs`: run rows (run_id, model, benchmark); `counts`: `ResultsStore.accuracy_counts(...,
    by_condition=True)` (run_id, condition, n, correct over readable images); `real_counts`: the same
    with `real=True`, per run. ImageNet-C is the mean over its corruption × severity conditions, its
    interval that of all its images pooled.
    """
    import pandas as pd

    records = []
    merged = runs[["run_id", "model", "benchmark"]].merge(counts, on="run_id")  # in the runs' (picker's) order
    for (model, benchmark), group in merged.groupby(["model", "benchmark"], sort=False):
        pooled = count_accuracy(int(group["correct"].sum()), int(group["n"].sum()), n_resamples=n_resamples)
        if benchmark == "imagenet-c":
            per_condition = group.groupby("condition")[["correct", "n"]].sum()
            pooled["accuracy"] = float((per_condition["correct"] / per_condition["n"]).mean())
        records.append({"model": model, "benchmark": benchmark, **pooled})
        if benchmark == "imagenet-val" and real_counts is not None and len(real_counts):
            real = real_counts[real_counts["run_id"].isin(group["run_id"])]
            if len(real) and int(real["n"].sum()):
                records.append({"model": model, "benchmark": "imagenet-real",
                                **count_accuracy(int(real["correct"].sum()), int(real["n"].sum()),
                                                 n_resamples=n_resamples)})
    return pd.DataFrame(records)


def calibration_inputs(logits, labels, class_subset=None):
    """(confidence, correct, probabilities) from stored logits; softmax over `class_subset` when given
    (ImageNet-A/R: the paper took the softmax over the 200 classes)."""
    from core.metrics import softmax

    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels)
    if class_subset:
        subset = np.asarray(class_subset)
        position = {c: i for i, c in enumerate(subset)}
        logits = logits[:, subset]
        labels = np.array([position.get(int(label), -1) for label in labels])
    probs = softmax(logits)
    return probs.max(axis=1), probs.argmax(axis=1) == labels, probs, logits, labels


def file_names(image_ids) -> np.ndarray:
    """The last path component of each image id (`n01440764/ILSVRC2012_val_00000293.JPEG` → the file
    name ImageNet-X annotates), in one Arrow pass: a Python loop over 200,000 ids costs a second."""
    import pyarrow as pa
    import pyarrow.compute as pc

    ids = pa.array(image_ids, pa.string()) if not isinstance(image_ids, (pa.Array, pa.ChunkedArray)) else image_ids
    return pc.replace_substring_regex(ids, pattern=r"^.*/", replacement="").to_numpy(zero_copy_only=False)


def error_ratio_table(model_rows: dict):
    """ImageNet-X error ratios of several models: {label: frame(image_id, pred)} → tidy table."""
    import pandas as pd

    from core.metrics import imagenet_x_error_ratios

    frames = []
    for label, rows in model_rows.items():
        names = list(file_names(rows["image_id"]))
        frames.append(_labelled(imagenet_x_error_ratios(names, rows["pred"].to_numpy()), label))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def matched_error_ratio_table(model_matches: dict):
    """`error_ratio_table` of predictions already matched to the top-factor annotations:
    {label: (rows of `imagenet_x_annotations()`, pred)}, as `ResultsStore.rows_by_file_name` gives them for
    that frame's file names."""
    import pandas as pd

    from core.metrics import imagenet_x_error_ratios_at

    frames = [_labelled(imagenet_x_error_ratios_at(rows, pred), label) for label, (rows, pred) in model_matches.items()]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _labelled(table, label):
    return table.assign(label=label, accuracy_all=table.attrs["accuracy"], n=table.attrs["n"])


def slice_rows(rows, factors, annotations=None):
    """The rows (image_id, pred, …) whose image has every factor in `factors` (multi-factor
    annotations), with `label` and `correct` from the ImageNet-X annotation."""
    from core.data.imagenet_x import imagenet_x_annotations

    annotations = imagenet_x_annotations("multi") if annotations is None else annotations
    keyed = rows.assign(file_name=file_names(rows["image_id"]))
    merged = keyed.merge(annotations, on="file_name", how="inner", suffixes=("", "_x"))
    mask = np.ones(len(merged), dtype=bool)
    for factor in factors:
        mask &= merged[factor].to_numpy().astype(bool)
    sliced = merged[mask]
    return sliced.assign(correct=sliced["pred"].to_numpy() == sliced["class"].to_numpy())


def matched_slice_rows(rows, pred, path):
    """`slice_rows(...)` over no factors, for predictions already matched to the top-factor annotations (`rows`
    of `imagenet_x_annotations()`, as for `matched_error_ratio_table`): per image in the given order, `path`,
    `pred`, the multi-factor annotation (`file_name`, `class`, the factors) and `correct`."""
    import pandas as pd

    from core.data.imagenet_x import imagenet_x_annotations

    top, multi = imagenet_x_annotations(), imagenet_x_annotations("multi")
    rows, pred, path = np.asarray(rows, dtype=np.int64), np.asarray(pred), np.asarray(path, dtype=object)
    if top["file_name"].equals(multi["file_name"]):  # the package's two files list the same images alike
        at = rows
    else:
        at = pd.Index(multi["file_name"]).get_indexer(top["file_name"].to_numpy()[rows])
        pred, path, at = pred[at >= 0], path[at >= 0], at[at >= 0]
    found = multi.iloc[at].reset_index(drop=True).assign(path=path, pred=pred)
    return found.assign(correct=found["pred"].to_numpy() == found["class"].to_numpy())


def condition_accuracy_table(counts, labels: dict, *, n_resamples: int = 300):
    """Accuracy with 95% intervals per model and condition (PUG factors, ImageNet-C corruptions), from
    `ResultsStore.accuracy_counts(..., by_condition=True)`; `labels` maps run_id → display label."""
    import pandas as pd

    records = []
    order = {run_id: position for position, run_id in enumerate(labels)}
    for row in sorted(counts.itertuples(), key=lambda row: (order.get(row.run_id, len(order)), str(row.condition))):
        if row.run_id in labels and row.n:
            records.append({"label": labels[row.run_id], "condition": row.condition,
                            **count_accuracy(int(row.correct), int(row.n), n_resamples=n_resamples)})
    return pd.DataFrame(records)


def decision_gallery(rows):
    """One row per image (image_id, shape, texture) and one column per decision maker: its decision,
    for pooled makers (the human observers) the most common answer, ties to the alphabetically first
    (pandas' `mode()` order). Vectorised: no Python call per image."""
    answered = rows.dropna(subset=["decision16"])
    votes = answered.groupby(["image_id", "shape", "texture", "maker", "decision16"], sort=False).size()
    votes = votes.rename("votes").reset_index().sort_values(["votes", "decision16"], ascending=[False, True],
                                                            kind="stable")
    winners = votes.drop_duplicates(["image_id", "maker"])
    return winners.pivot(index=["image_id", "shape", "texture"], columns="maker", values="decision16").reset_index()


def calibration_summary(columns, *, n_bins: int, counts) -> tuple[dict, "object"]:
    """ECE (with its bootstrap interval from resample `counts`), accuracy, mean confidence, NLL and
    Brier of one run, and its reliability bins, from the per-image columns `cal_conf`, `cal_correct`,
    `log_prob_true`, `brier` (no logits needed). NLL and Brier cover the images whose true class is
    among the scored ones; ECE covers every image (an image outside them counts as wrong)."""
    from core.metrics import ece_interval, expected_calibration_error, reliability_bins

    confidence = columns["cal_conf"].to_numpy(dtype=np.float64)
    correct = columns["cal_correct"].to_numpy(dtype=bool)
    log_prob, brier = (columns[c].to_numpy(dtype=np.float64) for c in ("log_prob_true", "brier"))
    known = ~np.isnan(log_prob)
    ece = expected_calibration_error(confidence, correct, n_bins=n_bins)
    low, high = ece_interval(confidence, correct, counts, n_bins=n_bins)
    gap = float(confidence.mean() - correct.mean())
    summary = {"ECE": ece, "ci_low": low, "ci_high": high, "accuracy": float(correct.mean()),
               "mean confidence": float(confidence.mean()),
               "verdict": "over-confident" if gap > 0.01 else ("under-confident" if gap < -0.01 else "calibrated"),
               "NLL": float(-log_prob[known].mean()) if known.any() else float("nan"),
               "Brier": float(brier[known].mean()) if known.any() else float("nan"), "n": len(confidence)}
    return summary, reliability_bins(confidence, correct, n_bins=n_bins)


def temperature_scaled(logits, labels, class_subset=None, *, seed: int = 0):
    """Temperature scaling fitted on a seeded random half (`fit_temperature`), and the per-image
    columns of the held-out half under that temperature (the names of `derived_columns`), so
    `calibration_summary` reads them like unscaled ones. Returns (temperature, frame).

    `labels` are ImageNet indices; with `class_subset` (ImageNet-A/R) the softmax covers those classes.
    The logits are read in chunks as they come (float16 or float32): no float64 copy of the matrix."""
    import pandas as pd

    from core.metrics import fit_temperature

    fit = fit_temperature(logits, labels, seed=seed, class_subset=class_subset)
    return fit.temperature, pd.DataFrame(fit.test_columns)
