"""Task folders: three layouts, the seeded stratified split, and one clear line per bad input."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from core.task.folder import TaskInvalid, scan_task, stratified_split
from tests.conftest import shared_data
from tests.fixtures.task_folders import digits_folder, hostile_folder


def test_cue_conflict_reads_as_a_16_class_task_by_shape():
    spec, images, report = scan_task("shapes", shared_data("cue-conflict"))
    assert spec.layout == "folders" and len(spec.classes) == 16 and spec.classes[:2] == ("airplane", "bear")
    assert len(images) == 1280 and not report.unreadable
    labels = np.array([image.label for image in images])
    for label in range(16):
        members = [image.split for image in images if image.label == label]
        assert members.count("test") == round(len(members) * 0.3)
    assert spec.prompt_names[spec.classes.index("airplane")] == "airplane"


def test_split_is_stratified_and_deterministic_per_seed():
    labels = np.repeat(np.arange(4), 20)
    first = stratified_split(labels, test_fraction=0.3, val_fraction=0.2, seed=1)
    assert (first == stratified_split(labels, test_fraction=0.3, val_fraction=0.2, seed=1)).all()
    assert (first != stratified_split(labels, test_fraction=0.3, val_fraction=0.2, seed=2)).any()
    for label in range(4):
        parts = first[labels == label]
        assert (parts == "test").sum() == 6 and (parts == "val").sum() == 3 and (parts == "train").sum() == 11


def test_split_folders_are_taken_as_given_and_val_is_carved_from_train(tmp_path):
    source = digits_folder(tmp_path / "flat", per_class=10)
    for split, names in (("train", range(0, 7)), ("test", range(7, 10))):
        for folder in source.iterdir():
            (tmp_path / "split" / split / folder.name).mkdir(parents=True, exist_ok=True)
            for number in names:
                shutil.copy(folder / f"{number:03d}.png", tmp_path / "split" / split / folder.name)
    spec, images, _ = scan_task("digits", tmp_path / "split")
    assert spec.layout == "splits" and len(spec.classes) == 10
    assert all(image.split == "test" for image in images if image.image_id.startswith("test/"))
    assert {image.split for image in images if image.image_id.startswith("train/")} == {"train", "val"}


def test_csv_layout_with_and_without_split(tmp_path):
    source = digits_folder(tmp_path / "digits", per_class=6)
    rows = sorted(source.rglob("*.png"))
    (tmp_path / "plain.csv").write_text("path,label\n" + "".join(
        f"{path.relative_to(tmp_path)},{path.parent.name}\n" for path in rows))
    spec, images, _ = scan_task("plain", tmp_path / "plain.csv", test_fraction=0.5)
    assert spec.layout == "csv" and sum(image.split == "test" for image in images) == 30
    (tmp_path / "split.csv").write_text("path,label,split\n" + "".join(
        f"{path.relative_to(tmp_path)},{path.parent.name},{'test' if path.stem.endswith(('4', '5')) else 'train'}\n"
        for path in rows))
    _, images, _ = scan_task("given", tmp_path / "split.csv")
    assert sum(image.split == "test" for image in images) == 20
    (tmp_path / "bad.csv").write_text("file,class\nx.png,a\n")
    with pytest.raises(TaskInvalid, match="path,label"):
        scan_task("bad", tmp_path / "bad.csv")


def test_one_class_is_refused_with_the_fix(tmp_path):
    digits_folder(tmp_path, per_class=4)
    for folder in list(tmp_path.iterdir())[1:]:
        shutil.rmtree(folder)
    with pytest.raises(TaskInvalid, match="at least 2"):
        scan_task("one", tmp_path)


def test_hostile_folder_skips_counts_and_warns(tmp_path):
    root = hostile_folder(tmp_path / "photos")
    shutil.copy(root / "cat" / "0.png", root / "cat" / "copy_of_0.png")
    spec, images, report = scan_task("photos", root, seed=3)
    assert sorted(report.unreadable) == ["cat/broken.jpg", "coffee/not_an_image.png"]
    assert len(images) == 19
    lines = report.messages()
    assert lines[0].startswith("2 unreadable file(s) skipped")
    assert any("`astronaut` has 1 training image(s)" in line for line in lines)
    copies = [image for image in images if image.image_id in ("cat/0.png", "cat/copy_of_0.png")]
    assert report.duplicates == (1 if {image.split == "test" for image in copies} == {True, False} else 0)


def test_names_csv_sets_prompt_names_and_refuses_unknown_classes(tmp_path):
    digits_folder(tmp_path / "digits", per_class=3)
    (tmp_path / "names.csv").write_text("class,prompt\ndigit_0,the handwritten digit zero\n")
    spec, _, _ = scan_task("named", tmp_path / "digits", names=tmp_path / "names.csv")
    assert spec.prompt_names[0] == "the handwritten digit zero" and spec.prompt_names[1] == "digit 1"
    (tmp_path / "wrong.csv").write_text("digit_x,nothing\n")
    with pytest.raises(TaskInvalid, match="digit_x"):
        scan_task("named", tmp_path / "digits", names=tmp_path / "wrong.csv")


def test_bad_task_name_is_refused(tmp_path):
    with pytest.raises(TaskInvalid, match="letters, digits"):
        scan_task("my task!", tmp_path)
