"""Synthetic data page: top-1 per PUG-ImageNet factor of variation (paper Fig. 6)."""

from __future__ import annotations

import altair as alt
import streamlit as st

from core.analyses import condition_accuracy_table
from core.charts import color_scale
from core.data.pug import PUG_FACTORS
from core.paper import TAGS, paper_values
from views import _ui as ui

st.title("Synthetic data: which controlled changes break the models?")
st.caption("PUG-ImageNet (Bordes et al., NeurIPS 2023) renders ImageNet classes photorealistically while varying "
           "one factor at a time: world, camera and object pose, object size and texture, lighting. Correct if the "
           "prediction is any ImageNet class mapped to the object.")

version = ui.store_version()
runs = ui.measured_runs(version, ("pug-imagenet",),
                        "No PUG-ImageNet results yet. Download PUG_ImageNet (facebook/PUG_ImageNet), add "
                        "class_to_imagenet_idx.json from the facebookresearch/PUG repository, then run:\n\n"
                        "`python -m core evaluate --models vit_sup,convnext_sup,vit_clip,convnext_clip --benchmark "
                        "pug-imagenet --data PATH`")
runs, models = ui.pick_models(runs, "pug")
rows = ui.predictions(tuple(runs["run_id"]), ("condition", "correct", "error"), version)
rows = rows[rows["error"].isna()]
table = condition_accuracy_table({ui.model_label(run.model): rows[rows["run_id"] == run.run_id]
                                  for run in runs.itertuples()})
if table.empty:
    st.info("The selected runs have no readable predictions yet.")
    st.stop()
labels = list(dict.fromkeys(table["label"]))
reference = paper_values("pug_top1")
reference = reference[reference["model"].isin(models)].assign(label=lambda f: f["model"].map(ui.model_label),
                                                              condition=lambda f: f["key"])
base = alt.Chart(table).encode(x=alt.X("condition:N", sort=list(PUG_FACTORS), title=None,
                                             axis=alt.Axis(labelAngle=-30, labelOverlap=False)),
                               xOffset=alt.XOffset("label:N", sort=labels))
top = min(1.0, max(0.05, float(table["ci_high"].max()) * 1.05))  # an all-zero run still gets a readable axis
layers = [base.mark_bar().encode(y=alt.Y("accuracy:Q", axis=alt.Axis(format="%"), title="top-1",
                                         scale=alt.Scale(domain=[0, top])),
                                 color=alt.Color("label:N", scale=color_scale(labels), title=None,
                                                 legend=alt.Legend(orient="bottom", labelLimit=400)),
                                 tooltip=["label:N", "condition:N", alt.Tooltip("accuracy:Q", format=".1%"),
                                          alt.Tooltip("ci_low:Q", format=".1%"), alt.Tooltip("ci_high:Q", format=".1%"),
                                          "n:Q"]),
          base.mark_rule().encode(y="ci_low:Q", y2="ci_high:Q")]
if len(reference):
    layers.append(alt.Chart(reference).mark_tick(color="black", thickness=2, size=10).encode(
        x=alt.X("condition:N", sort=list(PUG_FACTORS)), xOffset=alt.XOffset("label:N", sort=labels), y="value:Q",
        tooltip=["label:N", "condition:N", alt.Tooltip("value:Q", format=".1%", title="paper"), "tag:N"]))
ui.chart_with_downloads(alt.layer(*layers).properties(height=340), table, "pug_imagenet", "pug_chart")
st.caption(f"Lines: 95% bootstrap intervals. Black ticks: the paper's Fig. 6 ([E] {TAGS['E']}) — references, "
           "not measurements.")
st.dataframe(table.pivot_table(index="condition", columns="label", values="accuracy", sort=False), width="stretch",
             column_config={label: st.column_config.NumberColumn(format="percent") for label in labels})
ui.note_close_calls(table, group="condition")
