"""Calibration: does confidence match accuracy? Pure functions on numpy arrays."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

__all__ = ["DERIVED_COLUMNS", "derived_columns", "derived_row", "ece_interval", "ece_bootstrap_interval", "expected_calibration_error", "maximum_calibration_error", "reliability_bins", "brier_score",
           "negative_log_likelihood", "fit_temperature", "TemperatureFit", "TEMPERATURE_BOUNDS", "softmax"]


def _check(confidence: np.ndarray, correct: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    if not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"Expected `n_bins` to be an integer >= 1, got {n_bins!r}.")
    if confidence.shape != correct.shape or confidence.ndim != 1:
        raise ValueError(f"Expected `confidence` and `correct` of the same 1-d shape, got {confidence.shape} and "
                         f"{correct.shape}.")
    if confidence.size == 0:
        raise ValueError("Expected at least one prediction, got none.")
    if np.any((confidence < 0) | (confidence > 1)) or np.any(np.isnan(confidence)):
        raise ValueError(f"Expected `confidence` in [0, 1], got values in [{confidence.min()}, {confidence.max()}]; "
                         "pass probabilities, not logits.")
    return confidence, correct


def _bin_ids(confidence: np.ndarray, n_bins: int) -> np.ndarray:
    # bin k holds (k/n, (k+1)/n]; 0 goes to the first bin, 1.0 to the last
    inner_edges = np.linspace(0.0, 1.0, n_bins + 1)[1:-1]
    return np.searchsorted(inner_edges, confidence, side="left")


def reliability_bins(confidence: np.ndarray, correct: np.ndarray, *, n_bins: int = 15):
    """Per equal-width bin: count, mean confidence and accuracy (NaN for empty bins).

    Returns a pandas DataFrame with columns `bin`, `lower`, `upper`, `count`, `confidence`, `accuracy`.
    """
    import pandas as pd

    confidence, correct = _check(confidence, correct, n_bins)
    ids = _bin_ids(confidence, n_bins)
    count = np.bincount(ids, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(ids, weights=confidence, minlength=n_bins) / count
        accuracy = np.bincount(ids, weights=correct, minlength=n_bins) / count
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return pd.DataFrame({"bin": np.arange(n_bins), "lower": edges[:-1], "upper": edges[1:], "count": count,
                         "confidence": mean_confidence, "accuracy": accuracy})


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, *, n_bins: int = 15) -> float:
    r"""Expected calibration error over equal-width confidence bins.

    ECE = \sum_b |B_b| / N \cdot |acc(B_b) - conf(B_b)|  (Guo et al., ICML 2017, Sec. 2,
    https://arxiv.org/abs/1706.04599). `confidence` is each prediction's top-label probability,
    `correct` whether that prediction was right. Bin k holds (k/n, (k+1)/n], the rule of the paper's
    code and of imagenet-x, so a confidence of exactly 1.0 is in the last bin (torchmetrics gives
    1.0 a bin of its own). Empty bins contribute nothing.

    >>> round(expected_calibration_error(np.array([.9, .6]), np.array([True, False]), n_bins=2), 6)
    0.25
    """
    table = reliability_bins(confidence, correct, n_bins=n_bins)
    filled = table[table["count"] > 0]
    weights = filled["count"] / filled["count"].sum()
    return float((weights * (filled["accuracy"] - filled["confidence"]).abs()).sum())


def ece_interval(confidence: np.ndarray, correct: np.ndarray, counts: np.ndarray, *, n_bins: int = 15,
                 level: float = 0.95, chunk: int = 64) -> tuple[float, float]:
    """Percentile bootstrap interval of `expected_calibration_error` from resample `counts`.

    `counts` is `bootstrap_counts(n, ...)`: row r says how often each image is in resample r. A
    resample's ECE is sum_b |sum_{i in b} w_i (correct_i - confidence_i)| / N with w the resample's
    counts: one matrix product, so the interval is the one `bootstrap_interval` gives with the same
    seed, at a fraction of the cost. Pass float64 counts to skip the conversion (the app caches them).
    """
    from core.metrics.bootstrap import percentile_interval

    confidence, correct = _check(confidence, correct, n_bins)
    if counts.ndim != 2 or counts.shape[1] != len(confidence):
        raise ValueError(f"Expected `counts` of shape (resamples, {len(confidence)}), got {counts.shape}.")
    # column b holds (correct - confidence) of the images in bin b: counts @ design = per-bin sums per resample
    design = np.zeros((len(confidence), n_bins))
    design[np.arange(len(confidence)), _bin_ids(confidence, n_bins)] = correct - confidence
    values = []
    for start in range(0, len(counts), chunk):
        block = counts[start:start + chunk]
        block = block if block.dtype == np.float64 else block.astype(np.float64)
        values.append(np.abs(block @ design).sum(axis=1) / len(confidence))  # each resample draws n images
    return percentile_interval(np.concatenate(values), level=level)


def maximum_calibration_error(confidence: np.ndarray, correct: np.ndarray, *, n_bins: int = 15) -> float:
    """The largest |accuracy − confidence| over non-empty bins (Naeini et al., AAAI 2015)."""
    table = reliability_bins(confidence, correct, n_bins=n_bins)
    filled = table[table["count"] > 0]
    return float((filled["accuracy"] - filled["confidence"]).abs().max())


def softmax(logits: np.ndarray, *, temperature: float = 1.0) -> np.ndarray:
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    scaled -= scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=1, keepdims=True)


def _check_probabilities(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels)
    if probs.ndim != 2 or labels.shape != (probs.shape[0],):
        raise ValueError(f"Expected `probs` (n, classes) and `labels` (n,), got {probs.shape} and {labels.shape}.")
    sums = probs.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=1e-3):
        raise ValueError(f"Expected `probs` rows to sum to 1, got sums in [{sums.min():.3g}, {sums.max():.3g}]; "
                         "apply softmax to logits first.")
    return probs, labels


def brier_score(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean over images of sum_k (p_k - 1[k = y])^2 (Brier, 1950): 0 is perfect, 2 the worst."""
    probs, labels = _check_probabilities(probs, labels)
    onehot = np.zeros_like(probs)
    onehot[np.arange(len(labels)), labels] = 1.0
    return float(((probs - onehot) ** 2).sum(axis=1).mean())


def negative_log_likelihood(logits: np.ndarray, labels: np.ndarray, *, temperature: float = 1.0) -> float:
    """Mean −log softmax(logits / T)[y], computed stably with log-sum-exp."""
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    labels = np.asarray(labels)
    top = scaled.max(axis=1, keepdims=True)
    log_normaliser = top[:, 0] + np.log(np.exp(scaled - top).sum(axis=1))
    return float((log_normaliser - scaled[np.arange(len(labels)), labels]).mean())


@dataclass(frozen=True)
class TemperatureFit:
    """Temperature scaling (Guo et al., ICML 2017, Sec. 4.2) fitted on one half, tested on the other.

    `test_columns` holds the held-out half's per-image columns under the fitted temperature (the names
    of `DERIVED_COLUMNS`, in `test_indices` order), so a caller can keep them and never refit.
    """

    temperature: float
    seed: int
    fit_indices: np.ndarray
    test_indices: np.ndarray
    ece_before: float
    ece_after: float
    nll_before: float
    nll_after: float
    test_columns: dict = field(default_factory=dict, repr=False, compare=False)
    iterations: int = 0


TEMPERATURE_BOUNDS = (0.05, 20.0)
"""The fitted temperature stays in [0.05, 20] (the bounds of the scipy search this fit replaced)."""


def _scored_labels(labels: np.ndarray, n_classes: int, class_subset) -> tuple[np.ndarray | None, np.ndarray]:
    """(scored class indices or None, each label's column among the scored classes, -1 if unknown or outside)."""
    labels = np.asarray(labels).astype(np.int64)
    if class_subset:
        subset = np.asarray(class_subset, dtype=np.int64)
        position = np.full(n_classes, -1, dtype=np.int64)
        position[subset] = np.arange(len(subset))
        inside = (labels >= 0) & (labels < n_classes)
        return subset, np.where(inside, position[np.where(inside, labels, 0)], -1)
    return None, np.where(labels < n_classes, labels, -1)


def _nll_sums(logits: np.ndarray, labels: np.ndarray, rows: np.ndarray, beta: float, subset: np.ndarray | None,
              chunk: int) -> tuple[float, float, float]:
    r"""Sums over `rows` (labelled ones only) of NLL_i(β) = logsumexp(β z_i) − β z_iy and its first two
    derivatives in β: E_p[z] − z_y and Var_p[z] (p = softmax(β z)). Each chunk in float32, sums in float64."""
    value = gradient = curvature = 0.0
    for start in range(0, len(rows), chunk):
        index = rows[start:start + chunk]
        y = labels[index]
        index, y = index[y >= 0], y[y >= 0]
        if not len(index):
            continue
        z = np.asarray(logits[index], dtype=np.float32)  # fancy indexing: a copy of this chunk only
        if subset is not None:
            z = z[:, subset]
        if not np.isfinite(z).all():
            bad = index[~np.isfinite(z).all(axis=1)][:5]
            raise ValueError(f"Expected finite logits, got inf or NaN in rows {list(bad)} (at most five shown).")
        p = z * np.float32(beta)
        top = p.max(axis=1)
        p -= top[:, None]
        np.exp(p, out=p)
        total = p.sum(axis=1)
        p /= total[:, None]
        z_y = z[np.arange(len(y)), y].astype(np.float64)
        mean_z = np.einsum("ij,ij->i", p, z)
        value += float((top + np.log(total.astype(np.float64)) - beta * z_y).sum())
        gradient += float((mean_z - z_y).sum())
        z -= mean_z[:, None]
        np.square(z, out=z)
        curvature += float(np.einsum("ij,ij->i", p, z).sum(dtype=np.float64))
        del z, p  # before the next chunk is read, not after
    return value, gradient, curvature


def _minimise_nll(sums: Callable[[float], tuple[float, float, float]], *, tolerance: float = 1e-6,
                  max_steps: int = 60) -> tuple[float, int]:
    """(β minimising the convex NLL(β), evaluations used): Newton steps from β = 1 inside a bracket that
    each evaluation narrows by the gradient's sign. A step that leaves the bracket (or a flat curvature)
    is replaced by the search bound on that side, tried once, then by bisection; β = 1/T stays within
    `TEMPERATURE_BOUNDS`. Stops when a step moves β by at most `tolerance` · β (Newton's error is then
    of order tolerance², below the float32 noise of the sums)."""
    lower, upper = 1.0 / TEMPERATURE_BOUNDS[1], 1.0 / TEMPERATURE_BOUNDS[0]
    low, high, beta = lower, upper, 1.0
    tried = set()
    for step in range(1, max_steps + 1):
        _, gradient, curvature = sums(beta)
        if gradient == 0.0:
            return beta, step
        if gradient > 0:
            high = beta
        else:
            low = beta
        if (beta == upper and gradient < 0) or (beta == lower and gradient > 0):
            return beta, step  # the minimum lies at the bound (or beyond it)
        candidate = beta - gradient / curvature if curvature > 0 else float("nan")
        if not low < candidate < high:
            bound = upper if gradient < 0 else lower
            if bound in (low, high) and bound not in tried:
                candidate = bound
                tried.add(bound)
            else:
                candidate = 0.5 * (low + high)
        if abs(candidate - beta) <= tolerance * beta or high - low <= tolerance * beta:
            return candidate, step
        beta = candidate
    return beta, max_steps


def fit_temperature(logits: np.ndarray, labels: np.ndarray, *, seed: int = 0, n_bins: int = 15, class_subset=None,
                    chunk: int = 4096) -> TemperatureFit:
    r"""Temperature scaling (Guo et al., ICML 2017, Sec. 4.2, https://arxiv.org/abs/1706.04599): the T
    minimising the mean NLL of softmax(z / T) on a seeded random half, reported on the other half.

    The split: `np.random.default_rng(seed).permutation(n)`, its first n // 2 positions fit, the rest
    test (both sorted). With β = 1/T, NLL(β) = mean_i [logsumexp(β z_i) − β z_iy] is convex, with
    NLL'(β) = mean_i (E_p[z_i] − z_iy) and NLL''(β) = mean_i Var_p[z_i] ≥ 0 (p = softmax(β z_i)), so a
    few safeguarded Newton steps from T = 1 find it (one pass over the fit half each, in float32 chunks
    of `chunk` rows with float64 sums; no copy of the whole matrix). T stays in `TEMPERATURE_BOUNDS`.
    Images whose label is unknown (-1) or outside `class_subset` do not enter the NLL; in ECE they
    count as wrong (as in `derived_columns`).

    Args:
        logits: (n, classes) array, any float dtype (float16 as stored, float32 as `ResultsStore.logits`).
        labels: (n,) class indices (ImageNet indices when `class_subset` is given), -1 for unlabelled.
        seed: seed of the split.
        n_bins: bins of the reported ECE before/after.
        class_subset: ImageNet indices of the scored classes (ImageNet-A/R: softmax over 200), or None.
    Returns:
        `TemperatureFit`, with the held-out half's per-image columns under T in `test_columns`.
    Raises:
        ValueError: fewer than 4 images, no labelled image in the fit half, or non-finite logits.

    >>> z = np.array([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [0.0, 2.0]])
    >>> fit = fit_temperature(z, np.array([0, 1, 0, 1, 0, 0]))  # fit half: rows 2, 3, 5
    >>> round(fit.temperature, 4)  # 2 of 3 right: sigmoid(2 / T) = 2/3, T = 2 / log 2
    2.8854
    """
    logits = np.asarray(logits)
    labels = np.asarray(labels)
    if logits.ndim != 2 or labels.shape != (logits.shape[0],):
        raise ValueError(f"Expected `logits` (n, classes) and `labels` (n,), got {logits.shape} and {labels.shape}.")
    if len(labels) < 4:
        raise ValueError(f"Expected at least 4 predictions to fit a temperature, got {len(labels)}.")
    order = np.random.default_rng(seed).permutation(len(labels))
    fit, test = np.sort(order[: len(order) // 2]), np.sort(order[len(order) // 2:])
    subset, scored = _scored_labels(labels, logits.shape[1], class_subset)
    if not (scored[fit] >= 0).any():
        raise ValueError("Expected labelled images in the fit half, got none; a temperature needs true classes.")
    beta, steps = _minimise_nll(lambda b: _nll_sums(logits, scored, fit, b, subset, chunk))
    temperature = float(1.0 / beta)
    held = min(chunk, 1024)  # float64 there: a smaller chunk stays in cache (and in memory)
    before = derived_columns(logits, labels, class_subset, rows=test, chunk=held)
    after = derived_columns(logits, labels, class_subset, rows=test, temperature=temperature, chunk=held)

    def ece(columns: dict) -> float:
        return expected_calibration_error(columns["cal_conf"], columns["cal_correct"], n_bins=n_bins)

    def nll(columns: dict) -> float:
        known = ~np.isnan(columns["log_prob_true"])
        return float(-columns["log_prob_true"][known].mean()) if known.any() else float("nan")

    return TemperatureFit(temperature, seed, fit, test, ece(before), ece(after), nll(before), nll(after),
                          test_columns=after, iterations=steps)


DERIVED_COLUMNS = ("cal_conf", "cal_correct", "log_prob_true", "brier")
"""Per-image calibration quantities kept in the store beside the logits they come from (schema 2)."""


def derived_columns(logits: np.ndarray, labels: np.ndarray, class_subset=None, *, rows: np.ndarray | None = None,
                    temperature: float = 1.0, chunk: int = 4096) -> dict[str, np.ndarray]:
    r"""Per-image calibration quantities from logits, computed once when rows are written.

    With p = softmax(z / T) over the scored classes (all classes, or `class_subset` for ImageNet-A/R as
    the paper did) and y the true class:
    - `cal_conf` = max_k p_k, `cal_correct` = (argmax_k p_k == y): ECE and reliability bins;
    - `log_prob_true` = log p_y (log-sum-exp, so no underflow): mean of its negative is the NLL;
    - `brier` = \sum_k (p_k - 1[k = y])^2 = \sum_k p_k^2 - 2 p_y + 1 (Brier, 1950): its mean is the Brier score.
    `log_prob_true` and `brier` are NaN where y is unknown (-1) or outside `class_subset`; such an
    image still counts as wrong in `cal_correct`, as on the Calibration page before schema 2.
    Pass the logits as stored (float16 in the store): the page's numbers are then exactly those
    recomputed from stored logits, and a migrated store equals a freshly written one.

    Args:
        logits: (n, classes) array, any float dtype (computed in float64, in chunks of `chunk` rows).
        labels: (n,) int ImageNet class indices, -1 for unlabelled.
        class_subset: ImageNet indices of the scored classes, or None for all.
        rows: only these rows (e.g. a held-out half), in this order; None for all.
        temperature: T of temperature scaling (1: the model's own probabilities, as stored).
    Returns:
        {name: (len(rows),) array} for every name in `DERIVED_COLUMNS`.

    >>> out = derived_columns(np.log(np.array([[0.5, 0.3, 0.2]])), np.array([1]))
    >>> [round(float(out[k][0]), 6) for k in ("cal_conf", "log_prob_true", "brier")], bool(out["cal_correct"][0])
    ([0.5, -1.203973, 0.78], False)
    """
    logits = np.asarray(logits)
    labels = np.asarray(labels).astype(np.int64)
    if logits.ndim != 2 or labels.shape != (logits.shape[0],):
        raise ValueError(f"Expected `logits` (n, classes) and `labels` (n,), got {logits.shape} and {labels.shape}.")
    if not temperature > 0:
        raise ValueError(f"Expected `temperature` > 0, got {temperature!r}.")
    subset, labels = _scored_labels(labels, logits.shape[1], class_subset)
    if rows is not None:
        rows = np.asarray(rows, dtype=np.int64)
        labels = labels[rows]
    n = len(labels)
    out = {"cal_conf": np.empty(n), "cal_correct": np.empty(n, dtype=bool), "log_prob_true": np.full(n, np.nan),
           "brier": np.full(n, np.nan)}
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        block = logits[start:stop] if rows is None else logits[rows[start:stop]]
        scores = np.array(block[:, subset] if subset is not None else block, dtype=np.float64)  # own copy
        del block
        if temperature != 1.0:
            scores /= temperature
        scores -= scores.max(axis=1, keepdims=True)  # in place: two chunk-sized float64 arrays at a time
        probs = np.exp(scores)
        total = probs.sum(axis=1)
        probs /= total[:, None]
        y = labels[start:stop]
        known = y >= 0
        index = np.arange(stop - start)[known]
        out["cal_conf"][start:stop] = probs.max(axis=1)
        out["cal_correct"][start:stop] = probs.argmax(axis=1) == y
        out["log_prob_true"][start:stop][known] = scores[index, y[known]] - np.log(total[known])
        prob_true = probs[index, y[known]]
        out["brier"][start:stop][known] = np.square(probs, out=probs).sum(axis=1)[known] - 2 * prob_true + 1
        del scores, probs  # before the next chunk is read, not after
    return out


def derived_row(values: dict[str, np.ndarray], position: int) -> dict:
    """Row `position` of `derived_columns` output as store values (NaN → None, numpy → Python)."""
    row = {}
    for name in DERIVED_COLUMNS:
        value = values[name][position]
        row[name] = bool(value) if name == "cal_correct" else (None if np.isnan(value) else float(value))
    return row


def ece_bootstrap_interval(confidence, correct, *, n_bins: int = 15, n_resamples: int = 300, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float]:
    """95% bootstrap interval of `expected_calibration_error` over resampled image indices, equal to
    `bootstrap_interval(lambda i: expected_calibration_error(confidence[i], correct[i]), …)` with the same
    seed (the same resamples), computed from per-bin sums: ECE = sum_b |sum correct − sum confidence| / N.
    """
    confidence, correct = _check(confidence, correct, n_bins)
    ids = _bin_ids(confidence, n_bins)
    n = len(confidence)
    rng = np.random.default_rng(seed)
    values = np.empty(n_resamples)
    for i in range(n_resamples):
        index = rng.integers(0, n, n)
        picked = ids[index]
        gap = (np.bincount(picked, weights=correct[index], minlength=n_bins)
               - np.bincount(picked, weights=confidence[index], minlength=n_bins))
        values[i] = np.abs(gap).sum() / n
    tail = (1 - level) / 2 * 100
    return float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))
