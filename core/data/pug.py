"""PUG-ImageNet (Bordes et al., NeurIPS 2023): photorealistic synthetic images, one folder per factor.

`class_to_imagenet_idx.json` (class folder name → ImageNet indices) is published in the
facebookresearch/PUG repository, not beside the images; a prediction is correct if it is any of
the mapped indices.
"""

from __future__ import annotations

import json
from pathlib import Path

from core.data.base import Adapter, Item, Problem, list_images, missing_root, subfolders

__all__ = ["PugImageNet", "PUG_FACTORS"]

PUG_FACTORS = ("Worlds", "Camera_Pitch", "Camera_Yaw", "Camera_Roll", "Object_Pitch", "Object_Yaw", "Object_Roll",
               "Object_Scale", "Object_Texture", "Scene_Light")
_MAPPING = "class_to_imagenet_idx.json"
_MAPPING_SOURCE = ("Get class_to_imagenet_idx.json from the facebookresearch/PUG repository on GitHub "
                   "(PUG_ImageNet folder) and put it in the dataset folder; python -m core download pug-imagenet "
                   "does both.")


class PugImageNet(Adapter):
    expected_layout = f"factor folders ({', '.join(PUG_FACTORS[:3])}, …) of class folders, plus {_MAPPING}"
    obtain = "Run: python -m core download pug-imagenet"

    def _mapping(self, root: Path) -> dict[str, list[int]]:
        with open(root / _MAPPING) as handle:
            mapping = json.load(handle)
        return {name: (indices if isinstance(indices, list) else [indices]) for name, indices in mapping.items()}

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
        items = []
        for factor in PUG_FACTORS:
            for folder in subfolders(root / factor):
                valid = tuple(int(index) for index in mapping.get(folder.name, []))
                items += [Item(f"{factor}/{folder.name}/{path.name}", str(path), valid[0] if valid else -1, valid,
                               condition=factor)
                          for path in list_images(folder)]
        return items
