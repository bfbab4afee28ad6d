"""Mistakes page: which factors of variation make each model err (ImageNet-X, paper Fig. 2)."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from core.analysis.charts import grouped_bars
from core.data.imagenet_x import FACTORS
from core.imagenet import display_labels
from core.paper import TAGS, paper_values
from views import _models as models_ui
from views import _reads as reads
from views import _state as state
from views import _widgets as widgets
from views._cache import memo
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


@memo(16, name="mistakes.tables")
def _tables(keys: tuple, labels: tuple[str, ...], models: tuple[str, ...]):
    """(ratios of every model, the paper's ticks, the factor × model table, the caption of images used) of
    these runs: cached by their run keys, so a page open only draws them."""
    ratios = reads.imagenet_x_ratios(tuple(key[0] for key in keys))
    table = pd.concat([frame.assign(label=label) for label, frame in zip(labels, ratios)],
                      ignore_index=True) if keys else pd.DataFrame()
    reference = paper_values("imagenet_x_error_ratio")
    reference = reference[reference["model"].isin(models)].assign(
        label=lambda f: f["model"].map(models_ui.model_label), factor=lambda f: f["key"])
    if table.empty:
        return table, reference, None, ""
    shown = (table.pivot_table(index="factor", columns="label", values="error_ratio", sort=False, dropna=False)
             .join(table.drop_duplicates("factor").set_index("factor")["count"].rename("images (first model)")))
    summary = table.drop_duplicates("label")[["label", "accuracy_all", "n"]]
    used = "Annotated images used: " + ", ".join(f"{row.label}: {row.n:,} (accuracy {row.accuracy_all:.1%})"
                                                 for row in summary.itertuples())
    return table, reference, widgets.arrow_table(shown.reset_index()), used


try:
    keys = reads.keys_of(list(by_model.values()))
    table, reference, shown, used = _tables(keys, tuple(by_model), tuple(models))
except ValueError as error:
    st.warning(f"{error} ImageNet-X annotates the official val file names only.")
    st.stop()

chart = Lazy.of(grouped_bars, table, x="factor", order=list(FACTORS), value="error_ratio", title="error ratio",
                reference=reference, percent=False, label_angle=-40, baseline=1.0,
                tooltip=(alt.Tooltip("accuracy:Q", format=".1%"), "count:Q"),
                key=f"mistakes:{keys}:{tuple(by_model)}")
widgets.chart_with_downloads(chart, table, "imagenet_x_error_ratios", "mistakes_chart")
st.caption(f"Black ticks: the paper's Fig. 2 ([E] {TAGS['E']}) — references, not measurements. Factors with few "
           "images have noisy ratios: see the counts.")
if shown is not None:
    st.dataframe(shown, hide_index=True, width="stretch")
if used:
    st.caption(used)

st.subheader("Slice by factors")
state.bind("mistakes_slice", kind="list", options=list(FACTORS))
chosen = st.multiselect("Images that have all of these factors (multi-factor annotations)", list(FACTORS),
                        default=["pose"], key="mistakes_slice")
slices = {label: reads.imagenet_x_slice_summary(run_id, tuple(chosen)) for label, run_id in by_model.items()}
records = [{"model": label, **found} for label, (found, _) in slices.items()]
st.dataframe(records, hide_index=True, width="stretch", column_config={
    c: st.column_config.NumberColumn(format="percent") for c in ("accuracy", "ci_low", "ci_high")})
widgets.note_close_calls(pd.DataFrame(records), label="model")

st.subheader("Images of the slice a model got wrong")
state.bind("mistakes_wrong_model", options=list(by_model))
model = st.selectbox("Model", list(by_model), key="mistakes_wrong_model")
wrong = slices[model][1] if model in slices else None
if wrong is None or wrong.empty:
    st.caption("No wrong predictions in this slice.")
else:
    names = display_labels()  # the class table we ship: no model library imported
    start, stop = widgets.page_of(len(wrong), 18, "mistakes_wrong_page", noun="wrong in this slice",
                                  list_key=(model, tuple(chosen)))
    grid = st.columns(6)
    for position, row in enumerate(wrong.iloc[start:stop].to_dict("records")):
        with grid[position % 6]:
            picture = reads.thumbnail(row["path"]) if isinstance(row["path"], str) else None
            if picture is not None:
                st.image(picture, width="stretch", output_format="JPEG")
            else:
                st.caption("(image file not available here)")
            st.caption(f"true: {names[int(row['class'])]}  \npredicted: {names[int(row['pred'])]}")
