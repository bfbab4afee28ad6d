"""ImageNet-1k val and the shifted sets that keep its classes: V2, Sketch, A, R, C, user folders."""

from __future__ import annotations

import csv
import json
import re
from functools import lru_cache
from pathlib import Path

from core.data.base import Adapter, Item, Problem, list_images, missing_root, name_text, subfolders
from core.imagenet import class_names, wnids

__all__ = ["ImageNetVal", "WnidFolders", "ImageNetV2", "ImageNetC", "ImageFolder", "CORRUPTIONS",
           "imagenet_x_file"]

_VAL_FILE = re.compile(r"ILSVRC2012_val_(\d{8})(?:_n\d{8})?\.JPEG$")
"""Official val names, also as the gated Hugging Face `imagenet-1k` writes them (`…_00000001_n01751748.JPEG`)."""


def _canonical(name: str) -> str:
    """`ILSVRC2012_val_00000001_n01751748.JPEG` → `ILSVRC2012_val_00000001.JPEG` (the name ImageNet-X annotates)."""
    return f"ILSVRC2012_val_{_VAL_FILE.search(name)[1]}.JPEG"
CORRUPTIONS = ("gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur",
               "zoom_blur", "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate",
               "jpeg_compression")
"""The 15 corruptions of Hendrycks & Dietterich (ICLR 2019) whose mean top-1 is the ImageNet-C score."""


def imagenet_x_file(name: str) -> Path:
    """A file the `imagenet-x` package ships (CC BY-NC: read from the package, never copied here)."""
    import importlib.util

    found = importlib.util.find_spec("imagenet_x")
    if found is None or not found.submodule_search_locations:
        from core.errors import UserError

        raise UserError("The imagenet-x package is missing: pip install imagenet-x==0.0.7 (in requirements.txt).")
    return Path(list(found.submodule_search_locations)[0]) / "annotations" / name


@lru_cache(maxsize=1)
def _val_labels() -> dict[str, int]:
    with open(imagenet_x_file("filename_label.csv"), newline="") as handle:
        return {row["file_name"]: int(row["label"]) for row in csv.DictReader(handle)}


@lru_cache(maxsize=1)
def _real_labels() -> tuple[tuple[int, ...], ...]:
    """ImageNet-ReaL (Beyer et al., 2020): the valid labels of val image n at index n-1 (may be empty)."""
    with open(imagenet_x_file("imagenet_real_labels.jsonl")) as handle:
        return tuple(tuple(labels) for labels in json.load(handle))


@lru_cache(maxsize=1)
def _wnid_index() -> dict[str, int]:
    return {wnid: index for index, wnid in enumerate(wnids())}


class WnidFolders(Adapter):
    """Class folders named by WordNet id (`n01440764/…`): ImageNet-Sketch, ImageNet-A, ImageNet-R."""

    def __init__(self, n_classes: int = 1000, obtain: str = "", subset: bool = False) -> None:
        self.n_classes = n_classes
        self.obtain = obtain
        self.subset = subset
        self.classes = "in200" if subset else "in1k"
        self.expected_layout = f"{n_classes} class folders named by WordNet id (n01440764, …)"

    def validate(self, root: Path) -> list[Problem]:
        problems = missing_root(root, self.expected_layout, self.obtain)
        if problems:
            return problems
        folders = subfolders(root)
        known = _wnid_index()
        unknown = [folder.name for folder in folders if folder.name not in known]
        if unknown:
            problems.append(Problem(str(root), "folders named by ImageNet WordNet ids",
                                    f"{len(unknown)} other folder(s) such as {', '.join(unknown[:3])}",
                                    "Point at the folder that directly holds the class folders."))
        good = [folder for folder in folders if folder.name in known]
        if len(good) != self.n_classes:
            problems.append(Problem(str(root), f"{self.n_classes} class folders", f"{len(good)}",
                                    f"The download looks incomplete. {self.obtain}"))
        empty = [folder.name for folder in good if not list_images(folder)]
        if empty:
            problems.append(Problem(str(root / empty[0]), "image files", f"{len(empty)} empty class folder(s)",
                                    f"Re-extract the archive. {self.obtain}"))
        return problems

    def items(self, root: Path) -> list[Item]:
        known = _wnid_index()
        return [Item(name_text(f"{folder.name}/{path.name}"), str(path), known[folder.name])
                for folder in subfolders(root) if folder.name in known for path in list_images(folder)]

    def class_subset(self, root: Path) -> tuple[int, ...] | None:
        if not self.subset:
            return None
        known = _wnid_index()
        return tuple(sorted(known[folder.name] for folder in subfolders(root) if folder.name in known))


class ImageNetVal(Adapter):
    """ImageNet-1k validation: WNID class folders, or the 50,000 flat `ILSVRC2012_val_*.JPEG` files.

    Labels of flat files and the ImageNet-ReaL labels (`Item.labels`) come from the imagenet-x package.
    """

    expected_layout = ("the 50,000 ILSVRC2012_val_*.JPEG files, flat (also as Hugging Face imagenet-1k names them) "
                       "or in 1000 WordNet-id class folders")
    obtain = ("Download ILSVRC2012_img_val.tar from image-net.org (account needed) and extract it; "
              "python -m core download imagenet-val explains the layouts that work.")

    def validate(self, root: Path) -> list[Problem]:
        problems = missing_root(root, self.expected_layout, self.obtain)
        if problems:
            return problems
        flat = [path for path in list_images(root) if _VAL_FILE.search(path.name)]
        if flat:
            labels = _val_labels()
            unknown = [path.name for path in flat if _canonical(path.name) not in labels]
            if unknown:
                problems.append(Problem(str(root), "ILSVRC2012 validation file names", f"unknown names such as {unknown[0]}",
                                        "Use the official validation images."))
            return problems
        nested = WnidFolders(1000, self.obtain).validate(root)
        if nested and not subfolders(root):
            return [Problem(str(root), self.expected_layout, "neither", self.obtain)]
        return nested

    def items(self, root: Path) -> list[Item]:
        labels, real = _val_labels(), _real_labels()
        flat = [path for path in list_images(root) if _VAL_FILE.search(path.name)]
        if flat:
            return [Item(_canonical(path.name), str(path), labels[_canonical(path.name)],
                         real[int(_VAL_FILE.search(path.name)[1]) - 1]) for path in flat]
        items = []
        for item in WnidFolders(1000).items(root):
            match = _VAL_FILE.search(item.path)
            reals = real[int(match[1]) - 1] if match else ()
            items.append(Item(item.image_id, item.path, item.label, reals))
        return items


class ImageNetV2(Adapter):
    """ImageNet-V2 (Recht et al., ICML 2019): folders named by class index `0`…`999`."""

    expected_layout = "1000 folders named 0 … 999 (class indices)"
    obtain = "Run: python -m core download imagenet-v2"

    def validate(self, root: Path) -> list[Problem]:
        problems = missing_root(root, self.expected_layout, self.obtain)
        if problems:
            return problems
        folders = subfolders(root)
        numbered = [folder for folder in folders if folder.name.isdigit() and 0 <= int(folder.name) < 1000]
        if len(numbered) != 1000:
            others = [folder.name for folder in folders if folder not in numbered]
            found = f"{len(numbered)} numbered folder(s)" + (f" and others such as {others[0]}" if others else "")
            problems.append(Problem(str(root), "1000 folders named 0 … 999", found, self.obtain))
        return problems

    def items(self, root: Path) -> list[Item]:
        # int(), not the folder order: sorted as strings, "10" comes before "2"
        return [Item(name_text(f"{folder.name}/{path.name}"), str(path), int(folder.name))
                for folder in subfolders(root) if folder.name.isdigit() for path in list_images(folder)]


class ImageNetC(Adapter):
    """ImageNet-C (Hendrycks & Dietterich, ICLR 2019): `<corruption>/<severity 1-5>/<wnid>/`."""

    expected_layout = "corruption folders (gaussian_noise, …) with severity folders 1 … 5 of WordNet-id class folders"
    obtain = "Run: python -m core download imagenet-c (or imagenet-c/CORRUPTION for one corruption)"

    def validate(self, root: Path) -> list[Problem]:
        problems = missing_root(root, self.expected_layout, self.obtain)
        if problems:
            return problems
        present = [name for name in CORRUPTIONS if (root / name).is_dir()]
        if not present:
            return [Problem(str(root), self.expected_layout, "none of the 15 corruption folders", self.obtain)]
        missing = [name for name in CORRUPTIONS if name not in present]
        if missing:
            problems.append(Problem(str(root), "all 15 standard corruptions (the score averages them)",
                                    f"{len(missing)} missing, such as {missing[0]}", self.obtain))
        for name in present:
            severities = [folder.name for folder in subfolders(root / name)]
            if sorted(severities) != ["1", "2", "3", "4", "5"]:
                problems.append(Problem(str(root / name), "severity folders 1 … 5", ", ".join(severities) or "none",
                                        self.obtain))
        return problems

    def items(self, root: Path) -> list[Item]:
        items = []
        for corruption in CORRUPTIONS:
            for severity in "12345":
                folder = root / corruption / severity
                if folder.is_dir():
                    items += [Item(f"{corruption}/{severity}/{item.image_id}", item.path, item.label,
                                   condition=f"{corruption}/{severity}")
                              for item in WnidFolders(1000).items(folder)]
        return items


@lru_cache(maxsize=1)
def _name_index() -> tuple[dict[str, int], frozenset[str]]:
    """Unambiguous class names → index, and the ambiguous ones (crane, maillot, missile, sunglasses…)."""
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    names: dict[str, set[int]] = {}
    for index in range(1000):
        candidates = {class_names()[index], info.index_to_description(index).split(",")[0].strip()}
        for name in candidates:
            names.setdefault(name.lower(), set()).add(index)
    ambiguous = frozenset(name for name, indices in names.items() if len(indices) > 1)
    return {name: next(iter(indices)) for name, indices in names.items() if len(indices) == 1}, ambiguous


class ImageFolder(Adapter):
    """A user's folder of class folders named by WordNet id or by an unambiguous ImageNet class name."""

    expected_layout = "class folders named by ImageNet WordNet id (n01440764) or class name (tench)"
    obtain = "Arrange images as <root>/<class>/<image>; see docs/downloads-and-datasets.md, 'Datasets'."

    def _label(self, name: str) -> int | None:
        if name in _wnid_index():
            return _wnid_index()[name]
        by_name, _ = _name_index()
        return by_name.get(name.lower().replace("_", " "))

    def validate(self, root: Path) -> list[Problem]:
        problems = missing_root(root, self.expected_layout, self.obtain)
        if problems:
            return problems
        folders = subfolders(root)
        if not folders:
            return [Problem(str(root), self.expected_layout, "no subfolders", self.obtain)]
        _, ambiguous = _name_index()
        for folder in folders:
            key = folder.name.lower().replace("_", " ")
            if key in ambiguous:
                problems.append(Problem(str(folder), "an unambiguous class name",
                                        f"`{folder.name}`, which names several ImageNet classes",
                                        "Rename the folder to the class's WordNet id (e.g. n01440764)."))
            elif self._label(folder.name) is None:
                problems.append(Problem(str(folder), "an ImageNet WordNet id or class name", f"`{folder.name}`",
                                        "Rename it, or remove folders of classes outside ImageNet-1k."))
            elif not list_images(folder):
                problems.append(Problem(str(folder), "image files", "none", "Remove the empty folder."))
        return problems

    def items(self, root: Path) -> list[Item]:
        return [Item(name_text(f"{folder.name}/{path.name}"), str(path), self._label(folder.name))
                for folder in subfolders(root) if self._label(folder.name) is not None
                for path in list_images(folder)]
