"""Streamlit helpers shared by the pages: cached models, model status, messages, examples."""

from __future__ import annotations

import io
import logging

import streamlit as st

from core.config import models_toml_path
from core.errors import UserError
from core.models import ModelSpec, ModelStatus, model_status, registry
from views import _state as state

log = logging.getLogger("beyond_accuracy")

EXAMPLES = {
    "Cat (chelsea)": "chelsea",
    "Coffee cup (coffee)": "coffee",
    "Astronaut (astronaut)": "astronaut",
    "Rocket (rocket)": "rocket",
    "Cameraman, greyscale (camera)": "camera",
}


def _models_toml_stamp() -> float:
    path = models_toml_path()
    return path.stat().st_mtime if path.exists() else 0.0


@st.cache_data(show_spinner=False)
def _registry(stamp: float) -> tuple[tuple[ModelSpec, ...], tuple[str, ...]]:
    models, problems = registry()
    return tuple(models), tuple(problems)


def models() -> tuple[tuple[ModelSpec, ...], tuple[str, ...]]:
    """All model specs (built-in, then models.toml) and messages for skipped entries."""
    return _registry(_models_toml_stamp())


def statuses() -> list[ModelStatus]:
    """Fresh each run: a download or a computed head shows up without a restart."""
    specs, _ = models()
    return [model_status(spec) for spec in specs]


@st.cache_resource(show_spinner=False, max_entries=6)
def loaded_model(spec: ModelSpec, weights_stamp: str):
    """One loaded model per (spec, weights), shared by every session; never mutated."""
    from core.models.load import load_model

    return load_model(spec)


def load(spec: ModelSpec):
    """The loaded model, or raises UserError with the message to show."""
    from core.models.load import weights_key

    return loaded_model(spec, weights_key(spec))


def head_for(spec: ModelSpec):
    """(head, key) of a zero-shot model: the head from the disk cache, or None if not computed."""
    from core.imagenet import class_names
    from core.models.zero_shot import head_key, head_path, openai_templates

    key = head_key(spec, class_names(), openai_templates())
    if not head_path(key).exists():
        return None, key  # checked every run, so a newly computed head shows up at once
    return _head_from_disk(spec, key), key


@st.cache_data(show_spinner=False)
def head_estimate_seconds(spec: ModelSpec, weights: str) -> float:
    """Expected seconds to compute `spec`'s zero-shot head here (timed once per model and weights)."""
    from core.imagenet import class_names
    from core.models.zero_shot import estimate_head_seconds, openai_templates

    return estimate_head_seconds(loaded_model(spec, weights), class_names(), openai_templates())


@st.cache_resource(show_spinner=False, max_entries=8)
def _head_from_disk(spec: ModelSpec, key: str):
    from core.imagenet import class_names
    from core.models.zero_shot import load_head, openai_templates

    return load_head(spec, class_names(), openai_templates())


def show_user_error(error: Exception, context: str = "") -> None:
    """A sentence for the user; the traceback goes to the log, never to the page."""
    if isinstance(error, UserError):
        st.error(f"{context}{error}", icon=":material/error:")
    else:
        log.exception("Unexpected error %s", context)
        st.error(f"{context}Something went wrong ({type(error).__name__}: {error}). "
                 "The rest of the app keeps working; the details are in the terminal log.", icon=":material/error:")


@st.cache_data(show_spinner=False)
def example_bytes(key: str) -> bytes:
    """A scikit-image bundled photo, PNG-encoded (so it goes through the same decoder as uploads)."""
    import skimage.data
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(getattr(skimage.data, key)()).save(buffer, format="PNG")
    return buffer.getvalue()


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


def model_label(model: str) -> str:
    """Display label of a model key (registry label; human observers and unknown keys readable too)."""
    if model.startswith("human_"):
        return f"Human observer {model.split('_')[1]}"
    specs, _ = models()
    for spec in specs:
        if spec.name == model:
            return spec.display
    return model


def chart_with_downloads(chart, table, stem: str, key: str) -> None:
    """The chart, then PNG / SVG / CSV downloads (Streamlit's own menu offers PNG only)."""
    from functools import partial

    from core import charts

    st.altair_chart(chart, width="stretch")
    columns = st.columns([1, 1, 1, 1, 4])
    # generated on click (Streamlit runs a callable `data` then): vl-convert takes 0.5-6 s per chart,
    # which every rerun of the page used to pay for every chart
    columns[0].download_button("PNG", partial(_export, charts.to_png, chart), f"{stem}.png", "image/png",
                               key=f"{key}_png", on_click="ignore")
    columns[1].download_button("SVG", partial(_export, charts.to_svg, chart), f"{stem}.svg", "image/svg+xml",
                               key=f"{key}_svg", on_click="ignore")
    columns[2].download_button("CSV", partial(table.to_csv, index=False), f"{stem}.csv", "text/csv",
                               key=f"{key}_csv", on_click="ignore")
    with columns[3].popover("Pin", icon=":material/push_pin:"):
        pin_form(chart, table, stem, key)
    state.link_box()


def _export(convert, chart):
    """PNG/SVG bytes of a chart for a download button, or a short text file saying why not."""
    try:
        return convert(chart)
    except Exception as error:  # noqa: BLE001 - a failed export must not take the page down
        log.warning("chart export failed: %s", error)
        return f"Export failed (vl-convert: {error}); the chart's own menu still saves PNG.".encode()


PAGE_PATHS = {"mistakes": "mistakes", "shape": "shape-texture", "calibration": "calibration",
              "robustness": "robustness", "pug": "pug", "invariance": "invariance", "transfer": "transfer",
              "compare": "compare"}
"""Widget-key prefix → the page's URL path (pins reopen the view there)."""

PROVENANCE_COLUMNS = ("run_id", "model", "benchmark", "variant", "protocol", "source", "weights_key", "preprocess",
                      "head_key", "data_fingerprint", "sample_limit", "sample_seed", "packages", "device")


def note_runs(runs) -> None:
    """Remember the runs this page shows: a pin records them as its provenance."""
    keep = [c for c in PROVENANCE_COLUMNS if c in runs]
    st.session_state["_page_runs"] = runs[keep].astype(object).where(runs[keep].notna(), None).to_dict("records")


def pin_form(chart, table, stem: str, key: str) -> None:
    """A note and a button that save this chart's view (page, URL state, spec, table, runs) as a pin."""
    from core.store import ResultsStore

    note = st.text_input("Note (optional)", key=f"{key}_pin_note")
    if st.button("Pin to Findings", key=f"{key}_pin", icon=":material/push_pin:"):
        page = PAGE_PATHS.get(key.split("_")[0], key.split("_")[0])
        try:
            ResultsStore().add_pin(page, stem.replace("_", " "), state.current_state(), chart=chart.to_json(),
                                   table_csv=table.to_csv(index=False),
                                   provenance={"runs": st.session_state.get("_page_runs", []),
                                               "store_version": store_version()}, note=note)
        except UserError as error:
            show_user_error(error, "The pin was not saved: ")
        else:
            st.success("Pinned: it is listed on the Findings page and goes into its exports.")

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


def page_of(total: int, per_page: int, key: str, *, noun: str, list_key=()) -> tuple[int, int]:
    """A page-number input for a list of `total` images, bound to the URL parameter `key`, with the
    caption "Images 19–36 of 2,345 {noun}". Returns (start, stop) positions of the page to show: only
    those images should be read. `list_key` names the list (model, filters): when it changes, the
    list starts again at page 1 (a page number from a link is kept on the first run). An empty list
    shows nothing and returns (0, 0)."""
    if total <= 0:
        return 0, 0
    pages = -(-total // per_page)
    shown_for = f"_{key}_list"
    if shown_for in st.session_state and st.session_state[shown_for] != list_key:
        st.session_state[key] = 1
    st.session_state[shown_for] = list_key
    state.bind(key, kind="int", lo=1, hi=pages)
    if st.session_state.get(key, 1) > pages:  # a shorter list than the page kept from before
        st.session_state[key] = pages
    st.session_state.setdefault(key, 1)
    left, right = st.columns([1, 4], vertical_alignment="bottom")
    page = int(left.number_input(f"Page (of {pages:,})", min_value=1, max_value=pages, step=1, key=key))
    start, stop = (page - 1) * per_page, min(page * per_page, total)
    right.caption(f"Images {start + 1:,}–{stop:,} of {total:,} {noun}.")
    state.link_box()  # the box was drawn by the last chart, before this list: now it carries the page too
    return start, stop


@st.cache_data(show_spinner=False, max_entries=8)
def probes_table(version: str):
    from core.store import ResultsStore

    return ResultsStore().probes()


def measured_runs(version: str, benchmarks: tuple[str, ...], empty_message: str):
    """Our variant-free runs of some benchmarks; stops the page with `empty_message` when there are none."""
    runs = runs_table(version)
    if not runs.empty:
        runs = runs[runs["benchmark"].isin(benchmarks) & (runs["variant"] == "") & (runs["source"] == "ours")]
    if runs.empty:
        st.info(empty_message)
        st.stop()
    return runs


def pick_models(runs, key: str):
    """Protocol and model pickers: one run per model and benchmark (the latest) under the chosen protocol."""
    protocols = sorted(set(runs["protocol"]))
    state.bind(f"{key}_protocol", options=protocols)
    protocol = st.radio("Preprocessing", protocols, horizontal=True, key=f"{key}_protocol")
    runs = runs[runs["protocol"] == protocol].drop_duplicates(["model", "benchmark"], keep="last")
    names = list(dict.fromkeys(runs["model"]))
    state.bind(f"{key}_models", kind="list", options=names)
    chosen = st.multiselect("Models", names, default=names, format_func=model_label, key=f"{key}_models")
    note_runs(runs[runs["model"].isin(chosen)])
    return runs[runs["model"].isin(chosen)], chosen


def read_file(path: str) -> bytes:
    """Bytes of a dataset file the store points to (pages do no file I/O of their own)."""
    with open(path, "rb") as handle:
        return handle.read()


def note_close_calls(table, *, label: str = "label", value: str = "accuracy", group: str | None = None,
                     what: str = "accuracy") -> None:
    """Say which neighbouring values (sorted, within each group) lie inside each other's 95% intervals:
    such a difference is not established by this sample (the paper's margins are often a few tenths)."""
    from core.metrics import intervals_overlap

    if table is None or len(table) < 2 or "ci_low" not in table:
        return
    notes = []
    groups = table.groupby(group, sort=False) if group else [(None, table)]
    for name, frame in groups:
        ordered = frame.dropna(subset=[value, "ci_low", "ci_high"]).sort_values(value, ascending=False)
        for (_, a), (_, b) in zip(ordered.iterrows(), ordered.iloc[1:].iterrows()):
            if intervals_overlap((a["ci_low"], a["ci_high"]), (b["ci_low"], b["ci_high"])):
                notes.append(f"{f'{name}: ' if name is not None else ''}{a[label]} vs {b[label]}")
    if notes:
        shown = "; ".join(notes[:12]) + (f"; and {len(notes) - 12} more" if len(notes) > 12 else "")
        st.info(f"{what.capitalize()} differences within the 95% intervals (not established by this sample): "
                f"{shown}.", icon=":material/balance:")


# --- aggregated, cached reads for the analysis pages (paper scale: no per-image frames per rerun) ------

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
    from core.analyses import calibration_summary as summarise

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
    from core.temperature import fit_run, stored_temperature

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
    from core.analyses import error_ratio_table

    return error_ratio_table({run_id: _readable_rows(run_id, version)})


@st.cache_data(show_spinner="Matching predictions to ImageNet-X multi-factor annotations…", max_entries=16)
def _imagenet_x_multi(run_id: str, version: str):
    from core.analyses import slice_rows

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
    from core.analyses import decision_gallery, shape_bias_class_table, shape_bias_table

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
