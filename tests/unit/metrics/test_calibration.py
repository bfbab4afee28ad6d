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


# --- temperature scaling: the chunked Newton fit against the scipy search it replaced -------------------

def _reference_scipy_fit_temperature(logits, labels, *, seed=0, n_bins=15):
    """The fit before issue 7, verbatim (float64 copy, scipy bounded search over log T): (T, ECE before,
    ECE after, NLL before, NLL after) on the held-out half. Labels must all be known (it indexed -1)."""
    from scipy.optimize import minimize_scalar

    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels)
    order = np.random.default_rng(seed).permutation(len(labels))
    fit, test = np.sort(order[: len(order) // 2]), np.sort(order[len(order) // 2:])
    result = minimize_scalar(lambda log_t: negative_log_likelihood(logits[fit], labels[fit], temperature=np.exp(log_t)),
                             bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    temperature = float(np.exp(result.x))

    def ece(t):
        probs = softmax(logits[test], temperature=t)
        return expected_calibration_error(probs.max(axis=1), probs.argmax(axis=1) == labels[test], n_bins=n_bins)

    return (temperature, ece(1.0), ece(temperature), negative_log_likelihood(logits[test], labels[test]),
            negative_log_likelihood(logits[test], labels[test], temperature=temperature))


def _stored_model_logits(rng, n, classes, *, signal=5.0, scale=2.0):
    """float16 logits (as the store keeps them) of a model right ~70% of the time, read back as float32."""
    labels = rng.integers(0, classes, n)
    logits = (scale * rng.normal(size=(n, classes))).astype(np.float32)
    logits[np.arange(n), labels] += rng.normal(signal, 2.0, size=n).astype(np.float32)
    return logits.astype(np.float16).astype(np.float32), labels


@pytest.mark.parametrize(("seed", "signal", "scale"), [(0, 5.0, 2.0), (1, 9.0, 3.0), (2, 2.0, 0.5)])
def test_fit_temperature_matches_the_scipy_reference(seed, signal, scale):
    logits, labels = _stored_model_logits(np.random.default_rng(seed), 3000, 1000, signal=signal, scale=scale)
    expected = _reference_scipy_fit_temperature(logits, labels, seed=seed)
    fit = fit_temperature(logits, labels, seed=seed)
    assert fit.temperature == pytest.approx(expected[0], rel=1e-4)
    assert (fit.ece_before, fit.ece_after, fit.nll_before, fit.nll_after) == pytest.approx(expected[1:], abs=1e-6)
    assert fit.iterations <= 12  # Newton, not a scan: each iteration is a pass over the fit half


def test_fit_temperature_hand_made_case_matches_reference_and_closed_form():
    # fit half (seed 0) = rows 2, 3, 5: two right with margin 2, one wrong; NLL minimal where sigmoid(2/T) = 2/3
    z = np.array([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [0.0, 2.0]])
    labels = np.array([0, 1, 0, 1, 0, 0])
    fit = fit_temperature(z, labels, seed=0)
    assert list(fit.fit_indices) == [2, 3, 5] and list(fit.test_indices) == [0, 1, 4]
    assert fit.temperature == pytest.approx(2 / np.log(2), rel=1e-6)  # float32 sums: ~1e-7
    expected = _reference_scipy_fit_temperature(z, labels, seed=0)
    assert fit.temperature == pytest.approx(expected[0], rel=1e-4)
    assert (fit.ece_before, fit.ece_after, fit.nll_before, fit.nll_after) == pytest.approx(expected[1:], abs=1e-6)
    # held-out rows 0, 1, 4 are all right with margin 2: NLL = log(1 + exp(-2 / T))
    assert fit.nll_after == pytest.approx(np.log1p(np.exp(-2 / fit.temperature)), abs=1e-12)


def test_fit_temperature_nll_matches_torch_and_is_minimal_there(rng):
    logits, labels = _stored_model_logits(rng, 2000, 1000)
    fit = fit_temperature(logits, labels, seed=3)
    held = torch.tensor(logits[fit.test_indices], dtype=torch.float64)
    expected = torch.nn.functional.cross_entropy(held / fit.temperature, torch.tensor(labels[fit.test_indices]))
    assert fit.nll_after == pytest.approx(expected.item(), abs=1e-9)
    assert fit.nll_before == pytest.approx(
        torch.nn.functional.cross_entropy(held, torch.tensor(labels[fit.test_indices])).item(), abs=1e-9)
    # optimality on the fit half, by autograd: d NLL / d T = 0 at the fitted T
    temperature = torch.tensor(fit.temperature, dtype=torch.float64, requires_grad=True)
    nll = torch.nn.functional.cross_entropy(torch.tensor(logits[fit.fit_indices], dtype=torch.float64) / temperature,
                                            torch.tensor(labels[fit.fit_indices]))
    nll.backward()
    assert abs(temperature.grad.item()) < 1e-6
    assert torch.nn.functional.cross_entropy(
        torch.tensor(logits[fit.fit_indices], dtype=torch.float64) / (fit.temperature * 1.01),
        torch.tensor(labels[fit.fit_indices])).item() > nll.item()


def test_fit_temperature_class_subset_equals_fitting_the_sliced_logits(rng):
    subset = list(range(3, 1000, 5))  # 200 classes, as ImageNet-R
    logits, positions = _stored_model_logits(rng, 2000, 1000)
    imagenet_labels = np.array(subset)[positions % 200]
    logits[np.arange(2000), imagenet_labels] += 4.0  # the signal on the true class among the scored ones
    sliced = logits[:, subset]
    expected = _reference_scipy_fit_temperature(sliced, positions % 200, seed=0)
    fit = fit_temperature(logits, imagenet_labels, seed=0, class_subset=subset)
    assert fit.temperature == pytest.approx(expected[0], rel=1e-4)
    assert (fit.ece_before, fit.ece_after, fit.nll_before, fit.nll_after) == pytest.approx(expected[1:], abs=1e-6)


def test_fit_temperature_does_not_depend_on_chunks_or_dtype(rng):
    logits, labels = _stored_model_logits(rng, 1500, 300)
    fit = fit_temperature(logits, labels, seed=0)
    small = fit_temperature(logits, labels, seed=0, chunk=7)
    as_stored = fit_temperature(logits.astype(np.float16), labels, seed=0)
    assert small.temperature == pytest.approx(fit.temperature, rel=1e-7)
    assert as_stored.temperature == pytest.approx(fit.temperature, rel=1e-7)
    for name, values in fit.test_columns.items():
        np.testing.assert_allclose(small.test_columns[name], values, rtol=1e-6)


def test_fit_temperature_stays_within_the_bounds(rng):
    logits, labels = _stored_model_logits(rng, 1000, 10, signal=0.0, scale=30.0)  # confident and random
    fit = fit_temperature(logits, labels)
    assert fit.temperature == 20.0
    assert _reference_scipy_fit_temperature(logits, labels)[0] == pytest.approx(20.0, rel=1e-4)
    right = np.eye(10, dtype=np.float32)[labels] * 0.01  # always right, barely: T wants to go to 0
    assert fit_temperature(right, labels).temperature == 0.05


def test_fit_temperature_leaves_unknown_labels_out_of_the_nll(rng):
    logits, labels = _stored_model_logits(rng, 1200, 50)
    unknown = labels.copy()
    unknown[::7] = -1
    fit = fit_temperature(logits, unknown, seed=0)
    known = np.flatnonzero(unknown >= 0)
    fit_known = np.intersect1d(fit.fit_indices, known)  # the same split; only labelled rows enter the NLL
    from scipy.optimize import minimize_scalar

    result = minimize_scalar(lambda log_t: negative_log_likelihood(logits[fit_known], labels[fit_known],
                                                                    temperature=np.exp(log_t)),
                             bounds=(np.log(0.05), np.log(20.0)), method="bounded", options={"xatol": 1e-9})
    assert fit.temperature == pytest.approx(np.exp(result.x), rel=1e-5)
    test_known = np.intersect1d(fit.test_indices, known)
    assert fit.nll_after == pytest.approx(negative_log_likelihood(logits[test_known], labels[test_known],
                                                                  temperature=fit.temperature), abs=1e-9)
    assert np.isnan(fit.test_columns["log_prob_true"][unknown[fit.test_indices] < 0]).all()
    assert not fit.test_columns["cal_correct"][unknown[fit.test_indices] < 0].any()  # counts as wrong in ECE
    with pytest.raises(ValueError, match="labelled images in the fit half"):
        fit_temperature(logits, np.full(1200, -1))


def test_fit_temperature_rejects_bad_input():
    with pytest.raises(ValueError, match="at least 4"):
        fit_temperature(np.zeros((3, 5)), np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match=r"\(n, classes\)"):
        fit_temperature(np.zeros(8), np.zeros(8, dtype=int))
    bad = np.zeros((8, 5), dtype=np.float32)
    bad[:, 0] = np.inf
    with pytest.raises(ValueError, match="finite logits"):
        fit_temperature(bad, np.zeros(8, dtype=int))


def test_fit_temperature_allocates_chunks_not_matrices(rng):
    import tracemalloc

    logits, labels = _stored_model_logits(rng, 12_000, 1000)  # 48 MB of float32
    fit_temperature(logits[:100], labels[:100])  # imports and first-call caches outside the measurement
    tracemalloc.start()
    try:
        fit_temperature(logits, labels, chunk=512)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 0.3 * logits.nbytes  # a float64 copy of the matrix alone would be 2×, a float32 one 1×


def test_ece_interval_matches_bootstrapping_the_metric():
    from core.metrics import bootstrap_interval, ece_bootstrap_interval, expected_calibration_error

    rng = np.random.default_rng(1)
    confidence = rng.uniform(0.05, 1.0, 3000)
    correct = rng.random(3000) < confidence * 0.8
    confidence[:5] = 1.0  # the last bin's closed end
    expected = bootstrap_interval(lambda i: expected_calibration_error(confidence[i], correct[i], n_bins=15), 3000,
                                  n_resamples=60, seed=3)
    assert ece_bootstrap_interval(confidence, correct, n_bins=15, n_resamples=60, seed=3) == pytest.approx(expected, abs=1e-12)
