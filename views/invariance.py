"""Invariance page: accuracy vs scale, shift and resolution (paper Fig. 8), and live sliders on one image."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from core.analysis.tables import count_accuracy
from core.analysis.charts import color_scale
from core.errors import UserError
from core.images import SUPPORTED_TYPES, decode_image
from core.models.preprocess import INVARIANCE_VARIANTS, parse_variant
from views import _models as models_ui
from views import _reads as reads
from views import _state as state
from views import _widgets as widgets
from views._charts import Lazy


def _accuracy_by_setting(table):
    """Top-1 with its 95% interval against each transform's setting, one panel per kind of transform."""
    labels = list(dict.fromkeys(table["label"]))
    base = alt.Chart(table).encode(x=alt.X("value:Q", title=None), color=alt.Color(
        "label:N", scale=color_scale(labels), title=None, legend=alt.Legend(orient="bottom", labelLimit=400)))
    return alt.layer(
        base.mark_line(point=True).encode(y=alt.Y("accuracy:Q", axis=alt.Axis(format="%"), title="top-1"),
                                          tooltip=["label:N", "kind:N", "value:Q",
                                                   alt.Tooltip("accuracy:Q", format=".1%"), "n:Q"]),
        base.mark_rule().encode(y="ci_low:Q", y2="ci_high:Q"),
    ).properties(width=260, height=240).facet(column=alt.Column("kind:N", title=None)).resolve_scale(x="independent")


st.title("Invariance: does the answer survive a zoom or a shift?")
st.caption("The paper's transforms replace each model's resize and crop: scale (shorter side × factor, centre "
           "crop), shift (the crop window moved by N original pixels along the longer side), resolution (input "
           "r × r; Transformers with interpolated position embeddings).")

runs = reads.runs_table()
runs = runs[(runs["source"] == "ours")] if not runs.empty else runs
with_variants = runs[runs["variant"] != ""] if not runs.empty else runs
st.subheader("Accuracy under each transform")
if with_variants.empty:
    st.info("No invariance runs yet. For each setting, run e.g.:\n\n`python -m core evaluate --models "
            "vit_sup,convnext_sup,vit_clip,convnext_clip --benchmark imagenet-val --data PATH --limit 5000 "
            "--variant scale=1.5` (scale " + ", ".join(f"{v:g}" for v in INVARIANCE_VARIANTS["scale"]) + "; shift "
            + ", ".join(f"{v:g}" for v in INVARIANCE_VARIANTS["shift"]) + "; resolution "
            + ", ".join(f"{v:g}" for v in INVARIANCE_VARIANTS["resolution"]) + ").")
else:
    benchmarks = list(dict.fromkeys(with_variants["benchmark"]))
    columns = st.columns(2)
    state.bind("invariance_benchmark", options=benchmarks)
    state.bind("invariance_protocol", options=sorted(set(with_variants["protocol"])))
    benchmark = columns[0].selectbox("Dataset", benchmarks, key="invariance_benchmark")
    protocol = columns[1].radio("Preprocessing", sorted(set(with_variants["protocol"])), horizontal=True,
                                key="invariance_protocol")
    chosen = runs[(runs["benchmark"] == benchmark) & (runs["protocol"] == protocol)]
    widgets.note_runs(chosen)
    counts = reads.accuracy_counts(tuple(chosen["run_id"]), False, False).set_index("run_id")
    records = []
    for run in chosen.itertuples():
        if run.run_id not in counts.index or not counts.at[run.run_id, "n"]:
            continue
        stats = count_accuracy(int(counts.at[run.run_id, "correct"]), int(counts.at[run.run_id, "n"]),
                               n_resamples=300)
        parsed = parse_variant(run.variant)
        kinds = [parsed] if parsed else [("scale", 1.0), ("shift", 0.0), ("resolution", 224.0)]  # the baseline
        for kind, value in kinds:
            records.append({"label": models_ui.model_label(run.model), "kind": kind, "value": value,
                            "sample": run.n_total, **stats})
    table = pd.DataFrame(records)
    table = table[table["kind"].isin(set(table.loc[table["value"].notna(), "kind"]))] if not table.empty else table
    if table.empty:
        st.info("The invariance runs have no readable predictions yet.")
    else:
        chart = Lazy.of(_accuracy_by_setting, table)
        widgets.chart_with_downloads(chart, table, f"invariance_{benchmark}", "invariance_chart")
        st.caption("Vertical lines: 95% bootstrap intervals. The run without a transform is drawn at scale 1, "
                   "shift 0 and resolution 224.")
        widgets.note_close_calls(table.assign(setting=table["kind"] + " " + table["value"].map("{:g}".format)),
                            group="setting")

st.subheader("Live: drag the sliders on one image")
statuses = [status for status in models_ui.statuses() if status.live]
if not statuses:
    st.info("No model is ready on this machine; see the Home page.")
    st.stop()
columns = st.columns([2, 2, 2])
sources = ["Example photo", "Upload"]
stored = runs[runs["benchmark"].isin(["cue-conflict", "imagenet-val"]) & (runs["source"] == "ours")] \
    if not runs.empty else runs
if not stored.empty:
    sources.append("Image from a dataset in the store")
state.bind("invariance_source", options=sources)
source = columns[0].radio("Image", sources, horizontal=True, key="invariance_source")
if source == "Upload":
    upload = columns[1].file_uploader("Image", type=list(SUPPORTED_TYPES), key="invariance_upload")
    if upload is None:
        st.info("Upload an image to see the sliders.")
        st.stop()
    data, name = upload.getvalue(), upload.name
elif source == "Example photo":
    state.bind("invariance_example", options=list(models_ui.EXAMPLES))
    example = columns[1].selectbox("Example", list(models_ui.EXAMPLES), key="invariance_example")
    data, name = models_ui.example_bytes(models_ui.EXAMPLES[example]), example
else:
    state.bind("invariance_dataset", options=sorted(set(stored["benchmark"])))
    dataset = columns[1].selectbox("Dataset", sorted(set(stored["benchmark"])), key="invariance_dataset")
    listed = reads.predictions(tuple(stored[stored["benchmark"] == dataset]["run_id"]), ("image_id", "path"))
    listed = listed.dropna(subset=["path"]).drop_duplicates("image_id").sort_values("image_id")
    state.bind("invariance_dataset_image", options=list(listed["image_id"]))
    name = columns[1].selectbox("Image", list(listed["image_id"]), key="invariance_dataset_image")
    try:
        data = reads.read_file(listed.set_index("image_id").at[name, "path"])
    except OSError as error:
        st.warning(f"{name} cannot be read here ({error.strerror}); the dataset folder may have moved.")
        st.stop()
names = [status.spec.name for status in statuses]
state.bind("invariance_models", kind="list", options=names)
models = columns[2].multiselect("Models", names, default=names[:3], format_func=models_ui.model_label,
                                key="invariance_models")
state.bind("invariance_live_protocol", options=["paper", "library"])
protocol = st.radio("Preprocessing", ["paper", "library"], horizontal=True, key="invariance_live_protocol")
try:
    image = decode_image(data, name)
except UserError as error:
    widgets.show_user_error(error)
    st.stop()
if not models:
    st.info("Select at least one model.")
    st.stop()

models_ui.import_model_stack()  # torch only once there is work, one session at a time
from core.run.inference import classify_variants  # noqa: E402
from core.imagenet import display_labels  # noqa: E402
from core.models.preprocess import apply_variant, crop_for_model, resolve_preprocess  # noqa: E402

SETTINGS = [("scale", v) for v in INVARIANCE_VARIANTS["scale"]] + [("shift", v) for v in INVARIANCE_VARIANTS["shift"]]
key = ("invariance", image.sha256, tuple(models), protocol)
if key not in st.session_state:
    # every slider position of every model, computed once per image: dragging is instant afterwards
    progress = st.progress(0.0, text="Computing every slider position…")
    results = {}
    for number, model in enumerate(models):
        spec = next(status.spec for status in statuses if status.spec.name == model)
        try:
            loaded = models_ui.load(spec)
            head, head_key = models_ui.head_for(spec) if spec.head == "zero_shot" else (None, "")
            cfgs = [apply_variant(resolve_preprocess(spec, protocol), spec, protocol, f"{kind}={value:g}")
                    for kind, value in SETTINGS]
            results[model] = dict(zip(SETTINGS, zip(cfgs, classify_variants(loaded, image, cfgs, head=head,
                                                                             head_key=head_key))))
        except Exception as error:  # noqa: BLE001 - one model failing must not stop the others
            widgets.show_user_error(error, f"{spec.display}: ")
        progress.progress((number + 1) / len(models), text=f"{number + 1}/{len(models)} models done")
    progress.empty()
    st.session_state[key] = results


@st.fragment
def _sliders() -> None:
    results = st.session_state[key]
    left, right = st.columns(2)
    state.bind("invariance_scale", kind="float", options=INVARIANCE_VARIANTS["scale"])
    state.bind("invariance_shift", kind="float", options=INVARIANCE_VARIANTS["shift"])
    state.bind("invariance_kind", options=["scale", "shift"])
    scale = left.select_slider("Scale", INVARIANCE_VARIANTS["scale"], value=1, key="invariance_scale",
                               format_func=lambda v: f"{v:g}×")
    shift = right.select_slider("Shift (pixels)", INVARIANCE_VARIANTS["shift"], value=0, key="invariance_shift")
    kind = st.radio("Show", ["scale", "shift"], horizontal=True, key="invariance_kind",
                    help="The paper varies one transform at a time.")
    setting = ("scale", scale) if kind == "scale" else ("shift", shift)
    labels = display_labels()
    for column, (model, per_setting) in zip(st.columns(max(1, len(results))), results.items()):
        cfg, prediction = per_setting[setting]
        with column:
            st.markdown(f"**{models_ui.model_label(model)}**")
            st.image(crop_for_model(image.image, cfg), caption=cfg.describe(), width=180)
            st.dataframe(pd.DataFrame({"p": prediction.top_prob, "class": [labels[i] for i in prediction.top_index]}),
                         hide_index=True, width="stretch",
                         column_config={"p": st.column_config.NumberColumn(format="percent", width="small")})
    state.link_box(where=st.container(key="invariance_link"))


_sliders()
