"""Transfer datasets for linear probes: `<root>/train/<class>/…` and `<root>/test/<class>/…` (optional `val/`)."""

from __future__ import annotations

from pathlib import Path

from core.data.base import Adapter, Item, Problem, list_images, missing_root, name_text, subfolders

__all__ = ["TransferFolder"]


class TransferFolder(Adapter):
    """Class folders with any names (they need not be ImageNet classes), split into train / test."""

    expected_layout = "train/ and test/ folders with the same class folders (and optionally val/)"
    obtain = "Arrange your images as <root>/train/<class>/… and <root>/test/<class>/…"

    def classes(self, root: Path) -> list[str]:
        return [folder.name for folder in subfolders(root / "train")]

    def validate(self, root: Path) -> list[Problem]:
        problems = missing_root(root, self.expected_layout, self.obtain)
        if problems:
            return problems
        for split in ("train", "test"):
            if not (root / split).is_dir():
                problems.append(Problem(str(root / split), f"a {split}/ folder of class folders", "nothing",
                                        self.obtain))
        if problems:
            return problems
        train = self.classes(root)
        if len(train) < 2:
            problems.append(Problem(str(root / "train"), "at least 2 class folders", str(len(train)), self.obtain))
        for split in ("test", "val"):
            if (root / split).is_dir():
                other = [folder.name for folder in subfolders(root / split)]
                if sorted(other) != sorted(train):
                    extra = sorted(set(other) ^ set(train))
                    problems.append(Problem(str(root / split), "the same class folders as train/",
                                            f"differences such as {extra[0]}", "Make the splits use one class list."))
        empty = [f"{split}/{name}" for split in ("train", "test") for name in train
                 if (root / split / name).is_dir() and not list_images(root / split / name)]
        if empty:
            problems.append(Problem(str(root / empty[0]), "image files", f"{len(empty)} empty class folder(s)",
                                    "Remove empty classes or add images."))
        return problems

    def items(self, root: Path) -> list[Item]:
        classes = {name: index for index, name in enumerate(self.classes(root))}
        items = []
        for split in ("train", "val", "test"):
            for name, index in classes.items():
                for path in list_images(root / split / name):
                    items.append(Item(name_text(f"{split}/{name}/{path.name}"), str(path), index, condition=split))
        return items
