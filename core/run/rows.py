"""Per-image result columns of one batch, computed from its logits at once (numpy only, no torch).

`result_columns(logits, ...)` is where every stored per-image quantity is derived: softmax (over a
class subset for ImageNet-A/R), top-5, confidence, the true class's probability, correctness and the
16-class cue-conflict decision. It works on a whole batch as arrays, so a batch costs a few numpy
calls rather than a Python loop per image, and it does not know where rows are written (the DuckDB
store, a Parquet shard, another machine). A new derived column is one more entry in the returned dict.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np

from core.data.base import name_text

__all__ = ["TOP_K", "softmax", "top_k", "sixteen_class_matrix", "result_columns", "item_columns"]

TOP_K = 5


def softmax(logits: np.ndarray, class_subset: Sequence[int] | None = None) -> np.ndarray:
    """Row-wise softmax in float32; with `class_subset`, over those classes only (others get 0)."""
    logits = np.asarray(logits, dtype=np.float32)
    if class_subset:
        masked = np.full_like(logits, -np.inf)
        index = np.asarray(class_subset)
        masked[:, index] = logits[:, index]
        logits = masked
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def top_k(probabilities: np.ndarray, k: int = TOP_K) -> tuple[np.ndarray, np.ndarray]:
    """(indices, values) of each row's k largest entries, largest first."""
    part = np.argpartition(-probabilities, k - 1, axis=1)[:, :k]
    values = np.take_along_axis(probabilities, part, axis=1)
    order = np.argsort(-values, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(values, order, axis=1)


@lru_cache(maxsize=1)
def sixteen_class_matrix() -> np.ndarray:
    """1000 × 16 float64 matrix whose column c averages class c's ImageNet members:
    probabilities @ M is each 16-class mean probability (model-vs-human's aggregation)."""
    from core.data.cue_conflict import SIXTEEN_CLASSES, sixteen_class_indices

    members = sixteen_class_indices()
    matrix = np.zeros((1000, len(SIXTEEN_CLASSES)))
    for column, name in enumerate(SIXTEEN_CLASSES):
        matrix[list(members[name]), column] = 1.0 / len(members[name])
    return matrix


def result_columns(logits: np.ndarray, *, labels: np.ndarray, class_subset: Sequence[int] | None = None,
                   accepted: Sequence[Sequence[int]] | None = None, shapes: Sequence[str] | None = None) -> dict:
    """Stored per-image quantities of one batch of logits (n × 1000).

    Args:
        logits: float32 logits, one row per image.
        labels: the ImageNet class of each image, -1 where there is none (cue-conflict).
        class_subset: ImageNet-A/R: softmax and argmax over these classes only.
        accepted: per image, every class that counts as correct (ImageNet-Hard, PUG); replaces `labels`
            for correctness.
        shapes: cue-conflict: each image's shape class; the 16-class decision is then stored and
            scored instead of the top-1 class.

    Returns:
        Columns of `core.store.PREDICTION_COLUMNS` as numpy arrays: pred, top5, top5_prob, conf,
        correct, the calibration columns of `core.metrics.calibration.derived_columns`, and prob_true
        (NaN where the label is -1) or decision16 and probs16.
    """
    from core.data.cue_conflict import SIXTEEN_CLASSES
    from core.metrics.calibration import derived_columns

    probabilities = softmax(logits, class_subset)
    labels = np.asarray(labels, dtype=np.int64)
    index, values = top_k(probabilities)
    pred = index[:, 0]
    columns = {"pred": pred, "top5": index, "top5_prob": values, "conf": values[:, 0].copy()}
    # calibration columns from the logits exactly as stored (float16), so they equal a recomputation
    # from the store and a migrated store equals a freshly written one
    columns.update(derived_columns(np.asarray(logits).astype(np.float16), labels, class_subset))
    if shapes is not None:
        probs16 = (probabilities.astype(np.float64) @ sixteen_class_matrix()).astype(np.float32)
        decision16 = np.asarray(SIXTEEN_CLASSES, dtype=object)[probs16.argmax(axis=1)]
        columns.update(probs16=probs16, decision16=decision16, correct=decision16 == np.asarray(shapes, dtype=object))
        return columns
    if accepted is not None:
        width = max((len(classes) for classes in accepted), default=1)
        matrix = np.full((len(accepted), max(width, 1)), -2, dtype=np.int64)
        for row, classes in enumerate(accepted):
            matrix[row, :len(classes)] = classes
        columns["correct"] = (matrix == pred[:, None]).any(axis=1)
    else:
        columns["correct"] = pred == labels
    known = labels >= 0
    prob_true = np.full(len(labels), np.nan, dtype=np.float32)
    prob_true[known] = probabilities[np.flatnonzero(known), labels[known]]
    columns["prob_true"] = prob_true
    return columns


def item_columns(run_id: str, items: Sequence) -> dict:
    """The columns that describe the images themselves (ids, labels, cue-conflict classes)."""
    return {"run_id": [run_id] * len(items), "image_id": [item.image_id for item in items],
            "path": [name_text(item.path) for item in items], "label": np.array([item.label for item in items], dtype=np.int32),
            "labels": [list(item.labels) for item in items], "condition": [item.condition or None for item in items],
            "shape": [item.shape or None for item in items], "texture": [item.texture or None for item in items]}
