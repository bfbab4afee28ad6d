"""ImageNet-1k class names, WordNet ids and the labels pages show."""

from __future__ import annotations

from collections import Counter
from functools import lru_cache

__all__ = ["class_names", "wnids", "display_labels"]


@lru_cache(maxsize=1)
def class_names() -> tuple[str, ...]:
    """The 1000 class names of the CLIP zero-shot prompts (open_clip's IMAGENET_CLASSNAMES)."""
    from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES

    return tuple(IMAGENET_CLASSNAMES)


@lru_cache(maxsize=1)
def wnids() -> tuple[str, ...]:
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    return tuple(info.index_to_label_name(i) for i in range(1000))


@lru_cache(maxsize=1)
def display_labels() -> tuple[str, ...]:
    """Readable, unique labels: CLIP names, with the WordNet synonyms where two classes share one
    (`missile` and `sunglasses` each name two classes)."""
    from timm.data import ImageNetInfo

    names = class_names()
    counts = Counter(names)
    info = ImageNetInfo()
    return tuple(name if counts[name] == 1 else f"{name} ({info.index_to_description(i)})"
                 for i, name in enumerate(names))
