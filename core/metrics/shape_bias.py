"""Shape vs texture bias on cue-conflict images (Geirhos et al., ICLR 2019, https://arxiv.org/abs/1811.12231)."""

from __future__ import annotations

import numpy as np

__all__ = ["shape_bias", "shape_bias_per_class"]


def _arrays(shape, texture, decision):
    shape, texture, decision = (np.asarray(x, dtype=object) for x in (shape, texture, decision))
    if not (shape.shape == texture.shape == decision.shape) or shape.ndim != 1:
        raise ValueError(f"Expected three 1-d arrays of equal length, got {shape.shape}, {texture.shape}, "
                         f"{decision.shape}.")
    return shape, texture, decision


def shape_bias(shape, texture, decision) -> dict[str, float]:
    """Fraction of shape decisions among shape-or-texture decisions.

    Images whose shape class equals their texture class carry no conflict: their decisions are not
    counted as hits. shape_fraction and texture_fraction are the shape and texture hits on the
    conflict images divided by *all* decisions (1,280 on the full set), as model-vs-human's
    ShapeBias counts them; shape_bias = shape_fraction / (shape_fraction + texture_fraction), which
    the choice of denominator does not change. `n` is the number of conflict images.

    >>> shape_bias(["cat", "cat", "dog"], ["dog", "cat", "cat"], ["cat", "cat", "bird"])["shape_bias"]
    1.0
    """
    shape, texture, decision = _arrays(shape, texture, decision)
    conflict = shape != texture
    if not conflict.any():
        raise ValueError("Expected at least one cue-conflict image (shape ≠ texture), got none.")
    shape_hits = float(np.sum(decision[conflict] == shape[conflict])) / len(shape)
    texture_hits = float(np.sum(decision[conflict] == texture[conflict])) / len(shape)
    total = shape_hits + texture_hits
    return {"shape_bias": shape_hits / total if total else float("nan"), "shape_fraction": shape_hits,
            "texture_fraction": texture_hits, "n": int(conflict.sum())}


def shape_bias_per_class(shape, texture, decision):
    """`shape_bias` for each shape class (a tidy DataFrame: class, shape_bias, shape/texture fractions, n)."""
    import pandas as pd

    shape, texture, decision = _arrays(shape, texture, decision)
    rows = []
    for name in sorted(set(shape)):
        mask = shape == name
        if np.any(texture[mask] != shape[mask]):
            rows.append({"class": name, **shape_bias(shape[mask], texture[mask], decision[mask])})
    return pd.DataFrame(rows)
