"""Temperature scaling of stored runs (issue 7): fitted once per run from its logits, then kept in the
results store with the held-out half's per-image columns, so the Calibration page never reads logits
again. An evaluation fits each run it finishes; `python -m core calibrate` fits runs already stored;
the app fits on demand a run that has no fit yet.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["CALIBRATED_BENCHMARKS", "FIT_SEED", "StoredTemperature", "calibrated", "fit_run", "calibrate_run",
           "stored_temperature", "calibrate_runs", "fit_after_evaluation"]

CALIBRATED_BENCHMARKS = ("imagenet-val", "imagenet-r", "imagenet-a")
"""The Calibration page's benchmarks (ImageNet-R/A: softmax over their 200 classes)."""

FIT_SEED = 0
"""Seed of the fit/test split of every stored fit (the page's split before issue 7)."""


@dataclass(frozen=True)
class StoredTemperature:
    """A run's temperature fit as stored: `record` (the `temperature_fits` row) and `columns` (image_id and
    the per-image calibration columns of the held-out half under the fitted temperature)."""

    record: dict
    columns: object  # pandas DataFrame

    @property
    def temperature(self) -> float:
        return float(self.record["temperature"])

    @property
    def n_images(self) -> int:
        return int(self.record["n_fit"]) + int(self.record["n_test"])


def calibrated(benchmark: str, variant: str = "", source: str = "ours", store_logits: bool = True) -> bool:
    """Whether the Calibration page shows a run of this kind (and so whether it gets a temperature fit)."""
    return benchmark in CALIBRATED_BENCHMARKS and not variant and source == "ours" and bool(store_logits)


def _subset(class_subset) -> list[int] | None:
    """The scored classes from a run's `class_subset` (stored JSON, a list, or None / NaN from a frame)."""
    if isinstance(class_subset, str):
        return json.loads(class_subset) if class_subset else None
    if class_subset is None or isinstance(class_subset, float):  # NULL read through pandas
        return None
    return list(class_subset) or None


def fit_run(store, run_id: str, class_subset=None, *, seed: int = FIT_SEED) -> StoredTemperature | None:
    """Fit a run's temperature from its stored logits (not stored: `calibrate_run` keeps it).

    Reads the logits through `ResultsStore.logits` (float32, once) and the labels from the per-image
    rows; `class_subset` is the run's (a list or the stored JSON). Returns None when the run has fewer
    than 4 images with logits (nothing to fit)."""
    import pandas as pd

    from core.metrics import fit_temperature

    rows = store.calibration_columns(run_id)
    ids, logits = store.logits(run_id)
    if len(ids) < 4:
        return None
    labels = rows.set_index("image_id")["label"].reindex(ids).fillna(-1).to_numpy().astype(np.int64)
    fit = fit_temperature(logits, labels, seed=seed, class_subset=_subset(class_subset))
    del logits
    record = {"temperature": fit.temperature, "seed": seed, "n_fit": len(fit.fit_indices),
              "n_test": len(fit.test_indices), "n_bins": 15, "ece_before": fit.ece_before, "ece_after": fit.ece_after,
              "nll_before": fit.nll_before, "nll_after": fit.nll_after}
    columns = pd.DataFrame({"image_id": [ids[i] for i in fit.test_indices], **fit.test_columns})
    return StoredTemperature(record, columns)


def calibrate_run(store, run_id: str, class_subset=None, *, seed: int = FIT_SEED) -> StoredTemperature | None:
    """`fit_run`, then keep the fit in the store (replacing an earlier one); None when nothing to fit."""
    result = fit_run(store, run_id, class_subset, seed=seed)
    if result is not None:
        store.write_temperature_fit(run_id, result.record, result.columns)
    return result


def stored_temperature(store, run_id: str, n_images: int | None = None) -> StoredTemperature | None:
    """The run's stored fit, or None when there is none or it covers another number of images than
    `n_images` (the run's images with logits now: a fit made while the run was still going)."""
    found = store.temperature_fit_and_columns(run_id)
    if found is None or (n_images is not None and int(found[0]["n_fit"]) + int(found[0]["n_test"]) != n_images):
        return None
    return StoredTemperature(*found)


def calibrate_runs(store, run_ids: list[str] | None = None, *, refit: bool = False,
                   say: Callable[[str], None] = print) -> int:
    """Fit every run that `calibrated` selects (or the given runs), skipping those with a current fit
    unless `refit`; says one line per run. Returns the number of runs fitted."""
    import pandas as pd

    runs = store.runs()
    if runs.empty:
        say(f"The results store {store.path} holds no runs.")
        return 0
    if run_ids is not None:
        unknown = sorted(set(run_ids) - set(runs["run_id"]))
        if unknown:
            from core.errors import UserError

            raise UserError(f"No run {', '.join(unknown[:5])} in {store.path}. See the run ids with: python -m core "
                            "status")
        runs = runs[runs["run_id"].isin(run_ids)]
    chosen = [run for run in runs.itertuples()
              if calibrated(run.benchmark, run.variant, run.source, not pd.isna(run.store_logits) and run.store_logits)]
    if not chosen:
        say("No run to calibrate: temperature scaling covers runs with stored logits on "
            + ", ".join(CALIBRATED_BENCHMARKS) + ".")
        return 0
    fitted = 0
    for number, run in enumerate(chosen, 1):
        where = f"run {number}/{len(chosen)} {run.model} on {run.benchmark} ({run.run_id})"
        if not refit and stored_temperature(store, run.run_id, len(store.calibration_columns(run.run_id))):
            say(f"{where}: already fitted; skipped (--refit fits again).")
            continue
        began = time.perf_counter()
        result = calibrate_run(store, run.run_id, run.class_subset)
        if result is None:
            say(f"{where}: fewer than 4 images with logits; nothing to fit.")
            continue
        fitted += 1
        say(f"{where}: {_summary(result.record)} ({time.perf_counter() - began:.1f} s)")
    return fitted


def _summary(record: dict) -> str:
    return (f"T = {record['temperature']:.3f} fitted on {record['n_fit']:,} images; on the other "
            f"{record['n_test']:,}: ECE {record['ece_before']:.4f} → {record['ece_after']:.4f}, "
            f"NLL {record['nll_before']:.3f} → {record['nll_after']:.3f}")


def fit_after_evaluation(store, summaries, *, benchmark: str, variant: str, class_subset, store_logits: bool,
                         say: Callable[[str], None] = print) -> None:
    """Fit the temperature of each run an evaluation just finished ('done'), when the Calibration page
    shows such runs. A failure is said, never raised: the run itself is complete and kept."""
    if not calibrated(benchmark, variant, "ours", store_logits):
        return
    for summary in summaries:
        if summary.status != "done":
            continue
        began = time.perf_counter()
        try:
            result = calibrate_run(store, summary.run_id, class_subset)
        except Exception as error:  # noqa: BLE001 - the run is stored; the fit can be redone any time
            say(f"{summary.model}: the temperature fit failed ({error}); the run is complete and kept. Fit it "
                f"later: python -m core calibrate --run {summary.run_id}")
            continue
        if result is not None:
            say(f"{summary.model}: temperature scaling {_summary(result.record)} "
                f"({time.perf_counter() - began:.1f} s).")
