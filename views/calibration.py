"""Calibration page: does confidence match accuracy? (paper Fig. 5)."""

from __future__ import annotations

import json

import altair as alt
import pandas as pd
import streamlit as st

from core.analyses import calibration_inputs
from core.charts import color_scale
from core.metrics import (bootstrap_interval, brier_score, expected_calibration_error, fit_temperature,
                          negative_log_likelihood, reliability_bins, softmax)
from core.paper import TAGS, paper_values
from views import _state as state
from views import _ui as ui

st.title("Calibration: does confidence match accuracy?")
st.caption("Expected calibration error (ECE) over equal-width confidence bins (Guo et al., ICML 2017); bins hold "
           "(lower, upper], as in the paper's code. ImageNet-R: softmax over its 200 classes, as the paper did.")

version = ui.store_version()
runs = ui.runs_table(version)
runs = runs[runs["benchmark"].isin(["imagenet-val", "imagenet-r", "imagenet-a"]) & (runs["variant"] == "")
            & (runs["source"] == "ours") & runs["store_logits"].fillna(False)] if not runs.empty else runs
if runs.empty:
    st.info("Calibration needs stored logits on ImageNet val or ImageNet-R. Run:\n\n`python -m core evaluate "
            "--models vit_sup,convnext_sup,vit_clip,convnext_clip --benchmark imagenet-val --data PATH`")
    st.stop()

columns = st.columns([2, 2, 1, 2])
benchmarks = [key for key in ("imagenet-val", "imagenet-r", "imagenet-a") if key in set(runs["benchmark"])]
state.bind("calibration_benchmark", options=benchmarks)
state.bind("calibration_protocol", options=sorted(set(runs["protocol"])))
state.bind("calibration_bins", kind="int", lo=5, hi=50)
state.bind("calibration_temperature", kind="bool")
benchmark = columns[0].selectbox("Dataset", benchmarks, key="calibration_benchmark")
protocol = columns[1].radio("Preprocessing", sorted(set(runs["protocol"])), horizontal=True, key="calibration_protocol")
n_bins = columns[2].number_input("Bins", min_value=5, max_value=50, value=15, step=1, key="calibration_bins")
scaled = columns[3].toggle("Temperature scaling", key="calibration_temperature",
                           help="Fit one temperature per model on a seeded random half (NLL), evaluate on the other half.")
runs = runs[(runs["benchmark"] == benchmark) & (runs["protocol"] == protocol)].drop_duplicates("model", keep="last")
state.bind("calibration_models", kind="list", options=list(runs["model"]))
models = st.multiselect("Models", list(runs["model"]), default=list(runs["model"]), format_func=ui.model_label,
                        key="calibration_models")
if not models:
    st.info("Select at least one model.")
    st.stop()

ui.note_runs(runs[runs["model"].isin(models)])
summary, bins, histograms = [], [], []
for run in runs[runs["model"].isin(models)].itertuples():
    ids, logits = ui.run_logits(run.run_id, version)
    if len(ids) == 0:
        continue
    labels = ui.predictions((run.run_id,), ("image_id", "label"), version).set_index("image_id").loc[ids, "label"]
    subset = json.loads(run.class_subset) if isinstance(run.class_subset, str) and run.class_subset else None
    confidence, correct, probs, used_logits, used_labels = calibration_inputs(logits, labels.to_numpy(), subset)
    label = ui.model_label(run.model)
    temperature = None
    known = used_labels >= 0  # NLL and Brier need the true class inside the scored classes
    nll = negative_log_likelihood(used_logits[known], used_labels[known])
    brier = brier_score(probs[known], used_labels[known])
    if scaled and len(ids) >= 4:
        fit = fit_temperature(used_logits, used_labels, seed=0, n_bins=n_bins)
        temperature = fit.temperature
        held_out = softmax(used_logits[fit.test_indices], temperature=temperature)
        confidence, correct = held_out.max(axis=1), held_out.argmax(axis=1) == used_labels[fit.test_indices]
        nll = negative_log_likelihood(used_logits[fit.test_indices], used_labels[fit.test_indices],
                                      temperature=temperature)
        brier = brier_score(held_out, used_labels[fit.test_indices])
    ece = expected_calibration_error(confidence, correct, n_bins=n_bins)
    low, high = bootstrap_interval(lambda index: expected_calibration_error(confidence[index], correct[index],
                                                                            n_bins=n_bins), len(confidence),
                                   n_resamples=300)
    gap = float(confidence.mean() - correct.mean())
    summary.append({"label": label, "ECE": ece, "ci_low": low, "ci_high": high, "accuracy": float(correct.mean()),
                    "mean confidence": float(confidence.mean()),
                    "verdict": "over-confident" if gap > 0.01 else ("under-confident" if gap < -0.01 else "calibrated"),
                    "NLL": nll, "Brier": brier, "temperature": temperature, "n": len(confidence)})
    table = reliability_bins(confidence, correct, n_bins=n_bins).assign(label=label)
    bins.append(table)

if not summary:
    st.info("The selected runs stored no logits.")
    st.stop()
summary = pd.DataFrame(summary)
bins = pd.concat(bins, ignore_index=True)
labels = list(summary["label"])
scale = color_scale(labels)

st.subheader("Reliability diagrams")
filled = bins[bins["count"] > 0].assign(center=lambda frame: (frame["lower"] + frame["upper"]) / 2)
diagonal = alt.Chart(pd.DataFrame({"x": [0, 1], "y": [0, 1]})).mark_line(color="gray", strokeDash=[4, 4]).encode(
    x="x:Q", y="y:Q")
bars = alt.Chart(filled).mark_bar(opacity=0.8, width=10).encode(
    x=alt.X("center:Q", title="confidence", scale=alt.Scale(domain=[0, 1])),
    y=alt.Y("accuracy:Q", title="accuracy", scale=alt.Scale(domain=[0, 1])),
    color=alt.Color("label:N", scale=scale, legend=None),
    tooltip=["label:N", alt.Tooltip("lower:Q", format=".2f"), alt.Tooltip("upper:Q", format=".2f"), "count:Q",
             alt.Tooltip("confidence:Q", format=".3f"), alt.Tooltip("accuracy:Q", format=".3f")])
gaps = alt.Chart(filled).mark_rule(color="#E45756", strokeWidth=3).encode(
    x="center:Q", y="accuracy:Q", y2="confidence:Q",
    tooltip=["label:N", alt.Tooltip("confidence:Q", format=".3f"), alt.Tooltip("accuracy:Q", format=".3f")])
reliability = alt.layer(bars, gaps, diagonal, data=filled).properties(width=220, height=220).facet(
    facet=alt.Facet("label:N", title=None, sort=labels), columns=4)
ui.chart_with_downloads(reliability, bins, f"reliability_{benchmark}", "calibration_reliability")
st.caption("Bars: accuracy per confidence bin; red: the gap to the bin's mean confidence. Bars below the dashed "
           "diagonal: more confident than accurate in that bin.")

st.subheader("Confidence histograms")
histogram = alt.Chart(filled).mark_bar().encode(
    x=alt.X("center:Q", title="confidence", scale=alt.Scale(domain=[0, 1])),
    y=alt.Y("count:Q", title="images"), color=alt.Color("label:N", scale=scale, legend=None),
    tooltip=["label:N", "count:Q", alt.Tooltip("lower:Q", format=".2f")]).properties(width=220, height=160).facet(
    facet=alt.Facet("label:N", title=None, sort=labels), columns=4)
ui.chart_with_downloads(histogram, bins, f"confidence_{benchmark}", "calibration_histogram")

st.subheader("ECE")
reference = paper_values("ece")
reference = reference[(reference["key"] == benchmark)].assign(label=lambda frame: frame["model"].map(ui.model_label))
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
ui.note_close_calls(summary, value="ECE", what="ECE")
notes = [f"{row['label']} is {row['verdict']} (mean confidence {row['mean confidence']:.1%} vs accuracy "
         f"{row['accuracy']:.1%})" for _, row in summary.iterrows() if row["verdict"] != "calibrated"]
if notes:
    st.info("; ".join(notes) + ".")
st.caption(f"Paper ECE: [P] {TAGS['P']}, 15 bins, the paper's preprocessing — compare at 15 bins. "
           + ("With temperature scaling, ECE is measured on the held-out half only." if scaled else ""))
