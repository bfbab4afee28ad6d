"""Error consistency, balanced accuracy and confusions against scikit-learn and hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from core.metrics.agreement import (balanced_accuracy, error_consistency, per_class_recall, top_confusions,
                                    weighted_error_consistency)


def _reference_sklearn_kappa(a, b):
    from sklearn.metrics import cohen_kappa_score

    return cohen_kappa_score(a.astype(int), b.astype(int))


@pytest.mark.parametrize("p_a, p_b, overlap", [(0.8, 0.7, 0.0), (0.6, 0.6, 0.5), (0.9, 0.3, 0.9)])
def test_error_consistency_matches_sklearn_cohen_kappa(p_a, p_b, overlap, rng):
    a = rng.random(2000) < p_a
    b = np.where(rng.random(2000) < overlap, a, rng.random(2000) < p_b)
    assert error_consistency(a, b) == pytest.approx(_reference_sklearn_kappa(a, b), abs=1e-12)


def test_error_consistency_hand_case():
    # c_obs = 3/4, p_a = 3/4, p_b = 1/2: c_exp = 3/8 + 1/8 = 1/2, κ = (3/4 − 1/2) / (1/2) = 1/2
    assert error_consistency(np.array([1, 1, 1, 0]), np.array([1, 1, 0, 0])) == pytest.approx(0.5)


def test_weighted_error_consistency_equals_kappa_of_the_resample(rng):
    a, b = rng.random(300) < 0.7, rng.random(300) < 0.6
    draws = [rng.integers(0, 300, 300) for _ in range(5)]
    weights = np.stack([np.bincount(draw, minlength=300) for draw in draws])
    expected = [_reference_sklearn_kappa(a[draw], b[draw]) for draw in draws]
    assert weighted_error_consistency(weights, a, b) == pytest.approx(expected, abs=1e-12)


def test_error_consistency_undefined_when_both_always_right():
    assert np.isnan(error_consistency(np.ones(5), np.ones(5)))


def test_balanced_accuracy_matches_sklearn(rng):
    from sklearn.metrics import balanced_accuracy_score

    labels = rng.integers(0, 7, 500)
    preds = np.where(rng.random(500) < 0.6, labels, rng.integers(0, 7, 500))
    assert balanced_accuracy(labels, preds, 7) == pytest.approx(balanced_accuracy_score(labels, preds))
    assert per_class_recall(labels, preds, 8)[7] != per_class_recall(labels, preds, 8)[7]  # NaN: no image of class 7


def test_top_confusions_match_the_confusion_matrix(rng):
    from sklearn.metrics import confusion_matrix

    labels = rng.integers(0, 5, 400)
    preds = np.where(rng.random(400) < 0.5, labels, rng.integers(0, 5, 400))
    matrix = confusion_matrix(labels, preds, labels=range(5))
    np.fill_diagonal(matrix, 0)
    found = top_confusions(labels, preds, top=3)
    assert [count for _, _, count in found] == sorted(matrix.ravel(), reverse=True)[:3]
    assert all(matrix[true, pred] == count for true, pred, count in found)
