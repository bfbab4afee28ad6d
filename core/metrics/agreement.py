r"""Agreement between models on the same images, and the per-class view of one model's answers.

Error consistency (Geirhos, Meding & Wichmann, "Beyond accuracy: quantifying trial-by-trial behaviour of
CNNs and humans by measuring error consistency", NeurIPS 2020, Sec. 2, https://arxiv.org/abs/2006.16736):
over n images with correctness vectors a and b,

    c_obs = mean(a == b),  c_exp = p_a p_b + (1 − p_a)(1 − p_b),  κ = (c_obs − c_exp) / (1 − c_exp),

with p the two accuracies: Cohen's κ of the two correctness vectors. κ = 1: the two err on exactly the same
images; 0: no more overlap than two independent observers with those accuracies; < 0: less. Undefined (NaN)
when c_exp = 1 (one model always right and the other always right, or both always wrong).
"""

from __future__ import annotations

import numpy as np

__all__ = ["error_consistency", "weighted_error_consistency", "balanced_accuracy", "per_class_recall",
           "top_confusions"]


def _check_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"Expected two correctness vectors of one length, got shapes {a.shape} and {b.shape}.")
    if a.size == 0:
        raise ValueError("Expected at least one image, got none.")
    return a, b


def error_consistency(correct_a: np.ndarray, correct_b: np.ndarray) -> float:
    """Cohen's κ of two models' per-image correctness (Geirhos et al. 2020, the module's formula).

    >>> error_consistency(np.array([1, 1, 0, 0]), np.array([1, 1, 0, 0]))
    1.0
    >>> error_consistency(np.array([1, 0, 1, 0]), np.array([1, 1, 0, 0]))
    0.0
    """
    a, b = _check_pair(correct_a, correct_b)
    return float(weighted_error_consistency(np.ones((1, a.size)), a, b)[0])


def weighted_error_consistency(weights: np.ndarray, correct_a: np.ndarray, correct_b: np.ndarray) -> np.ndarray:
    """κ per row of `weights` (R × n counts of each image in a bootstrap replicate, `resample_weights`):
    one product gives every replicate; rows where κ is undefined are NaN."""
    a, b = _check_pair(correct_a, correct_b)
    weights = np.asarray(weights)
    if weights.dtype not in (np.float32, np.float64):
        weights = weights.astype(np.float64)
    total = weights.sum(axis=1, dtype=np.float64)
    columns = np.stack([a, b, a == b], axis=1).astype(weights.dtype)
    p_a, p_b, observed = ((weights @ columns).astype(np.float64) / total[:, None]).T
    expected = p_a * p_b + (1 - p_a) * (1 - p_b)
    with np.errstate(invalid="ignore", divide="ignore"):
        kappa = (observed - expected) / (1 - expected)
    return np.where(np.isclose(expected, 1.0), np.nan, kappa)


def per_class_recall(labels: np.ndarray, preds: np.ndarray, n_classes: int) -> np.ndarray:
    """Recall of each class (NaN for a class with no test image).

    >>> per_class_recall(np.array([0, 0, 1]), np.array([0, 1, 1]), 3).tolist()
    [0.5, 1.0, nan]
    """
    labels, preds = np.asarray(labels), np.asarray(preds)
    support = np.bincount(labels, minlength=n_classes).astype(np.float64)
    hits = np.bincount(labels[labels == preds], minlength=n_classes).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, hits / support, np.nan)


def balanced_accuracy(labels: np.ndarray, preds: np.ndarray, n_classes: int | None = None) -> float:
    """Mean recall over the classes present in `labels` (Brodersen et al., ICPR 2010; scikit-learn's
    `balanced_accuracy_score` without adjustment).

    >>> balanced_accuracy(np.array([0, 0, 0, 1]), np.array([0, 0, 0, 0]))
    0.5
    """
    labels = np.asarray(labels)
    n_classes = int(labels.max()) + 1 if n_classes is None else n_classes
    return float(np.nanmean(per_class_recall(labels, preds, n_classes)))


def top_confusions(labels: np.ndarray, preds: np.ndarray, *, top: int = 5) -> list[tuple[int, int, int]]:
    """The `top` most frequent (true class, predicted class, count) with true ≠ predicted; ties by class order.

    >>> top_confusions(np.array([0, 0, 1, 1, 1]), np.array([1, 1, 0, 1, 2]), top=2)
    [(0, 1, 2), (1, 0, 1)]
    """
    labels, preds = np.asarray(labels), np.asarray(preds)
    wrong = labels != preds
    if not wrong.any():
        return []
    pairs, counts = np.unique(np.stack([labels[wrong], preds[wrong]], axis=1), axis=0, return_counts=True)
    order = np.lexsort((pairs[:, 1], pairs[:, 0], -counts))[:top]
    return [(int(pairs[i, 0]), int(pairs[i, 1]), int(counts[i])) for i in order]
