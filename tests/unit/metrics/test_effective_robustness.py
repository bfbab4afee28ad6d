"""core.metrics.effective_robustness against numpy.polyfit / scipy.stats.linregress on transformed axes, and
hand-built cases (a point on the line has effective robustness 0)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special, stats

from core.metrics.effective_robustness import (EPS, bootstrap_lines, effective_robustness,
                                               effective_robustness_replicates, fit_line, line_band,
                                               transform_accuracy)


def _population(rng, n: int = 400, slope: float = 1.3, intercept: float = -0.9, noise: float = 0.15):
    imagenet = rng.uniform(0.55, 0.9, n)
    shifted = special.expit(intercept + slope * special.logit(imagenet) + rng.normal(0, noise, n))
    return imagenet, shifted


def _reference_polyfit_line(x, y, transform: str):
    forward = special.logit if transform == "logit" else special.ndtri
    return np.polyfit(forward(x), forward(y), 1)  # (slope, intercept)


@pytest.mark.parametrize("transform", ["logit", "probit"])
def test_fit_line_matches_numpy_polyfit_on_transformed_axes(transform, rng):
    x, y = _population(rng)
    fit = fit_line(x, y, transform=transform)
    slope, intercept = _reference_polyfit_line(x, y, transform)
    assert fit.slope == pytest.approx(slope, rel=1e-10)
    assert fit.intercept == pytest.approx(intercept, rel=1e-10, abs=1e-12)
    assert fit.n == len(x)


def test_fit_line_matches_scipy_linregress_and_recovers_the_generating_line(rng):
    x, y = _population(rng, n=5000, noise=0.05)
    reference = stats.linregress(special.logit(x), special.logit(y))
    fit = fit_line(x, y)
    assert (fit.slope, fit.intercept) == pytest.approx((reference.slope, reference.intercept), rel=1e-9)
    assert fit.slope == pytest.approx(1.3, abs=0.02) and fit.intercept == pytest.approx(-0.9, abs=0.03)


def test_prediction_is_the_line_in_accuracy_units():
    fit = fit_line(np.array([0.5, 0.6, 0.7, 0.8]), special.expit(0.5 + 2 * special.logit([0.5, 0.6, 0.7, 0.8])))
    assert fit.slope == pytest.approx(2) and fit.intercept == pytest.approx(0.5)
    assert float(fit.predict(0.75)) == pytest.approx(special.expit(0.5 + 2 * np.log(3)))


def test_a_point_exactly_on_the_line_has_zero_effective_robustness(rng):
    x, y = _population(rng)
    fit = fit_line(x, y)
    on_line = float(fit.predict(0.8))
    er = effective_robustness(0.8, on_line, n_imagenet=50_000, n_shifted=10_000, population_imagenet=x,
                              population_shifted=y, n_resamples=400)
    assert er.value == pytest.approx(0, abs=1e-12)
    assert er.predicted == pytest.approx(on_line)
    assert er.ci_low < 0 < er.ci_high
    above = effective_robustness(0.8, on_line + 0.1, n_imagenet=50_000, n_shifted=10_000, population_imagenet=x,
                                 population_shifted=y, n_resamples=400)
    assert above.value == pytest.approx(0.1) and above.ci_low > 0.05


def test_interval_widens_with_fewer_images_and_a_noisier_population(rng):
    x, y = _population(rng)
    base = dict(population_imagenet=x, population_shifted=y, n_resamples=600)
    many = effective_robustness(0.8, 0.6, n_imagenet=50_000, n_shifted=10_000, **base)
    few = effective_robustness(0.8, 0.6, n_imagenet=500, n_shifted=200, **base)
    assert few.ci_high - few.ci_low > 2 * (many.ci_high - many.ci_low)
    # with 10^6 images per set the interval is the line's own: the band of the prediction, mirrored
    line_only = effective_robustness(0.8, 0.6, n_imagenet=10**9, n_shifted=10**9, **base)
    assert line_only.ci_high - line_only.ci_low == pytest.approx(line_only.predicted_high - line_only.predicted_low,
                                                                 rel=0.05)


def test_line_band_matches_a_plain_loop_of_refits(rng):
    x, y = _population(rng, n=120)
    band = line_band(x, y, [0.6, 0.8], n_resamples=300, seed=3)
    slopes, intercepts = bootstrap_lines(x, y, n_resamples=300, seed=3)
    # reference: refit each resample with numpy.polyfit, through the same resampled rows
    generator = np.random.default_rng(3)
    index = generator.integers(0, len(x), size=(300, len(x)))
    reference = np.array([_reference_polyfit_line(x[rows], y[rows], "logit") for rows in index])
    assert slopes == pytest.approx(reference[:, 0], rel=1e-8)
    assert intercepts == pytest.approx(reference[:, 1], rel=1e-8, abs=1e-10)
    predictions = special.expit(reference[:, 1][:, None] + reference[:, 0][:, None] * special.logit([0.6, 0.8]))
    assert band["low"].to_numpy() == pytest.approx(np.percentile(predictions, 2.5, axis=0))
    assert band["high"].to_numpy() == pytest.approx(np.percentile(predictions, 97.5, axis=0))
    assert (band["low"] < band["predicted"]).all() and (band["predicted"] < band["high"]).all()


def test_replicates_share_the_line_so_a_paired_difference_cancels_it():
    slopes, intercepts = np.array([1.0, 1.5, 0.5]), np.array([0.0, -0.2, 0.3])
    a = effective_robustness_replicates(np.full(3, 0.7), np.full(3, 0.6), slopes, intercepts)
    b = effective_robustness_replicates(np.full(3, 0.7), np.full(3, 0.5), slopes, intercepts)
    assert a - b == pytest.approx(np.full(3, 0.1))
    with pytest.raises(ValueError, match="one entry per replicate"):
        effective_robustness_replicates(np.ones(2), np.ones(3), slopes, intercepts)


def test_bad_input_says_what_to_fix():
    with pytest.raises(ValueError, match="fractions in \\[0, 1\\].*divide percentages by 100"):
        fit_line(np.array([55.0, 60.0, 70.0]), np.array([40.0, 45.0, 50.0]))
    with pytest.raises(ValueError, match="at least 3 population models"):
        fit_line(np.array([0.5, 0.6]), np.array([0.4, 0.5]))
    with pytest.raises(ValueError, match="'logit' or 'probit'"):
        fit_line(np.array([0.5, 0.6, 0.7]), np.array([0.4, 0.5, 0.6]), transform="log")
    with pytest.raises(ValueError, match="`n_shifted` >= 1"):
        effective_robustness(0.5, 0.4, n_imagenet=10, n_shifted=0, population_imagenet=[0.5, 0.6, 0.7],
                             population_shifted=[0.4, 0.5, 0.6])


def test_accuracies_of_zero_and_one_are_clipped_not_infinite():
    z = transform_accuracy(np.array([0.0, 1.0]))
    assert z == pytest.approx([special.logit(EPS), special.logit(1 - EPS)])
    fit = fit_line(np.array([0.0, 0.5, 0.9]), np.array([0.0, 0.4, 0.8]))
    assert np.isfinite([fit.slope, fit.intercept]).all()
