"""A claim beyond the paper, kept apart from its eight: "CLIP models are more effectively robust than supervised ones".

Ours, not the paper's: the paper compares top-1 on the shifted sets (claim 4, where the supervised pair
wins); effective robustness (Taori et al. 2020, Sec. 3, https://arxiv.org/abs/2007.00644) asks how far each
model sits above the line that the published population traces at its own ImageNet accuracy
(`core.analysis.accuracy_line`). Decided with the same rule as the paper's claims (`core.metrics.decide`)
on the difference CLIP pair − supervised pair of effective robustness averaged over the shifted sets that
have a line, with the same replicates throughout: in each replicate every set (and ImageNet val) resamples its
own images once for all four models (`core.analysis.differences`), and the line is one refit on resampled
population models, shared by all models, so the difference is paired over images and over the line.
ImageNet-ReaL rescores the val images: its replicates reuse val's image resample
(`core.metrics.effective_robustness.paired_relabelled_accuracy`), so its interval keeps that pairing.

The line is the ImageNet-1k-trained one (Taori et al.'s standard line, `accuracy_line.DEFAULT_FIT_ON`), one
point per published checkpoint; `collect_effective_robustness(fit_on=...)` names another, and the card's note
says which it used.
"""

from __future__ import annotations

import numpy as np

from core.analysis.accuracy_line import LINE_SETS, SetLine
from core.analysis.claims import CLIP, PAPER_MODELS, SUPERVISED, Claim, ClaimResult, Part, estimates_from, pair_estimate
from core.metrics.effective_robustness import effective_robustness_replicates
from core.metrics.paired import Difference, decide, difference

__all__ = ["BEYOND_CLAIM", "effective_robustness_evidence", "claim_effective_robustness",
           "collect_effective_robustness", "effective_robustness_chart"]

_ALL = ",".join(PAPER_MODELS)
BEYOND_CLAIM = Claim(
    "effective_robustness", 9, "Beyond the paper: CLIP models are more effectively robust than supervised ones",
    "Our claim, not the paper's. Averaged over the shifted sets with a published population (V2, ReaL, Sketch, R, A), "
    "the CLIP pair sits further above the accuracy-on-the-line of timm's published ImageNet-1k-trained checkpoints "
    "(Taori et al.'s standard line) than the supervised pair (effective robustness, Taori et al. 2020).",
    "imagenet-v2",
    "python -m core download timm-results openclip-results; python -m core evaluate --models "
    f"{_ALL} --benchmark imagenet-val --data PATH  (and imagenet-v2, -a, -r, -sketch)", "robustness")


def effective_robustness_evidence(val: tuple, sets: dict[str, tuple], lines: dict[str, SetLine],
                                  models: tuple[str, ...] = PAPER_MODELS):
    """Per model, effective robustness per set and its average over the sets, with replicates; and the pair
    difference CLIP − supervised.

    `val` and each `sets[name]`: (points (models,), replicates (models, R), paired, n) of top-1, as
    `core.analysis.differences._column_replicates` gives them for `models`' columns; `lines[name]` holds R
    refits of that set's line (`population_lines(..., n_resamples=R)`).

    Returns (numbers, difference): numbers rows `model, benchmark, value, ci_low, ci_high, n` (benchmark
    "average" for the mean over the sets), and a `Difference` (None without a set).
    """
    import pandas as pd

    from core.metrics.bootstrap import percentile_interval

    val_points, val_reps, val_paired, val_n = val
    used = [name for name in LINE_SETS if name in sets and name in lines]
    if not used:
        return pd.DataFrame(columns=["model", "benchmark", "value", "ci_low", "ci_high", "n"]), None
    points, reps, rows = [], [], []
    for name in used:
        set_points, set_reps, _, n = sets[name]
        line = lines[name]
        if set_reps.shape[1] != len(line.slopes):
            raise ValueError(f"Expected {set_reps.shape[1]} line refits for {name}, got {len(line.slopes)}.")
        point = set_points - line.fit.predict(val_points)
        replicate = np.vstack([effective_robustness_replicates(val_reps[k], set_reps[k], line.slopes, line.intercepts,
                                                               transform=line.fit.transform)
                               for k in range(len(models))])
        points.append(point)
        reps.append(replicate)
        for k, model in enumerate(models):
            low, high = percentile_interval(replicate[k])
            rows.append({"model": model, "benchmark": name, "value": float(point[k]), "ci_low": min(low, point[k]),
                         "ci_high": max(high, point[k]), "n": int(n)})
    mean_points, mean_reps = np.mean(points, axis=0), np.mean(reps, axis=0)
    for k, model in enumerate(models):
        low, high = percentile_interval(mean_reps[k])
        rows.append({"model": model, "benchmark": "average", "value": float(mean_points[k]),
                     "ci_low": min(low, mean_points[k]), "ci_high": max(high, mean_points[k]),
                     "n": int(sum(sets[name][3] for name in used) + val_n)})
    index = {model: k for k, model in enumerate(models)}
    paired = val_paired and all(sets[name][2] for name in used)
    found = difference([mean_points[index[m]] for m in CLIP], [mean_points[index[m]] for m in SUPERVISED],
                       [mean_reps[index[m]] for m in CLIP], [mean_reps[index[m]] for m in SUPERVISED],
                       n=int(sum(sets[name][3] for name in used) + val_n), paired=paired)
    return pd.DataFrame(rows), found


def claim_effective_robustness(numbers, found: Difference | None, note: str = "") -> ClaimResult:
    """The card's result: one part, CLIP pair above the supervised pair in mean effective robustness."""
    import pandas as pd

    if numbers is None or len(numbers) == 0:
        numbers = pd.DataFrame(columns=["model", "benchmark", "value", "ci_low", "ci_high", "n"])
    average = numbers[numbers["benchmark"] == "average"].drop(columns=["benchmark", "line"], errors="ignore") \
        .assign(source="ours")
    estimates = estimates_from(average)
    missing = tuple(model for model in PAPER_MODELS if model not in estimates)
    part = Part("CLIP pair's mean effective robustness above the supervised pair's", "not measured",
                pair_estimate([estimates.get(m) for m in CLIP], "CLIP pair"),
                pair_estimate([estimates.get(m) for m in SUPERVISED], "supervised pair"), "higher", missing,
                None if missing else found)
    verdicts, verdict = decide([(part.difference, part.expect)])
    from dataclasses import replace

    part = replace(part, verdict=verdicts[0], adjusted_p=part.difference.p_value if part.difference else float("nan"))
    table = numbers[numbers["benchmark"] != "average"].rename(columns={"value": "effective_robustness"})
    return ClaimResult(BEYOND_CLAIM, verdict, [part], average, "effective robustness averaged over the shifted sets "
                       "with a line (measured top-1 minus the line's prediction)", note, missing, chart_table=table)


def _val_and_real(cells, n_models: int, *, n_resamples: int, seed: int):
    """{"imagenet-val": …, "imagenet-real": …} replicates (as `_column_replicates` gives them) from one resample of
    the val images for both (`cells`: `outcome_cells(..., real="paired")` of the val runs); {} where some model
    lacks some val image (then each set resamples its own)."""
    from core.analysis.differences import _seed
    from core.metrics.effective_robustness import paired_relabelled_accuracy

    val_columns = [f"m{k}" for k in range(n_models)]
    real_columns = [f"m{k + n_models}" for k in range(n_models)]
    if cells.empty or cells[val_columns].isna().any(axis=None) or cells[real_columns].isna().all(axis=None):
        return {}
    sizes = cells["n"].to_numpy(np.int64)
    points, reps, real_points, real_reps = paired_relabelled_accuracy(
        cells[val_columns].to_numpy(np.float64), cells[real_columns].to_numpy(np.float64), sizes,
        n_resamples=n_resamples, seed=_seed("imagenet-val", seed))
    labelled = int(sizes[cells[real_columns].notna().all(axis=1).to_numpy()].sum())
    return {"imagenet-val": (points, reps, True, int(sizes.sum())),
            "imagenet-real": (real_points, real_reps, True, labelled)}


def collect_effective_robustness(store, used, population, *, n_resamples: int = 1000, seed: int = 0,
                                 fit_on: str | None = None, section: dict | None = None,
                                 lines: dict | None = None) -> ClaimResult:
    """The card from the store: `used` the robustness section's runs (`evidence.section_inputs(runs,
    "robustness")`), `population` the published population (None: not measured, with the download command);
    `fit_on` the line's population (`accuracy_line.FIT_ON`; default the ImageNet-1k-trained checkpoints);
    `section`: the robustness evidence of the same runs (`evidence.collect_section(store, "robustness", used)
    ["robustness"]`), whose outcome cells it reuses instead of reading the store again; `lines`: the population's
    lines for `fit_on` with `n_resamples` refits (`population_lines`), where a caller has them already."""
    from core.analysis.accuracy_line import DEFAULT_FIT_ON, FIT_ON, line_description, population_lines
    from core.analysis.differences import _column_replicates, _seed, outcome_cells, relabelled_cells, split_cells

    if population is None:
        return claim_effective_robustness(None, None, "The published population is not downloaded: python -m core "
                                                      "download timm-results openclip-results.")
    fit_on = fit_on or DEFAULT_FIT_ON
    runs = used[used["benchmark"].isin(("imagenet-val", *LINE_SETS)) & used["model"].isin(PAPER_MODELS)]
    triples = [(run.run_id, run.benchmark, PAPER_MODELS.index(run.model)) for run in runs.itertuples()]
    val_runs = [triple for triple in triples if triple[1] == "imagenet-val"]
    # val and ReaL from one resample of the val images (their pairing); the other sets from their own images
    shared = section is not None and section.get("cells") is not None and section.get("val_real_cells") is not None
    if val_runs:
        paired_cells = section["val_real_cells"] if shared else outcome_cells(store, val_runs, len(PAPER_MODELS),
                                                                             real="paired")
        replicates = _val_and_real(paired_cells, len(PAPER_MODELS), n_resamples=n_resamples, seed=seed)
    else:
        replicates = {}
    others = [triple for triple in triples if triple[1] != "imagenet-val" or not replicates]
    # the section's cells have a stratum per benchmark and condition ("imagenet-v2|"): one stratum per set here
    cells = section["cells"] if shared else outcome_cells(store, others, len(PAPER_MODELS))
    cell_sets = dict(split_cells(cells, [name for name in ("imagenet-val", *LINE_SETS) if name not in replicates]))
    if val_runs and not replicates:  # not every model on every val image: ReaL resamples its own images
        cell_sets["imagenet-real"] = relabelled_cells(paired_cells, len(PAPER_MODELS))
    columns = [f"m{k}" for k in range(len(PAPER_MODELS))]
    found_sets = {name: _column_replicates(frame, columns, n_resamples=n_resamples, seed=_seed(name, seed))
                  for name, frame in cell_sets.items() if len(frame)}
    replicates.update({name: found for name, found in found_sets.items() if found is not None})
    if "imagenet-val" not in replicates:
        return claim_effective_robustness(None, None, "Needs ImageNet val for all four models (the line's x axis).")
    if lines is None or any(len(line.slopes) != n_resamples or line.fit_on != fit_on for line in lines.values()):
        lines = population_lines(population, fit_on=fit_on, n_resamples=n_resamples, seed=seed)
    sets = {name: found for name, found in replicates.items() if name in LINE_SETS}
    numbers, found = effective_robustness_evidence(replicates["imagenet-val"], sets, lines)
    if len(numbers) and lines:
        counts = sorted({len(line.imagenet) for line in lines.values()})
        numbers["line"] = (f"{FIT_ON.get(fit_on, fit_on)}, {counts[0]:,}"
                           + (f"–{counts[-1]:,}" if len(counts) > 1 else "") + " checkpoints")
    used_sets = [name for name in LINE_SETS if name in sets and name in lines]
    note = (f"Average over {', '.join(used_sets)}. {line_description(lines)}"
            + (" ImageNet-ReaL's replicates reuse val's image resample." if "imagenet-real" in used_sets else "")
            if used_sets else f"No shifted set with a line is measured yet. {line_description(lines)}")
    result = claim_effective_robustness(numbers, found, note)
    result.runs = runs
    return result


def effective_robustness_chart(table, labels: dict[str, str]):
    """Effective robustness per set and model (points with 95% intervals; 0 = on the line), titled with the line
    (`table["line"]`, where present)."""
    import altair as alt

    from core.analysis.charts import color_scale

    line = str(table["line"].dropna().iloc[0]) if "line" in table and table["line"].notna().any() else ""
    table = table.assign(label=table["model"].map(lambda m: labels.get(m, m)))
    order = list(dict.fromkeys(table["label"]))
    # horizontal set names: rotated, they took a third of the chart's height from the plot (in a card's column
    # Streamlit fits the whole chart, labels and legend included, into its height)
    x = alt.X("benchmark:N", sort=list(LINE_SETS), title=None, axis=alt.Axis(labelAngle=0, labelOverlap=False))
    offset = alt.XOffset("label:N", sort=order)
    colour = alt.Color("label:N", scale=color_scale(order), title=None, legend=alt.Legend(orient="bottom", columns=2))
    base = alt.Chart(table).encode(x=x, xOffset=offset, color=colour)
    return alt.layer(
        alt.Chart(table).mark_rule(color="gray", strokeDash=[4, 4]).encode(y=alt.datum(0)),
        base.mark_rule(strokeWidth=2).encode(y=alt.Y("ci_low:Q", title="effective robustness",
                                                     axis=alt.Axis(format="+%")), y2="ci_high:Q"),
        base.mark_point(filled=True, size=70).encode(y="effective_robustness:Q", tooltip=[
            "label:N", "benchmark:N", alt.Tooltip("effective_robustness:Q", format="+.1%"),
            alt.Tooltip("ci_low:Q", format="+.1%"), alt.Tooltip("ci_high:Q", format="+.1%")]),
    ).properties(height=340, title=alt.TitleParams(f"Line: {line}" if line else "", anchor="start", fontSize=12,
                                                    fontWeight="normal"))
