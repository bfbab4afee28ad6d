"""The task's probes against scikit-learn's own pipeline (StandardScaler → LogisticRegression), the reference."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from core.task.probes import _Probe, choose_c, fit_probe, kshot_indices


def _features(n_dims: int):
    """Digits (8×8) lifted to `n_dims` features by a fixed random projection and a ReLU, like a network's
    pre-logits: the classes stay separable, the features are correlated and some are often zero."""
    digits = load_digits()
    lift = np.random.default_rng(1).normal(size=(64, n_dims))
    return np.maximum(digits.data @ lift / 8.0, 0.0), digits.target


def _reference(train_x, train_y, c, seed=0):
    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000, tol=1e-8, random_state=seed)).fit(
        train_x, train_y)


@pytest.mark.parametrize("k, c", [(1, 1.0), (4, 0.1), (16, 10.0)])
def test_kshot_probe_in_the_span_of_its_images_is_the_full_dimensional_optimum(k, c):
    x, y = _features(400)  # fewer training images (k × 10) than dimensions: the span basis is used
    chosen = kshot_indices(y[:1000], k, seed=k)
    test = np.arange(1000, len(y))
    reference = _reference(x[chosen], y[chosen], c).predict_proba(x[test])
    exact = _Probe(c, 0, tol=1e-8).fit(x[chosen], y[chosen])
    assert exact.basis is not None and exact.basis.shape[1] <= len(chosen)
    assert np.abs(exact.predict_proba(x[test]) - reference).max() < 2e-3
    ours = fit_probe(x[chosen], y[chosen], c, n_classes=10)(x[test])  # the product's tolerance
    assert np.abs(ours - reference).max() < 2e-2
    assert (ours.argmax(1) == reference.argmax(1)).mean() > 0.99


def test_probe_with_more_images_than_dimensions_is_the_plain_pipeline():
    x, y = _features(48)
    ours = fit_probe(x[:1000], y[:1000], 1.0, n_classes=10)(x[1000:])
    plain = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000, random_state=0))
    assert np.allclose(ours, plain.fit(x[:1000], y[:1000]).predict_proba(x[1000:]), atol=1e-12)


def test_an_absent_class_gets_probability_zero_and_choose_c_prefers_the_stronger_penalty_on_ties():
    x, y = _features(200)
    keep = np.flatnonzero(y[:600] != 3)[:150]
    probs = fit_probe(x[keep], y[keep], 1.0, n_classes=10)(x[1000:1010])
    assert np.all(probs[:, 3] == 0) and np.allclose(probs.sum(1), 1)
    same = choose_c(x[:5], y[:5], x[5:6], np.array([99]), cs=(0.1, 1.0, 10.0))  # every C scores 0
    assert same == 0.1
