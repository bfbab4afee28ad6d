"""Linear probes on frozen features (the paper's transferability protocol, Sec. 3.5)."""

from __future__ import annotations

import numpy as np

__all__ = ["linear_probe", "DEFAULT_CS"]

DEFAULT_CS = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)


def linear_probe(train_x, train_y, val_x, val_y, test_x, test_y, *, cs=DEFAULT_CS, seed: int = 0) -> dict:
    """Multinomial logistic regression (scikit-learn) on standardised features.

    The inverse regularisation strength C is the one with the best accuracy on the validation
    split; the probe is then refitted on train + validation and scored once on test.

    Returns a dict with C, val_accuracy (per C), test_accuracy, and `test_correct` (0/1 per test image).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train_x, val_x, test_x = (np.asarray(x, dtype=np.float64) for x in (train_x, val_x, test_x))
    train_y, val_y, test_y = (np.asarray(y) for y in (train_y, val_y, test_y))
    if len(np.unique(train_y)) < 2:
        raise ValueError("Expected at least 2 classes in the training split.")
    if len(val_y) == 0 or len(test_y) == 0:
        raise ValueError("Expected non-empty validation and test splits.")

    def probe(c):
        return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000, random_state=seed))

    scores = {}
    for c in cs:
        scores[c] = float((probe(c).fit(train_x, train_y).predict(val_x) == val_y).mean())
    best = max(cs, key=lambda c: (scores[c], -c))  # ties: the stronger regularisation
    final = probe(best).fit(np.concatenate([train_x, val_x]), np.concatenate([train_y, val_y]))
    correct = final.predict(test_x) == test_y
    return {"C": best, "val_accuracy": scores, "test_accuracy": float(correct.mean()), "test_correct": correct}
