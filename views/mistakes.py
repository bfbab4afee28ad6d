"""Mistakes page: which factors of variation make each model err (ImageNet-X, paper Fig. 2)."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from core.analysis.tables import count_accuracy
from core.analysis.charts import grouped_bars
from core.data.imagenet_x import FACTORS
from core.imagenet import display_labels
from core.paper import TAGS, paper_values
from views import _models as models_ui
from views import _reads as reads
from views import _state as state
from views import _widgets as widgets
from views._charts import Lazy

st.title("Mistakes: which factors make each model err?")
st.caption("ImageNet-X (Idrissi et al., ICLR 2023) annotates each val image with the factor that makes it "
           "unusual. Error ratio = error rate on images with the factor ÷ overall error rate: above 1, the "
           "factor hurts. Conventions of the imagenet-x package (as the paper): top factor per image, prototypes "
           "filtered, class errors.")

runs = widgets.measured_runs(("imagenet-val",),
                        "ImageNet-X needs ImageNet val predictions. Run:\n\n`python -m core evaluate --models "
                        "vit_sup,convnext_sup,vit_clip,convnext_clip --benchmark imagenet-val --data PATH`")
runs, models = widgets.pick_models(runs, "mistakes")
by_model = {models_ui.model_label(run.model): run.run_id for run in runs.itertuples()}
try:
    table = pd.concat([reads.imagenet_x_ratios(run_id).assign(label=label)
                       for label, run_id in by_model.items()], ignore_index=True) if by_model else pd.DataFrame()
except ValueError as error:
    st.warning(f"{error} ImageNet-X annotates the official val file names only.")
    st.stop()

reference = paper_values("imagenet_x_error_ratio")
reference = reference[reference["model"].isin(models)].assign(label=lambda f: f["model"].map(models_ui.model_label),
                                                              factor=lambda f: f["key"])
chart = Lazy.of(grouped_bars, table, x="factor", order=list(FACTORS), value="error_ratio", title="error ratio",
                     reference=reference, percent=False, label_angle=-40, baseline=1.0,
                     tooltip=(alt.Tooltip("accuracy:Q", format=".1%"), "count:Q"))
widgets.chart_with_downloads(chart, table, "imagenet_x_error_ratios", "mistakes_chart")
st.caption(f"Black ticks: the paper's Fig. 2 ([E] {TAGS['E']}) — references, not measurements. Factors with few "
           "images have noisy ratios: see the counts.")
summary = table.drop_duplicates("label")[["label", "accuracy_all", "n"]].rename(columns={"accuracy_all": "accuracy"})
st.dataframe(table.pivot_table(index="factor", columns="label", values="error_ratio", sort=False, dropna=False)
             .join(table.drop_duplicates("factor").set_index("factor")["count"].rename("images (first model)")),
             width="stretch")
st.caption("Annotated images used: " + ", ".join(f"{row.label}: {row.n:,} (accuracy {row.accuracy:.1%})"
                                                 for row in summary.itertuples()))

st.subheader("Slice by factors")
state.bind("mistakes_slice", kind="list", options=list(FACTORS))
chosen = st.multiselect("Images that have all of these factors (multi-factor annotations)", list(FACTORS),
                        default=["pose"], key="mistakes_slice")
slices = {label: reads.imagenet_x_slice(run_id, tuple(chosen)) for label, run_id in by_model.items()}
records = []
for label, frame in slices.items():
    if len(frame):
        records.append({"model": label, **count_accuracy(int(frame["correct"].sum()), len(frame), n_resamples=300)})
    else:
        records.append({"model": label, "accuracy": None, "ci_low": None, "ci_high": None, "n": 0})
st.dataframe(records, hide_index=True, width="stretch", column_config={
    c: st.column_config.NumberColumn(format="percent") for c in ("accuracy", "ci_low", "ci_high")})
widgets.note_close_calls(pd.DataFrame(records), label="model")

st.subheader("Images of the slice a model got wrong")
state.bind("mistakes_wrong_model", options=list(by_model))
model = st.selectbox("Model", list(by_model), key="mistakes_wrong_model")
wrong = slices[model][~slices[model]["correct"]] if model in slices and len(slices[model]) else slices.get(model)
if wrong is None or wrong.empty:
    st.caption("No wrong predictions in this slice.")
else:
    models_ui.import_model_stack()  # display_labels reads timm's ImageNet metadata
    names = display_labels()
    start, stop = widgets.page_of(len(wrong), 18, "mistakes_wrong_page", noun="wrong in this slice",
                             list_key=(model, tuple(chosen)))
    grid = st.columns(6)
    for position, (_, row) in enumerate(wrong.iloc[start:stop].iterrows()):
        with grid[position % 6]:
            picture = reads.thumbnail(row["path"]) if isinstance(row["path"], str) else None
            if picture is not None:
                st.image(picture, width="stretch")
            else:
                st.caption("(image file not available here)")
            st.caption(f"true: {names[int(row['class'])]}  \npredicted: {names[int(row['pred'])]}")
