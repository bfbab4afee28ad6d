"""Cached reads of the results store for the pages: runs, per-image columns, counts and the tables the
analysis pages draw. Each read opens a short read-only connection (never a cached handle) and is keyed by
the store version, so a commit shows up at the next rerun."""

from __future__ import annotations

import logging

import streamlit as st


log = logging.getLogger("beyond_accuracy")

__all__ = ['store_version', 'runs_table', 'predictions', 'probes_table', 'read_file', 'thumbnail', 'bootstrap_counts', 'calibration_columns', 'calibration_summary', 'temperature_scaled', 'accuracy_counts', 'imagenet_x_ratios', 'imagenet_x_slice', 'shape_bias_tables', 'cue_conflict_paths']


def store_version() -> str:
    """Changes when an evaluation commits a batch: the key of every cached store read."""
    from core.store import ResultsStore

    return ResultsStore().version()


@st.cache_data(show_spinner=False, max_entries=32)
def runs_table(version: str):
    """Every run in the results store (read-only, short connection; never a cached handle)."""
    from core.store import ResultsStore

    return ResultsStore().runs()


@st.cache_data(show_spinner=False, max_entries=64)
def predictions(run_ids: tuple[str, ...], columns: tuple[str, ...], version: str):
    """Per-image rows of some runs (only the columns a page needs)."""
    import pandas as pd

    from core.store import ResultsStore

    if not run_ids:
        return pd.DataFrame(columns=["run_id", *columns])
    marks = ", ".join("?" for _ in run_ids)
    return ResultsStore().query(f"SELECT run_id, {', '.join(columns)} FROM predictions WHERE run_id IN ({marks})",
                                list(run_ids))


@st.cache_data(show_spinner=False, max_entries=8)
def probes_table(version: str):
    from core.store import ResultsStore

    return ResultsStore().probes()


def read_file(path: str) -> bytes:
    """Bytes of a dataset file the store points to (pages do no file I/O of their own)."""
    with open(path, "rb") as handle:
        return handle.read()


def thumbnail(path: str, size: int = 160):
    """A small RGB copy of a dataset image, or None if the file is gone."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            image.thumbnail((size, size))
            return image
    except OSError:
        return None


@st.cache_resource(show_spinner=False, max_entries=4)
def bootstrap_counts(n_items: int, n_resamples: int, seed: int = 0):
    """Resample counts shared by every run of the same size (read-only; see core.metrics.bootstrap_counts)."""
    from core.metrics import bootstrap_counts as counts

    # float64 once (120 MB for 300 × 50,000): each ECE interval is then one BLAS product, ~0.05 s
    return counts(n_items, n_resamples=n_resamples, seed=seed).astype("float64")


@st.cache_data(show_spinner="Reading per-image calibration columns…", max_entries=32)
def calibration_columns(run_id: str, version: str):
    from core.store import ResultsStore

    return ResultsStore().calibration_columns(run_id)


@st.cache_data(show_spinner=False, max_entries=128)
def calibration_summary(run_id: str, n_bins: int, scaled: bool, version: str):
    """(summary dict, reliability bins, temperature) of one run; a widget change recomputes only what it changes."""
    from core.analysis.tables import calibration_summary as summarise

    columns, temperature = (temperature_scaled(run_id, version) if scaled else (calibration_columns(run_id, version),
                                                                                  None))
    if columns.empty:
        return None
    summary, bins = summarise(columns, n_bins=n_bins, counts=bootstrap_counts(len(columns), 300))
    return {**summary, "temperature": temperature}, bins


@st.cache_data(show_spinner=False, max_entries=32)
def temperature_scaled(run_id: str, version: str):
    """(held-out per-image columns under the fitted temperature, temperature) of one run, from the fit kept
    in the store: no logits read. A run without a fit yet is fitted here once and the fit stored, so it
    is not fitted again in this session or any other (evaluations and `python -m core calibrate` fit
    runs ahead). (unscaled columns, None) when there is nothing to fit."""
    from core.store import ResultsStore, StoreLocked
    from core.analysis.temperature import fit_run, stored_temperature

    store = ResultsStore()
    unscaled = calibration_columns(run_id, version)
    found = stored_temperature(store, run_id, len(unscaled))
    if found is None:
        runs = runs_table(version)
        subset = runs.loc[runs["run_id"] == run_id, "class_subset"]
        with st.spinner("Temperature scaling: this run has no stored fit yet. Reading its logits and fitting T "
                        "once; the fit is kept in the results store, so this happens once per run…"):
            try:
                found = fit_run(store, run_id, subset.iloc[0] if len(subset) else None)
            except ValueError as error:  # e.g. no labelled image: show the unscaled numbers and say why
                st.caption(f"Temperature scaling of run {run_id} is not possible: {error}")
                return unscaled, None
        if found is None:  # fewer than 4 images with logits
            return unscaled, None
        try:
            store.write_temperature_fit(run_id, found.record, found.columns)
        except Exception as error:  # noqa: BLE001 - busy or read-only store: shown now, fitted again next time
            log.warning("temperature fit of %s not stored: %s", run_id, error)
            why = "the results store stayed busy" if isinstance(error, StoreLocked) else str(error)
            st.caption(f":material/lock: The temperature fit of run {run_id} is shown but not saved ({why}). "
                       "Save it with: python -m core calibrate --all")
    return found.columns, found.temperature


@st.cache_data(show_spinner="Counting correct predictions of every run…", max_entries=12)
def _all_accuracy_counts(by_condition: bool, real: bool, version: str):
    from core.store import ResultsStore

    return ResultsStore().accuracy_counts(None, by_condition=by_condition, real=real)


def accuracy_counts(run_ids: tuple[str, ...], by_condition: bool, real: bool, version: str):
    """Per run (and condition): readable images and correct ones. One DuckDB pass counts every run of
    the store (cached per store version), so picking other models or runs reads nothing again."""
    counts = _all_accuracy_counts(by_condition, real, version)
    return counts[counts["run_id"].isin(run_ids)].reset_index(drop=True)


def _readable_rows(run_id: str, version: str):
    rows = predictions((run_id,), ("image_id", "path", "label", "pred", "error"), version)
    return rows[rows["error"].isna()]


@st.cache_data(show_spinner="Matching predictions to ImageNet-X annotations…", max_entries=32)
def imagenet_x_ratios(run_id: str, version: str):
    """ImageNet-X error ratios of one run (ValueError when no file name is annotated)."""
    from core.analysis.tables import error_ratio_table

    return error_ratio_table({run_id: _readable_rows(run_id, version)})


@st.cache_data(show_spinner="Matching predictions to ImageNet-X multi-factor annotations…", max_entries=16)
def _imagenet_x_multi(run_id: str, version: str):
    from core.analysis.tables import slice_rows

    return slice_rows(_readable_rows(run_id, version), [])


def imagenet_x_slice(run_id: str, factors: tuple[str, ...], version: str):
    """The run's readable rows whose image has every factor, with `class` and `correct` (the join with
    the annotations is cached per run; a new slice is a mask)."""
    import numpy as np

    annotated = _imagenet_x_multi(run_id, version)
    mask = np.ones(len(annotated), dtype=bool)
    for factor in factors:
        mask &= annotated[factor].to_numpy().astype(bool)
    return annotated[mask]


@st.cache_data(show_spinner="Computing shape bias with bootstrap intervals…", max_entries=32)
def shape_bias_tables(rows, version: str):
    """(overall, per class, gallery) tables of cue-conflict decisions (`rows`: image_id, shape, texture,
    decision16, maker); hashed by content, so a widget change that keeps the makers reuses them."""
    from core.analysis.tables import decision_gallery, shape_bias_class_table, shape_bias_table

    return shape_bias_table(rows), shape_bias_class_table(rows), decision_gallery(rows)


def cue_conflict_paths(image_ids: tuple[str, ...], version: str) -> dict[str, str]:
    """Where each cue-conflict image is on this machine: the same id in the downloaded copy or in the
    folder of any measured cue-conflict run (imported decisions carry no path)."""
    from core.data.cue_conflict import find_cue_conflict_images
    from core.data.download import data_dir

    runs = runs_table(version)
    measured = runs[(runs["benchmark"] == "cue-conflict") & (runs["source"] == "ours")] if not runs.empty else runs
    folders = (str(data_dir() / "cue-conflict"), *([] if measured.empty else measured["data_root"].dropna()))
    return find_cue_conflict_images(image_ids, folders)  # 24 file checks: not cached, so a new download shows
