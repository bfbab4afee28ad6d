"""What the Your task page and report show, read from the store (no torch): one `TaskData` per task and version.

A candidate is a (model, method): zero-shot (CLIP models), the full probe, and the k-shot probe at the
largest k that was fitted, whose per-image correctness is the mean over its draws. Every candidate was
scored on the same test images, so the tables below and the decision card compare them image by image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from core.metrics.agreement import error_consistency, top_confusions, weighted_error_consistency

if TYPE_CHECKING:
    from core.task.folder import TaskSpec

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

    spec: "TaskSpec"
    report: dict
    test: pd.DataFrame  # image_id, path, label (sorted by image_id)
    candidates: pd.DataFrame  # candidate, model, method, k
    correct: np.ndarray  # (candidates, images) float: 0/1, or the mean over draws
    conf: np.ndarray  # (candidates, images): NaN for k-shot
    brier: np.ndarray
    prob_true: np.ndarray
    pred: np.ndarray  # (candidates, images) int: −1 for k-shot
    kshot: pd.DataFrame  # model, k, draw, accuracy, n
    corrupted: pd.DataFrame  # model, method, image_id, correct: the mean over corrupted conditions (robustness)
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
    from core.task.run import load_task

    spec, images, report = load_task(store, name)
    test = images[images["split"] == "test"][["image_id", "path", "label"]].sort_values("image_id")
    test = test.reset_index(drop=True)
    rows = store._task_query(
        "WITH top AS (SELECT model, max(k) AS k FROM task_fits WHERE task = ? AND method = 'k-shot' GROUP BY model) "
        "SELECT p.model, p.method, p.k, p.image_id, avg(p.correct::DOUBLE) AS correct, avg(p.conf) AS conf, "
        "avg(p.brier) AS brier, avg(p.prob_true) AS prob_true, min(p.pred) AS pred, count(*) AS draws "
        "FROM task_predictions p LEFT JOIN top USING (model) WHERE p.task = ? AND p.condition = 'clean' AND "
        "(p.method <> 'k-shot' OR p.k = top.k) GROUP BY ALL", [name, name])
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
    index = {image_id: i for i, image_id in enumerate(test["image_id"])}
    shape = (len(keys), len(test))
    arrays = {name: np.full(shape, np.nan) for name in ("correct", "conf", "brier", "prob_true")}
    pred = np.full(shape, -1, dtype=np.int64)
    for row_number, key in enumerate(keys.itertuples()):
        part = rows[(rows["model"] == key.model) & (rows["method"] == key.method) & (rows["k"] == key.k)]
        at = part["image_id"].map(index).to_numpy()
        for column in arrays:
            arrays[column][row_number, at] = part[column].to_numpy(dtype=np.float64)
        if key.method != "k-shot":
            pred[row_number, at] = part["pred"].to_numpy()
        else:
            arrays["conf"][row_number] = np.nan
    kshot = store._task_query("SELECT model, k, draw, avg(correct::DOUBLE) AS accuracy, count(*) AS n FROM "
                              "task_predictions WHERE task = ? AND method = 'k-shot' GROUP BY ALL ORDER BY ALL", [name])
    # aggregated in the store: 20,000 test images × 8 candidates × 15 conditions would be 2.4 M rows in pandas
    corrupted = store._task_query("SELECT model, method, image_id, avg(correct::DOUBLE) AS correct FROM "
                                  "task_predictions WHERE task = ? AND condition <> 'clean' GROUP BY ALL ORDER BY ALL",
                                  [name])
    conditions = store._task_query("SELECT model, method, condition, avg(correct::DOUBLE) AS accuracy, count(*) AS n "
                                   "FROM task_predictions WHERE task = ? AND condition <> 'clean' GROUP BY ALL "
                                   "ORDER BY ALL", [name])
    keys = keys.drop(columns="order")
    return TaskData(spec, report, test, keys, arrays["correct"], arrays["conf"], arrays["brier"], arrays["prob_true"],
                    pred, kshot, corrupted, store.task_costs(name), conditions)


def _accuracy_interval(correct: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    from core.metrics.bootstrap import percentile_interval
    from core.metrics.paired import weighted_accuracy

    return percentile_interval(weighted_accuracy(weights, correct))


def summary_table(data: TaskData, *, n_bins: int = 15, n_resamples: int = 500, seed: int = 0) -> pd.DataFrame:
    """Per candidate: top-1 [interval], balanced accuracy, ECE, NLL, Brier, images/s, parameters."""
    from core.metrics.calibration import expected_calibration_error
    from core.metrics.paired import resample_weights

    weights = resample_weights(data.n_images, n_resamples=n_resamples, seed=seed)
    labels = data.test["label"].to_numpy()
    n_classes = len(data.classes)
    costs = data.costs.set_index("model") if not data.costs.empty else pd.DataFrame()
    records = []
    for i, row in data.candidates.iterrows():
        correct = data.correct[i]
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


def kshot_table(data: TaskData, labels: dict | None = None, *, n_resamples: int = 500, seed: int = 0) -> pd.DataFrame:
    """Per model and k: mean top-1 over the draws and a 95% interval across draws and test images (each
    replicate resamples the draws and, within the pooled correctness, the images: a two-level bootstrap
    approximated by adding the between-draw and between-image variances)."""
    if data.kshot.empty:
        return pd.DataFrame(columns=["model", "label", "k", "accuracy", "ci_low", "ci_high", "draws"])
    labels = labels or {}
    records = []
    for (model, k), part in data.kshot.groupby(["model", "k"]):
        accuracy = float(np.average(part["accuracy"], weights=part["n"]))
        n = float(part["n"].mean())
        between = float(part["accuracy"].var(ddof=1)) if len(part) > 1 else 0.0
        within = accuracy * (1 - accuracy) / max(n, 1)
        half = 1.96 * np.sqrt(between + within)
        records.append({"model": model, "label": labels.get(model, model), "k": int(k), "accuracy": accuracy,
                        "ci_low": max(0.0, accuracy - half), "ci_high": min(1.0, accuracy + half), "draws": len(part)})
    return pd.DataFrame.from_records(records)


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
    table["drop"] = 1 - table["accuracy"] / table["clean"]
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
    from core.metrics.paired import resample_weights

    binary = [i for i, row in data.candidates.iterrows() if row["method"] != "k-shot"]
    weights = resample_weights(data.n_images, n_resamples=n_resamples, seed=seed, dtype=np.float32)
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
