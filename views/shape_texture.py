"""Shape vs texture page: decisions on cue-conflict images (Geirhos et al., ICLR 2019)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.analysis import charts
from core.data.cue_conflict import SIXTEEN_CLASSES
from core.paper import TAGS, paper_values
from views import _models as models_ui
from views import _reads as reads
from views import _state as state
from views import _widgets as widgets
from views._charts import Lazy

st.title("Shape vs texture: what decides the answer?")
st.caption("Cue-conflict images combine the shape of one class with the texture of another. Shape bias = share of "
           "shape decisions among shape-or-texture decisions (Geirhos et al., ICLR 2019). Humans are near 1.")

runs = reads.runs_table()
runs = runs[(runs["benchmark"] == "cue-conflict") & (runs["variant"] == "")] if not runs.empty else runs
if not runs.empty:  # one run per measured model and protocol (the latest), as on the other pages; the human
    humans = runs["source"] == "humans"  # observers are pooled (each is a run of their own)
    runs = runs[humans | ~runs.duplicated(["model", "source", "protocol"], keep="last")]
if runs.empty:
    st.info("No cue-conflict results yet. Run:\n\n`python -m core download cue-conflict` (the images, the paper "
            "authors' and the human observers' decisions), then\n\n`python -m core evaluate --models effnet_lite0 "
            "--benchmark cue-conflict`")
    st.stop()


def _maker(run) -> str:
    if run.source == "humans":
        return "Humans (10 observers, pooled)"
    label = models_ui.model_label(run.model)
    if run.source == "authors":
        return f"{label} · authors' release"
    return f"{label} · measured ({run.protocol})"


def _maker_key(run) -> str:
    """The maker in the page's URL: model key and source, never the display label."""
    return "humans" if run.source == "humans" else f"{run.model}.{'authors' if run.source == 'authors' else run.protocol}"


runs = runs.assign(maker=[_maker(run) for run in runs.itertuples()])
makers = list(dict.fromkeys(runs["maker"]))
maker_keys = dict(zip(runs["maker"], (_maker_key(run) for run in runs.itertuples())))
state.bind("shape_makers", kind="list", options=makers, tokens=maker_keys)
chosen = st.multiselect("Decision makers", makers, default=makers, key="shape_makers",
                        help="'measured' = run here; 'authors' release' = decisions published with the paper's code.")
if not chosen:
    st.info("Select at least one decision maker.")
    st.stop()
selected = runs[runs["maker"].isin(chosen)]
widgets.note_runs(selected)
overall, per_class, pivot = reads.shape_bias_tables(selected)
overall = overall.merge(selected.drop_duplicates("maker")[["maker", "source"]], on="maker")
overall = overall.rename(columns={"maker": "label"})
reference = paper_values("shape_bias")
reference = reference.assign(label=[f"{models_ui.model_label(m)} · authors' release" for m in reference["model"]])
reference = reference[reference["label"].isin(overall["label"])]

st.subheader("Overall shape bias")
inputs = f"shape:{reads.keys_of(selected['run_id'])}:{tuple(selected['maker'])}"  # names the charts' inputs
widgets.chart_with_downloads(Lazy.of(charts.shape_bias_overall, overall, reference, key=inputs), overall, "shape_bias",
                             "shape_overall")
st.caption("Lines: 95% bootstrap intervals over images. Hollow diamonds: the paper's figure "
           f"([E] {TAGS['E']}) — a reference, not a measurement. For ConvNeXt-clip the authors' released "
           "decisions and the figure disagree; both are shown.")
table = overall[["label", "shape_bias", "ci_low", "ci_high", "shape_fraction", "texture_fraction", "n", "source"]]
st.dataframe(table, hide_index=True, width="stretch", column_config={
    c: st.column_config.NumberColumn(format="%.3f") for c in ("shape_bias", "ci_low", "ci_high", "shape_fraction",
                                                               "texture_fraction")})

widgets.note_close_calls(overall, value="shape_bias", what="shape bias")

st.subheader("Per shape class")
per_class = per_class.rename(columns={"maker": "label"})
widgets.chart_with_downloads(Lazy.of(charts.shape_bias_per_class, per_class, list(overall["label"]), key=inputs),
                             per_class,
                        "shape_bias_per_class", "shape_classes")
st.caption("Dashed lines: each decision maker's mean over the 16 classes.")

st.subheader("Gallery")
# one decision per maker and image; for the pooled humans, the observers' most common answer
columns = st.columns(4)
state.bind("shape_gallery_shape", kind="list", options=SIXTEEN_CLASSES)
state.bind("shape_gallery_texture", kind="list", options=SIXTEEN_CLASSES)
state.bind("shape_gallery_makers", kind="list", options=chosen, tokens=maker_keys)
state.bind("shape_gallery_agree", options=["any", "all shown agree", "shown disagree"])
shape_filter = columns[0].multiselect("Shape class", SIXTEEN_CLASSES, key="shape_gallery_shape")
texture_filter = columns[1].multiselect("Texture class", SIXTEEN_CLASSES, key="shape_gallery_texture")
gallery_makers = columns[2].multiselect("Show decisions of", chosen, default=chosen[:4], key="shape_gallery_makers")
agreement = columns[3].selectbox("Agreement", ["any", "all shown agree", "shown disagree"], key="shape_gallery_agree")
view = pivot[pivot["shape"] != pivot["texture"]]
if shape_filter:
    view = view[view["shape"].isin(shape_filter)]
if texture_filter:
    view = view[view["texture"].isin(texture_filter)]
if gallery_makers and agreement != "any":
    distinct = view[gallery_makers].nunique(axis=1)
    view = view[distinct == 1] if agreement == "all shown agree" else view[distinct > 1]
st.caption(f"{len(view):,} conflict images match; 24 per page. S = shape decision, T = texture, · = neither "
           "(humans: the most common answer of the 10 observers), – = no decision of that maker on this image.")


def _mark(decision, shape, texture) -> str:
    if pd.isna(decision):
        return "–"
    return "S" if decision == shape else ("T" if decision == texture else f"· {decision}")


start, stop = widgets.page_of(len(view), 24, "shape_gallery_page", noun="that match",
                         list_key=(tuple(chosen), tuple(shape_filter), tuple(texture_filter), tuple(gallery_makers),
                                   agreement))
shown = view.iloc[start:stop]
paths = reads.stored_paths(tuple(selected["run_id"]), tuple(shown["image_id"]))
missing = tuple(image_id for image_id in shown["image_id"] if image_id not in paths)
if missing:  # decisions imported without paths: the same images on disk, if any
    paths.update(reads.cue_conflict_paths(missing))
grid = st.columns(6)
for position, record in enumerate(shown.to_dict("records")):
    with grid[position % 6]:
        picture = reads.thumbnail(paths[record["image_id"]]) if record["image_id"] in paths else None
        if picture is not None:
            st.image(picture, width="stretch", output_format="JPEG")
        else:
            st.caption("(image file not available here)")
        lines = [f"**{record['shape']}** shape · *{record['texture']}* texture"]
        lines += [f"{maker.split(' · ')[0]}: {_mark(record.get(maker), record['shape'], record['texture'])}"
                  for maker in gallery_makers]
        st.caption("  \n".join(lines))
