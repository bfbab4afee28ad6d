"""The on-disk cache of single-image predictions (Compare, Invariance): diskcache under `cache/`,
keyed by image content and the model's configuration keys, so a repeated upload is instant and
survives restarts."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from core.config import cache_dir, view_only

__all__ = ["prediction_cache", "prediction_key", "content_key"]


@lru_cache(maxsize=4)
def _cache_at(path: str):
    import diskcache

    # diskcache is safe across threads and processes (SQLite underneath): one handle per path.
    return diskcache.Cache(path, size_limit=2 * 2**30)


def prediction_cache(root: Path | None = None):
    """The diskcache of single-image predictions under `cache/predictions`; in view mode a read-only view of it
    (what is there is used, nothing new is kept: the app writes nothing to the machine)."""
    path = (root or cache_dir()) / "predictions"
    if view_only():
        return _ReadOnly(_cache_at(str(path)) if path.exists() else None)
    return _cache_at(str(path))


class _ReadOnly:
    """`get` from a diskcache (or nothing), `set` dropped."""

    def __init__(self, cache) -> None:
        self._cache = cache

    def get(self, key, default=None):
        return default if self._cache is None else self._cache.get(key, default)

    def set(self, key, value, **options) -> bool:
        return False

    def __contains__(self, key) -> bool:
        return self._cache is not None and key in self._cache


def prediction_key(image_sha256: str, model: str, weights: str, preprocess: str, head: str) -> str:
    return "|".join(("v1", image_sha256, model, weights, preprocess, head))


def content_key(parts) -> str:
    """The 20-hex-digit key of anything JSON can write (dicts with sorted keys; tuples as lists; other values by
    `str`): run ids, task feature keys and fit keys. Changing it would orphan every stored result keyed by it."""
    import hashlib
    import json

    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]
