"""The benchmark registry: one entry per dataset, as data (adding a dataset is one entry)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from core.data.base import Adapter, DatasetInvalid, Item
from core.data.cue_conflict import CueConflict
from core.data.hard import ImageNetHard
from core.data.imagenet import ImageFolder, ImageNetC, ImageNetV2, ImageNetVal, WnidFolders
from core.data.pug import PugImageNet
from core.errors import UserError

__all__ = ["BenchmarkSpec", "BENCHMARKS", "get_benchmark", "load_items"]


@dataclass(frozen=True)
class BenchmarkSpec:
    """One benchmark.

    Attributes:
        key: CLI and store key, kebab-case; never renamed.
        adapter: reads the standard on-disk layout.
        label: display name.
        obtain: how a user gets the data.
        cite: source and licence.
        paper_raw_input: under the paper protocol, the supervised paper models get ToTensor + Normalize
            only (no resize or crop), as the paper's code did for the 224×224 cue-conflict images.
        store_logits: keep the full float16 logits per image (off for ImageNet-C's 750,000 images).
        convention: how scores are computed, recorded with each run.
    """

    key: str
    adapter: Adapter
    label: str
    obtain: str
    cite: str
    paper_raw_input: bool = False
    store_logits: bool = True
    convention: str = "top-1 over the 1000 ImageNet classes"


_A_R = "softmax and top-1 restricted to the dataset's 200 classes (Hendrycks et al.)"
BENCHMARKS: dict[str, BenchmarkSpec] = {spec.key: spec for spec in (
    BenchmarkSpec("imagenet-val", ImageNetVal(), "ImageNet-1k val", ImageNetVal.obtain,
                  "Russakovsky et al., IJCV 2015; labels and ReaL labels from the imagenet-x package (CC BY-NC)",
                  convention="top-1 vs the original label; ReaL accuracy over images with ReaL labels"),
    BenchmarkSpec("imagenet-v2", ImageNetV2(), "ImageNet-V2 (matched frequency)", ImageNetV2.obtain,
                  "Recht et al., ICML 2019"),
    BenchmarkSpec("imagenet-sketch", WnidFolders(1000, "Run: python -m core download imagenet-sketch"),
                  "ImageNet-Sketch", "Run: python -m core download imagenet-sketch", "Wang et al., NeurIPS 2019"),
    BenchmarkSpec("imagenet-a", WnidFolders(200, "Run: python -m core download imagenet-a", subset=True),
                  "ImageNet-A", "Run: python -m core download imagenet-a", "Hendrycks et al., CVPR 2021",
                  convention=_A_R),
    BenchmarkSpec("imagenet-r", WnidFolders(200, "Run: python -m core download imagenet-r", subset=True),
                  "ImageNet-R", "Run: python -m core download imagenet-r", "Hendrycks et al., ICCV 2021",
                  convention=_A_R),
    BenchmarkSpec("imagenet-c", ImageNetC(), "ImageNet-C", ImageNetC.obtain, "Hendrycks & Dietterich, ICLR 2019",
                  store_logits=False,
                  convention="mean top-1 over 15 corruptions × 5 severities; also per corruption and severity"),
    BenchmarkSpec("imagenet-hard", ImageNetHard(), "ImageNet-Hard", ImageNetHard.obtain,
                  "Taesiri et al., NeurIPS 2023 D&B (taesiri/imagenet-hard)",
                  convention="correct if the prediction is any of the image's valid labels"),
    BenchmarkSpec("pug-imagenet", PugImageNet(), "PUG-ImageNet", PugImageNet.obtain,
                  "Bordes et al., NeurIPS 2023; CC BY-NC",
                  convention="correct if the prediction is any ImageNet index mapped to the class"),
    BenchmarkSpec("cue-conflict", CueConflict(), "Cue-conflict (shape vs texture)", CueConflict.obtain,
                  "Geirhos et al., ICLR 2019; CC BY 4.0", paper_raw_input=True,
                  convention="16-class decision: highest mean softmax probability over each class's ImageNet members"),
    BenchmarkSpec("imagefolder", ImageFolder(), "Your image folder", ImageFolder.obtain, "your data"),
)}


def get_benchmark(key: str) -> BenchmarkSpec:
    if key in BENCHMARKS:
        return BENCHMARKS[key]
    close = difflib.get_close_matches(key, list(BENCHMARKS), n=5, cutoff=0.4)
    hint = f" Did you mean: {', '.join(close)}?" if close else f" Known: {', '.join(BENCHMARKS)}."
    raise UserError(f"Unknown benchmark `{key}`.{hint}")


def load_items(spec: BenchmarkSpec, root: Path) -> list[Item]:
    """Validate `root` for `spec`, then list its items; a bad folder raises DatasetInvalid, never a traceback."""
    root = Path(root).expanduser().resolve()
    problems = spec.adapter.validate(root)
    if problems:
        raise DatasetInvalid.from_problems(spec.label, root, problems)
    items = sorted(spec.adapter.items(root), key=lambda item: item.image_id)
    if not items:
        raise DatasetInvalid(f"{spec.label} at {root} holds no images. {spec.obtain}")
    return items
