"""core.metrics.transfer and core.run.probe: probes find separable classes, not random ones; splits follow VTAB-1k."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.metrics.transfer import linear_probe


def _blobs(rng, n, classes=3, dim=16, spread=0.3):
    labels = rng.integers(0, classes, n)
    centres = np.eye(classes, dim) * 3
    return centres[labels] + spread * rng.normal(size=(n, dim)), labels


def test_separable_classes_are_found(rng):
    (a, ya), (b, yb), (c, yc) = _blobs(rng, 200), _blobs(rng, 60), _blobs(rng, 100)
    result = linear_probe(a, ya, b, yb, c, yc)
    assert result["test_accuracy"] == 1.0 and len(result["test_correct"]) == 100
    assert set(result["val_accuracy"]) == {1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0}


def test_random_labels_stay_near_chance(rng):
    x = rng.normal(size=(600, 16))
    y = rng.integers(0, 4, 600)
    result = linear_probe(x[:300], y[:300], x[300:400], y[300:400], x[400:], y[400:])
    assert result["test_accuracy"] < 0.45  # chance is 0.25


def test_c_is_chosen_on_validation_not_test(rng):
    (a, ya), (b, yb), (c, yc) = _blobs(rng, 100, spread=2.0), _blobs(rng, 50, spread=2.0), _blobs(rng, 50, spread=2.0)
    result = linear_probe(a, ya, b, yb, c, yc)
    assert result["val_accuracy"][result["C"]] == max(result["val_accuracy"].values())


def test_vtab1k_split_sizes():
    from core.data.base import Item
    from core.run.probe import split_items

    items = [Item(f"train/{i}", "x", i % 3, condition="train") for i in range(1500)]
    items += [Item(f"test/{i}", "x", i % 3, condition="test") for i in range(50)]
    splits = split_items(items, vtab1k=True, seed=0)
    assert (len(splits["train"]), len(splits["val"]), len(splits["test"])) == (800, 200, 50)
    assert not {i.image_id for i in splits["train"]} & {i.image_id for i in splits["val"]}
    plain = split_items(items, vtab1k=False, seed=0)
    assert (len(plain["train"]), len(plain["val"])) == (1200, 300)


def _colour_dataset(root, rng, per_class=12):
    colours = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}
    for split, count in (("train", per_class), ("test", 6)):
        for name, colour in colours.items():
            for i in range(count):
                folder = root / split / name
                folder.mkdir(parents=True, exist_ok=True)
                noise = rng.integers(-25, 25, (32, 32, 3))
                Image.fromarray(np.clip(np.array(colour) + noise, 0, 255).astype(np.uint8)).save(folder / f"{i}.png")


def test_probe_end_to_end_with_the_offline_model(tmp_path, rng):
    from core.run.probe import run_probes
    from core.store import ResultsStore

    _colour_dataset(tmp_path / "colours", rng)
    store = ResultsStore(tmp_path / "results.duckdb")
    records = run_probes(["effnet_lite0"], tmp_path / "colours", store=store, workers=0, say=lambda _: None)
    assert records[0]["test_accuracy"] == 1.0 and records[0]["n_test"] == 18
    assert len(store.probes()) == 1
    frame, matrix = store.features(records[0]["feature_key"])
    assert matrix.shape == (54, 1280) and set(frame["split"]) == {"train", "val", "test"}
    again = run_probes(["effnet_lite0"], tmp_path / "colours", store=store, workers=0, say=lambda _: None)
    assert again[0]["probe_id"] == records[0]["probe_id"] and len(store.probes()) == 1  # features reused


def test_a_bad_transfer_folder_is_explained(tmp_path):
    from core.data.base import DatasetInvalid
    from core.run.probe import run_probes

    (tmp_path / "train" / "a").mkdir(parents=True)
    with pytest.raises(DatasetInvalid, match="test/ folder"):
        run_probes(["effnet_lite0"], tmp_path, say=lambda _: None)
