"""Bootstrap confidence intervals (Efron & Tibshirani, 1993, percentile method)."""

from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["bootstrap_interval", "intervals_overlap"]


def bootstrap_interval(statistic: Callable[[np.ndarray], float], n_items: int, *, n_resamples: int = 1000,
                       level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile interval of `statistic(indices)` over resamples of the item indices, with replacement.

    `statistic` receives an index array and computes the metric on those items, so any metric
    (accuracy, ECE, shape bias) bootstraps the same way.
    """
    if n_items < 1:
        raise ValueError(f"Expected at least one item, got {n_items}.")
    if not 0 < level < 1:
        raise ValueError(f"Expected 0 < level < 1, got {level}.")
    rng = np.random.default_rng(seed)
    values = np.array([statistic(rng.integers(0, n_items, n_items)) for _ in range(n_resamples)], dtype=np.float64)
    values = values[~np.isnan(values)]
    tail = (1 - level) / 2 * 100
    return float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))


def intervals_overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Whether two intervals overlap: a difference inside them is not distinguishable at that level."""
    return a[0] <= b[1] and b[0] <= a[1]
