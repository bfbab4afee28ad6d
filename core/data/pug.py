"""PUG-ImageNet (Bordes et al., NeurIPS 2023): photorealistic synthetic images, one folder per factor.

`class_to_imagenet_idx.json` (class folder name → ImageNet indices) is published in the
facebookresearch/PUG repository, not beside the images. It maps two classes to one index
(`Shirt` and `Sweatshirt` both to 841, "sweatshirt"). Scoring follows the paper's code
(kirill-vish/Beyond-INet, `get_pug_imagenet`) and the publisher's notebook: the table is sorted by
class name and inverted, so each index belongs to one class, the last in that order. A prediction
is correct if it is an index of the image's class: 841 counts only for Sweatshirt, and no
prediction is correct for a Shirt image (`paper_index_owner`).
"""

from __future__ import annotations

import json
from pathlib import Path

from core.data.base import Adapter, Item, Problem, list_images, missing_root, name_text, subfolders

__all__ = ["PugImageNet", "PUG_FACTORS", "PUG_SCORING", "paper_index_owner"]

PUG_FACTORS = ("Worlds", "Camera_Pitch", "Camera_Yaw", "Camera_Roll", "Object_Pitch", "Object_Yaw", "Object_Roll",
               "Object_Scale", "Object_Texture", "Scene_Light")
_MAPPING = "class_to_imagenet_idx.json"
_MAPPING_SOURCE = ("Get class_to_imagenet_idx.json from the facebookresearch/PUG repository on GitHub "
                   "(PUG_ImageNet folder) and put it in the dataset folder; python -m core download pug-imagenet "
                   "does both.")


PUG_SCORING = ("Scored as the paper's code scores it: an ImageNet index counts for one PUG class (the last by name "
               "among those mapped to it), so Shirt and Sweatshirt, both mapped to 841, count only as Sweatshirt.")
"""The one line the PUG page and the findings card show."""


def paper_index_owner(mapping: dict[str, list[int]]) -> dict[int, str]:
    """ImageNet index → the one PUG class it counts for: the inverted table, classes taken in sorted name order
    so a shared index goes to the last (the paper's `inversed_dict`).

    >>> paper_index_owner({"Sweatshirt": [841], "Shirt": [841], "Goldfish": [1]})
    {1: 'Goldfish', 841: 'Sweatshirt'}
    """
    owner: dict[int, str] = {}
    for name in sorted(mapping):
        for index in mapping[name]:
            owner[int(index)] = name
    return dict(sorted(owner.items()))


class PugImageNet(Adapter):
    expected_layout = f"factor folders ({', '.join(PUG_FACTORS[:3])}, …) of class folders, plus {_MAPPING}"
    obtain = "Run: python -m core download pug-imagenet"

    def _mapping(self, root: Path) -> dict[str, list[int]]:
        with open(root / _MAPPING) as handle:
            mapping = json.load(handle)
        return {name: (indices if isinstance(indices, list) else [indices]) for name, indices in mapping.items()}

    def scoring_key(self, root: Path) -> str:
        """The index table's content and the paper's one-owner rule: runs scored before (any mapped index counted,
        so Shirt images predicted 841 were correct) are not reused."""
        import hashlib

        try:
            table = json.dumps(self._mapping(root), sort_keys=True)
        except (OSError, ValueError):
            table = ""
        return "pug-owner-last-by-name:" + hashlib.sha256(table.encode()).hexdigest()[:12]

    def validate(self, root: Path) -> list[Problem]:
        problems = missing_root(root, self.expected_layout, self.obtain)
        if problems:
            return problems
        if not (root / _MAPPING).is_file():
            problems.append(Problem(str(root / _MAPPING), "the class → ImageNet index table", "no file",
                                    _MAPPING_SOURCE))
        present = [factor for factor in PUG_FACTORS if (root / factor).is_dir()]
        if not present:
            problems.append(Problem(str(root), "the 10 factor folders", "none of them", self.obtain))
        elif len(present) < len(PUG_FACTORS):
            missing = [factor for factor in PUG_FACTORS if factor not in present]
            problems.append(Problem(str(root), "the 10 factor folders", f"missing {', '.join(missing)}", self.obtain))
        if problems:
            return problems
        mapping = self._mapping(root)
        unmapped = sorted({folder.name for factor in present for folder in subfolders(root / factor)} - set(mapping))
        if unmapped:
            problems.append(Problem(str(root / _MAPPING), "an entry for every class folder",
                                    f"{len(unmapped)} unmapped, such as {unmapped[0]}", _MAPPING_SOURCE))
        return problems

    def items(self, root: Path) -> list[Item]:
        mapping = self._mapping(root)
        owner = paper_index_owner(mapping)
        items = []
        for factor in PUG_FACTORS:
            for folder in subfolders(root / factor):
                valid = tuple(int(index) for index in mapping.get(folder.name, []) if owner.get(int(index)) == folder.name)
                items += [Item(name_text(f"{factor}/{folder.name}/{path.name}"), str(path), valid[0] if valid else -1, valid,
                               condition=factor)
                          for path in list_images(folder)]
        return items
