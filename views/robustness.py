"""Robustness page: top-1 on ImageNet val and its shifted test sets."""

from __future__ import annotations

import streamlit as st

from core.analysis.accuracy_line import DEFAULT_FIT_ON, FIT_ON, LINE_SETS, line_description, paper_points
from core.analysis.line_chart import POPULATION_SHADES, accuracy_on_the_line
from core.analysis.tables import SHIFTED
from core.analysis.charts import grouped_bars
from core.data import BENCHMARKS
from core.errors import UserError
from core.paper import TAGS, paper_values
from views import _population as population_ui
from views import _state as state
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
shown, config = widgets.number_table(wide, {column: "{:.1%}" for column in wide.columns})  # "—": not measured
st.dataframe(shown, width="stretch", column_config=config)
if missing:
    st.caption(f"Not in the store yet: {', '.join(missing)} — the average covers only the shifted sets present "
               "(the paper's average covers all seven).")
n_per = table.set_index(["label", "benchmark"])["n"]
st.caption("Images per cell: " + ", ".join(f"{b}: {int(n_per.xs(b, level='benchmark').max()):,}" for b in present))

widgets.note_close_calls(table, group="benchmark")


st.subheader("Accuracy on the line: good *for its ImageNet accuracy*?")
st.caption("Across hundreds of models, top-1 on a shifted set follows ImageNet top-1 along a line on logit axes "
           "(Recht et al. 2019; Taori et al. 2020; Miller et al. 2021). A model's **effective robustness** is how far "
           "it sits above that line: measured top-1 minus the line's prediction at its own ImageNet top-1. Grey: "
           "the published population (timm's and open_clip's own tables); the band: 95% over refits on resampled "
           "checkpoints. ImageNet-C and -Hard have no published population, so no line.")
try:
    population = population_ui.read_population()
except UserError as error:
    st.info(str(error), icon=":material/download:")
else:
    state.bind("robustness_fit_on", options=list(FIT_ON))
    st.session_state.setdefault("robustness_fit_on", DEFAULT_FIT_ON)
    fit_on = st.radio("Line fitted on", list(FIT_ON), format_func=FIT_ON.get, horizontal=True, key="robustness_fit_on",
                      help="Taori et al. fit the standard line on models trained on ImageNet-1k alone; models with "
                           "extra pretraining data (ImageNet-21k, CLIP, Instagram, JFT) then show how far above it they "
                           "sit. Each published checkpoint is one point (timm's smaller evaluation size where it lists "
                           "two).")
    where = population_ui.filter_widgets(population)
    run_keys = reads.keys_of(run_ids)
    lines = population_ui.lines(fit_on, where)
    description = line_description(lines, where)
    er = population_ui.er_table(fit_on, run_keys, table, where)
    er["label"] = er["model"].map(models_ui.model_label)
    points = paper_points(paper_values("robustness_top1"), models)
    points["label"] = points["model"].map(models_ui.model_label)
    shown_population = population_ui.chart_population(population, fit_on, where)
    edges = [population["imagenet"].min(), population["imagenet"].max(), *er["imagenet_low"], *er["imagenet_high"],
             *points["imagenet"]]
    bands = population_ui.bands(fit_on, max(min(edges) - 0.01, 0.0005), min(max(edges) + 0.01, 0.9995), where)
    set_labels = {key: BENCHMARKS[key].label if key in BENCHMARKS else "ImageNet-ReaL" for key in LINE_SETS}
    labels = list(dict.fromkeys(table["label"]))
    kinds = sorted(set(shown_population["kind"]), key=population_ui.kind_order)
    # each kind keeps its own shade whichever kinds are shown (open_clip's stay dark grey when no timm point is outside)
    shades = [POPULATION_SHADES[population_ui.kind_order(kind)] for kind in kinds]
    line_chart = Lazy.of(accuracy_on_the_line, shown_population, bands, er, points, labels=labels, kinds=kinds,
                         shades=shades,
                         set_labels=set_labels, title=description,
                         key=f"robustness-line:{population_ui.population_version()}:{fit_on}:{where}:{run_keys}:"
                             f"{tuple(labels)}")
    shown = er[["label", "benchmark", "imagenet", "shifted", "predicted", "effective_robustness", "ci_low", "ci_high",
                "n_population", "line"]]
    if not lines:
        st.caption(f"**{description}**")  # otherwise the chart's title says it
    widgets.chart_with_downloads(line_chart, shown, "accuracy_on_the_line", "robustness_line")
    st.caption(f"Large marks: our models with 95% intervals on both axes. Hollow diamonds: the paper's values "
               f"([P] {TAGS['P']}; [P-] {TAGS['P-']}), references, not measurements. Light grey: the checkpoints in "
               "the line's fit; sand: timm checkpoints outside it; dark grey: open_clip's CLIP models. Hover a point "
               "for its name, pretraining, family and parameters.")
    if er.empty:
        st.info("None of the selected models has both ImageNet val and a shifted set with a line: effective "
                "robustness needs both (python -m core evaluate --benchmark imagenet-val …).")
    else:
        st.dataframe(shown.rename(columns={"label": "model", "benchmark": "set", "imagenet": "ImageNet top-1",
                                           "shifted": "top-1", "predicted": "line's prediction",
                                           "effective_robustness": "effective robustness", "ci_low": "95% low",
                                           "ci_high": "95% high", "n_population": "checkpoints in the fit",
                                           "line": "line fitted on"}),
                     hide_index=True, width="stretch", column_config={
                         name: st.column_config.NumberColumn(format="percent") for name in
                         ("ImageNet top-1", "top-1", "line's prediction", "effective robustness", "95% low",
                          "95% high")})
        st.caption(f"{description} Interval: percentile bootstrap joining the line's refits over resampled "
                   "checkpoints and binomial draws of both of the model's own accuracies.")
    with st.expander("Pretraining of every published checkpoint"):
        names = population_ui.checkpoint_table()
        st.caption("Read from each name's tag (core.data.pretraining.TAG_RULES) and timm's model_metadata-in1k.csv; "
                   "unknown where neither says. " + " · ".join(f"{source}: {count:,}" for source, count in
                                                              names["pretraining"].value_counts().items()))
        st.dataframe(names, hide_index=True, width="stretch")
        st.download_button("Download CSV", names.to_csv(index=False), "published_pretraining.csv", "text/csv",
                           key="robustness_pretraining_csv", icon=":material/download:")

    protocol = str(runs["protocol"].iloc[0]) if len(runs) else "paper"
    checks = population_ui.checks(table, population_ui.comparable_specs(models, protocol))
    st.subheader("Published numbers as a check on ours")
    if checks.empty:
        st.caption("No selected model is a checkpoint that timm or open_clip published under this protocol (timm's "
                   "numbers use its own preprocessing: choose the `library` protocol to compare them).")
    else:
        checks["label"] = checks["model"].map(models_ui.model_label)
        checks["flag"] = checks.apply(population_ui.why_outside, axis=1)
        checks["tag"] = "[" + checks["tag"] + "]"
        st.dataframe(checks[["label", "benchmark", "ours", "published", "difference", "flag", "ci_low", "ci_high",
                             "tag", "checkpoint"]].rename(columns={"label": "model"}), hide_index=True,
                     width="stretch", column_config={name: st.column_config.NumberColumn(format="percent")
                                                     for name in ("ours", "ci_low", "ci_high", "published",
                                                                  "difference")})
        st.caption(f"[T] {TAGS['T']}; [O] {TAGS['O']}: the publisher's top-1 of the exact checkpoint we evaluated, a "
                   "reference, not our measurement.")
