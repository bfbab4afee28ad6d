"""Robustness page: top-1 on ImageNet val and its shifted test sets."""

from __future__ import annotations

import streamlit as st

from core.analysis.tables import SHIFTED
from core.analysis.charts import grouped_bars
from core.data import BENCHMARKS
from core.paper import TAGS, paper_values
from views import _models as models_ui
from views import _reads as reads
from views import _widgets as widgets
from views._charts import Lazy

st.title("Robustness: how far does accuracy fall under distribution shift?")
st.caption("Top-1 accuracy on ImageNet val and seven shifted test sets. ImageNet-A and -R: softmax and top-1 over "
           "their 200 classes (the robustness literature's convention, and the paper's). ImageNet-C: mean over "
           "15 corruptions × 5 severities. ImageNet-ReaL: the val predictions scored against the ReaL labels.")

keys = ("imagenet-val", *[key for key in SHIFTED if key in BENCHMARKS])
runs = widgets.measured_runs(keys,
                        "No robustness results yet. Run, for each dataset you have:\n\n`python -m core evaluate "
                        "--models vit_sup,convnext_sup,vit_clip,convnext_clip --benchmark imagenet-v2 --data PATH` "
                        "(benchmarks: " + ", ".join(k for k in keys if k != "imagenet-real") + ")")
runs, models = widgets.pick_models(runs, "robustness")
run_ids = tuple(runs["run_id"])
with st.spinner(f"Counting correct predictions of {len(run_ids)} run(s)…"):
    table = reads.robustness_table(runs)
if table.empty:
    st.info("The selected runs have no readable predictions yet.")
    st.stop()
table["label"] = table["model"].map(models_ui.model_label)
present = [key for key in ["imagenet-val", *SHIFTED] if key in set(table["benchmark"])]
missing = [key for key in SHIFTED if key not in present]
average = (table[table["benchmark"].isin(SHIFTED)].groupby("label", sort=False)["accuracy"].mean()
           .rename("average over shifted sets").reset_index())
reference = paper_values("robustness_top1")
reference = reference[reference["model"].isin(models) & reference["key"].isin(present)].assign(
    label=lambda frame: frame["model"].map(models_ui.model_label), benchmark=lambda frame: frame["key"])

chart = Lazy.of(grouped_bars, table, x="benchmark", order=present, value="accuracy", title="top-1",
                reference=reference, tooltip=("n:Q",), height=360,
                key=f"robustness:{reads.keys_of(run_ids)}:{tuple(dict.fromkeys(table['label']))}")
widgets.chart_with_downloads(chart, table, "robustness", "robustness_chart")
st.caption(f"Black ticks: the paper's values ([P] {TAGS['P']}; [P-] {TAGS['P-']}) — references, not measurements.")

wide = table.pivot_table(index="label", columns="benchmark", values="accuracy", sort=False)[present]
wide = wide.join(average.set_index("label"))
st.dataframe(wide, width="stretch", column_config={c: st.column_config.NumberColumn(format="percent") for c in wide.columns})
if missing:
    st.caption(f"Not in the store yet: {', '.join(missing)} — the average covers only the shifted sets present "
               "(the paper's average covers all seven).")
n_per = table.set_index(["label", "benchmark"])["n"]
st.caption("Images per cell: " + ", ".join(f"{b}: {int(n_per.xs(b, level='benchmark').max()):,}" for b in present))

widgets.note_close_calls(table, group="benchmark")
