"""A task is a labelled folder: three layouts, a seeded stratified split, and one clear line per bad input.

Layouts (`detect_layout`):
    folders: ROOT/<class>/<image>, split here: per class, a seeded `test_fraction` to test, then a
        `val_fraction` of the rest to validation (it chooses the probe's regularisation), the rest train.
    splits: ROOT/{train,val,test}/<class>/<image>, taken as given (no val/: a seeded 20% of train).
    csv: a CSV file of `path,label[,split]` (paths relative to the CSV's folder); no split column: as `folders`.

Class names are whatever the folders (or the label column) say; a prompt name per class (`m6_bolt` →
"an M6 hex bolt") comes from a two-column CSV (`--names`). Every file is opened and hashed (SHA-256 of
its bytes) once here: unreadable files are skipped and counted, never fatal, and the same content in
train and test is reported with its count.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from core.data.base import IMAGE_SUFFIXES, list_images, name_text, subfolders
from core.errors import UserError
from core.task.spec import DEFAULT_SHOTS, DEFAULT_TEST_FRACTION, Layout, TaskSpec

__all__ = ["DEFAULT_TEMPLATES_NOTE", "TaskImage", "TaskInvalid", "ScanReport", "scan_task", "detect_layout",
           "stratified_split", "read_names", "read_templates", "check_task_name"]

DEFAULT_TEMPLATES_NOTE = "the 80 ImageNet templates of OpenAI's CLIP (open_clip's OPENAI_IMAGENET_TEMPLATES)"
_SPLITS = ("train", "val", "test")


class TaskInvalid(UserError):
    """A folder, CSV or option that cannot make a task; the message names it and the fix."""


@dataclass(frozen=True)
class TaskImage:
    """One image of a task. `image_id` is the path relative to the task root (or as the CSV gives it),
    `label` the index into `TaskSpec.classes`, `sha256` the hash of the file's bytes (features are keyed by it).
    Names as the store keeps them (`core.data.base.name_text`: one that is not UTF-8 escaped); open `path` with
    `text_name(path)`."""

    image_id: str
    path: str
    label: int
    split: str
    sha256: str


@dataclass(frozen=True)
class ScanReport:
    """What `scan_task` skipped or noticed: each a sentence for the CLI and the page."""

    unreadable: tuple[str, ...] = ()
    duplicates: int = 0
    train_counts: dict = field(default_factory=dict)

    def small_classes(self, shots: Sequence[int]) -> dict[str, int]:
        """{class: training images} of classes with fewer training images than the largest k."""
        largest = max(shots) if shots else 0
        return {name: n for name, n in self.train_counts.items() if n < largest}

    def messages(self, shots: Sequence[int] = DEFAULT_SHOTS) -> list[str]:
        lines = []
        if self.unreadable:
            shown = ", ".join(self.unreadable[:3]) + (" …" if len(self.unreadable) > 3 else "")
            lines.append(f"{len(self.unreadable):,} unreadable file(s) skipped ({shown}); replace or remove them "
                         "and add the task again to use them.")
        if self.duplicates:
            lines.append(f"{self.duplicates:,} image(s) in the test split have the same content (SHA-256) as a "
                         "training image: test accuracy is optimistic. Remove the copies and add the task again.")
        for name, n in self.small_classes(shots).items():
            lines.append(f"Class `{name}` has {n} training image(s), fewer than the largest shot count "
                         f"{max(shots)}: for k > {n} it contributes all {n} (its k is capped), and the page says so.")
        return lines


def check_task_name(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name or ""):
        raise TaskInvalid(f"Task name {name!r} is not usable: use letters, digits, `_`, `-` or `.` (up to 64), "
                          "e.g. machine_parts.")
    return name


def detect_layout(source: Path) -> Layout:
    """csv for a file, splits when ROOT has train/ and test/, else folders."""
    if source.is_file():
        if source.suffix.lower() != ".csv":
            raise TaskInvalid(f"{source} is a file but not a CSV; give a folder of class folders or a CSV of "
                              "path,label[,split].")
        return "csv"
    if not source.is_dir():
        raise TaskInvalid(f"{source} does not exist; give a folder of class folders (ROOT/<class>/…), a folder "
                          "with train/ and test/, or a CSV of path,label[,split].")
    names = {path.name for path in subfolders(source)}
    return "splits" if {"train", "test"} <= names else "folders"


def _read_file(path: Path) -> str | None:
    """The SHA-256 of a file PIL can decode, or None (unreadable: skipped and counted)."""
    from PIL import Image

    try:
        data = path.read_bytes()
        with Image.open(path) as image:
            image.load()  # a full decode: `verify` passes a truncated JPEG
    except Exception:  # noqa: BLE001 - any decode failure (truncated, not an image, unreadable) skips the file
        return None
    return hashlib.sha256(data).hexdigest()


def _listing(source: Path, layout: Layout) -> list[tuple[str, Path, str, str]]:
    """(image_id, path, class name, split or "") of every image file the layout names."""
    rows = []
    if layout == "folders":
        for folder in subfolders(source):
            rows += [(name_text(path.relative_to(source).as_posix()), path, name_text(folder.name), "")
                     for path in list_images(folder)]
    elif layout == "splits":
        for split in _SPLITS:
            for folder in subfolders(source / split):
                rows += [(name_text(path.relative_to(source).as_posix()), path, name_text(folder.name), split)
                         for path in list_images(folder)]
    else:
        with open(source, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            fields = [name.strip().lower() for name in reader.fieldnames or []]
            if "path" not in fields or "label" not in fields:
                raise TaskInvalid(f"{source.name}: expected a header with `path,label` (and optionally `split`), "
                                  f"found {', '.join(fields) or 'no header'}. Add the header line.")
            for number, row in enumerate(reader, start=2):
                row = {key.strip().lower(): (value or "").strip() for key, value in row.items() if key}
                split = row.get("split", "").lower()
                if split and split not in _SPLITS:
                    raise TaskInvalid(f"{source.name} line {number}: split {split!r} is not train, val or test.")
                path = Path(row["path"])
                rows.append((row["path"], path if path.is_absolute() else source.parent / path, row["label"], split))
    return rows


def stratified_split(labels: np.ndarray, *, test_fraction: float, val_fraction: float, seed: int) -> np.ndarray:
    """Per class, a seeded permutation: round(n × test_fraction) to test (at least 1 when n ≥ 2), then
    round(rest × val_fraction) to val (at least 1 when 2 or more remain), the others train.

    >>> stratified_split(np.array([0, 0, 0, 1, 1, 1]), test_fraction=1 / 3, val_fraction=0.0, seed=0).tolist()
    ['train', 'train', 'test', 'train', 'train', 'test']
    """
    if not 0 < test_fraction < 1:
        raise TaskInvalid(f"Expected --test-fraction between 0 and 1, got {test_fraction}; e.g. 0.3.")
    labels = np.asarray(labels)
    split = np.full(len(labels), "train", dtype=object)
    rng = np.random.default_rng(seed)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        order = members[rng.permutation(len(members))]
        n_test = max(1, round(len(order) * test_fraction)) if len(order) >= 2 else 0
        rest = len(order) - n_test
        n_val = max(1, round(rest * val_fraction)) if rest >= 2 and val_fraction > 0 else 0
        split[order[:n_test]] = "test"
        split[order[n_test:n_test + n_val]] = "val"
    return split.astype(str)


def read_names(path: Path | None, classes: Sequence[str]) -> tuple[str, ...]:
    """Prompt names per class from a CSV `class,prompt name` (header optional); the rest keep their folder
    name with `_` as spaces."""
    names = {name: name.replace("_", " ") for name in classes}
    if path is None:
        return tuple(names[name] for name in classes)
    path = Path(path).expanduser()
    if not path.is_file():
        raise TaskInvalid(f"--names {path} does not exist; give a CSV of class,prompt name (e.g. m6_bolt,an M6 hex "
                          "bolt).")
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = [row for row in csv.reader(handle) if row and any(cell.strip() for cell in row)]
    unknown = [row[0].strip() for row in rows if len(row) >= 2 and row[0].strip() not in names
               and row[0].strip().lower() not in ("class", "label", "folder")]
    if unknown:
        raise TaskInvalid(f"--names {path.name} names class(es) the task does not have: {', '.join(unknown[:5])}. "
                          f"The classes are: {', '.join(list(classes)[:5])}{' …' if len(classes) > 5 else ''}.")
    for row in rows:
        if len(row) >= 2 and row[0].strip() in names and row[1].strip():
            names[row[0].strip()] = row[1].strip()
    return tuple(names[name] for name in classes)


def read_templates(path: Path | None) -> tuple[str, ...]:
    """Templates from a text file, one per line with `{}` for the class name; () means the default."""
    if path is None:
        return ()
    lines = [line.strip() for line in Path(path).expanduser().read_text(encoding="utf-8").splitlines() if line.strip()]
    bad = [line for line in lines if "{}" not in line]
    if not lines or bad:
        raise TaskInvalid(f"--templates {Path(path).name}: every line needs `{{}}` where the class name goes "
                          f"(e.g. a photo of {{}}.); {len(bad)} line(s) lack it." if bad else
                          f"--templates {Path(path).name} is empty; write one template per line, e.g. a photo of {{}}.")
    return tuple(lines)


def scan_task(name: str, source: Path | str, *, names: Path | None = None, templates: Path | None = None,
              test_fraction: float = DEFAULT_TEST_FRACTION, val_fraction: float = 0.2, seed: int = 0
              ) -> tuple[TaskSpec, list[TaskImage], ScanReport]:
    """Read a labelled folder (or CSV) into a task: its spec, its images with their split, and a report.

    Raises:
        TaskInvalid: a missing source, a CSV without `path,label`, fewer than 2 classes, a bad option.
    """
    check_task_name(name)
    source = Path(source).expanduser().resolve()
    layout = detect_layout(source)
    listing = _listing(source, layout)
    classes = tuple(sorted({row[2] for row in listing}))
    if len(classes) < 2:
        raise TaskInvalid(f"{source} has {len(classes)} class(es) with images; a task needs at least 2. Put each "
                          "class's images in a folder named after it (ROOT/<class>/…).")
    hashes, unreadable = [], []
    for image_id, path, _, _ in listing:
        digest = _read_file(path) if os.path.splitext(str(path))[1].lower() in IMAGE_SUFFIXES else None
        hashes.append(digest)
        if digest is None:
            unreadable.append(image_id)
    kept = [(row, digest) for row, digest in zip(listing, hashes) if digest is not None]
    index = {cls: i for i, cls in enumerate(classes)}
    labels = np.array([index[row[2]] for row, _ in kept], dtype=np.int64)
    given = np.array([row[3] for row, _ in kept], dtype=object)
    if layout == "folders" or (layout == "csv" and not any(given)):
        split = stratified_split(labels, test_fraction=test_fraction, val_fraction=val_fraction, seed=seed)
    else:
        split = given.astype(str)
        if (split == "").any():
            raise TaskInvalid(f"{source.name}: {int((split == '').sum())} row(s) have no split while others do; give "
                              "every row a split (train, val or test) or none.")
        if not (split == "val").any():
            train = np.flatnonzero(split == "train")
            inner = stratified_split(labels[train], test_fraction=val_fraction, val_fraction=0.0, seed=seed)
            split[train[inner == "test"]] = "val"
    if not (split == "test").any():
        raise TaskInvalid(f"{source} leaves no image for the test split; give each class at least 2 images.")
    images = [TaskImage(row[0], name_text(row[1]), int(label), str(part), digest)
              for (row, digest), label, part in zip(kept, labels, split)]
    train_hashes = {image.sha256 for image in images if image.split != "test"}
    duplicates = sum(1 for image in images if image.split == "test" and image.sha256 in train_hashes)
    counts = Counter(image.label for image in images if image.split == "train")
    spec = TaskSpec(name, name_text(str(source)), layout, classes, read_names(names, classes), read_templates(templates),
                    float(test_fraction), float(val_fraction), int(seed))
    report = ScanReport(tuple(unreadable), duplicates, {cls: counts.get(i, 0) for i, cls in enumerate(classes)})
    return spec, images, report
