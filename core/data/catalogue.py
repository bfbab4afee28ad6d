"""The published catalogue a shortlist is drawn from: every checkpoint timm and open_clip list, with its top-1,
parameter count, pretraining and published inference speed.

Read from the pinned downloads, as plain CSV (no pandas, no torch: the shortlist answers in well under a second):

- `timm-results` (results/results-<set>.csv at timm's pinned commit): one row per (model, img_size) with `top1`
  (percent) and `param_count` (millions, "1,014.45" with a thousands comma). A checkpoint listed at two sizes keeps
  the row at its smaller size: timm's default `pretrained_cfg` input size, the one our `library` protocol feeds.
  `model_metadata-in1k.csv` gives older, untagged names their pretraining (core/data/pretraining.py). timm's toy
  `test_*` models (a few hundred thousand parameters, trained at 160 px for its own tests) are left out.
- `openclip-results` (docs/openclip_classification_results.csv): one row per (`name`, `pretrained`): zero-shot
  top-1 fractions per dataset, `params (M)` and `Average perf. on 35 datasets`.
- `timm-benchmarks` (results/benchmark-infer-*.csv): per machine, one row per (architecture, infer_img_size):
  `infer_samples_per_sec` at `infer_batch_size`. Only timm architectures are benchmarked: open_clip's zero-shot
  models have no published speed.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from core.data.pretraining import Pretraining, family_of, is_test_model, pretraining_of, read_metadata, split_name

__all__ = ["SHIFTED_SETS", "MACHINES", "Published", "Speed", "read_catalogue", "read_speeds", "machine_key",
           "benchmarks_folder"]

SHIFTED_SETS = {"results-imagenetv2-matched-frequency.csv": ("imagenet-v2", "ImageNet v2"),
                "results-sketch.csv": ("imagenet-sketch", "ImageNet Sketch"),
                "results-imagenet-r.csv": ("imagenet-r", "ImageNet-R"),
                "results-imagenet-a.csv": ("imagenet-a", "ImageNet-A")}
"""The shifted sets both publishers list (timm file → our key, open_clip's column): the `shifted` prior is their
mean. ImageNet-ReaL is left out: it relabels ImageNet val rather than shifting it, and open_clip does not list it."""
_MACHINE_KEYS = {"4090": "rtx4090", "5090": "rtx5090", "pro6000maxq": "rtxpro6000", "rtx3090": "rtx3090",
                 "i7_12700h": "i7-12700h", "i9_10940x": "i9-10940x"}


def _machines() -> dict[str, tuple[str, str]]:
    from core.data.sources import TIMM_BENCHMARK_FILES

    out = {}
    for name, _, _, label in TIMM_BENCHMARK_FILES:
        stem = name.removesuffix(".csv").removesuffix("-dynamo").split("-")[-1]
        out[_MACHINE_KEYS.get(stem, stem)] = (name, label)
    return out


MACHINES: dict[str, tuple[str, str]] = _machines()
"""`--on` key → (timm's benchmark file, the machine as shown)."""


@dataclass(frozen=True)
class Published:
    """One published checkpoint.

    Attributes:
        publisher: `timm` or `open_clip`.
        checkpoint: timm `arch.tag`; open_clip `name/pretrained`.
        img_size: timm's evaluation size in px (its smaller listed size); 0 for open_clip.
        params_m: parameters in millions, as published (None where not).
        imagenet: top-1 on ImageNet val, a fraction (open_clip: zero-shot).
        shifted: mean top-1 over `SHIFTED_SETS` (None unless all four are listed).
        zero_shot_35: open_clip's average over its 35 zero-shot datasets (None for timm).
        pretraining: what it was pretrained on, and where that was read.
        family: the architecture family (`convnext`, `vit`, …).
    """

    publisher: str
    checkpoint: str
    img_size: int
    params_m: float | None
    imagenet: float | None
    shifted: float | None
    zero_shot_35: float | None
    pretraining: Pretraining
    family: str

    @property
    def architecture(self) -> str:
        """timm's untagged architecture (the benchmark files' key); open_clip's model name."""
        return split_name(self.checkpoint)[0] if self.publisher == "timm" else self.checkpoint.partition("/")[0]


@dataclass(frozen=True)
class Speed:
    """A published inference speed: images per second at `img_size` px and `batch` on `machine`."""

    samples_per_sec: float
    img_size: int
    batch: int
    machine: str


def _number(text: str | None) -> float | None:
    try:
        return float(str(text).replace(",", "")) if text not in (None, "") else None
    except ValueError:
        return None


def _rows(path: Path, needed: tuple[str, ...], download: str) -> list[dict]:
    from core.data.population import PopulationInvalid

    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            absent = [column for column in needed if column not in (reader.fieldnames or ())]
            if absent:
                raise PopulationInvalid(f"{path} lacks the publisher's column(s) {', '.join(absent)}: it is not the "
                                        f"published table. Delete it and run: python -m core download {download}")
            return list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise PopulationInvalid(f"{path} could not be read as CSV ({type(error).__name__}). Delete it and run: "
                                f"python -m core download {download}") from None


def _stamp(path: Path) -> int:
    return path.stat().st_mtime_ns if path.is_file() else 0


def read_catalogue() -> tuple[Published, ...]:
    """Every published checkpoint (timm's, then open_clip's), cached until a file changes. Raises
    PopulationMissing (naming the download) when neither table is here, PopulationInvalid for a file that is not
    the publisher's."""
    from core.data.population import OPENCLIP_FILE, TIMM_FILES, PopulationMissing, population_folder

    timm, openclip = population_folder("timm"), population_folder("open_clip")
    stamps = tuple(_stamp(timm / name) for name in TIMM_FILES) + (_stamp(timm / "model_metadata-in1k.csv"),
                                                                 _stamp(openclip / OPENCLIP_FILE))
    if not stamps[0] and not stamps[-1]:
        raise PopulationMissing("No published model tables here to choose candidates from: run python -m core "
                                "download timm-results openclip-results (about 1 MB).")
    return _catalogue(str(timm), str(openclip), stamps)


@lru_cache(maxsize=4)
def _catalogue(timm: str, openclip: str, _stamps: tuple) -> tuple[Published, ...]:
    from core.data.population import OPENCLIP_FILE

    return _read_timm(Path(timm)) + _read_openclip(Path(openclip) / OPENCLIP_FILE)


def _read_timm(folder: Path) -> tuple[Published, ...]:
    val_path = folder / "results-imagenet.csv"
    if not val_path.is_file():
        return ()
    needed = ("model", "img_size", "top1", "param_count")
    first: dict[str, dict] = {}
    for row in _rows(val_path, needed, "timm-results"):
        name = row["model"]
        if is_test_model(name):
            continue
        size = int(_number(row["img_size"]) or 0)
        if name not in first or size < first[name]["size"]:
            first[name] = {"size": size, "top1": _number(row["top1"]), "params": _number(row["param_count"])}
    shifted: dict[str, list[float]] = {}
    for file in SHIFTED_SETS:
        path = folder / file
        if not path.is_file():
            continue
        for row in _rows(path, ("model", "img_size", "top1"), "timm-results"):
            kept = first.get(row["model"])
            if kept is not None and int(_number(row["img_size"]) or 0) == kept["size"] and _number(row["top1"]) is not None:
                shifted.setdefault(row["model"], []).append(_number(row["top1"]) / 100)
    metadata = read_metadata(folder)
    out = []
    for name, kept in first.items():
        values = shifted.get(name, [])
        out.append(Published("timm", name, kept["size"], kept["params"],
                             None if kept["top1"] is None else kept["top1"] / 100,
                             sum(values) / len(values) if len(values) == len(SHIFTED_SETS) else None, None,
                             pretraining_of(name, metadata), family_of(name)))
    return tuple(out)


def _read_openclip(path: Path) -> tuple[Published, ...]:
    if not path.is_file():
        return ()
    columns = [column for _, column in SHIFTED_SETS.values()]
    needed = ("name", "pretrained", "params (M)", "ImageNet 1k", "Average perf. on 35 datasets", *columns)
    out, seen = [], set()
    for row in _rows(path, needed, "openclip-results"):
        checkpoint = f"{row['name']}/{row['pretrained']}"
        if checkpoint in seen:
            continue
        seen.add(checkpoint)
        values = [_number(row[column]) for column in columns]
        out.append(Published("open_clip", checkpoint, 0, _number(row["params (M)"]), _number(row["ImageNet 1k"]),
                             None if None in values else sum(values) / len(values),
                             _number(row["Average perf. on 35 datasets"]),
                             pretraining_of(checkpoint, publisher="open_clip"), family_of(checkpoint)))
    return tuple(out)


def benchmarks_folder() -> Path:
    from core.data.download import data_dir
    from core.data.sources import SOURCES

    return data_dir() / SOURCES["timm-benchmarks"].folder


def machine_key(text: str) -> str:
    """`--on` as typed (`4090`, `RTX 4090`, `i7-12700H`, `rtx3090`) → a `MACHINES` key; raises UserError naming them."""
    from core.errors import UserError

    def plain(value: str) -> str:
        return re.sub(r"[^a-z0-9]", "", value.lower()).removeprefix("rtx")

    wanted = plain(text)
    for key in MACHINES:
        if wanted and wanted == plain(key):
            return key
    raise UserError(f"Unknown machine `{text}` for --on: timm publishes speeds on {', '.join(MACHINES)} "
                    "(pick the one closest to yours).")


def read_speeds(machine: str) -> dict[tuple[str, int], Speed]:
    """(architecture, img_size) → published Speed on `machine` (a `MACHINES` key), cached until the file changes.
    Raises PopulationMissing naming `python -m core download timm-benchmarks` when the file is absent."""
    from core.data.population import PopulationMissing

    file, label = MACHINES[machine]
    path = benchmarks_folder() / file
    if not path.is_file():
        raise PopulationMissing(f"timm's published speeds on the {label} are not here: run python -m core download "
                                "timm-benchmarks (0.5 MB).")
    return _speeds(str(path), label, path.stat().st_mtime_ns)


@lru_cache(maxsize=8)
def _speeds(path: str, label: str, _stamp: int) -> dict[tuple[str, int], Speed]:
    needed = ("model", "infer_img_size", "infer_samples_per_sec", "infer_batch_size")
    out = {}
    for row in _rows(Path(path), needed, "timm-benchmarks"):
        speed, size = _number(row["infer_samples_per_sec"]), int(_number(row["infer_img_size"]) or 0)
        if speed is not None and (row["model"], size) not in out:
            out[(row["model"], size)] = Speed(speed, size, int(_number(row["infer_batch_size"]) or 0), label)
    return out

