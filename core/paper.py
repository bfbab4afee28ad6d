"""The paper's published (or figure-estimated) numbers, as labelled reference values.

Never our measurements: every value carries its provenance tag — P printed, P- worked out from a
printed margin, E estimated from figure pixels, R from the authors' repository; T and O tag
another publisher's numbers (timm's, open_clip's tables of their own checkpoints).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

__all__ = ["paper_values", "TAGS"]

TAGS = {"P": "printed in the paper", "P-": "worked out from a printed margin (±0.1)",
        "E": "estimated from the paper's figure pixels", "R": "from the authors' released results",
        "T": "published by timm (results/ tables of pytorch-image-models)",
        "O": "published by open_clip (docs/openclip_classification_results.csv)"}


@lru_cache(maxsize=1)
def _table():
    import pandas as pd

    with open(Path(__file__).parent / "data" / "paper_reference.json") as handle:
        return pd.DataFrame(json.load(handle)["values"])


def paper_values(metric: str):
    """Rows `metric, key, model, value, tag, source` for one metric (shape_bias, ece, robustness_top1, …)."""
    table = _table()
    return table[table["metric"] == metric].reset_index(drop=True)
