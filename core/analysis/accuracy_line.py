"""Accuracy on the line: our models against the published population, per shifted set.

For each shifted set with a published population (`core.data.population`), the line of shifted top-1 on
ImageNet top-1 (logit axes) is fitted on the population's models, with its bootstrap band; each of our
models gets its effective robustness (measured minus the line's prediction at its own ImageNet top-1) with
an interval (`core.metrics.effective_robustness`). Where the population holds the exact checkpoint we
evaluated, its published top-1 is a check on ours (`published_check`). No Streamlit, no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from core.metrics.effective_robustness import (LineFit, Transform, bootstrap_lines, effective_robustness,
                                               fit_line, line_band)

__all__ = ["LINE_SETS", "FIT_ON", "PUBLISHED_TAGS", "SetLine", "population_lines", "line_bands",
           "effective_robustness_table", "published_check", "paper_points"]

LINE_SETS = ("imagenet-v2", "imagenet-real", "imagenet-sketch", "imagenet-r", "imagenet-a")
"""Shifted sets with a published population (timm and/or open_clip). ImageNet-C and -Hard have none."""
FitOn = Literal["timm", "all"]
FIT_ON: dict[str, str] = {"timm": "timm's ImageNet classifiers (the standard line)",
                          "all": "every published model (timm and open_clip)"}
PUBLISHED_TAGS = {"timm": "T", "open_clip": "O"}
"""Provenance tags of published numbers (their text is in core.paper.TAGS)."""


@dataclass(frozen=True)
class SetLine:
    """The line of one shifted set: the fit, its bootstrap refits, and the population it was fitted on."""

    benchmark: str
    fit: LineFit
    slopes: np.ndarray
    intercepts: np.ndarray
    imagenet: np.ndarray
    shifted: np.ndarray


def population_lines(population, *, fit_on: FitOn = "timm", n_resamples: int = 1000, seed: int = 0,
                     transform: Transform = "logit") -> dict[str, SetLine]:
    """One `SetLine` per shifted set of `population` with at least 3 models to fit on (`fit_on="timm"`: timm's
    ImageNet classifiers only, the population of Taori et al.'s line; `"all"`: open_clip's CLIP models too)."""
    if fit_on not in FIT_ON:
        raise ValueError(f"Expected `fit_on` in {sorted(FIT_ON)}, got {fit_on!r}.")
    members = population if fit_on == "all" else population[population["publisher"] == "timm"]
    lines = {}
    for benchmark in LINE_SETS:
        rows = members[members["benchmark"] == benchmark]
        if len(rows) < 3:
            continue
        x, y = rows["imagenet"].to_numpy(float), rows["shifted"].to_numpy(float)
        slopes, intercepts = bootstrap_lines(x, y, n_resamples=n_resamples, seed=seed, transform=transform)
        lines[benchmark] = SetLine(benchmark, fit_line(x, y, transform=transform), slopes, intercepts, x, y)
    return lines


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
    predicted_low, predicted_high, effective_robustness, ci_low, ci_high, n_population`.
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
                        "n_population": len(line.imagenet)})
    return pd.DataFrame(records, columns=["model", "benchmark", "imagenet", "imagenet_low", "imagenet_high", "shifted",
                                          "shifted_low", "shifted_high", "predicted", "predicted_low",
                                          "predicted_high", "effective_robustness", "ci_low", "ci_high",
                                          "n_population"])


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
