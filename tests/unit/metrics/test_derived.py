"""Schema-2 derived columns and the fast intervals, against the computation they replace."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.analysis.tables import calibration_inputs
from core.metrics import (bootstrap_counts, bootstrap_interval, brier_score, derived_columns, ece_interval,
                          expected_calibration_error, negative_log_likelihood, proportion_interval, shape_bias,
                          softmax)


def _stored_logits(rng, n=600, classes=1000, scale=4.0):
    """Logits as the store keeps them: float16."""
    return (scale * rng.normal(size=(n, classes))).astype(np.float16)


def _previous_page_numbers(logits, labels, subset):
    """What the Calibration page computed before schema 2, from stored logits (kept verbatim)."""
    confidence, correct, probs, used_logits, used_labels = calibration_inputs(logits.astype(np.float32), labels,
                                                                              subset)
    known = used_labels >= 0
    per_image_nll = [negative_log_likelihood(used_logits[[i]], used_labels[[i]]) for i in np.flatnonzero(known)]
    per_image_brier = [brier_score(probs[[i]], used_labels[[i]]) for i in np.flatnonzero(known)]
    return confidence, correct, known, np.array(per_image_nll), np.array(per_image_brier), probs, used_labels


@pytest.mark.parametrize("subset", [None, list(range(0, 1000, 5))])
def test_derived_columns_match_the_previous_computation(rng, subset):
    logits = _stored_logits(rng)
    labels = rng.integers(0, 1000, len(logits))
    labels[:5] = -1  # unlabelled images
    labels[5:10] = 3  # outside the 200-class subset when there is one
    confidence, correct, known, nll, brier, probs, used_labels = _previous_page_numbers(logits, labels, subset)
    out = derived_columns(logits, labels, subset, chunk=97)  # chunk boundaries inside the data
    np.testing.assert_allclose(out["cal_conf"], confidence, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(out["cal_correct"], correct)
    assert np.array_equal(~np.isnan(out["log_prob_true"]), known) and np.array_equal(~np.isnan(out["brier"]), known)
    np.testing.assert_allclose(-out["log_prob_true"][known], nll, rtol=0, atol=1e-6)
    np.testing.assert_allclose(out["brier"][known], brier, rtol=0, atol=1e-6)
    # the page's aggregates from the columns equal those from the logits
    assert -out["log_prob_true"][known].mean() == pytest.approx(nll.mean(), abs=1e-9)
    assert out["brier"][known].mean() == pytest.approx(brier_score(probs[known], used_labels[known]), abs=1e-9)
    assert (subset is not None) == (not known[5:10].any())


def test_derived_columns_hand_computed():
    probs = np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]])
    out = derived_columns(np.log(probs), np.array([1, 2]))
    np.testing.assert_allclose(out["cal_conf"], [0.5, 0.8])
    np.testing.assert_array_equal(out["cal_correct"], [False, True])
    np.testing.assert_allclose(out["log_prob_true"], np.log([0.3, 0.8]))
    # (0.5² + 0.7² + 0.2²) and (0.1² + 0.1² + 0.2²)
    np.testing.assert_allclose(out["brier"], [0.78, 0.06])


def test_derived_columns_reject_bad_shapes():
    with pytest.raises(ValueError, match="Expected `logits` \\(n, classes\\)"):
        derived_columns(np.zeros(5), np.zeros(5, dtype=int))


def test_bootstrap_counts_are_bootstrap_intervals_resamples(rng):
    values = rng.normal(size=257)
    counts = bootstrap_counts(len(values), n_resamples=50, seed=3)
    assert counts.shape == (50, 257) and (counts.sum(axis=1) == 257).all()
    expected = bootstrap_interval(lambda index: values[index].sum(), len(values), n_resamples=50, seed=3)
    sums = np.sort(counts @ values)
    assert expected == pytest.approx((float(np.percentile(sums, 2.5)), float(np.percentile(sums, 97.5))), abs=1e-9)


@pytest.mark.parametrize("n_bins", [5, 15])
def test_ece_interval_matches_the_previous_bootstrap(rng, n_bins):
    probs = softmax(3 * rng.normal(size=(2000, 10)))
    labels = rng.integers(0, 10, 2000)
    confidence, correct = probs.max(1), probs.argmax(1) == labels
    expected = bootstrap_interval(lambda index: expected_calibration_error(confidence[index], correct[index],
                                                                           n_bins=n_bins), len(confidence),
                                  n_resamples=300)
    counts = bootstrap_counts(len(confidence), n_resamples=300, seed=0)
    assert ece_interval(confidence, correct, counts, n_bins=n_bins, chunk=37) == pytest.approx(expected, abs=1e-12)


def test_shape_bias_interval_from_counts_matches_the_previous_bootstrap(rng):
    classes = np.array(["cat", "dog", "car", "bird"], dtype=object)
    shape, texture = classes[rng.integers(0, 4, 800)], classes[rng.integers(0, 4, 800)]
    decision = np.where(rng.random(800) < 0.5, shape, np.where(rng.random(800) < 0.7, texture, "car"))
    expected = bootstrap_interval(lambda index: shape_bias(shape[index], texture[index], decision[index])["shape_bias"],
                                  800, n_resamples=200)
    from core.analysis.tables import shape_bias_interval

    assert shape_bias_interval(shape, texture, decision, bootstrap_counts(800, n_resamples=200)) == pytest.approx(
        expected, abs=1e-12)


@pytest.mark.parametrize("accuracy", [0.03, 0.5, 0.82])
def test_proportion_interval_matches_the_bootstrap_of_the_mean(rng, accuracy):
    # same distribution (Binomial), not the same draws: agree within Monte-Carlo error of 4000 resamples
    correct = (rng.random(3000) < accuracy).astype(float)
    expected = bootstrap_interval(lambda index: correct[index].mean(), len(correct), n_resamples=4000)
    low, high = proportion_interval(int(correct.sum()), len(correct), n_resamples=4000)
    assert low == pytest.approx(expected[0], abs=0.003) and high == pytest.approx(expected[1], abs=0.003)


def test_proportion_interval_edge_cases():
    assert proportion_interval(0, 10) == (0.0, 0.0) and proportion_interval(10, 10) == (1.0, 1.0)
    with pytest.raises(ValueError, match="successes"):
        proportion_interval(11, 10)


def test_calibration_summary_matches_the_previous_page(rng):
    from core.analysis.tables import calibration_summary

    logits = _stored_logits(rng, n=500, classes=50)
    labels = rng.integers(0, 50, 500)
    confidence, correct, known, nll, brier, probs, used_labels = _previous_page_numbers(logits, labels, None)
    columns = pd.DataFrame(derived_columns(logits, labels))
    summary, bins = calibration_summary(columns, n_bins=15, counts=bootstrap_counts(500, n_resamples=300))
    expected_ci = bootstrap_interval(lambda index: expected_calibration_error(confidence[index], correct[index]),
                                     500, n_resamples=300)
    assert summary["ECE"] == pytest.approx(expected_calibration_error(confidence, correct), abs=1e-12)
    assert (summary["ci_low"], summary["ci_high"]) == pytest.approx(expected_ci, abs=1e-12)
    assert summary["NLL"] == pytest.approx(negative_log_likelihood(logits.astype(np.float64), labels), abs=1e-9)
    assert summary["Brier"] == pytest.approx(brier_score(probs, labels), abs=1e-9)
    assert int(bins["count"].sum()) == 500


def test_temperature_scaled_matches_fit_temperature(rng):
    from core.analysis.tables import temperature_scaled
    from core.metrics import fit_temperature

    logits = _stored_logits(rng, n=400, classes=30).astype(np.float32)
    labels = rng.integers(0, 30, 400)
    temperature, held = temperature_scaled(logits, labels, seed=0)
    fit = fit_temperature(logits, labels, seed=0)
    assert temperature == pytest.approx(fit.temperature, rel=1e-12) and len(held) == len(fit.test_indices)
    expected = negative_log_likelihood(logits[fit.test_indices], labels[fit.test_indices], temperature=temperature)
    assert -held["log_prob_true"].mean() == pytest.approx(expected, abs=1e-9)
    scaled = softmax(logits[fit.test_indices], temperature=temperature)
    assert held["brier"].mean() == pytest.approx(brier_score(scaled, labels[fit.test_indices]), abs=1e-9)
    assert expected_calibration_error(held["cal_conf"].to_numpy(), held["cal_correct"].to_numpy()) == pytest.approx(
        fit.ece_after, abs=1e-12)


def test_decision_gallery_matches_the_previous_pivot(rng):
    from core.analysis.tables import decision_gallery

    classes = np.array(["cat", "dog", "car"], dtype=object)
    rows = pd.DataFrame({"image_id": [f"i{k % 40}" for k in range(600)], "maker": [f"m{k % 3}" for k in range(600)]})
    rows["shape"] = rows["image_id"].map(lambda i: classes[int(i[1:]) % 3])
    rows["texture"] = rows["image_id"].map(lambda i: classes[(int(i[1:]) // 3) % 3])
    rows["decision16"] = classes[rng.integers(0, 3, 600)]
    rows.loc[::17, "decision16"] = None  # unanswered trials
    expected = rows.pivot_table(index=["image_id", "shape", "texture"], columns="maker", values="decision16",
                                aggfunc=lambda answers: answers.mode().iloc[0]).reset_index()
    got = decision_gallery(rows)
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected.reset_index(drop=True), check_names=False,
                                  check_dtype=False)


def test_robustness_table_from_counts_hand_computed():
    from core.analysis.tables import robustness_table

    runs = pd.DataFrame({"run_id": ["v", "c"], "model": ["m", "m"], "benchmark": ["imagenet-val", "imagenet-c"]})
    counts = pd.DataFrame({"run_id": ["v", "c", "c"], "condition": [None, "fog/1", "fog/2"], "n": [100, 50, 50],
                           "correct": [80, 40, 20]})
    real = pd.DataFrame({"run_id": ["v"], "n": [90], "correct": [81]})
    table = robustness_table(runs, counts, real).set_index("benchmark")
    assert table.loc["imagenet-val", "accuracy"] == 0.8 and table.loc["imagenet-val", "n"] == 100
    assert table.loc["imagenet-c", "accuracy"] == pytest.approx((0.8 + 0.4) / 2) and table.loc["imagenet-c", "n"] == 100
    assert table.loc["imagenet-real", "accuracy"] == pytest.approx(0.9)
    assert table.loc["imagenet-val", "ci_low"] < 0.8 < table.loc["imagenet-val", "ci_high"]
