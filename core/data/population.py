"""The published model population: timm's and open_clip's own top-1 tables, read into one tidy frame.

Two publishers list the accuracy of their pretrained models on ImageNet and its shifted test sets:

- timm (`python -m core download timm-results`): `results/results-<set>.csv` of
  huggingface/pytorch-image-models, one row per (model, img_size): columns `model, img_size, top1, top1_err,
  top5, top5_err, param_count, crop_pct, interpolation` (+ `top1_diff, top5_diff, rank_diff` on the test sets),
  top-1 in percent. A model evaluated at two resolutions (train and test size) has two rows; each is one point.
  ImageNet-A and -R are scored over their 200 classes (results/README.md), as ours are.
- open_clip (`python -m core download openclip-results`): `docs/openclip_classification_results.csv` of
  mlfoundations/open_clip, one row per (`name`, `pretrained`), zero-shot top-1 as fractions in columns named
  by dataset (`ImageNet 1k`, `ImageNet v2`, `ImageNet Sketch`, `ImageNet-A`, `ImageNet-R`, …).

Neither publishes ImageNet-C, ImageNet-Hard, or ReaL for the CLIP models: those sets have no line here.
No torch: the Robustness page reads this.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from core.data.pretraining import is_test_model
from core.errors import UserError

__all__ = ["TIMM_FILES", "OPENCLIP_FILE", "OPENCLIP_COLUMNS", "KINDS", "PopulationMissing", "PopulationInvalid",
           "read_timm_results", "read_openclip_results", "population", "population_version", "published_entries",
           "population_folder", "checkpoints"]

TIMM_FILES = {"results-imagenet.csv": "imagenet-val", "results-imagenetv2-matched-frequency.csv": "imagenet-v2",
              "results-imagenet-real.csv": "imagenet-real", "results-sketch.csv": "imagenet-sketch",
              "results-imagenet-r.csv": "imagenet-r", "results-imagenet-a.csv": "imagenet-a"}
"""timm's result file → our benchmark key."""
_TIMM_COLUMNS = ("model", "img_size", "top1", "crop_pct", "interpolation")
OPENCLIP_FILE = "openclip_classification_results.csv"
OPENCLIP_COLUMNS = {"ImageNet 1k": "imagenet-val", "ImageNet v2": "imagenet-v2", "ImageNet Sketch": "imagenet-sketch",
                    "ImageNet-R": "imagenet-r", "ImageNet-A": "imagenet-a"}
"""open_clip's column → our benchmark key."""
KINDS = {"timm": "ImageNet classifiers (timm)", "open_clip": "CLIP zero-shot (open_clip)"}
"""The two shades of the population: what each publisher's models are."""
_DOWNLOADS = {"timm": "timm-results", "open_clip": "openclip-results"}


class PopulationMissing(UserError):
    """No published table is downloaded; the message says what to fetch and where it goes."""


class PopulationInvalid(UserError):
    """A file where a published table should be that does not have the publisher's columns."""


def population_folder(publisher: str) -> Path:
    from core.data.download import data_dir
    from core.data.sources import SOURCES

    return data_dir() / SOURCES[_DOWNLOADS[publisher]].folder


def _read_csv(path: Path, needed: tuple[str, ...], download: str):
    import pandas as pd

    try:
        frame = pd.read_csv(path, thousands=",")
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise PopulationInvalid(f"{path} could not be read as CSV ({type(error).__name__}). Delete it and run: "
                                f"python -m core download {download}") from None
    absent = [column for column in needed if column not in frame.columns]
    if absent:
        raise PopulationInvalid(f"{path} lacks the publisher's column(s) {', '.join(absent)}: it is not the published "
                                f"table. Delete it and run: python -m core download {download}")
    return frame


def read_timm_results(folder: Path):
    """Tidy rows `publisher, checkpoint, img_size, crop_pct, benchmark, top1` (fraction), `param_count` (millions)
    from timm's result files in `folder` (those present; none present gives an empty frame)."""
    import pandas as pd

    frames = []
    for name, benchmark in TIMM_FILES.items():
        path = Path(folder) / name
        if not path.is_file():
            continue
        frame = _read_csv(path, _TIMM_COLUMNS, "timm-results")
        frame = frame[~frame["model"].astype(str).map(is_test_model)]  # timm's toy test models: no population point
        frames.append(pd.DataFrame({"publisher": "timm", "checkpoint": frame["model"].astype(str),
                                    "img_size": frame["img_size"].astype(int), "crop_pct": frame["crop_pct"].astype(float),
                                    "benchmark": benchmark, "top1": frame["top1"].astype(float) / 100,
                                    "param_count": pd.to_numeric(frame.get("param_count"), errors="coerce")}))
    if not frames:
        return _empty()
    # a model listed twice at one size (none in the pinned files) keeps its first row
    return pd.concat(frames, ignore_index=True).drop_duplicates(["checkpoint", "img_size", "benchmark"])


def read_openclip_results(path: Path):
    """Tidy rows (as `read_timm_results`) from open_clip's classification table: checkpoint `name/pretrained`."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        return _empty()
    frame = _read_csv(path, ("name", "pretrained", *OPENCLIP_COLUMNS), "openclip-results")
    checkpoint = frame["name"].astype(str) + "/" + frame["pretrained"].astype(str)
    params = pd.to_numeric(frame.get("params (M)"), errors="coerce") if "params (M)" in frame else float("nan")
    frames = [pd.DataFrame({"publisher": "open_clip", "checkpoint": checkpoint, "img_size": 0, "crop_pct": float("nan"),
                            "benchmark": benchmark, "top1": pd.to_numeric(frame[column], errors="coerce"),
                            "param_count": params})
              for column, benchmark in OPENCLIP_COLUMNS.items()]
    return pd.concat(frames, ignore_index=True).dropna(subset=["top1"]).drop_duplicates(["checkpoint", "benchmark"])


def _empty():
    import pandas as pd

    return pd.DataFrame({"publisher": pd.Series(dtype=str), "checkpoint": pd.Series(dtype=str),
                         "img_size": pd.Series(dtype=int), "crop_pct": pd.Series(dtype=float),
                         "benchmark": pd.Series(dtype=str), "top1": pd.Series(dtype=float),
                         "param_count": pd.Series(dtype=float)})


def _stamp(publisher: str) -> tuple:
    folder = population_folder(publisher)
    from core.data.pretraining import METADATA_FILE

    names = (*TIMM_FILES, METADATA_FILE) if publisher == "timm" else (OPENCLIP_FILE,)
    return tuple((str(folder / name), (folder / name).stat().st_mtime_ns) for name in names if (folder / name).is_file())


def population_version() -> tuple:
    """What the population was read from (file names and modification times): a cache key for pages."""
    return (_stamp("timm"), _stamp("open_clip"))


def population():
    """The published population as one tidy frame, one row per (point, shifted set):

    `publisher` (timm | open_clip), `kind` (KINDS), `checkpoint` (timm `arch.tag`; open_clip `name/pretrained`),
    `img_size` (timm's evaluation size; 0 for open_clip), `crop_pct`, `point` (the name a chart shows),
    `benchmark` (a shifted set), `imagenet` and `shifted` (top-1 fractions of that point on ImageNet val and the
    set), `param_count` (millions, as published), `pretraining` (a `core.data.pretraining.PRETRAINING` key),
    `pretraining_data` (the data named), `pretraining_from` (where that was read: the tag, timm's
    model_metadata-in1k.csv, open_clip, or "" for unknown) and `family` (`core.data.pretraining.family_of`).
    Raises PopulationMissing when neither table is downloaded. Cached until a file changes.
    """
    stamps = population_version()
    if not any(stamps):
        from core.data.download import data_dir

        raise PopulationMissing("No published model population here: run python -m core download timm-results "
                                f"openclip-results (about 1 MB, into {data_dir() / 'published'}).")
    return _population(stamps, str(population_folder("timm")), str(population_folder("open_clip"))).copy()


@lru_cache(maxsize=4)
def _population(stamps: tuple, timm_folder: str, openclip_folder: str):
    import pandas as pd

    rows = pd.concat([read_timm_results(Path(timm_folder)), read_openclip_results(Path(openclip_folder) / OPENCLIP_FILE)],
                     ignore_index=True)
    keys = ["publisher", "checkpoint", "img_size"]
    val = rows[rows["benchmark"] == "imagenet-val"][keys + ["top1"]].rename(columns={"top1": "imagenet"})
    shifted = rows[rows["benchmark"] != "imagenet-val"].rename(columns={"top1": "shifted"})
    table = shifted.merge(val, on=keys, how="inner")
    table["kind"] = table["publisher"].map(KINDS)
    sized = table["img_size"] > 0
    table["point"] = table["checkpoint"].where(~sized, table["checkpoint"] + " @ " + table["img_size"].astype(str) + "px")
    table["param_count"] = table.groupby(["publisher", "checkpoint"])["param_count"].transform("max")
    table = table.merge(_pretraining(table[["publisher", "checkpoint"]].drop_duplicates(), timm_folder),
                        on=["publisher", "checkpoint"], how="left")
    return table[["publisher", "kind", "checkpoint", "img_size", "crop_pct", "point", "benchmark", "imagenet",
                  "shifted", "param_count", "pretraining", "pretraining_data", "pretraining_from",
                  "family"]].reset_index(drop=True)


def _pretraining(names, timm_folder: str):
    """Per (publisher, checkpoint): its pretraining source, data, where that was read, and its family."""
    import pandas as pd

    from core.data.pretraining import family_of, pretraining_of, read_metadata

    metadata = read_metadata(Path(timm_folder))
    found = [pretraining_of(name, metadata, publisher=publisher)
             for publisher, name in zip(names["publisher"], names["checkpoint"])]
    return names.assign(pretraining=[p.source for p in found], pretraining_data=[p.data for p in found],
                        pretraining_from=[p.read_from for p in found],
                        family=[family_of(name) for name in names["checkpoint"]]).reset_index(drop=True) \
        if len(names) else pd.DataFrame(columns=["publisher", "checkpoint", "pretraining", "pretraining_data",
                                                 "pretraining_from", "family"])


def checkpoints(table):
    """The pretraining table of every published checkpoint: one row per checkpoint of `population()`, columns
    `publisher, checkpoint, pretraining, pretraining_data, pretraining_from, family, param_count, sizes` (timm's
    evaluation sizes, e.g. "224, 288"; "" for open_clip), `imagenet` (top-1 at the smallest size)."""
    if table.empty:
        return table.iloc[:0][["publisher", "checkpoint", "pretraining", "pretraining_data", "pretraining_from",
                               "family", "param_count"]].assign(sizes="", imagenet=0.0)
    keys = ["publisher", "checkpoint"]
    sizes = (table[table["img_size"] > 0].drop_duplicates([*keys, "img_size"]).sort_values("img_size")
             .groupby(keys)["img_size"].agg(lambda s: ", ".join(map(str, s))).rename("sizes"))
    first = table.sort_values("img_size").drop_duplicates(keys)
    out = first[[*keys, "pretraining", "pretraining_data", "pretraining_from", "family", "param_count",
                 "imagenet"]].merge(sizes.reset_index(), on=keys, how="left")
    out["sizes"] = out["sizes"].fillna("")
    return out[[*keys, "pretraining", "pretraining_data", "pretraining_from", "family", "param_count", "sizes",
                "imagenet"]].sort_values(keys).reset_index(drop=True)


def published_entries(table, model: str, library: str, source: str, pretrained: str | None):
    """The published top-1 of exactly the checkpoint a model spec names, per benchmark (ImageNet val included):
    rows `benchmark, published, publisher, checkpoint, img_size`. An exact name only ("deit3_base_patch16_224.
    fb_in1k" is not "deit3_base_patch16_224.fb_in22k_ft_in1k"). timm lists a model at its train and its test size;
    the row at the smaller size is timm's default `pretrained_cfg` input size, which our `library` protocol feeds.

    `table`: `population()` (or its rows of one model). `model` is the spec's key, copied into the rows.
    """
    import pandas as pd

    if library == "timm":
        mine = table[(table["publisher"] == "timm") & (table["checkpoint"] == source)]
        mine = mine[mine["img_size"] == mine["img_size"].min()] if len(mine) else mine
    elif library == "open_clip" and pretrained:
        mine = table[(table["publisher"] == "open_clip") & (table["checkpoint"] == f"{source}/{pretrained}")]
    else:
        mine = table.iloc[:0]
    if mine.empty:
        return pd.DataFrame(columns=["model", "benchmark", "published", "publisher", "checkpoint", "img_size"])
    first = mine.iloc[0]
    val = pd.DataFrame([{"benchmark": "imagenet-val", "published": float(first["imagenet"])}])
    rows = pd.concat([val, mine[["benchmark", "shifted"]].rename(columns={"shifted": "published"})], ignore_index=True)
    return rows.assign(model=model, publisher=first["publisher"], checkpoint=first["checkpoint"],
                       img_size=int(first["img_size"]))[["model", "benchmark", "published", "publisher", "checkpoint",
                                                          "img_size"]]
