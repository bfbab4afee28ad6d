"""A results store filled by the tiny and offline models on small synthetic copies of the benchmarks."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from core.data.imagenet import imagenet_x_file
from core.data.pug import PUG_FACTORS
from core.imagenet import wnids


def _noise(path, rng, size=(48, 40)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path, format="JPEG")


@pytest.fixture(scope="session")
def analysis_store(tmp_path_factory, tiny_models_toml):
    """Store path, with runs of tiny_vit/tiny_convnext (and effnet_lite0 on val) on synthetic val, R, PUG."""
    from core.run.evaluation import evaluate
    from core.run.decisions import import_author_decisions
    from core.store import ResultsStore
    from tests.conftest import shared_data

    root = tmp_path_factory.mktemp("analysis")
    rng = np.random.default_rng(0)
    with open(imagenet_x_file("filename_label.csv"), newline="") as handle:
        names = [row["file_name"] for row in csv.DictReader(handle)][:120]
    for name in names:
        _noise(root / "val" / name, rng)
    for wnid in wnids()[::5]:
        _noise(root / "r" / wnid / "a.jpg", rng)
    mapping = {}
    for index, name in enumerate(("Goldfish", "Tabby")):
        mapping[name] = [1 + 280 * index]
        for factor in PUG_FACTORS:
            _noise(root / "pug" / factor / name / "0.png", rng)
    (root / "pug" / "class_to_imagenet_idx.json").write_text(json.dumps(mapping))
    store = ResultsStore(root / "results.duckdb")
    quiet = {"store": store, "workers": 0, "say": lambda _: None}
    evaluate(["tiny_vit", "tiny_convnext", "effnet_lite0"], "imagenet-val", root / "val", **quiet)
    for variant in ("scale=1.5", "shift=30"):
        evaluate(["tiny_vit", "tiny_convnext"], "imagenet-val", root / "val", variant=variant, **quiet)
    evaluate(["tiny_vit", "tiny_convnext"], "imagenet-r", root / "r", **quiet)
    evaluate(["tiny_vit", "tiny_convnext"], "pug-imagenet", root / "pug", **quiet)
    import_author_decisions(shared_data("cue-conflict-paper-models"), store, say=lambda _: None)
    return store.path
