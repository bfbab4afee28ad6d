"""ImageNet-1k class names, WordNet ids and the labels pages show."""

from __future__ import annotations

from collections import Counter
from functools import lru_cache
from pathlib import Path

__all__ = ["class_names", "wnids", "display_labels", "open_clip_metadata"]


@lru_cache(maxsize=1)
def open_clip_metadata():
    """open_clip's `zero_shot_metadata` module (ImageNet class names, OpenAI prompt templates: plain data), read
    from the installed package's file. Importing it through the package runs open_clip's `__init__`, which
    imports torch (seconds), and listing models or reading the store must not."""
    from core.config import module_ready

    if module_ready("open_clip"):
        import open_clip.zero_shot_metadata as metadata

        return metadata
    import importlib.util

    package = importlib.util.find_spec("open_clip")  # locates the package without running it
    path = Path(package.origin).parent / "zero_shot_metadata.py"
    spec = importlib.util.spec_from_file_location("bae_open_clip_zero_shot_metadata", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@lru_cache(maxsize=1)
def class_names() -> tuple[str, ...]:
    """The 1000 class names of the CLIP zero-shot prompts (open_clip's IMAGENET_CLASSNAMES)."""
    return tuple(open_clip_metadata().IMAGENET_CLASSNAMES)


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
