"""core.metrics.calibration against torchmetrics, imagenet-x, torch and hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.metrics import (brier_score, expected_calibration_error, fit_temperature, maximum_calibration_error,
                          negative_log_likelihood, reliability_bins, softmax)


def _reference_torchmetrics_ece(confidence, correct, n_bins, norm="l1"):
    from torchmetrics.functional.classification import binary_calibration_error

    # binary form: the "probability of class 1" is the confidence, the target whether it was right
    return float(binary_calibration_error(torch.tensor(confidence), torch.tensor(correct.astype(int)),
                                          n_bins=n_bins, norm=norm))


def _reference_imagenet_x_ece(confidence, correct, n_bins):
    from imagenet_x.aggregate import estimated_calibration_error

    return float(estimated_calibration_error(correct.astype(float), confidence, n_bins=n_bins))


def _predictions(rng, n=4000, classes=10, sharpness=3.0):
    logits = sharpness * rng.normal(size=(n, classes))
    labels = rng.integers(0, classes, n)
    probs = softmax(logits)
    return logits, labels, probs


@pytest.mark.parametrize("n_bins", [5, 15, 30])
def test_ece_matches_torchmetrics(n_bins, rng):
    _, labels, probs = _predictions(rng)
    confidence, correct = probs.max(1), probs.argmax(1) == labels
    edges = np.linspace(0, 1, n_bins + 1)
    assert not np.isin(confidence, edges).any() and confidence.max() < 1.0  # where both rules agree
    expected = _reference_torchmetrics_ece(confidence.astype(np.float32), correct, n_bins)
    assert expected_calibration_error(confidence.astype(np.float32), correct, n_bins=n_bins) == pytest.approx(
        expected, abs=1e-5)


@pytest.mark.parametrize("n_bins", [5, 15])
def test_mce_matches_torchmetrics_max_norm(n_bins, rng):
    _, labels, probs = _predictions(rng)
    confidence, correct = probs.max(1).astype(np.float32), probs.argmax(1) == labels
    expected = _reference_torchmetrics_ece(confidence, correct, n_bins, norm="max")
    assert maximum_calibration_error(confidence, correct, n_bins=n_bins) == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("n_bins", [10, 15])
def test_ece_matches_imagenet_x_including_edges_and_one(n_bins, rng):
    confidence = np.concatenate([rng.uniform(0, 1, 500), np.linspace(0, 1, n_bins + 1), np.ones(20)])
    correct = rng.uniform(size=confidence.size) < confidence
    assert expected_calibration_error(confidence, correct, n_bins=n_bins) == pytest.approx(
        _reference_imagenet_x_ece(confidence, correct, n_bins), abs=1e-12)


def test_bin_membership_is_lower_exclusive_upper_inclusive():
    table = reliability_bins(np.array([0.5, 1.0, 0.0, 0.51]), np.array([1, 1, 0, 0]), n_bins=2)
    assert list(table["count"]) == [2, 2]  # 0.5 and 0.0 in (0, .5]; 1.0 and 0.51 in (.5, 1]


def test_ece_hand_computed():
    # bin (0.5, 1]: confidences .9 and .7 (mean .8), one right: |0.5 - 0.8| × 2/3; bin (0, .5]: .3 right: 0.7 × 1/3
    value = expected_calibration_error(np.array([0.9, 0.7, 0.3]), np.array([1, 0, 1]), n_bins=2)
    assert value == pytest.approx(0.3 * 2 / 3 + 0.7 / 3)


def test_inputs_are_validated_not_guessed():
    with pytest.raises(ValueError, match="pass probabilities, not logits"):
        expected_calibration_error(np.array([1.5, 0.2]), np.array([1, 0]))
    with pytest.raises(ValueError, match="n_bins"):
        expected_calibration_error(np.array([0.5]), np.array([1]), n_bins=0)
    with pytest.raises(ValueError, match="apply softmax"):
        brier_score(np.array([[2.0, 1.0]]), np.array([0]))


def test_brier_and_nll_match_direct_computations(rng):
    logits, labels, probs = _predictions(rng, n=300)
    onehot = np.eye(10)[labels]
    assert brier_score(probs, labels) == pytest.approx(np.mean(np.sum((probs - onehot) ** 2, axis=1)))
    expected = torch.nn.functional.cross_entropy(torch.tensor(logits), torch.tensor(labels)).item()
    assert negative_log_likelihood(logits, labels) == pytest.approx(expected, rel=1e-9)
    assert negative_log_likelihood(logits, labels, temperature=2.0) == pytest.approx(
        torch.nn.functional.cross_entropy(torch.tensor(logits / 2), torch.tensor(labels)).item(), rel=1e-9)


def test_temperature_scaling_recovers_a_known_temperature(rng):
    """Labels drawn from softmax(z); the model reports 3·z, so the right temperature is 3."""
    z = rng.normal(size=(6000, 10))
    labels = np.array([rng.choice(10, p=p) for p in softmax(z)])
    fit = fit_temperature(3.0 * z, labels, seed=1)
    assert fit.temperature == pytest.approx(3.0, rel=0.1)
    assert fit.ece_after < fit.ece_before and fit.nll_after < fit.nll_before
    assert len(np.intersect1d(fit.fit_indices, fit.test_indices)) == 0
    again = fit_temperature(3.0 * z, labels, seed=1)
    assert again.temperature == fit.temperature and np.array_equal(again.fit_indices, fit.fit_indices)
