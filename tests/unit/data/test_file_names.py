"""File names that are not valid UTF-8 (made on another system, common in archives): every dataset adapter, the
fingerprint, `task add` and `evaluate` store them under an escaped name and still read the file (issue 33).

Linux hands such a name to Python as lone surrogates (`os.fsdecode`'s surrogateescape), which pyarrow, DuckDB
and JSON writers refuse; `core.data.base.name_text` writes each odd byte as `\\xNN` and `text_name` reverses it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PIL import Image

from core.data import BENCHMARKS
from core.data.base import fingerprint, name_text, shown_text, text_name
from core.data.cue_conflict import SIXTEEN_CLASSES
from core.data.pug import PUG_FACTORS

ODD = b"caf\xe9"  # Latin-1 "café": not UTF-8
ODD_TEXT = "caf\\xe9"  # how the store keeps it


def _image(folder: Path, name: bytes, suffix: bytes = b".png", colour=(120, 30, 200)) -> Path:
    """A small PNG at `folder`/`name``suffix`, created through the bytes path (as an archive made elsewhere does)."""
    os.makedirs(os.fsencode(folder), exist_ok=True)
    path = os.path.join(os.fsencode(folder), name + suffix)
    Image.new("RGB", (40, 30), colour).save(path, format="PNG")
    return Path(os.fsdecode(path))


@pytest.mark.parametrize("raw", [ODD + b".jpg", b"a\\b.png", b"lit\\xe9.png", "café/ü.jpg".encode(), b"\xff\\\xe9"])
def test_escaped_names_come_back_and_are_plain_text(raw):
    name = os.fsdecode(raw)
    text = name_text(name)
    text.encode("utf-8")  # what the store's writers need
    assert text_name(text) == name


def test_valid_names_are_stored_as_they_are():
    assert name_text("n01440764/ILSVRC2012_val_00000001.JPEG") == "n01440764/ILSVRC2012_val_00000001.JPEG"
    assert name_text("crème/brûlée.png") == "crème/brûlée.png"
    assert name_text(os.fsdecode(ODD + b".jpg")) == ODD_TEXT + ".jpg"


def _hard(root: Path) -> None:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (0, 200, 0)).save(buffer, format="PNG")
    (root / "data").mkdir(parents=True)
    pq.write_table(pa.table({"image": [{"bytes": buffer.getvalue(), "path": "0.png"}], "label": [[3, 4]],
                             "origin": ["x"]}), root / "data" / "plain.parquet")
    os.rename(os.fsencode(root / "data" / "plain.parquet"), os.path.join(os.fsencode(root / "data"), ODD + b".parquet"))


def _layout(key: str, root: Path) -> None:
    """One image with the odd name where benchmark `key` looks for images (plus what the layout needs)."""
    if key in ("imagenet-val", "imagenet-sketch", "imagenet-a", "imagenet-r", "imagefolder"):
        _image(root / "n01440764", ODD)
    elif key == "imagenet-v2":
        _image(root / "7", ODD)
    elif key == "imagenet-c":
        _image(root / "fog" / "3" / "n01440764", ODD)
    elif key == "imagenet-hard":
        _hard(root)
    elif key == "pug-imagenet":
        for factor in PUG_FACTORS:
            _image(root / factor / "Goldfish", ODD)
        (root / "class_to_imagenet_idx.json").write_text(json.dumps({"Goldfish": [1]}))
    elif key == "cue-conflict":
        _image(root / "cat", b"cat1-bird" + ODD)  # not a cue-conflict name: skipped, and validate names it
    else:
        raise AssertionError(f"no layout for {key}: add one")


@pytest.mark.parametrize("key", list(BENCHMARKS))
def test_every_adapter_lists_an_odd_name_under_its_escaped_form(key, tmp_path):
    import pyarrow as pa

    from core.run.rows import item_columns

    _layout(key, tmp_path)
    adapter = BENCHMARKS[key].adapter
    items = adapter.items(tmp_path)
    if key == "cue-conflict":
        assert items == []
        assert any(ODD_TEXT in str(problem) for problem in adapter.validate(tmp_path))
        return
    assert len(items) >= 1 and all(ODD_TEXT in item.image_id for item in items), [i.image_id for i in items]
    assert len(fingerprint(items)) == 16
    table = pa.table(item_columns("run", items))  # the store's row columns: the writer's UnicodeEncodeError
    assert all(os.path.exists(text_name(path)) for path in table["path"].to_pylist())
    assert adapter.read_bytes(items[0])  # the real file is read


def test_transfer_folders_with_an_odd_class_and_file_name(tmp_path):
    from core.data.transfer import TransferFolder

    for split in ("train", "test"):
        _image(tmp_path / split / os.fsdecode(ODD), ODD)
        _image(tmp_path / split / "plain", b"x")
    items = TransferFolder().items(tmp_path)
    assert {item.image_id for item in items} >= {f"train/{ODD_TEXT}/{ODD_TEXT}.png", "test/plain/x.png"}
    assert len(fingerprint(items)) == 16


def test_a_fingerprint_takes_an_unescaped_id_too():
    from core.data.base import Item

    odd = os.fsdecode(ODD + b".png")
    assert fingerprint([Item(odd, "/nowhere/" + odd)]) != fingerprint([Item("other.png", "/nowhere/other.png")])


def test_messages_show_odd_bytes_as_escapes():
    assert shown_text(os.fsdecode(b"folder/" + ODD)) == "folder/" + ODD_TEXT


def test_task_add_and_run_with_odd_file_and_class_names(tmp_path, monkeypatch, capsys, tiny_models_toml):
    """`python -m core task add` stores the task (it raised UnicodeEncodeError from pyarrow), and `task run` reads
    every image through its stored, escaped path."""
    from core.cli import main
    from core.store import ResultsStore
    from tests.fixtures.task_folders import digits_folder

    digits_folder(tmp_path / "images", per_class=4, labels=range(3))
    for number in range(4):
        _image(tmp_path / "images" / os.fsdecode(ODD), ODD + b"%d" % number, colour=(60 * number, 30, 200))
    monkeypatch.setenv("BAE_RESULTS_DB", str(tmp_path / "results.duckdb"))
    assert main(["task", "add", "odd", "--data", str(tmp_path / "images")]) == 0
    assert "4 classes, 16 images" in capsys.readouterr().out
    store = ResultsStore(tmp_path / "results.duckdb")
    images = store.task_images("odd")
    assert f"{ODD_TEXT}/{ODD_TEXT}0.png" in set(images["image_id"])
    assert all(os.path.exists(text_name(path)) for path in images["path"])
    assert ODD_TEXT in store.tasks()["spec"][0]["classes"]
    assert main(["task", "run", "odd", "--models", "tiny_convnext", "--shots", "1", "--corruptions", "none"]) == 0
    shown = capsys.readouterr()
    assert "odd: 16 feature vectors" in shown.out  # every image read, the odd ones too
    assert "16/16 images" in shown.err  # the run's progress line
    assert store.task_row_counts("odd")["task_predictions"] > 0


def test_evaluate_an_image_folder_with_an_odd_file_name(tmp_path, monkeypatch, tiny_models_toml):
    """`python -m core evaluate --benchmark imagefolder` (it raised UnicodeEncodeError in the fingerprint)."""
    from core.cli import main
    from core.store import ResultsStore

    _image(tmp_path / "data" / "n01440764", ODD)
    _image(tmp_path / "data" / "n01443537", b"plain")
    monkeypatch.setenv("BAE_RESULTS_DB", str(tmp_path / "results.duckdb"))
    assert main(["evaluate", "--models", "tiny_convnext", "--benchmark", "imagefolder", "--data",
                 str(tmp_path / "data"), "--workers", "0"]) == 0
    store = ResultsStore(tmp_path / "results.duckdb")
    rows = store.predictions(store.runs()["run_id"].iloc[0])
    assert set(rows["image_id"]) == {f"n01440764/{ODD_TEXT}.png", "n01443537/plain.png"}
    assert rows["error"].isna().all()  # both files read and scored
