"""What every benchmark adapter shares: items, validation problems, image listing, fingerprints."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from core.errors import UserError

__all__ = ["Item", "Problem", "DatasetInvalid", "Adapter", "IMAGE_SUFFIXES", "list_images", "subfolders",
           "fingerprint", "missing_root", "data_identity", "name_text", "text_name", "shown_text"]

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif"})


@dataclass(frozen=True)
class Item:
    """One image of a benchmark, with every label as a field (file-name facts parsed once, here).

    Attributes:
        image_id: stable key: the path relative to the dataset root (or `file.parquet:row`).
        path: where to read it.
        label: the ImageNet-1k class index, or -1 where a benchmark has none (cue-conflict).
        labels: every accepted class (ImageNet-ReaL, ImageNet-Hard, PUG); empty when only `label` counts.
        condition: a sub-condition such as `gaussian_noise/3` (ImageNet-C) or `Worlds` (PUG).
        shape, texture: cue-conflict classes.
        row: the row in a parquet file (ImageNet-Hard), else -1.
    """

    image_id: str
    path: str
    label: int = -1
    labels: tuple[int, ...] = ()
    condition: str = ""
    shape: str = ""
    texture: str = ""
    row: int = -1


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a dataset folder, with the fix."""

    path: str
    expected: str
    found: str
    fix: str

    def __str__(self) -> str:
        # a name that is not UTF-8 shows its odd bytes as \xNN (printable anywhere, and the line stays one line)
        return shown_text(f"{self.path}: expected {self.expected}, found {self.found}. {self.fix}")


class DatasetInvalid(UserError):
    """A dataset folder that does not have the layout its benchmark needs."""

    @classmethod
    def from_problems(cls, benchmark: str, root: Path, problems: list[Problem]) -> "DatasetInvalid":
        shown = "\n".join(f"- {problem}" for problem in problems[:5])
        more = f"\n- … and {len(problems) - 5} more" if len(problems) > 5 else ""
        return cls(f"{benchmark} at {root} cannot be used:\n{shown}{more}")


class Adapter:
    """Base adapter: subclasses say how a layout is validated and listed."""

    #: class space of the labels: ImageNet-1k, a 200-class subset of it, or the 16 cue-conflict classes
    classes: str = "in1k"
    expected_layout: str = ""

    def validate(self, root: Path) -> list[Problem]:
        raise NotImplementedError

    def items(self, root: Path) -> list[Item]:
        raise NotImplementedError

    def class_subset(self, root: Path) -> tuple[int, ...] | None:
        """ImageNet indices predictions are restricted to (ImageNet-A/R), or None for all 1000."""
        return None

    def revision(self, root: Path) -> str:
        """Which publisher revision the folder holds: its download manifest's line (source@commit · manifest id),
        or "unverified copy" for a folder `download` did not write (core/data/manifest.py)."""
        from core.data.manifest import dataset_revision

        return dataset_revision(root)

    def scoring_key(self, root: Path) -> str:
        """What decides correctness beyond the files (PUG: its index table and the rule reading it), "" where
        nothing does; it goes into the run key, so a changed rule never reuses runs scored by the old one."""
        return ""

    def read_bytes(self, item: Item) -> bytes:
        with open(item.path, "rb") as handle:
            return handle.read()


def data_identity(adapter: Adapter, root: Path) -> str:
    """What besides the file list identifies the data of a run: the folder's download manifest (core/data/manifest.py)
    and the adapter's scoring key; "" for a copy without a manifest scored by file names alone (keys as before)."""
    from core.data.manifest import manifest_identity

    return "+".join(part for part in (manifest_identity(root), adapter.scoring_key(root)) if part)


def missing_root(root: Path, layout: str, obtain: str) -> list[Problem]:
    if not root.exists():
        return [Problem(str(root), f"a folder with {layout}", "nothing (the path does not exist)", obtain)]
    if not root.is_dir():
        return [Problem(str(root), f"a folder with {layout}", "a file", obtain)]
    return []


def name_text(name) -> str:
    """A file name or path as text the store can hold. A name that is not valid UTF-8 (made on another system:
    Linux hands its bytes to Python as lone surrogates, `os.fsdecode`'s surrogateescape, which no encoder
    takes) gets each such byte as `\\xNN` and each backslash doubled, so `text_name` gives the name back; every
    other name (no backslash, valid UTF-8) is itself.

    >>> name_text(os.fsdecode(b"caf\\xe9.jpg"))
    'caf\\\\xe9.jpg'
    >>> name_text("café.jpg")
    'café.jpg'
    """
    name = os.fspath(name)
    if "\\" not in name:
        try:
            name.encode("utf-8")
            return name
        except UnicodeEncodeError:
            pass
    return os.fsencode(name).replace(b"\\", b"\\\\").decode("utf-8", "backslashreplace")


def shown_text(text: str) -> str:
    """`text` with the bytes of a name that is not UTF-8 as `\\xNN`, for a message (not reversible: `name_text`
    is, for what is stored)."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


_ESCAPED = re.compile(rb"\\(\\|x[0-9a-f]{2})")


def text_name(text: str) -> str:
    """The file name (or path) that `name_text` wrote as `text`, to open the file."""
    if "\\" not in text:
        return text
    return os.fsdecode(_ESCAPED.sub(lambda found: b"\\" if found[1] == b"\\" else bytes([int(found[1][1:], 16)]),
                                    text.encode("utf-8")))


def list_images(folder: Path) -> list[Path]:
    """Image files directly in `folder`, sorted by name."""
    try:
        entries = os.scandir(folder)
    except OSError:
        return []
    with entries:
        return sorted(Path(entry.path) for entry in entries
                      if entry.is_file() and os.path.splitext(entry.name)[1].lower() in IMAGE_SUFFIXES)


def subfolders(folder: Path) -> list[Path]:
    try:
        return sorted(path for path in folder.iterdir() if path.is_dir() and not path.name.startswith("."))
    except OSError:
        return []


def fingerprint(items: list[Item], *, identity: str = "") -> str:
    """Hash of the file list (ids, sizes) and of the folder's download manifest `identity` (core/data/manifest.py;
    "" for a copy without one, whose key is as before): a changed dataset, or the same file names at another
    publisher revision, gives a new run key."""
    digest = hashlib.sha256()
    if identity:
        digest.update(f"manifest\t{identity}\n".encode())
    for item in sorted(items, key=lambda item: item.image_id):
        try:
            size = os.stat(item.path).st_size
        except OSError:
            size = -1
        # surrogateescape: an id an adapter did not escape (`name_text`) still hashes, as its bytes on disk
        digest.update(f"{item.image_id}\t{size}\t{item.row}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()[:16]
