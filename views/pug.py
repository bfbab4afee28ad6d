"""Synthetic data page: top-1 per PUG-ImageNet factor of variation (paper Fig. 6)."""

from __future__ import annotations

import streamlit as st

from core.analysis.tables import condition_accuracy_table
from core.analysis.charts import grouped_bars
from core.data.pug import PUG_FACTORS, PUG_SCORING
from core.paper import TAGS, paper_values
from views import _models as models_ui
from views import _reads as reads
from views import _widgets as widgets
from views._charts import Lazy

st.title("Synthetic data: which controlled changes break the models?")
st.caption("PUG-ImageNet (Bordes et al., NeurIPS 2023) renders ImageNet classes photorealistically while varying "
           "one factor at a time: world, camera and object pose, object size and texture, lighting. Correct if the "
           "prediction is an ImageNet class mapped to the object. " + PUG_SCORING)

runs = widgets.measured_runs(("pug-imagenet",),
                        "No PUG-ImageNet results yet. Download it (the archive and class_to_imagenet_idx.json from "
                        "the facebookresearch/PUG repository): `python -m core download pug-imagenet`, then run:\n\n"
                        "`python -m core evaluate --models vit_sup,convnext_sup,vit_clip,convnext_clip --benchmark "
                        "pug-imagenet --data PATH` (PATH: the downloaded folder, cache/data/pug-imagenet by default)")
runs, models = widgets.pick_models(runs, "pug")
counts = reads.accuracy_counts(tuple(runs["run_id"]), True, False)
table = condition_accuracy_table(counts, {run.run_id: models_ui.model_label(run.model) for run in runs.itertuples()})
if table.empty:
    st.info("The selected runs have no readable predictions yet.")
    st.stop()
reference = paper_values("pug_top1")
reference = reference[reference["model"].isin(models)].assign(label=lambda f: f["model"].map(models_ui.model_label),
                                                              condition=lambda f: f["key"])
chart = Lazy.of(grouped_bars, table, x="condition", order=list(PUG_FACTORS), value="accuracy", title="top-1",
                     reference=reference, label_angle=-30, tooltip=("n:Q",))
widgets.chart_with_downloads(chart, table, "pug_imagenet", "pug_chart")
st.caption(f"Lines: 95% bootstrap intervals. Black ticks: the paper's Fig. 6 ([E] {TAGS['E']}) — references, "
           "not measurements.")
st.dataframe(table.pivot_table(index="condition", columns="label", values="accuracy", sort=False), width="stretch",
             column_config={label: st.column_config.NumberColumn(format="percent") for label in set(table["label"])})
widgets.note_close_calls(table, group="condition")
