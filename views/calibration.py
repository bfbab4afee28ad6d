"""Calibration page: does confidence match accuracy? (paper Fig. 5)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.analysis import charts
from core.analysis.revisions import one_revision
from core.paper import TAGS, paper_values
from core.analysis.temperature import CALIBRATED_BENCHMARKS, calibrated
from views import _models as models_ui
from views import _reads as reads
from views import _state as state
from views import _widgets as widgets
from views._charts import Lazy

st.title("Calibration: does confidence match accuracy?")
st.caption("Expected calibration error (ECE) over equal-width confidence bins (Guo et al., ICML 2017); bins hold "
           "(lower, upper], as in the paper's code. ImageNet-R: softmax over its 200 classes, as the paper did.")

runs = reads.runs_table()
if not runs.empty:  # the runs that get a temperature fit, by the same rule
    runs = runs[[calibrated(*kind) for kind in zip(runs["benchmark"], runs["variant"], runs["source"],
                                                   runs["store_logits"].fillna(False))]]
if runs.empty:
    st.info("Calibration needs stored logits on ImageNet val or ImageNet-R. Run:\n\n`python -m core evaluate "
            "--models vit_sup,convnext_sup,vit_clip,convnext_clip --benchmark imagenet-val --data PATH`")
    st.stop()

columns = st.columns([2, 2, 1, 2])
benchmarks = [key for key in CALIBRATED_BENCHMARKS if key in set(runs["benchmark"])]
state.bind("calibration_benchmark", options=benchmarks)
state.bind("calibration_protocol", options=sorted(set(runs["protocol"])))
state.bind("calibration_bins", kind="int", lo=5, hi=50)
state.bind("calibration_temperature", kind="bool")
benchmark = columns[0].selectbox("Dataset", benchmarks, key="calibration_benchmark")
protocol = columns[1].radio("Preprocessing", sorted(set(runs["protocol"])), horizontal=True, key="calibration_protocol")
n_bins = columns[2].number_input("Bins", min_value=5, max_value=50, value=15, step=1, key="calibration_bins")
scaled = columns[3].toggle("Temperature scaling", key="calibration_temperature",
                           help="Fit one temperature per model on a seeded random half (NLL), evaluate on the other half.")
runs, pooled = one_revision(runs[(runs["benchmark"] == benchmark) & (runs["protocol"] == protocol)])
for note in pooled:  # runs on another data revision of this benchmark are never pooled with these
    st.caption(note)
runs = runs.drop_duplicates("model", keep="last")
state.bind("calibration_models", kind="list", options=list(runs["model"]))
models = st.multiselect("Models", list(runs["model"]), default=list(runs["model"]), format_func=models_ui.model_label,
                        key="calibration_models")
if not models:
    st.info("Select at least one model.")
    st.stop()

widgets.note_runs(runs[runs["model"].isin(models)])
summary, bins = [], []
chosen = runs[runs["model"].isin(models)]
with st.spinner(f"Computing calibration of {len(chosen)} run(s)…"):
    if not scaled:  # temperature scaling reads its own columns
        reads.prefetch_calibration_columns(tuple(chosen["run_id"]))
    for run in chosen.itertuples():
        result = reads.calibration_summary(run.run_id, int(n_bins), bool(scaled))
        if result is None:
            continue
        label = models_ui.model_label(run.model)
        summary.append({"label": label, **result[0]})
        bins.append(result[1].assign(label=label))
        if result[2]:  # a temperature fit shown but not saved (view mode, or a busy store)
            st.caption(result[2])

if not summary:
    st.info("The selected runs stored no logits.")
    st.stop()
summary = pd.DataFrame(summary)[["label", "ECE", "ci_low", "ci_high", "accuracy", "mean confidence", "verdict", "NLL",
                                 "Brier", "temperature", "n"]]
bins = pd.concat(bins, ignore_index=True)
labels = list(summary["label"])

st.subheader("Reliability diagrams")
inputs = f"calibration:{reads.keys_of(chosen['run_id'])}:{labels}:{n_bins}:{scaled}"  # names the charts' inputs
widgets.chart_with_downloads(Lazy.of(charts.reliability_diagram, bins, labels, key=inputs), bins,
                             f"reliability_{benchmark}", "calibration_reliability")
st.caption("Bars: accuracy per confidence bin; red: the gap to the bin's mean confidence. Bars below the dashed "
           "diagonal: more confident than accurate in that bin.")

st.subheader("Confidence histograms")
widgets.chart_with_downloads(Lazy.of(charts.confidence_histogram, bins, labels, key=inputs), bins,
                             f"confidence_{benchmark}",
                             "calibration_histogram")

st.subheader("ECE")
reference = paper_values("ece")
reference = reference[(reference["key"] == benchmark)].assign(label=lambda frame: frame["model"].map(models_ui.model_label))
summary = summary.merge(reference[["label", "value", "tag"]].rename(columns={"value": "paper ECE", "tag": "paper tag"}),
                        on="label", how="left")
st.dataframe(summary, hide_index=True, width="stretch", column_config={
    "ECE": st.column_config.NumberColumn(format="%.4f"), "ci_low": st.column_config.NumberColumn(format="%.4f"),
    "ci_high": st.column_config.NumberColumn(format="%.4f"), "accuracy": st.column_config.NumberColumn(format="percent"),
    "mean confidence": st.column_config.NumberColumn(format="percent"),
    "temperature": st.column_config.NumberColumn(format="%.3f"), "NLL": st.column_config.NumberColumn(format="%.3f"),
    "Brier": st.column_config.NumberColumn(format="%.3f"),
    "paper ECE": st.column_config.NumberColumn(format="%.4f")})
st.download_button("Download ECE table (CSV)", summary.to_csv(index=False), f"ece_{benchmark}.csv", "text/csv",
                   key="calibration_table_csv")
widgets.note_close_calls(summary, value="ECE", what="ECE")
notes = [f"{row['label']} is {row['verdict']} (mean confidence {row['mean confidence']:.1%} vs accuracy "
         f"{row['accuracy']:.1%})" for _, row in summary.iterrows() if row["verdict"] != "calibrated"]
if notes:
    st.info("; ".join(notes) + ".")
st.caption(f"Paper ECE: [P] {TAGS['P']}, 15 bins, the paper's preprocessing — compare at 15 bins. "
           + ("With temperature scaling, ECE is measured on the held-out half only." if scaled else ""))
