"""Classifiers on stored features: the CLIP zero-shot head, the full linear probe and the k-shot probes.

Every method ends in a probability matrix over the task's classes, turned into the per-image columns the
store keeps (`prediction_columns`). The full probe chooses its inverse regularisation C on the validation
split (`core.metrics.transfer.DEFAULT_CS`, ties to the stronger regularisation) and is refitted on train +
validation; a k-shot probe draws k training images per class (`kshot_indices`) and uses the C the full probe
chose (a 1-shot draw has no images left to choose C on).
"""

from __future__ import annotations

import numpy as np

__all__ = ["kshot_indices", "fit_probe", "choose_c", "zero_shot_probs", "prediction_columns", "KSHOT_DRAWS",
           "SPAN_TOL", "SOLVER"]

KSHOT_DRAWS = 5
"""Seeded draws per shot count."""
SPAN_TOL = 1e-6
"""lbfgs tolerance of a probe solved in the span of its training images (fewer images than dimensions)."""
SOLVER = "lbfgs-span-1e-6"
"""Names the solver in every fit key: a change of solver refits stored tasks."""


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


class _Probe:
    """Standardise, then multinomial logistic regression (L2, lbfgs) on the span of the training images.

    With fewer training images n than feature dimensions d (every k-shot probe), the L2-penalised weights
    lie in the span of the standardised training rows (the loss gradient is a combination of them), so the
    problem is solved exactly in that r ≤ n dimensional basis (an SVD), at a fraction of the cost, and the
    weights are the same up to the solver's tolerance (tests check it against scikit-learn's own pipeline).
    The small problem affords a tighter tolerance (`SPAN_TOL`) than scikit-learn's default 1e-4, which stops
    a 16-shot probe at C = 1 up to 0.09 away in probability from the optimum.
    """

    def __init__(self, c: float, seed: int, tol: float | None = None):
        self.c, self.seed, self.tol = c, seed, tol

    def fit(self, x, y):
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        x = np.asarray(x, np.float64)
        self.scaler = StandardScaler().fit(x)
        scaled = self.scaler.transform(x)
        self.basis = None
        if len(scaled) < scaled.shape[1]:
            _, singular, rows = np.linalg.svd(scaled, full_matrices=False)
            keep = singular > singular[0] * max(scaled.shape) * np.finfo(np.float64).eps if singular.size else []
            self.basis = rows[keep].T  # d × r, orthonormal
            scaled = scaled @ self.basis
        tol = self.tol if self.tol is not None else (SPAN_TOL if self.basis is not None else 1e-4)
        self.model = LogisticRegression(C=self.c, max_iter=1000, tol=tol, random_state=self.seed).fit(scaled, y)
        self.classes_ = self.model.classes_
        return self

    def _inputs(self, x):
        scaled = self.scaler.transform(np.asarray(x, np.float64))
        return scaled if self.basis is None else scaled @ self.basis

    def predict(self, x):
        return self.model.predict(self._inputs(x))

    def predict_proba(self, x):
        return self.model.predict_proba(self._inputs(x))


def choose_c(train_x, train_y, val_x, val_y, *, cs, seed: int = 0) -> float:
    """The C of `cs` with the best validation accuracy (ties: the smaller C, the stronger regularisation)."""
    scores = {c: float((_Probe(c, seed).fit(train_x, train_y).predict(val_x) == val_y).mean()) for c in cs}
    return max(cs, key=lambda c: (scores[c], -c))


def fit_probe(train_x, train_y, c: float, *, n_classes: int, seed: int = 0):
    """A fitted probe as a function: features → (n × n_classes) probabilities (a class absent from the training
    labels gets probability 0)."""
    model = _Probe(c, seed).fit(train_x, np.asarray(train_y))
    classes = model.classes_

    def predict(features):
        probs = np.zeros((len(features), n_classes))
        probs[:, classes] = model.predict_proba(features)
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
