"""Analyses over stored per-image results: tidy tables for the pages, built from core.metrics."""

from __future__ import annotations

import numpy as np

__all__ = ["shape_bias_table", "shape_bias_class_table", "accuracy_with_interval"]


def shape_bias_table(decisions, *, n_resamples: int = 1000, seed: int = 0):
    """One row per decision maker: shape bias with a 95% bootstrap interval, fractions and n.

    `decisions` has columns maker, image_id, shape, texture, decision16 (one row per decision).
    """
    import pandas as pd

    from core.metrics import bootstrap_interval, shape_bias

    rows = []
    for maker, group in decisions.groupby("maker", sort=False):
        shape, texture, decision = (group[c].to_numpy(dtype=object) for c in ("shape", "texture", "decision16"))
        result = shape_bias(shape, texture, decision)

        def statistic(index, shape=shape, texture=texture, decision=decision):
            return shape_bias(shape[index], texture[index], decision[index])["shape_bias"]

        low, high = bootstrap_interval(statistic, len(shape), n_resamples=n_resamples, seed=seed)
        rows.append({"maker": maker, **result, "ci_low": low, "ci_high": high, "decisions": len(shape)})
    return pd.DataFrame(rows)


def shape_bias_class_table(decisions):
    """Per decision maker and shape class: shape bias (model-vs-human's per-class plot)."""
    import pandas as pd

    from core.metrics import shape_bias_per_class

    frames = []
    for maker, group in decisions.groupby("maker", sort=False):
        table = shape_bias_per_class(group["shape"], group["texture"], group["decision16"])
        table.insert(0, "maker", maker)
        frames.append(table)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def accuracy_with_interval(correct, *, n_resamples: int = 1000, seed: int = 0) -> dict[str, float]:
    """Mean of a 0/1 array with its 95% bootstrap interval."""
    from core.metrics import bootstrap_interval

    correct = np.asarray(correct, dtype=np.float64)
    low, high = bootstrap_interval(lambda index: correct[index].mean(), len(correct), n_resamples=n_resamples,
                                   seed=seed)
    return {"accuracy": float(correct.mean()), "ci_low": low, "ci_high": high, "n": int(len(correct))}
