"""The on-disk cache of single-image predictions (Compare, Invariance): diskcache under `cache/`,
keyed by image content and the model's configuration keys, so a repeated upload is instant and
survives restarts."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from core.config import cache_dir

__all__ = ["prediction_cache", "prediction_key"]


@lru_cache(maxsize=4)
def _cache_at(path: str):
    import diskcache

    # diskcache is safe across threads and processes (SQLite underneath): one handle per path.
    return diskcache.Cache(path, size_limit=2 * 2**30)


def prediction_cache(root: Path | None = None):
    """The diskcache of single-image predictions under `cache/predictions`."""
    return _cache_at(str((root or cache_dir()) / "predictions"))


def prediction_key(image_sha256: str, model: str, weights: str, preprocess: str, head: str) -> str:
    return "|".join(("v1", image_sha256, model, weights, preprocess, head))
