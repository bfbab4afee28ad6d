"""Classifiers on stored features: the CLIP zero-shot head, the full linear probe and the k-shot probes.

Every method ends in a probability matrix over the task's classes, turned into the per-image columns the
store keeps (`prediction_columns`). The full probe chooses its inverse regularisation C on the validation
split (`core.metrics.transfer.DEFAULT_CS`, ties to the stronger regularisation) and is refitted on train +
validation; a k-shot probe draws k training images per class (`kshot_indices`) and uses the C the full probe
chose (a 1-shot draw has no images left to choose C on).
"""

from __future__ import annotations

import numpy as np

__all__ = ["kshot_indices", "fit_probe", "choose_c", "zero_shot_probs", "prediction_columns", "KSHOT_DRAWS"]

KSHOT_DRAWS = 5
"""Seeded draws per shot count."""


def kshot_indices(labels: np.ndarray, k: int, *, seed: int) -> np.ndarray:
    """Positions of min(k, n_c) images of every class c, drawn without replacement with `seed`, sorted.

    Stratified (every class gets its k) and deterministic per seed; a class with fewer than k images
    gives all it has (the page lists those classes).

    >>> kshot_indices(np.array([0, 0, 0, 1, 1]), 2, seed=0).size
    4
    """
    labels = np.asarray(labels)
    if k < 1:
        raise ValueError(f"Expected k >= 1, got {k}.")
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        chosen.append(rng.choice(members, size=min(k, len(members)), replace=False))
    return np.sort(np.concatenate(chosen))


def _pipeline(c: float, seed: int):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=1000, random_state=seed))


def choose_c(train_x, train_y, val_x, val_y, *, cs, seed: int = 0) -> float:
    """The C of `cs` with the best validation accuracy (ties: the smaller C, the stronger regularisation)."""
    scores = {c: float((_pipeline(c, seed).fit(train_x, train_y).predict(val_x) == val_y).mean()) for c in cs}
    return max(cs, key=lambda c: (scores[c], -c))


def fit_probe(train_x, train_y, c: float, *, n_classes: int, seed: int = 0):
    """A fitted probe as a function: features → (n × n_classes) probabilities (a class absent from the training
    labels gets probability 0)."""
    train_y = np.asarray(train_y)
    model = _pipeline(c, seed).fit(np.asarray(train_x, np.float64), train_y)
    classes = model.classes_

    def predict(features):
        probs = np.zeros((len(features), n_classes))
        probs[:, classes] = model.predict_proba(np.asarray(features, np.float64))
        return probs

    return predict


def zero_shot_probs(features: np.ndarray, head: np.ndarray) -> np.ndarray:
    """Softmax of 100 × cosine(image embedding, class text embedding), as CLIP classifies."""
    features = np.asarray(features, np.float64)
    features = features / np.linalg.norm(features, axis=1, keepdims=True).clip(1e-12)
    logits = 100.0 * features @ np.asarray(head, np.float64)
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    return probs / probs.sum(axis=1, keepdims=True)


def prediction_columns(probs: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """pred, conf, prob_true, correct and the Brier score (sum over classes of (p − onehot)²) per image."""
    probs, labels = np.asarray(probs, np.float64), np.asarray(labels)
    rows = np.arange(len(labels))
    pred = probs.argmax(axis=1)
    prob_true = probs[rows, labels]
    brier = (probs ** 2).sum(axis=1) - 2 * prob_true + 1
    return {"label": labels.astype(np.int32), "pred": pred.astype(np.int32), "conf": probs[rows, pred],
            "prob_true": prob_true, "correct": pred == labels, "brier": brier}
