"""ImageNet-1k class names, WordNet ids and the labels pages show, read from a table we ship.

`core/data/imagenet_classes.tsv` holds, for each of the 1000 class indices, the WordNet id and lemmas
(timm's `ImageNetInfo`, from the ILSVRC-2012 synsets) and the class name of the CLIP zero-shot prompts
(open_clip's `IMAGENET_CLASSNAMES`, the names of OpenAI's CLIP notebook). They are data, not model code:
reading them here keeps torch, timm and open_clip out of every page that only shows a class name (timm's
metadata module imports torch, seconds on a 2-core machine). A test checks the table against the pinned
timm and open_clip; `python -m core.imagenet` writes it again from them after an upgrade.
"""

from __future__ import annotations

import csv
from collections import Counter
from functools import lru_cache
from pathlib import Path

__all__ = ["class_names", "wnids", "descriptions", "display_labels", "open_clip_metadata", "CLASSES_FILE"]

CLASSES_FILE = Path(__file__).resolve().parent / "data" / "imagenet_classes.tsv"
_COLUMNS = ("index", "wnid", "name", "description")
_HEADER = ("# ImageNet-1k (ILSVRC-2012) classes by index. wnid and description: WordNet id and lemmas, as timm's\n"
           "# ImageNetInfo gives them (timm/data/_info/imagenet_synsets.txt, imagenet_synset_to_lemma.txt). name: the\n"
           "# class name of the CLIP zero-shot prompts, open_clip's zero_shot_metadata.IMAGENET_CLASSNAMES. Written by\n"
           "# `python -m core.imagenet` from timm {timm} and open_clip {open_clip}; tests/unit/test_imagenet.py checks it.\n")


@lru_cache(maxsize=1)
def _table() -> tuple[tuple[str, str, str], ...]:
    """(wnid, name, description) per class index, from the shipped file."""
    with open(CLASSES_FILE, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader((line for line in handle if not line.startswith("#")), delimiter="\t"))
    if [int(row["index"]) for row in rows] != list(range(1000)):
        raise ValueError(f"Expected {CLASSES_FILE} to list the class indices 0 to 999 in order; write it again with "
                         "`python -m core.imagenet`.")
    return tuple((row["wnid"], row["name"], row["description"]) for row in rows)


@lru_cache(maxsize=1)
def class_names() -> tuple[str, ...]:
    """The 1000 class names of the CLIP zero-shot prompts (open_clip's IMAGENET_CLASSNAMES)."""
    return tuple(name for _, name, _ in _table())


@lru_cache(maxsize=1)
def wnids() -> tuple[str, ...]:
    """WordNet id of each class index (`n01440764` for 0, tench)."""
    return tuple(wnid for wnid, _, _ in _table())


@lru_cache(maxsize=1)
def descriptions() -> tuple[str, ...]:
    """WordNet lemmas of each class index (`tench, Tinca tinca`), timm's `ImageNetInfo.index_to_description`."""
    return tuple(description for _, _, description in _table())


@lru_cache(maxsize=1)
def display_labels() -> tuple[str, ...]:
    """Readable, unique labels: CLIP names, with the WordNet lemmas where two classes share one
    (`missile` and `sunglasses` each name two classes)."""
    names = class_names()
    counts = Counter(names)
    return tuple(name if counts[name] == 1 else f"{name} ({description})"
                 for name, description in zip(names, descriptions()))


@lru_cache(maxsize=1)
def open_clip_metadata():
    """open_clip's `zero_shot_metadata` module (the OpenAI prompt templates, ImageNet class names: plain data), read
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


def classes_from_libraries() -> list[tuple[int, str, str, str]]:
    """(index, wnid, name, description) of every class as the installed timm and open_clip give them (imports
    timm, hence torch): what the shipped table must equal."""
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    names = open_clip_metadata().IMAGENET_CLASSNAMES
    return [(index, info.index_to_label_name(index), names[index], info.index_to_description(index))
            for index in range(1000)]


def _write_table(path: Path = CLASSES_FILE) -> None:
    from importlib import metadata

    rows = classes_from_libraries()
    if any("\t" in field or "\n" in field for row in rows for field in row[1:]):
        raise ValueError("Expected class names without tabs or line breaks.")
    with open(path, "w", newline="", encoding="utf-8") as handle:
        handle.write(_HEADER.format(timm=metadata.version("timm"), open_clip=metadata.version("open_clip_torch")))
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        writer.writerow(_COLUMNS)
        writer.writerows(rows)


if __name__ == "__main__":
    _write_table()
    print(f"wrote {CLASSES_FILE}")
