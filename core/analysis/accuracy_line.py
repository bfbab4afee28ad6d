"""Accuracy on the line: our models against the published population, per shifted set.

For each shifted set with a published population (`core.data.population`), the line of shifted top-1 on
ImageNet top-1 (logit axes) is fitted on the population's models, with its bootstrap band; each of our
models gets its effective robustness (measured minus the line's prediction at its own ImageNet top-1) with
an interval (`core.metrics.effective_robustness`). Where the population holds the exact checkpoint we
evaluated, its published top-1 is a check on ours (`published_check`). No Streamlit, no torch.

Which models the line is fitted on (`FIT_ON`): by default the checkpoints trained on ImageNet-1k alone, the
population of Taori et al.'s standard line (NeurIPS 2020, Sec. 3, https://arxiv.org/abs/2007.00644): models with
extra pretraining data (ImageNet-21k, CLIP, Instagram, JFT, …) are the ones whose distance from that line is the
finding. The pretraining of each checkpoint is read by `core.data.pretraining`; a checkpoint whose pretraining
neither its tag nor timm's metadata states is left out of that line and named (`SetLine.unknown`).

One point per checkpoint: timm lists some checkpoints at two evaluation sizes (train and test size); the line
keeps the row at the smaller size (timm's default `pretrained_cfg` input size, the one `published_entries` and
our `library` protocol use), so each checkpoint is one unit of the fit and of the bootstrap that resamples the
population.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.data.pretraining import DEFAULT_FIT_ON, FIT_ON, FitOn

from core.metrics.effective_robustness import (LineFit, Transform, bootstrap_lines, effective_robustness,
                                               fit_line, line_band)

__all__ = ["LINE_SETS", "FIT_ON", "DEFAULT_FIT_ON", "PUBLISHED_TAGS", "SetLine", "PopulationFilter", "fit_members",
           "one_point_per_checkpoint", "population_lines", "line_description", "line_bands",
           "effective_robustness_table", "published_check", "paper_points"]

LINE_SETS = ("imagenet-v2", "imagenet-real", "imagenet-sketch", "imagenet-r", "imagenet-a")
"""Shifted sets with a published population (timm and/or open_clip). ImageNet-C and -Hard have none."""
PUBLISHED_TAGS = {"timm": "T", "open_clip": "O"}
"""Provenance tags of published numbers (their text is in core.paper.TAGS)."""


@dataclass(frozen=True)
class SetLine:
    """The line of one shifted set: the fit, its bootstrap refits, and the population it was fitted on.

    `checkpoints`: the checkpoint of each point (one per checkpoint); `fit_on`: the `FIT_ON` key; `unknown`: the
    checkpoints the fit choice left out because their pretraining is unknown; `two_sizes`: how many of the fitted
    checkpoints timm lists at more than one size (each kept once, at its smaller size)."""

    benchmark: str
    fit: LineFit
    slopes: np.ndarray
    intercepts: np.ndarray
    imagenet: np.ndarray
    shifted: np.ndarray
    checkpoints: tuple[str, ...] = ()
    fit_on: str = DEFAULT_FIT_ON
    unknown: tuple[str, ...] = ()
    two_sizes: int = 0


@dataclass(frozen=True)
class PopulationFilter:
    """Which published checkpoints to keep before the fit choice: pretraining sources (`core.data.pretraining.
    PRETRAINING` keys), architecture families, and a parameter range in millions (None: no bound). Empty tuples
    keep everything; a checkpoint without a published parameter count passes only an unbounded range."""

    pretraining: tuple[str, ...] = ()
    families: tuple[str, ...] = ()
    params_min: float | None = None
    params_max: float | None = None

    def apply(self, population):
        keep = np.ones(len(population), dtype=bool)
        if self.pretraining:
            keep &= population["pretraining"].isin(self.pretraining).to_numpy()
        if self.families:
            keep &= population["family"].isin(self.families).to_numpy()
        if self.params_min is not None:
            keep &= (population["param_count"] >= self.params_min).to_numpy()
        if self.params_max is not None:
            keep &= (population["param_count"] <= self.params_max).to_numpy()
        return population[keep]

    @property
    def active(self) -> bool:
        return bool(self.pretraining or self.families or self.params_min is not None or self.params_max is not None)

    def describe(self) -> str:
        """"" when it keeps everything, else e.g. "pretraining in1k, in21k; families resnet; 10–100 M parameters"."""
        parts = []
        if self.pretraining:
            parts.append("pretraining " + ", ".join(self.pretraining))
        if self.families:
            parts.append("families " + ", ".join(self.families))
        if self.params_min is not None or self.params_max is not None:
            low = f"{self.params_min:g}" if self.params_min is not None else "0"
            high = f"{self.params_max:g}" if self.params_max is not None else "∞"
            parts.append(f"{low}–{high} M parameters")
        return "; ".join(parts)


def one_point_per_checkpoint(rows):
    """`rows` (of `population()`) with each (publisher, checkpoint, benchmark) once: timm's row at the smaller
    evaluation size (its default input size) where it lists two."""
    return rows.sort_values("img_size", kind="stable").drop_duplicates(["publisher", "checkpoint", "benchmark"])


def fit_members(population, fit_on: FitOn = DEFAULT_FIT_ON, population_filter: PopulationFilter | None = None):
    """(members, unknown): the rows of `population` the line of `fit_on` is fitted on, one per checkpoint and set
    (after `population_filter`), and the checkpoints left out because their pretraining is unknown (only the
    ImageNet-1k line needs to know it)."""
    if fit_on not in FIT_ON:
        raise ValueError(f"Expected `fit_on` in {', '.join(FIT_ON)}, got {fit_on!r}.")
    rows = population_filter.apply(population) if population_filter is not None else population
    unknown: tuple[str, ...] = ()
    if fit_on == "in1k":
        timm = rows[rows["publisher"] == "timm"]
        unknown = tuple(sorted(set(timm.loc[timm["pretraining"] == "unknown", "checkpoint"])))
        rows = timm[timm["pretraining"] == "in1k"]
    elif fit_on == "timm":
        rows = rows[rows["publisher"] == "timm"]
    return one_point_per_checkpoint(rows), unknown


def population_lines(population, *, fit_on: FitOn = DEFAULT_FIT_ON, population_filter: PopulationFilter | None = None,
                     n_resamples: int = 1000, seed: int = 0, transform: Transform = "logit") -> dict[str, SetLine]:
    """One `SetLine` per shifted set of `population` with at least 3 checkpoints to fit on (`FIT_ON`: `"in1k"` the
    ImageNet-1k-trained checkpoints, Taori et al.'s standard line; `"timm"` every timm checkpoint; `"all"`
    open_clip's CLIP models too), one point per checkpoint; the bootstrap resamples checkpoints."""
    members, unknown = fit_members(population, fit_on, population_filter)
    sized = population[(population["img_size"] > 0) & population["checkpoint"].isin(set(members["checkpoint"]))]
    lines = {}
    for benchmark in LINE_SETS:
        rows = members[members["benchmark"] == benchmark]
        if len(rows) < 3:
            continue
        x, y = rows["imagenet"].to_numpy(float), rows["shifted"].to_numpy(float)
        slopes, intercepts = bootstrap_lines(x, y, n_resamples=n_resamples, seed=seed, transform=transform)
        sizes = sized[sized["benchmark"] == benchmark].groupby("checkpoint")["img_size"].nunique()
        lines[benchmark] = SetLine(benchmark, fit_line(x, y, transform=transform), slopes, intercepts, x, y,
                                   tuple(rows["checkpoint"]), fit_on, unknown, int((sizes > 1).sum()))
    return lines


def line_description(lines: dict[str, SetLine], population_filter: PopulationFilter | None = None) -> str:
    """One sentence naming the line: its fit choice, how many checkpoints per set, which size of a checkpoint
    listed twice is kept, which checkpoints were left out as unknown, and the population filter."""
    if not lines:
        return "No line: fewer than 3 published checkpoints per set pass the fit choice and the filter."
    first = next(iter(lines.values()))
    counts = sorted({len(line.checkpoints) or len(line.imagenet) for line in lines.values()})
    count = f"{counts[0]:,}" if len(counts) == 1 else f"{counts[0]:,}–{counts[-1]:,}"
    text = f"Line fitted on {FIT_ON.get(first.fit_on, first.fit_on)}: {count} checkpoints per set, one point each"
    twice = max(line.two_sizes for line in lines.values())
    if twice:
        text += f" ({twice:,} listed by timm at two sizes count once, at the smaller size)"
    text += "."
    if first.fit_on == "in1k":
        text += (f" Left out as unknown pretraining: {len(first.unknown):,}"
                 + (f" ({', '.join(first.unknown[:5])}{' …' if len(first.unknown) > 5 else ''})." if first.unknown
                    else "."))
    if population_filter is not None and population_filter.active:
        text += f" Population filter: {population_filter.describe()}."
    return text


def line_bands(lines: dict[str, SetLine], lo: float, hi: float, *, points: int = 60):
    """The fitted line and its 95% band at `points` ImageNet accuracies from `lo` to `hi`, evenly spaced on the
    transformed axis (where the line is straight), per set: rows `benchmark, imagenet, predicted, low, high`."""
    import pandas as pd

    from core.metrics.effective_robustness import inverse_transform, transform_accuracy

    transform = next(iter(lines.values())).fit.transform if lines else "logit"
    grid = inverse_transform(np.linspace(transform_accuracy(lo, transform=transform),
                                         transform_accuracy(hi, transform=transform), points), transform=transform)
    frames = []
    for benchmark, line in lines.items():
        band = line_band(line.imagenet, line.shifted, grid, transform=line.fit.transform,
                         lines=(line.slopes, line.intercepts))
        frames.append(band.assign(benchmark=benchmark))
    columns = ["benchmark", "imagenet", "predicted", "low", "high"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def effective_robustness_table(ours, lines: dict[str, SetLine], *, seed: int = 0):
    """Effective robustness of each of our models on each set with a line.

    `ours`: the Robustness page's table (model, benchmark, accuracy, ci_low, ci_high, n), ImageNet val included.
    Rows `model, benchmark, imagenet, imagenet_low, imagenet_high, shifted, shifted_low, shifted_high, predicted,
    predicted_low, predicted_high, effective_robustness, ci_low, ci_high, n_population` (checkpoints in the fit),
    `line` (the fit choice's words).
    """
    import pandas as pd

    records = []
    val = ours[ours["benchmark"] == "imagenet-val"].set_index("model")
    for row in ours[ours["benchmark"].isin(list(lines))].itertuples(index=False):
        if row.model not in val.index or not int(row.n):
            continue
        base, line = val.loc[row.model], lines[row.benchmark]
        er = effective_robustness(float(base["accuracy"]), float(row.accuracy), n_imagenet=int(base["n"]),
                                  n_shifted=int(row.n), population_imagenet=line.imagenet,
                                  population_shifted=line.shifted, lines=(line.slopes, line.intercepts), seed=seed,
                                  transform=line.fit.transform)
        records.append({"model": row.model, "benchmark": row.benchmark, "imagenet": float(base["accuracy"]),
                        "imagenet_low": float(base["ci_low"]), "imagenet_high": float(base["ci_high"]),
                        "shifted": float(row.accuracy), "shifted_low": float(row.ci_low),
                        "shifted_high": float(row.ci_high), "predicted": er.predicted,
                        "predicted_low": er.predicted_low, "predicted_high": er.predicted_high,
                        "effective_robustness": er.value, "ci_low": er.ci_low, "ci_high": er.ci_high,
                        "n_population": len(line.imagenet), "line": FIT_ON.get(line.fit_on, line.fit_on)})
    return pd.DataFrame(records, columns=["model", "benchmark", "imagenet", "imagenet_low", "imagenet_high", "shifted",
                                          "shifted_low", "shifted_high", "predicted", "predicted_low",
                                          "predicted_high", "effective_robustness", "ci_low", "ci_high",
                                          "n_population", "line"])


def published_check(ours, published):
    """Our top-1 beside the published top-1 of the same checkpoint: rows `model, benchmark, ours, ci_low, ci_high,
    published, difference` (ours − published), `outside` (published outside our 95% interval), `tag`, `checkpoint`.

    `published`: rows of `core.data.population.published_entries` for our models (empty: an empty table).
    """
    import pandas as pd

    columns = ["model", "benchmark", "ours", "ci_low", "ci_high", "published", "difference", "outside", "tag",
               "checkpoint"]
    if published is None or published.empty or ours.empty:
        return pd.DataFrame(columns=columns)
    table = ours.rename(columns={"accuracy": "ours"})[["model", "benchmark", "ours", "ci_low", "ci_high"]].merge(
        published[["model", "benchmark", "published", "publisher", "checkpoint"]], on=["model", "benchmark"])
    table["difference"] = table["ours"] - table["published"]
    table["outside"] = (table["published"] < table["ci_low"]) | (table["published"] > table["ci_high"])
    table["tag"] = table["publisher"].map(PUBLISHED_TAGS)
    return table[columns].reset_index(drop=True)


def paper_points(paper, models: list[str]):
    """The paper's (ImageNet top-1, shifted top-1) per model and set, from `core.paper.paper_values(
    "robustness_top1")`: rows `model, benchmark, imagenet, shifted, tag` (the shifted value's tag)."""
    import pandas as pd

    paper = paper[paper["model"].isin(models)]
    val = paper[paper["key"] == "imagenet-val"].set_index("model")
    rows = [{"model": row.model, "benchmark": row.key, "imagenet": float(val.loc[row.model, "value"]),
             "shifted": float(row.value), "tag": row.tag}
            for row in paper[paper["key"].isin(LINE_SETS)].itertuples(index=False) if row.model in val.index]
    return pd.DataFrame(rows, columns=["model", "benchmark", "imagenet", "shifted", "tag"])
