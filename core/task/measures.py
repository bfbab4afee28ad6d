"""What the Your task page and report show, read from the store (no torch): one `TaskData` per task and version.

A candidate is a (model, method): zero-shot (CLIP models), the full probe, and the k-shot probe at the
largest k that was fitted, whose per-image correctness is the mean over its draws. Every candidate was
scored on the same test images, so the tables below and the decision card compare them image by image.
"""

from __future__ import annotations

import functools

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.metrics.agreement import error_consistency, top_confusions, weighted_error_consistency
from core.task.spec import TaskSpec, load_task

__all__ = ["TaskData", "read_task", "candidate_label", "summary_table", "kshot_table", "corruption_table",
           "reliability_table", "kappa_table", "disagreements", "class_table", "confusion_table", "capped_shots",
           "corruption_curves_table"]

METHOD_WORDS = {"zero-shot": "zero-shot", "probe": "linear probe"}


def candidate_label(label: str, method: str, k: int = 0) -> str:
    """`ConvNeXt-sup · 16-shot probe`, `ViT-clip · zero-shot`."""
    return f"{label} · {k}-shot probe" if method == "k-shot" else f"{label} · {METHOD_WORDS.get(method, method)}"


@dataclass
class TaskData:
    """Everything read for one task: the spec, the test images, per-candidate per-image arrays, aggregates."""

    spec: TaskSpec
    report: dict
    test: pd.DataFrame  # image_id, path, label (sorted by image_id)
    candidates: pd.DataFrame  # candidate, model, method, k
    correct: np.ndarray  # (candidates, images) float: 0/1, or the mean over draws
    conf: np.ndarray  # (candidates, images): NaN for k-shot
    brier: np.ndarray
    prob_true: np.ndarray
    pred: np.ndarray  # (candidates, images) int: −1 for k-shot
    kshot: pd.DataFrame  # model, k, draw, accuracy, n
    kshot_correct: dict  # (model, k) → (draws, images) float 0/1, images in `test` order
    corrupted: pd.DataFrame  # model, method, i (position in `test`), correct: the mean over corrupted conditions
    costs: pd.DataFrame  # model, images_per_s, params
    conditions: pd.DataFrame = field(default_factory=pd.DataFrame)  # model, method, condition, accuracy, n

    @property
    def n_images(self) -> int:
        return len(self.test)

    @property
    def classes(self) -> list[str]:
        return list(self.spec.classes)


def read_task(store, name: str, labels: dict | None = None) -> TaskData | None:
    """The task's stored results, or None when it has no prediction yet. `labels`: {model: display label}."""
    spec, images, report = load_task(store, name)
    test = images[images["split"] == "test"][["image_id", "path", "label"]].sort_values("image_id")
    test = test.reset_index(drop=True)
    rows, bits, corrupted, conditions, costs = store.task_results(name)
    if rows.empty:
        return None
    labels = labels or {}
    keys = rows[["model", "method", "k"]].drop_duplicates()
    keys["order"] = keys["method"].map({"zero-shot": 0, "probe": 1, "k-shot": 2})
    rank = {model: i for i, model in enumerate(labels)}  # registry order when the caller gives it
    keys["rank"] = keys["model"].map(lambda model: rank.get(model, len(rank)))
    keys = keys.sort_values(["rank", "model", "order"]).drop(columns="rank").reset_index(drop=True)
    keys["candidate"] = [candidate_label(labels.get(m, m), method, k) for m, method, k in
                         zip(keys["model"], keys["method"], keys["k"])]
    shape = (len(keys), len(test))
    arrays = {name: np.full(shape, np.nan) for name in ("correct", "conf", "brier", "prob_true")}
    pred = np.full(shape, -1, dtype=np.int64)
    for row_number, (key, part) in enumerate(_parts(rows, keys, ["model", "method", "k"])):
        at = part["i"].to_numpy()
        for column in arrays:
            arrays[column][row_number, at] = part[column].to_numpy(dtype=np.float64)
        if key[1] != "k-shot":
            pred[row_number, at] = part["pred"].to_numpy()
        else:
            arrays["conf"][row_number] = np.nan
    # each image's correctness in every draw, packed into one integer per (model, k, image) (5× fewer rows than
    # the predictions); the per-draw accuracies of the k-shot curve follow from it
    kshot_correct, kshot_rows = {}, []
    for (model, k), part in (bits.groupby(["model", "k"], sort=True) if not bits.empty else ()):
        drawn = np.bitwise_or.reduce(part["drawn"].to_numpy(dtype=np.int64))
        draws = np.array([d for d in range(63) if drawn >> d & 1], dtype=np.int64)
        matrix = np.zeros((len(draws), len(test)))
        matrix[:, part["i"].to_numpy()] = (part["bits"].to_numpy(dtype=np.int64)[None, :] >> draws[:, None]) & 1
        kshot_correct[(model, int(k))] = matrix
        kshot_rows += [{"model": model, "k": int(k), "draw": int(d), "accuracy": float(matrix[j, part["i"]].mean()),
                        "n": len(part)} for j, d in enumerate(draws)]
    kshot = pd.DataFrame.from_records(kshot_rows, columns=["model", "k", "draw", "accuracy", "n"])
    keys = keys.drop(columns="order")
    return TaskData(spec, report, test, keys, arrays["correct"], arrays["conf"], arrays["brier"], arrays["prob_true"],
                    pred, kshot, kshot_correct, corrupted, costs, conditions)


N_RESAMPLES = 1000
"""Bootstrap replicates of every interval of the task page, card and report: one cached matrix serves them all."""
KSHOT_DRAW_SEED = 1
"""The seed of the k-shot draws' resample in every two-level interval (card, summary, curve, report)."""


def kshot_replicates(data: "TaskData", model: str, k: int, weights: np.ndarray) -> np.ndarray:
    """A k-shot probe's top-1 under each image resample by the two-level bootstrap (its draws resampled too,
    `core.metrics.paired.two_level_accuracy` with `KSHOT_DRAW_SEED`): the one interval of a k-shot candidate on
    the card, the summary table, the k-shot curve and the report, paired with the others through `weights`."""
    from core.metrics.paired import two_level_accuracy

    return two_level_accuracy(weights, data.kshot_correct[(model, int(k))], seed=KSHOT_DRAW_SEED)


@functools.lru_cache(maxsize=4)
def replicate_weights(n: int, n_resamples: int, seed: int) -> np.ndarray:
    """`resample_weights` over the test images, kept between the tables and cards of the same images (a page's
    tables and each click on the card use one matrix); float32 halves it (counts stay exact). Read-only: every
    statistic only multiplies by it."""
    from core.metrics.paired import resample_weights

    weights = resample_weights(n, n_resamples=n_resamples, seed=seed, dtype=np.float32)
    weights.setflags(write=False)
    return weights


def _parts(frame: pd.DataFrame, keys: pd.DataFrame, columns: list[str]):
    """(key, rows of `frame` with that key) for each row of `keys`, in order (one groupby, not a filter per key)."""
    groups = frame.groupby(columns, sort=False).indices
    for key in keys[columns].itertuples(index=False, name=None):
        yield key, frame.iloc[groups.get(key, [])]


def _accuracy_interval(correct: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    from core.metrics.bootstrap import percentile_interval
    from core.metrics.paired import weighted_accuracy

    return percentile_interval(weighted_accuracy(weights, correct))


def summary_table(data: TaskData, *, n_bins: int = 15, n_resamples: int = N_RESAMPLES,
                  seed: int = 0) -> pd.DataFrame:
    """Per candidate: top-1 [interval], balanced accuracy, ECE, NLL, Brier, images/s, parameters. A k-shot
    candidate's interval is its two-level bootstrap (`kshot_replicates`), as on the card and the curve."""
    from core.metrics.bootstrap import percentile_interval
    from core.metrics.calibration import expected_calibration_error
    weights = replicate_weights(data.n_images, n_resamples, seed)
    labels = data.test["label"].to_numpy()
    n_classes = len(data.classes)
    costs = data.costs.set_index("model") if not data.costs.empty else pd.DataFrame()
    records = []
    for i, row in data.candidates.iterrows():
        correct = data.correct[i]
        if row["method"] == "k-shot" and (row["model"], int(row["k"])) in data.kshot_correct:
            low, high = percentile_interval(kshot_replicates(data, row["model"], row["k"], weights))
        else:
            low, high = _accuracy_interval(correct, weights)
        recall = np.array([correct[labels == c].mean() if (labels == c).any() else np.nan for c in range(n_classes)])
        calibrated = row["method"] != "k-shot"
        records.append({
            "candidate": row["candidate"], "model": row["model"], "method": row["method"], "k": int(row["k"]),
            "accuracy": float(correct.mean()), "ci_low": low, "ci_high": high,
            "balanced_accuracy": float(np.nanmean(recall)),
            "ece": expected_calibration_error(data.conf[i], data.correct[i].astype(bool), n_bins=n_bins)
            if calibrated else np.nan,
            "nll": float(-np.log(np.clip(data.prob_true[i], 1e-12, None)).mean()) if calibrated else np.nan,
            "brier": float(np.nanmean(data.brier[i])),
            "images_per_s": float(costs["images_per_s"].get(row["model"], np.nan)) if len(costs) else np.nan,
            "params_m": float(costs["params"].get(row["model"], np.nan)) / 1e6 if len(costs) else np.nan,
            "n": data.n_images})
    return pd.DataFrame.from_records(records)


def kshot_table(data: TaskData, labels: dict | None = None, *, n_resamples: int = N_RESAMPLES,
                seed: int = 0) -> pd.DataFrame:
    """Per model and k: mean top-1 over the draws and a 95% two-level bootstrap interval (`kshot_replicates`):
    each replicate resamples the test images (the weights `summary_table` and the card use) and, independently,
    the draws, and takes the mean over the drawn draws of each one's accuracy on the drawn images. Both sources
    of spread count: which images the user happened to label for training, and which happened to be tested."""
    from core.metrics.bootstrap import percentile_interval

    columns = ["model", "label", "k", "accuracy", "ci_low", "ci_high", "draws"]
    if data.kshot.empty:
        return pd.DataFrame(columns=columns)
    labels = labels or {}
    weights = replicate_weights(data.n_images, n_resamples, seed)
    records = []
    for (model, k), part in data.kshot.groupby(["model", "k"], sort=True):
        correct = data.kshot_correct[(model, int(k))]  # (draws, images)
        n_draws = len(correct)
        low, high = percentile_interval(kshot_replicates(data, model, k, weights))
        records.append({"model": model, "label": labels.get(model, model), "k": int(k),
                        "accuracy": float(correct.mean()), "ci_low": low, "ci_high": high, "draws": n_draws})
    return pd.DataFrame.from_records(records, columns=columns)


def capped_shots(data: TaskData, shots) -> list[str]:
    """Sentences for classes with fewer training images than a shot count (their k is capped)."""
    counts = data.report.get("train_counts", {})
    lines = []
    for name, n in counts.items():
        over = [k for k in shots if k > n]
        if over:
            lines.append(f"`{name}` has {n} training image(s): at k = {', '.join(map(str, over))} it contributes all "
                         f"{n}.")
    return lines


def corruption_table(data: TaskData, labels: dict | None = None) -> pd.DataFrame:
    """Per model, method, corruption and severity: top-1 and the relative drop from clean, 1 − acc / clean acc."""
    if data.conditions.empty:
        return pd.DataFrame(columns=["model", "method", "candidate", "corruption", "severity", "accuracy", "drop"])
    labels = labels or {}
    table = data.conditions.drop(columns="n").rename(columns={"accuracy": "correct"})
    table[["corruption", "severity"]] = table["condition"].str.split("/", expand=True)
    table["severity"] = table["severity"].astype(int)
    clean = {(r.model, r.method): data.correct[i].mean() for i, r in data.candidates.iterrows()}
    table["clean"] = [clean.get((m, method), np.nan) for m, method in zip(table["model"], table["method"])]
    table = table.rename(columns={"correct": "accuracy"})
    # undefined (NaN) when the clean top-1 is 0: nothing to drop from
    table["drop"] = (1 - table["accuracy"] / table["clean"].where(table["clean"] > 0))
    table["candidate"] = [candidate_label(labels.get(m, m), method) for m, method in zip(table["model"], table["method"])]
    return table.drop(columns="condition")


def reliability_table(data: TaskData, *, n_bins: int = 10) -> pd.DataFrame:
    """Per calibrated candidate and confidence bin: mean confidence, accuracy, count."""
    from core.metrics.calibration import reliability_bins

    frames = []
    for i, row in data.candidates.iterrows():
        if row["method"] == "k-shot":
            continue
        bins = pd.DataFrame(reliability_bins(data.conf[i], data.correct[i].astype(bool), n_bins=n_bins))
        frames.append(bins.assign(candidate=row["candidate"], model=row["model"]))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def kappa_table(data: TaskData, *, n_resamples: int = 300, seed: int = 0) -> pd.DataFrame:
    """Error consistency κ (Geirhos et al. 2020) of every pair of zero-shot/probe candidates, with a 95%
    bootstrap interval over the test images (paired: one resample serves every pair)."""
    from core.metrics.bootstrap import percentile_interval

    binary = [i for i, row in data.candidates.iterrows() if row["method"] != "k-shot"]
    weights = replicate_weights(data.n_images, n_resamples, seed)
    found = {}
    for x, i in enumerate(binary):
        for j in binary[x:]:  # κ is symmetric: each pair once, then mirrored
            a, b = data.correct[i].astype(bool), data.correct[j].astype(bool)
            kappa = error_consistency(a, b)
            replicates = weighted_error_consistency(weights, a, b) if i != j else np.array([])
            replicates = replicates[~np.isnan(replicates)]
            low, high = percentile_interval(replicates) if len(replicates) else (kappa, kappa)
            found[(i, j)] = found[(j, i)] = (kappa, low, high)
    records = [{"a": data.candidates.at[i, "candidate"], "b": data.candidates.at[j, "candidate"],
                "kappa": found[(i, j)][0], "ci_low": found[(i, j)][1], "ci_high": found[(i, j)][2]}
               for i in binary for j in binary]
    return pd.DataFrame.from_records(records)


def disagreements(data: TaskData, *, limit: int = 24) -> pd.DataFrame:
    """Test images where the zero-shot/probe candidates' answers differ, most distinct answers first, with each
    candidate's answer (class name, ✓ when right) in a column of its own."""
    binary = [i for i, row in data.candidates.iterrows() if row["method"] != "k-shot"]
    if len(binary) < 2:
        return pd.DataFrame()
    preds = data.pred[binary]
    distinct = np.array([len(set(column)) for column in preds.T])
    wrong = (preds != data.test["label"].to_numpy()[None, :]).sum(axis=0)
    order = [i for i in np.lexsort((-wrong, -distinct)) if distinct[i] > 1][:limit]
    classes = data.classes
    table = data.test.iloc[order][["image_id", "path", "label"]].copy()
    table["true class"] = [classes[label] for label in table["label"]]
    for i, row in zip(binary, preds):
        table[data.candidates.at[i, "candidate"]] = [classes[p] + (" ✓" if p == label else "") for p, label in
                                                     zip(row[order], table["label"])]
    return table.reset_index(drop=True)


def class_table(data: TaskData) -> pd.DataFrame:
    """Recall per class (columns) per candidate (rows)."""
    labels = data.test["label"].to_numpy()
    frame = pd.DataFrame({data.classes[c]: [float(data.correct[i][labels == c].mean()) if (labels == c).any()
                                            else np.nan for i in range(len(data.candidates))]
                          for c in range(len(data.classes))})
    frame.insert(0, "candidate", data.candidates["candidate"].to_numpy())
    return frame


def confusion_table(data: TaskData, *, top: int = 5) -> pd.DataFrame:
    """The most frequent confusions (true → predicted, count) of each zero-shot/probe candidate."""
    labels, classes, records = data.test["label"].to_numpy(), data.classes, []
    for i, row in data.candidates.iterrows():
        if row["method"] == "k-shot":
            continue
        for true, pred, count in top_confusions(labels, data.pred[i], top=top):
            records.append({"candidate": row["candidate"], "true": classes[true], "predicted": classes[pred],
                            "count": count})
    return pd.DataFrame.from_records(records, columns=["candidate", "true", "predicted", "count"])



def corruption_curves_table(summary: pd.DataFrame, corruption: pd.DataFrame, labels: dict | None = None) -> pd.DataFrame:
    """The corruption table with each candidate's clean top-1 as severity 0 of every corruption (the curves' start)."""
    if corruption.empty:
        return corruption
    labels = labels or {}
    clean = summary[summary["method"] != "k-shot"][["model", "method", "candidate", "accuracy"]].assign(severity=0)
    clean = clean[clean["candidate"].isin(set(corruption["candidate"]))]
    curves = pd.concat([clean.merge(corruption[["corruption"]].drop_duplicates(), how="cross").assign(drop=0.0),
                        corruption[["model", "method", "candidate", "corruption", "severity", "accuracy", "drop"]]],
                       ignore_index=True)
    curves["label"] = curves["model"].map(lambda model: labels.get(model, model))
    return curves
