"""Texture-shape cue-conflict images (Geirhos et al., ICLR 2019, https://arxiv.org/abs/1811.12231).

16 shape-class folders of 224×224 PNGs named `<shape>N-<texture>M.png`; shape and texture are
parsed here, once. A model's 16-class decision is the class whose ImageNet member classes have
the highest mean softmax probability (model-vs-human's ImageNetProbabilitiesTo16ClassesMapping).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

from core.data.base import Adapter, Item, Problem, list_images, missing_root, name_text

__all__ = ["CueConflict", "SIXTEEN_CLASSES", "sixteen_class_indices", "CUE_CONFLICT_URL", "CUE_CONFLICT_COUNT"]

SIXTEEN_CLASSES = ("airplane", "bear", "bicycle", "bird", "boat", "bottle", "car", "cat", "chair", "clock", "dog",
                   "elephant", "keyboard", "knife", "oven", "truck")
CUE_CONFLICT_URL = "https://github.com/bethgelab/model-vs-human/releases/download/v0.1/cue-conflict.tar.gz"
CUE_CONFLICT_COUNT = 1280
_NAME = re.compile(r"^([a-z]+)(\d+)-([a-z]+)(\d+)\.png$")


@lru_cache(maxsize=1)
def sixteen_class_indices() -> dict[str, tuple[int, ...]]:
    """ImageNet-1k indices of each 16-class category (from model-vs-human's human_categories.py)."""
    with open(Path(__file__).with_name("sixteen_class_imagenet_indices.json")) as handle:
        table = json.load(handle)
    return {name: tuple(table[name]) for name in SIXTEEN_CLASSES}


class CueConflict(Adapter):
    classes = "in16"
    expected_layout = "16 shape-class folders (airplane … truck) of <shape>N-<texture>M.png files"
    obtain = "Run: python -m core download cue-conflict"

    def validate(self, root: Path) -> list[Problem]:
        problems = missing_root(root, self.expected_layout, self.obtain)
        if problems:
            return problems
        missing = [name for name in SIXTEEN_CLASSES if not (root / name).is_dir()]
        if missing:
            problems.append(Problem(str(root), "16 shape-class folders", f"missing {', '.join(missing[:5])}",
                                    self.obtain))
        for name in SIXTEEN_CLASSES:
            for path in list_images(root / name):
                match = _NAME.match(path.name)
                if not match or match[1] != name or match[3] not in SIXTEEN_CLASSES:
                    problems.append(Problem(str(path), f"a name like {name}1-cat2.png", path.name,
                                            "Remove the file or restore the original names."))
        count = sum(len(list_images(root / name)) for name in SIXTEEN_CLASSES)
        if not missing and count != CUE_CONFLICT_COUNT:
            problems.append(Problem(str(root), f"{CUE_CONFLICT_COUNT} images", f"{count}", self.obtain))
        return problems

    def items(self, root: Path) -> list[Item]:
        items = []
        for name in SIXTEEN_CLASSES:
            for path in list_images(root / name):
                match = _NAME.match(path.name)
                if match:
                    items.append(Item(name_text(f"{name}/{path.name}"), str(path), shape=match[1], texture=match[3]))
        return items


AUTHOR_MODELS = {"deit3-21k": "vit_sup", "convnext-base-21k": "convnext_sup", "vit-clip": "vit_clip",
                 "convnext-clip": "convnext_clip"}
"""File-name model names of the paper's released decisions → our model keys."""
HUMANS_URL = ("https://raw.githubusercontent.com/bethgelab/model-vs-human/HEAD/raw-data/cue-conflict/"
              "cue-conflict_subject-{number:02d}_session_1.csv")
AUTHORS_URL = ("https://raw.githubusercontent.com/kirill-vish/Beyond-INet/HEAD/inference/modelvshuman/raw-data/"
               "cue-conflict/cue-conflict_{name}_session-1.csv")


def read_decisions(path: Path) -> list[dict]:
    """Rows of a model-vs-human style CSV (`subj, …, object_response, category, condition, imagename`)
    as dicts with our column names: image_id, shape, texture, decision16."""
    import csv

    rows = []
    with open(path, newline="") as handle:
        for record in csv.DictReader(handle):
            file_name = record["imagename"].rsplit("_", 1)[-1]
            match = _NAME.match(file_name)
            if not match:
                raise ValueError(f"{path.name}: unexpected image name {record['imagename']!r}")
            rows.append({"image_id": f"{match[1]}/{file_name}", "shape": match[1], "texture": match[3],
                         "decision16": record["object_response"]})
    return rows


def find_cue_conflict_images(image_ids, folders) -> dict[str, str]:
    """{image_id: path} of each id (`<shape>/<file>.png`) found in the first of `folders` that holds it.

    Decisions imported from the authors or the human observers carry no path, but the same images
    are usually on disk (downloaded, or the folder of a measured run): the gallery finds them here.
    """
    found: dict[str, str] = {}
    roots = [Path(folder) for folder in dict.fromkeys(str(f) for f in folders if f)]
    roots = [root for root in roots if root.is_dir()]
    for image_id in image_ids:
        for root in roots:
            candidate = root / image_id
            if candidate.is_file():
                found[image_id] = str(candidate)
                break
    return found
