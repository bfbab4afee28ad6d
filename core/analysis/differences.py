"""The differences each claim part states, paired over the images both sides were measured on.

`collect_evidence` hands this module the per-image rows it reads; each function returns
{part key: `core.metrics.Difference`} for one claim (keys below), built with `core.metrics.paired`:
one bootstrap weight matrix per image set, shared by every model and every part measured on it.
Where the models did not see the same images (a `--limit` sample on one side), each side is resampled
on its own and the Difference says `paired=False`.

Part keys: "convnext_sup-vit_sup" (a − b of two models), "clip-supervised" (pair of pairs, the CLIP
pair's mean minus the supervised pair's), a model key (claim 2: texture minus the third-highest other
factor), "gap:<model>" (claim 3: mean confidence minus accuracy), "<kind>:<a>-<b>" (claim 8).
"""

from __future__ import annotations

import zlib

import numpy as np

from core.metrics.paired import (Difference, difference, ece_columns, kth_highest_margin, resample_weights,
                                 stratified_accuracy, weighted_ece, weighted_error_ratios, weighted_shape_bias)

__all__ = ["N_RESAMPLES", "pair_key", "outcome_cells", "relabelled_cells", "split_cells",
           "counts_from_cells", "accuracy_differences", "val_differences",
           "shape_bias_differences", "SUPERVISED", "CLIP"]

N_RESAMPLES = 1000
"""Bootstrap replicates of every difference (percentile tails of 25 replicates each at 95%)."""
SUPERVISED = ("vit_sup", "convnext_sup")
CLIP = ("vit_clip", "convnext_clip")
_CHUNK = 100  # replicates per weight matrix over 50,000 images: 100 × 50,000 × 4 bytes = 20 MB


def pair_key(a: str, b: str) -> str:
    return f"{a}-{b}"


def _seed(name: str, seed: int) -> int:
    """A stable seed per image set: each benchmark resamples its own images, reproducibly."""
    return (zlib.crc32(name.encode()) + seed) % (2 ** 32)


# --- top-1 from cells of images (claims 4, 6, 8) --------------------------------------------------------

def outcome_cells(store, runs: list[tuple[str, str, int]], n_models: int, *, by_condition: bool = False,
                  real: bool | str = False):
    """Distinct outcome patterns of several runs on shared images, counted in DuckDB.

    `runs`: (run_id, stratum, model column) triples; a row is an image (and stratum), m0 … m{n−1} the
    0/1 outcome of each model column on it (NULL where that model has no row for the image), n how
    many images share the pattern. `by_condition` appends each row's condition to its stratum
    (ImageNet-C: corruption × severity); `real`: ImageNet-ReaL hits on the images that have ReaL labels;
    `real="paired"`: both on every image, m0 … m{n−1} the val outcome and m{n} … m{2n−1} the ReaL hit of the
    same model column (NULL on an image without ReaL labels), so that one resample of the images serves both.
    """
    import pandas as pd

    paired = real == "paired"
    columns = [f"m{k}" for k in range(2 * n_models if paired else n_models)]
    if not runs:
        return pd.DataFrame(columns=["stratum", *columns, "n"])
    frame = store.outcome_bits(runs, by_condition=by_condition, real=real, n_models=n_models)
    if frame.empty:
        return pd.DataFrame(columns=["stratum", *columns, "n"])
    if by_condition:
        frame["stratum"] = frame["stratum"] + "|" + frame["condition"].fillna("")
    hits, present = frame["hits"].to_numpy(np.int64), frame["present"].to_numpy(np.int64)
    decoded = {name: np.where((present >> k) & 1, (hits >> k) & 1, np.nan) for k, name in enumerate(columns)}
    return pd.DataFrame({"stratum": frame["stratum"], **decoded, "n": frame["n"].to_numpy(np.int64)})


def relabelled_cells(paired, n_models: int, stratum: str = "imagenet-real", *, real: bool = True):
    """The ReaL cells (as `outcome_cells(..., real=True)` gives them) from `outcome_cells(..., real="paired")`:
    the images with ReaL labels, m0 … m{n−1} each model's ReaL hit; `real=False`: the val cells (as
    `outcome_cells` gives them) of the same frame, every val image."""
    import pandas as pd

    columns = [f"m{k}" for k in range(n_models)]
    offset = n_models if real else 0
    names = {f"m{k + offset}": f"m{k}" for k in range(n_models)}
    if paired is None or paired.empty:
        return pd.DataFrame(columns=["stratum", *columns, "n"])
    frame = paired.dropna(subset=list(names), how="all")[[*names, "n"]].rename(columns=names).assign(stratum=stratum)
    frame = frame.groupby(["stratum", *columns], as_index=False, dropna=False)["n"].sum()
    return frame[["stratum", *columns, "n"]]


def split_cells(cells, names) -> list:
    """[(name, cells of that image set)] from one `outcome_cells` frame whose strata start with each set's name
    (one query for several benchmarks: one scan of the store instead of one per benchmark)."""
    prefix = cells["stratum"].str.partition("|")[0] if len(cells) else cells["stratum"]
    return [(name, cells[prefix == name]) for name in names]


def counts_from_cells(cells, runs: list[tuple[str, str, int]]):
    """Per run (and condition): images `n` and correct ones, the shape of `ResultsStore.accuracy_counts`,
    summed from `outcome_cells` (condition None where the set has none). In numpy, one pass per run over the
    cells' columns (a pandas filter and group-by per run cost a second for the 28 runs of the full study)."""
    import pandas as pd

    if cells is None or len(cells) == 0 or not runs:
        return pd.DataFrame(columns=["run_id", "condition", "n", "correct"])
    parts = cells["stratum"].str.partition("|")
    prefix, conditions, text = parts[0].to_numpy(dtype=object), parts[2].to_numpy(dtype=object), parts[2].dtype
    sizes = cells["n"].to_numpy(np.int64)
    frames = []
    for run_id, name, k in runs:
        outcome = cells[f"m{k}"].to_numpy(np.float64)
        mine = (prefix == name) & ~np.isnan(outcome)
        if not mine.any():
            continue
        names, group = np.unique(conditions[mine], return_inverse=True)  # sorted, as a group-by gives them
        frames.append(pd.DataFrame({
            "run_id": run_id, "condition": pd.array([found or None for found in names], dtype=text),
            "n": np.bincount(group, weights=sizes[mine]).astype(np.int64),
            "correct": np.bincount(group, weights=sizes[mine] * outcome[mine]).astype(np.int64)}))
    if not frames:
        return pd.DataFrame(columns=["run_id", "condition", "n", "correct"])
    return pd.concat(frames, ignore_index=True)[["run_id", "condition", "n", "correct"]]


def _column_replicates(cells, columns: list[str], *, n_resamples: int, seed: int):
    """(points, replicates (columns, R), paired, n) of top-1 (mean over strata) for `columns` of `cells`.

    Paired when every kept stratum has every column on every image; else each column alone."""
    frame = cells[["stratum", *columns, "n"]]
    kept = frame.groupby("stratum")[columns].count().gt(0).all(axis=1)
    frame = frame[frame["stratum"].isin(kept[kept].index)]
    if frame.empty:
        return None
    if frame[columns].notna().all(axis=None):
        grouped = frame.groupby(["stratum", *columns], as_index=False)["n"].sum()
        points, reps = stratified_accuracy(grouped[columns].to_numpy(np.float64), grouped["n"].to_numpy(),
                                           grouped["stratum"].to_numpy(), n_resamples=n_resamples, seed=seed)
        return points, reps, True, int(grouped["n"].sum())
    points, reps, sizes = [], [], []
    for offset, column in enumerate(columns):
        own = frame.dropna(subset=[column]).groupby(["stratum", column], as_index=False)["n"].sum()
        point, rep = stratified_accuracy(own[[column]].to_numpy(np.float64), own["n"].to_numpy(),
                                         own["stratum"].to_numpy(), n_resamples=n_resamples,
                                         seed=seed + 7919 * (offset + 1))
        points.append(point[0])
        reps.append(rep[0])
        sizes.append(int(own["n"].sum()))
    return np.array(points), np.vstack(reps), False, min(sizes)


def accuracy_differences(cell_sets: list, models: tuple[str, ...], comparisons: list[tuple[str, tuple, tuple]], *,
                         n_resamples: int = N_RESAMPLES, seed: int = 0) -> dict[str, Difference]:
    """{key: a − b} of top-1 averaged over image sets, for comparisons (key, side a models, side b models).

    `cell_sets`: (name, `outcome_cells` frame with columns m0 … in `models` order) per image set; each set
    draws its own weights (seeded by its name), shared by all models on it. A side of two models is their
    mean (pair of pairs). Paired only when every set was paired for the models compared."""
    found = {}
    for key, side_a, side_b in comparisons:
        involved = list(dict.fromkeys([*side_a, *side_b]))
        if any(model not in models for model in involved):
            continue
        columns = [f"m{models.index(model)}" for model in involved]
        per_set = []
        for name, cells in cell_sets:
            result = _column_replicates(cells, columns, n_resamples=n_resamples, seed=_seed(name, seed))
            if result is None:
                per_set = []
                break
            per_set.append(result)
        if not per_set:
            continue
        points = np.mean([r[0] for r in per_set], axis=0)
        reps = np.mean([r[1] for r in per_set], axis=0)
        index = {model: position for position, model in enumerate(involved)}
        found[key] = difference([points[index[m]] for m in side_a], [points[index[m]] for m in side_b],
                                [reps[index[m]] for m in side_a], [reps[index[m]] for m in side_b],
                                n=sum(r[3] for r in per_set), paired=all(r[2] for r in per_set))
    return found


# --- ImageNet val per image (claims 1-3) --------------------------------------------------------------

def _aligned(rows_by_model: dict, id_column: str = "image_id"):
    """(ids, {model: rows in that image order}) when every model has the same images (each once); else None.
    A hash lookup (pandas), not a sort: 50,000 string ids per model cost milliseconds."""
    import pandas as pd

    models = list(rows_by_model)
    first = pd.Index(rows_by_model[models[0]][id_column])
    if not first.is_unique:
        return None
    aligned = {}
    for model in models:
        rows = rows_by_model[model]
        if len(rows) != len(first):
            return None
        position = pd.Index(rows[id_column]).get_indexer(first)
        if (position < 0).any() or len(np.unique(position)) != len(position):
            return None
        aligned[model] = rows.iloc[position].reset_index(drop=True)
    return first.to_numpy(dtype=object), aligned


def _groups(rows_by_model: dict):
    """[(ids, {model: rows in that order})]: one group when the models share their images, else one each."""
    aligned = _aligned(rows_by_model)
    if aligned is not None:
        return [aligned], True
    return [(rows["image_id"].to_numpy(dtype=object), {model: rows.reset_index(drop=True)})
            for model, rows in rows_by_model.items()], False


def _calibration_replicates(rows: dict, n_bins: int, n_resamples: int, rng) -> dict:
    """{model: (ECE, mean confidence, accuracy) replicates}: one matrix product per chunk of weights for
    all models (`ece_columns` of each model, its confidence and its correctness side by side)."""
    models = list(rows)
    blocks = []
    for model in models:
        confidence = rows[model]["conf"].to_numpy(dtype=np.float64)
        correct = rows[model]["correct"].to_numpy(dtype=np.float64)
        blocks += [ece_columns(confidence, correct, n_bins=n_bins), confidence[:, None], correct[:, None]]
    values = np.hstack(blocks).astype(np.float32)
    n, width = len(values), n_bins + 2
    sums = []
    for start in range(0, n_resamples, _CHUNK):
        weights = resample_weights(n, n_resamples=min(_CHUNK, n_resamples - start), seed=rng, dtype=np.float32)
        sums.append((weights @ values).astype(np.float64) / n)
    sums = np.vstack(sums)
    return {model: (np.abs(sums[:, k * width:k * width + n_bins]).sum(axis=1), sums[:, k * width + n_bins],
                    sums[:, k * width + n_bins + 1]) for k, model in enumerate(models)}


def val_differences(rows_by_model: dict, annotations, *, n_bins: int = 15, n_resamples: int = N_RESAMPLES,
                    seed: int = 0, level: float = 0.95) -> dict:
    """Claims 1-3 on ImageNet val from each model's rows (image_id, pred, conf, correct, file_name).

    Instead of `file_name`, rows may carry `annotation`: the row of `annotations` of each image (−1 where none),
    as `ResultsStore.keyed_columns` reads it with the predictions; `image_id` is then any key that names the same
    image alike in every model's rows (there, a hash of the id).

    Returns {"mistakes": {...}, "texture": {...}, "calibration": {...}, "ratios": per-model error-ratio
    replicates summary frame (model, factor, error_ratio, ci_low, ci_high, n), "ece": (model, value,
    ci_low, ci_high, n), "gap": (same)}: the per-model intervals come from the same replicates."""
    import pandas as pd

    from core.data.imagenet_x import FACTORS
    from core.metrics.bootstrap import percentile_interval as _percentile

    def percentile_interval(values, level):
        values = np.asarray(values, dtype=np.float64)
        return _percentile(values, level=level) if np.isfinite(values).any() else (np.nan, np.nan)

    groups, paired = _groups(rows_by_model)
    texture = list(FACTORS).index("texture")
    ratio_points, ratio_reps, ece_points, ece_reps, gap_points, gap_reps, conf_points, conf_reps = \
        {}, {}, {}, {}, {}, {}, {}, {}
    acc_points, acc_reps, sizes = {}, {}, {}
    for group_index, (ids, rows) in enumerate(groups):
        group_seed = _seed("imagenet-val", seed) + 104729 * group_index
        models = list(rows)
        # ImageNet-X: cells of (factor bits, each model's error bit) over the annotated images (their order does
        # not matter: the cells are counted by code)
        first = rows[models[0]]
        if "annotation" in first:  # each image's row of `annotations` (−1: none), read with the predictions
            row = first["annotation"].to_numpy(np.int64)
            position = np.flatnonzero(row >= 0)
            merged = annotations.iloc[row[position]].reset_index(drop=True).assign(position=position)
        else:
            names = pd.DataFrame({"file_name": first["file_name"].to_numpy(dtype=object),
                                  "position": np.arange(len(ids))})
            merged = annotations.merge(names, on="file_name", how="inner")
        if len(merged):
            position = merged["position"].to_numpy()
            masks = merged[list(FACTORS)].to_numpy().astype(np.int64)
            wrong = np.stack([rows[m]["pred"].to_numpy()[position] != merged["class"].to_numpy() for m in models],
                             axis=1).astype(np.int64)
            code = (masks @ (1 << np.arange(masks.shape[1], dtype=np.int64))) << len(models)
            code += wrong @ (1 << np.arange(len(models), dtype=np.int64))
            _, first, counts = np.unique(code, return_index=True, return_counts=True)
            weights = resample_weights(counts, n_resamples=n_resamples, seed=group_seed)
            for k, model in enumerate(models):
                ratio_points[model] = weighted_error_ratios(counts, wrong[first, k], masks[first])[0]
                ratio_reps[model] = weighted_error_ratios(weights, wrong[first, k], masks[first])
        # calibration: every image, weights drawn in chunks (one stream: the same as one draw)
        replicates = _calibration_replicates(rows, n_bins, n_resamples, np.random.default_rng(group_seed + 1))
        for m in models:
            confidence = rows[m]["conf"].to_numpy(dtype=np.float64)
            correct = rows[m]["correct"].to_numpy(dtype=bool)
            ece_points[m] = float(weighted_ece(np.ones(len(ids)), confidence, correct, n_bins=n_bins)[0])
            conf_points[m], acc_points[m] = float(confidence.mean()), float(correct.mean())
            ece_reps[m], conf_reps[m], acc_reps[m] = replicates[m]
            sizes[m] = (len(ids), len(merged))

    def pairs(points, reps, n):
        return difference([points[m] for m in CLIP], [points[m] for m in SUPERVISED], [reps[m] for m in CLIP],
                          [reps[m] for m in SUPERVISED], n=n, paired=paired, level=level)

    mean_points = {m: float(np.nanmean(v)) for m, v in ratio_points.items()}
    mean_reps = {m: np.nanmean(v, axis=1) for m, v in ratio_reps.items()}
    models = list(rows_by_model)
    annotated = min((sizes[m][1] for m in models), default=0)
    mistakes, texture_parts, calibration = {}, {}, {}
    if all(m in mean_points for m in (*CLIP, *SUPERVISED)):
        mistakes["clip-supervised"] = pairs(mean_points, mean_reps, annotated)
    for m in ratio_points:
        point_margin = float(kth_highest_margin(ratio_points[m][None, :], texture, 3)[0])
        margins = kth_highest_margin(ratio_reps[m], texture, 3)
        point_texture = float(ratio_points[m][texture])
        texture_parts[m] = difference(point_texture, point_texture - point_margin, ratio_reps[m][:, texture],
                                      ratio_reps[m][:, texture] - margins, n=sizes[m][1], paired=True, level=level)
    if all(m in ece_points for m in (*CLIP, *SUPERVISED)):
        calibration["supervised-clip"] = difference(
            [ece_points[m] for m in SUPERVISED], [ece_points[m] for m in CLIP], [ece_reps[m] for m in SUPERVISED],
            [ece_reps[m] for m in CLIP], n=min(sizes[m][0] for m in models), paired=paired, level=level)
    for m in conf_points:
        calibration[f"gap:{m}"] = difference(conf_points[m], acc_points[m], conf_reps[m], acc_reps[m],
                                             n=sizes[m][0], paired=True, level=level)

    ratio_rows, ece_rows, gap_rows = [], [], []
    for m in models:
        if m in ratio_points:
            lows, highs = zip(*(percentile_interval(ratio_reps[m][:, f], level=level) for f in range(len(FACTORS))))
            for f, factor in enumerate(FACTORS):
                value = float(ratio_points[m][f])
                ratio_rows.append({"model": m, "factor": factor, "error_ratio": value,
                                   "ci_low": np.fmin(lows[f], value), "ci_high": np.fmax(highs[f], value),
                                   "n": sizes[m][1]})
            low, high = percentile_interval(mean_reps[m], level=level)
            ratio_rows.append({"model": m, "factor": "mean", "error_ratio": mean_points[m],
                               "ci_low": min(low, mean_points[m]), "ci_high": max(high, mean_points[m]),
                               "n": sizes[m][1]})
        low, high = percentile_interval(ece_reps[m], level=level)
        ece_rows.append({"model": m, "value": ece_points[m], "ci_low": min(low, ece_points[m]),
                         "ci_high": max(high, ece_points[m]), "n": sizes[m][0]})
        gap = conf_points[m] - acc_points[m]
        low, high = percentile_interval(conf_reps[m] - acc_reps[m], level=level)
        gap_rows.append({"model": m, "value": gap, "ci_low": min(low, gap), "ci_high": max(high, gap),
                         "n": sizes[m][0]})
    return {"mistakes": mistakes, "texture": texture_parts, "calibration": calibration,
            "ratios": pd.DataFrame(ratio_rows), "ece": pd.DataFrame(ece_rows), "gap": pd.DataFrame(gap_rows)}


# --- cue-conflict decisions (claim 5) -------------------------------------------------------------------

def shape_bias_differences(decisions_by_model: dict, *, n_resamples: int = N_RESAMPLES, seed: int = 0,
                           level: float = 0.95) -> dict[str, Difference]:
    """Claim 5's parts from each model's cue-conflict decisions (image_id, shape, texture, decision16),
    resampled over the conflict images (shape ≠ texture), together when the models share them."""
    hits = {}
    for model, frame in decisions_by_model.items():
        frame = frame[frame["shape"] != frame["texture"]].drop_duplicates("image_id")
        hits[model] = frame.assign(s=(frame["decision16"] == frame["shape"]).to_numpy(),
                                   t=(frame["decision16"] == frame["texture"]).to_numpy())
    if not hits:
        return {}
    groups, paired = _groups(hits)
    points, reps, sizes = {}, {}, {}
    for group_index, (ids, rows) in enumerate(groups):
        weights = resample_weights(len(ids), n_resamples=n_resamples,
                                   seed=_seed("cue-conflict", seed) + 104729 * group_index)
        for model, frame in rows.items():
            s, t = frame["s"].to_numpy(), frame["t"].to_numpy()
            points[model] = float(weighted_shape_bias(np.ones(len(ids)), s, t)[0])
            reps[model] = weighted_shape_bias(weights, s, t)
            sizes[model] = len(ids)
    found = {}
    for convnext, vit in (("convnext_sup", "vit_sup"), ("convnext_clip", "vit_clip")):
        if convnext in points and vit in points:
            found[pair_key(convnext, vit)] = difference(points[convnext], points[vit], reps[convnext], reps[vit],
                                                        n=min(sizes[convnext], sizes[vit]), paired=paired,
                                                        level=level)
    if all(m in points for m in (*CLIP, *SUPERVISED)):
        found["clip-supervised"] = difference([points[m] for m in CLIP], [points[m] for m in SUPERVISED],
                                              [reps[m] for m in CLIP], [reps[m] for m in SUPERVISED],
                                              n=min(sizes.values()), paired=paired, level=level)
    return found
