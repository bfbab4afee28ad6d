"""Widgets shared by the pages: error messages, chart downloads and the pin form, pickers, paging and
the notes on close calls."""

from __future__ import annotations

import logging

import streamlit as st

from core.errors import UserError
from views import _state as state
from views._models import model_label
from views._reads import runs_table, store_version

__all__ = ['show_user_error', 'chart_with_downloads', 'PAGE_PATHS', 'PROVENANCE_COLUMNS', 'note_runs', 'pin_form', 'page_of', 'measured_runs', 'pick_models', 'note_close_calls', 'arrow_table', 'number_table', 'dash_missing']


log = logging.getLogger("beyond_accuracy")


def arrow_table(frame):
    """A cached table for `st.dataframe`, converted to Arrow once: Streamlit serialises an Arrow table as it
    is, but converts a pandas frame on every call. The frame itself when Arrow cannot hold a column as is
    (mixed types): Streamlit then applies its own fixes, as before."""
    import pyarrow as pa

    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        return frame


def show_user_error(error: Exception, context: str = "") -> None:
    """A sentence for the user; the traceback goes to the log, never to the page."""
    if isinstance(error, UserError):
        st.error(f"{context}{error}", icon=":material/error:")
    else:
        log.exception("Unexpected error %s", context)
        st.error(f"{context}Something went wrong ({type(error).__name__}: {error}). "
                 "The rest of the app keeps working; the details are in the terminal log.", icon=":material/error:")


def chart_with_downloads(chart, table, stem: str, key: str) -> None:
    """The chart, then PNG / SVG / CSV downloads (Streamlit's own menu offers PNG only). `chart` is best a
    `views._charts.Lazy` (its spec cached by its inputs; the Altair chart built only for an export or a pin)."""
    from functools import partial

    from core.analysis import charts
    from views import _charts, _view

    _charts.show(chart)
    columns = st.columns([1, 1, 1, 1, 4])
    # generated on click (Streamlit runs a callable `data` then): vl-convert takes 0.5-6 s per chart,
    # which every rerun of the page used to pay for every chart
    columns[0].download_button("PNG", partial(_export, charts.to_png, chart), f"{stem}.png", "image/png",
                               key=f"{key}_png", on_click="ignore")
    columns[1].download_button("SVG", partial(_export, charts.to_svg, chart), f"{stem}.svg", "image/svg+xml",
                               key=f"{key}_svg", on_click="ignore")
    columns[2].download_button("CSV", partial(table.to_csv, index=False), f"{stem}.csv", "text/csv",
                               key=f"{key}_csv", on_click="ignore")
    if _view.disabled():  # view mode: pins are the presenter's; the button stays, greyed, saying why
        columns[3].popover("Pin", icon=":material/push_pin:", disabled=True,
                           help="View mode: pinning is switched off (nothing here writes to the results store).")
    else:
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
                      "head_key", "data_fingerprint", "data_revision", "sample_limit", "sample_seed", "packages",
                      "device")


def note_runs(runs) -> None:
    """Remember the runs this page shows: a pin records them as its provenance."""
    keep = [c for c in PROVENANCE_COLUMNS if c in runs]
    st.session_state["_page_runs"] = runs[keep]  # made into records only when a pin is saved


def pin_form(chart, table, stem: str, key: str) -> None:
    """A note and a button that save this chart's view (page, URL state, spec, table, runs) as a pin."""
    from core.store import ResultsStore

    note = st.text_input("Note (optional)", key=f"{key}_pin_note")
    if st.button("Pin to Findings", key=f"{key}_pin", icon=":material/push_pin:"):
        page = PAGE_PATHS.get(key.split("_")[0], key.split("_")[0])
        try:
            ResultsStore().add_pin(page, stem.replace("_", " "), state.current_state(), chart=chart.to_json(),
                                   table_csv=table.to_csv(index=False),
                                   provenance={"runs": _page_runs(),
                                               "store_version": store_version()}, note=note)
        except UserError as error:
            show_user_error(error, "The pin was not saved: ")
        else:
            st.success("Pinned: it is listed on the Findings page and goes into its exports.")


def _page_runs() -> list[dict]:
    noted = st.session_state.get("_page_runs")
    return [] if noted is None else noted.astype(object).where(noted.notna(), None).to_dict("records")


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


def measured_runs(benchmarks: tuple[str, ...], empty_message: str):
    """Our variant-free runs of some benchmarks; stops the page with `empty_message` when there are none."""
    runs = runs_table()
    if not runs.empty:
        runs = runs[runs["benchmark"].isin(benchmarks) & (runs["variant"] == "") & (runs["source"] == "ours")]
    if runs.empty:
        st.info(empty_message)
        st.stop()
    return runs


def pick_models(runs, key: str):
    """Protocol and model pickers: one run per model and benchmark (the latest) under the chosen protocol, all
    on one data revision per benchmark (core/analysis/revisions.py)."""
    from core.analysis.revisions import one_revision

    protocols = sorted(set(runs["protocol"]))
    state.bind(f"{key}_protocol", options=protocols)
    protocol = st.radio("Preprocessing", protocols, horizontal=True, key=f"{key}_protocol")
    runs, pooled = one_revision(runs[runs["protocol"] == protocol])  # never two data revisions of one benchmark
    for note in pooled:
        st.caption(note, help="Each run records the publisher revision of its images (its download manifest).")
    runs = runs.drop_duplicates(["model", "benchmark"], keep="last")
    names = list(dict.fromkeys(runs["model"]))
    state.bind(f"{key}_models", kind="list", options=names)
    chosen = st.multiselect("Models", names, default=names, format_func=model_label, key=f"{key}_models")
    note_runs(runs[runs["model"].isin(chosen)])
    return runs[runs["model"].isin(chosen)], chosen


def note_close_calls(table, *, label: str = "label", value: str = "accuracy", group: str | None = None,
                     what: str = "accuracy") -> None:
    """Point out neighbouring values (sorted, within each group) whose separate 95% intervals overlap, as
    close calls to read with care. Overlap decides nothing for models measured on the same images (a
    paired difference can exclude zero while the two intervals overlap), so the note points to the
    Findings page, which decides on the paired difference and its interval."""
    if table is None or len(table) < 2 or "ci_low" not in table:
        return
    from views._cache import cache
    from views._charts import fingerprint

    columns = [c for c in dict.fromkeys([label, value, "ci_low", "ci_high", *([group] if group else [])])]
    frame = table[columns]
    notes = cache("widgets.close_calls", 128).get((fingerprint(frame), label, value, group),
                                                   lambda: _close_calls(frame, label, value, group))
    if notes:
        shown = "; ".join(notes[:12]) + (f"; and {len(notes) - 12} more" if len(notes) > 12 else "")
        st.info(f"Close {what} values (their separate 95% intervals overlap): {shown}. Overlapping intervals do "
                "not settle a comparison on the same images; the Findings page decides each claim on the paired "
                "difference and its interval.", icon=":material/balance:")


def _close_calls(table, label: str, value: str, group: str | None) -> tuple[str, ...]:
    """The neighbouring pairs whose intervals overlap, as "group: a vs b" (computed once per table content)."""
    from core.metrics import intervals_overlap

    notes = []
    groups = table.groupby(group, sort=False) if group else [(None, table)]
    for name, frame in groups:
        ordered = frame.dropna(subset=[value, "ci_low", "ci_high"]).sort_values(value, ascending=False)
        records = ordered.to_dict("records")
        for a, b in zip(records, records[1:]):
            if intervals_overlap((a["ci_low"], a["ci_high"]), (b["ci_low"], b["ci_high"])):
                notes.append(f"{f'{name}: ' if name is not None else ''}{a[label]} vs {b[label]}")
    return tuple(notes)


def number_table(frame, formats: dict[str, str], labels: dict[str, str] | None = None):
    """(frame, column_config) for `st.dataframe`: each column of `formats` (a str.format pattern, "{:.1%}") shown
    with it; a column with a missing value becomes text with "—" there (st.dataframe draws a missing number as
    a faded "None", whatever the format or a Styler's na_rep), the others stay numbers (they sort as numbers).
    `labels` renames columns on screen."""
    import pandas as pd

    from views._study import as_text

    shown, config = frame.copy(), {}
    for column, pattern in formats.items():
        if column not in shown:
            continue
        label = (labels or {}).get(column)
        if shown[column].isna().any():
            shown[column] = as_text(shown[column], pattern)
            config[column] = st.column_config.TextColumn(label) if label else None
        elif pattern.endswith("%}"):  # "{:.1%}": the fraction × 100 as printf "%.1f%%" (the same digits as text)
            shown[column] = shown[column] * 100
            config[column] = st.column_config.NumberColumn(label, format="%" + pattern[2:-2] + "f%%")
        else:  # "{:.3f}" → printf "%.3f"
            config[column] = st.column_config.NumberColumn(label, format=pattern.replace("{:", "%").replace("}", ""))
    for column, label in (labels or {}).items():
        config.setdefault(column, label)
    return shown, {k: v for k, v in config.items() if v is not None}


def dash_missing(frame, formats: dict[str, str]):
    """(frame, column_config) for `st.dataframe` where only the columns of `formats` that miss a value change:
    they become text with "—" there (`number_table`; "{:g}" keeps a number's digits, "{}" a text's), the others
    stay as they are (a Findings card without a paper value, as the card beyond the paper)."""
    return number_table(frame, {column: pattern for column, pattern in formats.items()
                                if column in frame and frame[column].isna().any()})
