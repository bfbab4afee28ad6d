"""core.data: every adapter on a synthetic copy of its real layout, and clear problems when malformed."""

from __future__ import annotations

import io
import re
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.data import BENCHMARKS, DatasetInvalid, get_benchmark, load_items
from core.data.cue_conflict import SIXTEEN_CLASSES, sixteen_class_indices
from dataclasses import replace

from core.data.hard import HARD_ROWS
from core.data.manifest import UNVERIFIED, Manifest, write_manifest
from core.data.imagenet import CORRUPTIONS, ImageFolder, WnidFolders
from core.data.pug import PUG_FACTORS, paper_index_owner
from core.data.sources import SOURCES
from core.errors import UserError
from core.imagenet import wnids

from tests.conftest import shared_data


def _image(path: Path, colour=(120, 30, 200), size=(40, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


@pytest.mark.parametrize("key", list(BENCHMARKS))
def test_every_adapter_explains_an_empty_or_missing_folder(key, tmp_path):
    adapter = BENCHMARKS[key].adapter
    for root in (tmp_path / "missing", tmp_path):
        problems = adapter.validate(root)
        assert problems, f"{key} accepted {root}"
        assert all(problem.fix for problem in problems)
    with pytest.raises(DatasetInvalid, match=re.escape(BENCHMARKS[key].label)):
        load_items(BENCHMARKS[key], tmp_path)


def test_unknown_benchmark_suggests():
    with pytest.raises(UserError, match="imagenet-val"):
        get_benchmark("imagenet-vall")


def test_imagenet_val_flat_files_take_labels_and_real_labels_from_imagenet_x(tmp_path):
    for number in (1, 2, 293):
        _image(tmp_path / f"ILSVRC2012_val_{number:08d}.JPEG")
    adapter = BENCHMARKS["imagenet-val"].adapter
    assert adapter.validate(tmp_path) == []
    items = {item.image_id: item for item in adapter.items(tmp_path)}
    assert items["ILSVRC2012_val_00000001.JPEG"].label == 65  # sea snake, the well-known first val label
    assert items["ILSVRC2012_val_00000293.JPEG"].label == 0  # tench, first row of filename_label.csv
    assert items["ILSVRC2012_val_00000002.JPEG"].labels == (970, 795)  # ImageNet-ReaL
    assert items["ILSVRC2012_val_00000001.JPEG"].labels == ()  # ReaL gives this one no label


def test_imagenet_val_class_folders(tmp_path):
    for index, wnid in enumerate(wnids()):
        _image(tmp_path / wnid / f"ILSVRC2012_val_{index + 1:08d}.JPEG", size=(2, 2))
    items = load_items(BENCHMARKS["imagenet-val"], tmp_path)
    assert len(items) == 1000 and items[0].label == 0 and items[0].image_id.startswith("n01440764/")


def test_imagenet_v2_folders_are_integers_not_strings(tmp_path):
    for index in range(1000):
        _image(tmp_path / str(index) / "a.jpeg", size=(2, 2))
    items = {item.image_id: item.label for item in load_items(BENCHMARKS["imagenet-v2"], tmp_path)}
    assert items["10/a.jpeg"] == 10 and items["2/a.jpeg"] == 2 and items["999/a.jpeg"] == 999
    (tmp_path / "999" / "a.jpeg").unlink()
    (tmp_path / "999").rmdir()
    assert "999 numbered folder" in str(BENCHMARKS["imagenet-v2"].adapter.validate(tmp_path)[0])


@pytest.mark.parametrize("key, count", [("imagenet-a", 200), ("imagenet-r", 200), ("imagenet-sketch", 1000)])
def test_wnid_folder_sets(key, count, tmp_path):
    chosen = wnids()[::1000 // count][:count]
    for wnid in chosen:
        _image(tmp_path / wnid / "x.png", size=(2, 2))
    spec = BENCHMARKS[key]
    items = load_items(spec, tmp_path)
    assert len(items) == count
    subset = spec.adapter.class_subset(tmp_path)
    if count == 200:
        assert subset == tuple(sorted(wnids().index(w) for w in chosen)) and "200 classes" in spec.convention
    else:
        assert subset is None


def test_wnid_folders_report_strays_and_empty_folders(tmp_path):
    _image(tmp_path / "n01440764" / "x.png")
    (tmp_path / "n01443537").mkdir()
    (tmp_path / "train").mkdir()
    text = " ".join(str(problem) for problem in WnidFolders(2, "get it").validate(tmp_path))
    assert "train" in text and "empty class folder" in text


def test_imagenet_c_layout_and_conditions(tmp_path):
    for corruption in CORRUPTIONS:
        for severity in "12345":
            _image(tmp_path / corruption / severity / "n01440764" / "x.JPEG", size=(2, 2))
    items = load_items(BENCHMARKS["imagenet-c"], tmp_path)
    assert len(items) == 75 and {item.condition for item in items} >= {"fog/3", "gaussian_noise/1"}
    assert not BENCHMARKS["imagenet-c"].store_logits
    import shutil

    shutil.rmtree(tmp_path / "fog")
    (tmp_path / "snow" / "6").mkdir()
    text = " ".join(map(str, BENCHMARKS["imagenet-c"].adapter.validate(tmp_path)))
    assert "fog" in text and "severity folders 1 … 5" in text


def _hard_parquet(path: Path, rows: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (0, 200, 0)).save(buffer, format="PNG")
    images = [{"bytes": buffer.getvalue(), "path": f"{i}.png"} for i in range(rows)]
    labels = [[i % 1000, (i + 1) % 1000] for i in range(rows)]
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"image": images, "label": labels, "origin": ["x"] * rows}), path)


def test_imagenet_hard_parquet_rows_and_multi_labels(tmp_path):
    _hard_parquet(tmp_path / "data" / "validation-00000-of-00002.parquet", 5)
    _hard_parquet(tmp_path / "data" / "validation-00001-of-00002.parquet", 3)
    adapter = BENCHMARKS["imagenet-hard"].adapter
    problems = adapter.validate(tmp_path)
    assert len(problems) == 1 and f"{HARD_ROWS:,} or 13,925 rows (dataset card)" in str(problems[0])
    assert "found 8" in str(problems[0])
    items = adapter.items(tmp_path)
    assert len(items) == 8 and items[1].labels == (1, 2) and items[1].image_id.endswith(".parquet:1")
    decoded = Image.open(io.BytesIO(adapter.read_bytes(items[6])))
    assert decoded.size == (8, 8)
    snapshot = tmp_path / "datasets--taesiri--imagenet-hard" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    assert adapter.revision(snapshot) == f"{UNVERIFIED} (hub snapshot abc123)"
    assert adapter.revision(tmp_path) == UNVERIFIED


def test_imagenet_hard_pinned_count_is_the_cards_latest_metadata():
    # num_examples in the card's metadata at the pinned commit (32bfa94, 16 Jun 2023); 13,925 was 31 Mar 2023's
    assert HARD_ROWS == SOURCES["imagenet-hard"].images == 10_980
    assert SOURCES["imagenet-hard"].hub.revision == "32bfa94dcd95e7c3bbe09fa281f5b89870921745"


def test_imagenet_hard_two_shard_sets_in_one_folder_are_refused(tmp_path):
    # some hub revisions hold -of-00005 and -of-00009 side by side: rows would count twice
    _hard_parquet(tmp_path / "data" / "validation-00000-of-00002-aa.parquet", 5)
    _hard_parquet(tmp_path / "data" / "validation-00001-of-00002-bb.parquet", 3)
    _hard_parquet(tmp_path / "data" / "validation-00000-of-00001-cc.parquet", 8)
    problems = BENCHMARKS["imagenet-hard"].adapter.validate(tmp_path)
    assert len(problems) == 1 and "one shard set" in str(problems[0]) and "-of-00001, -of-00002" in str(problems[0])


def test_imagenet_hard_with_a_manifest_checks_its_rows_and_names_its_revision(tmp_path):
    _hard_parquet(tmp_path / "data" / "validation-00000-of-00001.parquet", 7)
    adapter = BENCHMARKS["imagenet-hard"].adapter
    manifest = Manifest("imagenet-hard", "taesiri/imagenet-hard", "a" * 40, pinned=False,
                        files=({"name": "data/validation-00000-of-00001.parquet", "sha256": "0" * 64},), images=7)
    write_manifest(tmp_path, manifest)
    assert adapter.validate(tmp_path) == []  # 7 rows: not a card count, but the manifest's
    assert adapter.revision(tmp_path) == manifest.describe()
    assert adapter.revision(tmp_path).startswith("taesiri/imagenet-hard@aaaaaaa (chosen, not the pinned revision)")
    write_manifest(tmp_path, replace(manifest, images=9))
    assert "9 rows (its download manifest, revision aaaaaaa)" in str(adapter.validate(tmp_path)[0])


def test_pug_needs_its_mapping_file_and_says_where_it_is(tmp_path):
    for factor in PUG_FACTORS:
        _image(tmp_path / factor / "Goldfish" / "1.png", size=(2, 2))
    problems = BENCHMARKS["pug-imagenet"].adapter.validate(tmp_path)
    assert "facebookresearch/PUG" in str(problems[0])
    (tmp_path / "class_to_imagenet_idx.json").write_text(json.dumps({"Goldfish": [1]}))
    items = load_items(BENCHMARKS["pug-imagenet"], tmp_path)
    assert len(items) == 10 and items[0].labels == (1,) and {item.condition for item in items} == set(PUG_FACTORS)


def test_pug_shirt_and_sweatshirt_share_841_and_it_counts_only_for_sweatshirt(tmp_path):
    # the published class_to_imagenet_idx.json (facebookresearch/PUG d6b98fa) lists "Sweatshirt": [841] then
    # "Shirt": [841]; the paper's code (Beyond-INet get_pug_imagenet) sorts the names and inverts the table, so
    # 841 -> Sweatshirt (last by name) and a Shirt image is never correct
    for factor in PUG_FACTORS:
        for name in ("Sweatshirt", "Shirt", "Wolf"):
            _image(tmp_path / factor / name / "1.png", size=(2, 2))
    (tmp_path / "class_to_imagenet_idx.json").write_text(
        '{"Wolf": [269, 270, 271, 272], "Sweatshirt": [841], "Shirt": [841]}')
    by_class = {Path(item.image_id).parent.name: item for item in load_items(BENCHMARKS["pug-imagenet"], tmp_path)}
    assert paper_index_owner({"Sweatshirt": [841], "Shirt": [841]}) == {841: "Sweatshirt"}
    assert by_class["Sweatshirt"].labels == (841,) and by_class["Wolf"].labels == (269, 270, 271, 272)
    assert by_class["Shirt"].labels == () and by_class["Shirt"].label == -1
    # scored as evaluate scores it: a prediction of 841 is right for Sweatshirt and wrong for Shirt
    from core.run.rows import result_columns

    logits = np.full((2, 1000), -5.0, dtype=np.float32)
    logits[:, 841] = 5.0
    chosen = [by_class["Sweatshirt"], by_class["Shirt"]]
    columns = result_columns(logits, labels=np.array([item.label for item in chosen]),
                             accepted=[item.labels or (item.label,) for item in chosen])
    assert columns["correct"].tolist() == [True, False]


def test_cue_conflict_real_images_parse_shape_and_texture():
    items = load_items(BENCHMARKS["cue-conflict"], shared_data("cue-conflict"))
    assert len(items) == 1280
    item = next(item for item in items if item.image_id == "cat/cat1-bird1.png")
    assert (item.shape, item.texture) == ("cat", "bird")
    assert {item.shape for item in items} == set(SIXTEEN_CLASSES)
    assert sixteen_class_indices()["cat"] == (281, 282, 283, 284, 285, 286)


def test_cue_conflict_malformed_names_are_named(tmp_path):
    for name in SIXTEEN_CLASSES:
        _image(tmp_path / name / f"{name}1-cat1.png", size=(2, 2))
    _image(tmp_path / "cat" / "photo.png", size=(2, 2))
    text = " ".join(map(str, BENCHMARKS["cue-conflict"].adapter.validate(tmp_path)))
    assert "photo.png" in text and "1280 images" in text


def test_image_folder_accepts_wnids_and_unambiguous_names_only(tmp_path):
    _image(tmp_path / "n01440764" / "a.png")
    _image(tmp_path / "goldfish" / "b.png")
    adapter = ImageFolder()
    assert adapter.validate(tmp_path) == []
    assert {item.label for item in adapter.items(tmp_path)} == {0, 1}
    for name in ("crane", "maillot"):
        _image(tmp_path / name / "c.png")
    text = " ".join(map(str, adapter.validate(tmp_path)))
    assert "`crane`, which names several" in text and "`maillot`, which names several" in text


def test_pug_runs_are_keyed_by_the_index_table_and_the_scoring_rule(tmp_path):
    from core.data.base import data_identity, fingerprint

    adapter = BENCHMARKS["pug-imagenet"].adapter
    for factor in PUG_FACTORS:
        _image(tmp_path / factor / "Shirt" / "1.png", size=(2, 2))
    (tmp_path / "class_to_imagenet_idx.json").write_text('{"Shirt": [841]}')
    items = load_items(BENCHMARKS["pug-imagenet"], tmp_path)
    first = fingerprint(items, identity=data_identity(adapter, tmp_path))
    assert first != fingerprint(items)  # runs scored under the earlier rule (no key) are not reused
    (tmp_path / "class_to_imagenet_idx.json").write_text('{"Shirt": [841], "Sweatshirt": [841]}')
    assert fingerprint(items, identity=data_identity(adapter, tmp_path)) != first  # same files, another table
    assert data_identity(BENCHMARKS["cue-conflict"].adapter, shared_data("cue-conflict")) == ""  # keys as before
