"""ImageNet-ReaL paired with ImageNet val: one resample of the val images serves both accuracies
(core.metrics.effective_robustness.paired_relabelled_accuracy)."""

from __future__ import annotations

import numpy as np
import pytest

from core.metrics.effective_robustness import (bootstrap_lines, effective_robustness_replicates,
                                               paired_relabelled_accuracy)
from core.metrics.paired import stratified_accuracy


def _images(rng, n=20_000, agree=0.97, unlabelled=0.06):
    """One model's val outcomes, ReaL outcomes that agree with them on `agree` of the images, and no ReaL label on
    `unlabelled` of them; as cells (each image its own cell)."""
    val = (rng.random(n) < 0.82).astype(float)
    real = np.where(rng.random(n) < agree, val, 1 - val)
    real[rng.random(n) < unlabelled] = np.nan
    return val[:, None], real[:, None], np.ones(n, dtype=np.int64)


def test_points_are_the_plain_accuracies(rng):
    val, real, sizes = _images(rng)
    points, reps, real_points, real_reps = paired_relabelled_accuracy(val, real, sizes, n_resamples=200, seed=1)
    assert points[0] == pytest.approx(val.mean())
    assert real_points[0] == pytest.approx(np.nanmean(real))
    assert reps.shape == real_reps.shape == (1, 200)
    assert abs(reps.mean() - points[0]) < 0.002 and abs(real_reps.mean() - real_points[0]) < 0.002
    # by hand for one replicate: the same image weights, the ReaL ratio over the labelled images drawn
    from core.metrics.paired import resample_weights

    weights = resample_weights(sizes, n_resamples=200, seed=1)
    labelled = ~np.isnan(real[:, 0])
    assert real_reps[0, 7] == pytest.approx(weights[7, labelled] @ real[labelled, 0] / weights[7, labelled].sum())
    assert reps[0, 7] == pytest.approx(weights[7] @ val[:, 0] / sizes.sum())


def test_reals_interval_is_narrower_than_with_independent_resamples_where_val_and_real_agree(rng):
    val, real, sizes = _images(rng)
    x = np.linspace(0.6, 0.9, 300)
    y = 1 / (1 + np.exp(-(0.45 + 0.95 * np.log(x / (1 - x)) + rng.normal(0, 0.05, 300))))
    R = 1000
    slopes, intercepts = bootstrap_lines(x, y, n_resamples=R, seed=0)
    _, val_reps, _, real_reps = paired_relabelled_accuracy(val, real, sizes, n_resamples=R, seed=5)
    paired = effective_robustness_replicates(val_reps[0], real_reps[0], slopes, intercepts)
    # independent: each set resamples its own images (the earlier scheme)
    labelled = ~np.isnan(real[:, 0])
    _, alone_val = stratified_accuracy(val, sizes, n_resamples=R, seed=11)
    _, alone_real = stratified_accuracy(real[labelled], sizes[labelled], n_resamples=R, seed=12)
    independent = effective_robustness_replicates(alone_val[0], alone_real[0], slopes, intercepts)
    width = lambda reps: np.subtract(*np.percentile(reps, [97.5, 2.5]))  # noqa: E731
    assert width(paired) < 0.75 * width(independent)
    assert np.median(paired) == pytest.approx(np.median(independent), abs=0.003)  # same centre, tighter


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="one \\(cells, models\\) shape"):
        paired_relabelled_accuracy(np.ones((3, 1)), np.ones((2, 1)), np.ones(3, dtype=int))
    with pytest.raises(ValueError, match="some cells with new labels"):
        paired_relabelled_accuracy(np.ones((3, 1)), np.full((3, 1), np.nan), np.ones(3, dtype=int))
