"""Compare page: the selected models side by side on the user's own images.

State is a handful of keyed widgets (`compare_models`, `compare_protocol`, `compare_example`,
`compare_upload`, `compare_image`, `compare_saliency`, `compare_saliency_class`,
`compare_corruption`, `compare_severity`); results live in the disk caches.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.analysis import charts
from core.explain.agreement import agreement_summary, severity_curve, top1_matrix, top5_bars
from core.explain.corruptions import CORRUPTIONS, SEVERITIES, corruption_label
from core.errors import UserError
from core.images import MAX_UPLOAD_MB, SUPPORTED_TYPES, decode_image
from views import _models as models_ui
from views import _state as state
from views import _view as view
from views import _widgets as widgets

st.title("Compare models on your image")
st.caption("Four models with near-equal ImageNet accuracy can still see an image very differently. "
           "Upload a photo, or pick an example: each model's top-5 classes and the exact crop it saw, where it "
           "looks, and how its answer holds up under ImageNet-C corruptions.")

with st.spinner("Checking which models can run here…"):
    statuses = {status.spec.name: status for status in models_ui.statuses()}
specs = [status.spec for status in statuses.values()]
live = [name for name, status in statuses.items() if status.live]
# one colour per model on every page: registry order
colours = {spec.name: charts.PALETTE[i % len(charts.PALETTE)] for i, spec in enumerate(specs)}

controls = st.columns([3, 2, 1])
# the view lives in the URL (models, protocol, example, image, saliency, corruption, severity): a link
# reopens it; an uploaded file cannot travel in a link, so a shared view of an upload shows the example
state.bind("compare_models", kind="list", options=[spec.name for spec in specs])
state.bind("compare_protocol", options=["paper", "library"])
state.bind("compare_example", options=list(models_ui.EXAMPLES))
chosen = controls[0].multiselect(
    "Models", [spec.name for spec in specs], default=live,
    format_func=lambda name: statuses[name].spec.display + ("" if statuses[name].live else " (not ready)"),
    key="compare_models", help="Models marked 'not ready' need weights (see the Home page) or a zero-shot head.")
protocol = controls[1].radio(
    "Preprocessing", ["paper", "library"], horizontal=True, key="compare_protocol",
    help="paper: what the paper's code fed each model (Resize 256 bilinear → crop 224 for the supervised pair). "
         "library: each library's own pretrained config (timm pretrained_cfg, open_clip preprocess).")
example = controls[2].selectbox("Example photo", list(models_ui.EXAMPLES), key="compare_example",
                                help="Used when no file is uploaded (scikit-image's bundled photos).")
uploads = st.file_uploader(f"Images (JPEG, PNG, WebP, BMP, GIF; up to {MAX_UPLOAD_MB} MB each)",
                           type=list(SUPPORTED_TYPES), accept_multiple_files=True, key="compare_upload")

waiting = [status.spec.display for status in statuses.values() if not status.live]
if waiting:
    st.caption(f"Ready here: {', '.join(statuses[name].spec.display for name in live) or 'none'}. "
               f"Not ready: {', '.join(waiting)} — the Home page says what each needs.")

if not chosen:
    st.info("Select at least one model above.")
    st.stop()

images = []
for upload in uploads or []:
    try:
        images.append(decode_image(upload.getvalue(), upload.name))
    except UserError as error:
        widgets.show_user_error(error)
if not uploads:
    images.append(decode_image(models_ui.example_bytes(models_ui.EXAMPLES[example]), example))
if not images:
    st.warning("None of the uploaded files could be used; see the messages above.")
    st.stop()


def _ready_model(name: str):
    """Loaded model and zero-shot head, or None after telling the user what is missing."""
    status = statuses[name]
    spec = status.spec
    if not status.weights_present:
        st.info(f"**{spec.display}** is not shown: {status.weights_message}", icon=":material/cloud_off:")
        return None
    try:
        with st.spinner(f"Loading {spec.display}…"):
            loaded = models_ui.load(spec)
    except Exception as error:  # noqa: BLE001 - every failure becomes a message, the page goes on
        widgets.show_user_error(error, f"{spec.display}: ")
        return None
    head, key = (None, "")
    if spec.head == "zero_shot":
        head, key = models_ui.head_for(spec)
        if head is None:
            _offer_head(loaded)
            return None
    return loaded, head, key


def _offer_head(loaded) -> None:
    from core.imagenet import class_names
    from core.models.zero_shot import build_head, openai_templates

    spec = loaded.spec
    seconds = models_ui.head_estimate_seconds(spec, loaded.weights_key)
    minutes = f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"
    st.info(f"**{spec.display}** classifies zero-shot and needs its ImageNet text head (1000 classes × 80 prompts), "
            f"computed once and cached. Expected time here: about {minutes} on {loaded.device}. "
            "Changing any control stops it; nothing half-done is saved.")
    if view.writes_allowed("computing zero-shot heads") and st.button(
            f"Compute head for {spec.display} (~{minutes})", key=f"compare_head_{spec.name}"):
        bar = st.progress(0.0, text="Tokenising 80,000 prompts…")
        build_head(loaded, class_names(), openai_templates(),
                   progress=lambda done, total, message: bar.progress(done / total, text=message))
        st.rerun()


models_ui.import_model_stack()  # torch loads only once the page has something to run, one session at a time
from core.run.inference import classify  # noqa: E402
from core.imagenet import display_labels  # noqa: E402
from core.models.preprocess import crop_for_model, resolve_preprocess  # noqa: E402

labels = display_labels()
ready, predictions = {}, {}
for name in chosen:
    spec = statuses[name].spec
    model = _ready_model(name)
    if model is None:
        continue
    loaded, head, key = model
    try:
        with st.spinner(f"Running {spec.display} on {len(images)} image(s)…"):
            # all images in one batched call per model
            predictions[name] = classify(loaded, images, resolve_preprocess(spec, protocol), head=head, head_key=key)
        ready[name] = model
    except Exception as error:  # noqa: BLE001 - one failing model must not blank the page
        widgets.show_user_error(error, f"{spec.display}: ")
if not predictions:
    st.stop()


def display(name: str) -> str:
    return statuses[name].spec.display


rows = [{"image": image.name, "model": name, "model_label": display(name), "rank": rank + 1,
         "class": labels[index], "class_index": index, "probability": prob, "protocol": protocol}
        for position, image in enumerate(images) for name, answers in predictions.items()
        for rank, (index, prob) in enumerate(zip(answers[position].top_index, answers[position].top_prob))]
table = pd.DataFrame(rows)

# --- several images: the matrix first, details for one image on demand --------------------------
position = 0
if len(images) > 1:
    st.subheader(f"{len(images)} images × {len(predictions)} models: top-1 class and its probability")
    st.table(top1_matrix(table))
    names = [f"{number + 1}. {image.name}" for number, image in enumerate(images)]
    state.bind("compare_image", options=names)
    picked = st.selectbox("Details for image", names, key="compare_image")
    position = names.index(picked) if picked in names else 0
image = images[position]
answers = {name: predictions[name][position] for name in predictions}
cfgs = {name: resolve_preprocess(statuses[name].spec, protocol) for name in predictions}

st.divider()
header = st.columns([1, 3])
header[0].image(image.image, caption=f"{image.name} · {image.original_size[0]}×{image.original_size[1]}",
                width="stretch")
with header[1]:
    for note in image.notes:
        st.caption(f"Note: {note}.")
    agree, sentence = agreement_summary({display(name): labels[answer.top1] for name, answer in answers.items()})
    if len(answers) == 1:
        st.info(sentence, icon=":material/info:")
    elif agree:
        st.success(sentence, icon=":material/check_circle:")
    else:
        st.warning(sentence, icon=":material/call_split:")
    state.bind("compare_saliency", kind="bool")
    explain = st.toggle("Show where each model looks (Grad-CAM)", key="compare_saliency",
                        help="Computed on demand for each model and cached; a few seconds per model on a CPU.")
    target_options = ["top1"] + list(dict.fromkeys(i for answer in answers.values() for i in answer.top_index))
    state.bind("compare_saliency_class", options=target_options)
    target = st.selectbox(
        "Class to explain", target_options, key="compare_saliency_class", disabled=not explain,
        format_func=lambda option: "each model's own top-1 class" if option == "top1" else labels[option],
        help="Any class in some model's top-5: see where each model finds evidence for it.")
    if explain:
        st.caption("ConvNets (ConvNeXt, EfficientNet): Grad-CAM on the last convolutional stage. Vision Transformers: "
                   "Grad-CAM on the last block's patch tokens, reshaped to the patch grid (not attention rollout). "
                   "Target: the class logit; for CLIP models the zero-shot logit, 100 × cosine with the class's text "
                   "embedding. Red: most evidence for the class.")


def _saliency(name: str, target_class: int):
    from core.explain.saliency import overlay, saliency_map

    loaded, head, key = ready[name]
    result = saliency_map(loaded, image, cfgs[name], target_class, head=head, head_key=key)
    return overlay(result.crop, result.heatmap), result.description


for name, answer in answers.items():
    spec, cfg = statuses[name].spec, cfgs[name]
    row = st.columns([1.3, 1, 3.6, 1] if explain else [1.3, 1, 4.6], vertical_alignment="center")
    with row[0]:
        st.markdown(f'<span style="color:{colours[name]};font-size:1.3em">■</span> **{spec.display}**',
                    unsafe_allow_html=True)
        cached = " when computed; this answer came from the cache" if answer.cached else ""
        st.caption(f"{answer.latency_ms:.1f} ms/image on {answer.device}{cached}. Input: {cfg.describe()}.")
    row[1].image(crop_for_model(image.image, cfg), caption="what it sees", width="stretch")
    top5 = pd.DataFrame({"class": [labels[i] for i in answer.top_index], "probability": list(answer.top_prob)})
    row[2].altair_chart(top5_bars(top5, colours[name]), width="stretch")
    if explain:
        target_class = answer.top1 if target == "top1" else int(target)
        try:
            with row[3], st.spinner("Grad-CAM…"):
                picture, method = _saliency(name, target_class)
            row[3].image(picture, caption=f"{labels[target_class]} · {method.split(',')[0]}", width="stretch")
        except Exception as error:  # noqa: BLE001 - a failed map must not take the predictions down
            with row[3]:
                widgets.show_user_error(error, f"{spec.display}: ")

with st.expander(f"Every model's top-5 on {'every image' if len(images) > 1 else 'this image'}, as a table"):
    st.dataframe(table[["image", "model_label", "rank", "class", "probability"]], hide_index=True, width="stretch",
                 column_config={"model_label": "model",
                                "probability": st.column_config.NumberColumn(format="percent")})
st.download_button("Download predictions (CSV)", table.drop(columns="model_label").to_csv(index=False),
                   "predictions.csv", "text/csv", key="compare_download")


# --- corruption severity slider -----------------------------------------------------------------

@st.fragment
def _corruptions_with_link() -> None:
    """The severity slider and, under it, the view's link: drawn inside the fragment, so dragging the
    slider (which reruns only the fragment) keeps the link current."""
    try:
        _corruptions()
    finally:
        state.link_box(where=st.container(key="compare_link"))


def _corruptions() -> None:
    """ImageNet-C on this image: every severity computed once per model (one batch), then the slider is instant."""
    from core.explain.corruptions import corrupted_versions, severity_sweep

    st.subheader("How each model breaks under corruption")
    st.caption("The 15 ImageNet-C corruptions (Hendrycks & Dietterich, ICLR 2019) at severities 1–5, applied after "
               "resizing the image to ImageNet-C's working size (shorter side 256; severity 0 is that clean copy). "
               "Random corruptions are seeded, so the same image always gives the same pictures.")
    left, right = st.columns([1, 2])
    state.bind("compare_corruption", options=list(CORRUPTIONS))
    state.bind("compare_severity", kind="int", lo=0, hi=5)
    corruption = left.selectbox("Corruption", CORRUPTIONS, format_func=corruption_label, key="compare_corruption")
    severity = right.slider("Severity", 0, 5, 0, key="compare_severity", help="0 = clean.")
    store = st.session_state.setdefault("compare_sweeps", {})
    key = (image.sha256, corruption, protocol, tuple(ready))
    if key not in store:
        bar = st.progress(0.0, text=f"{corruption_label(corruption)}: corrupting the image at 5 severities…")
        try:
            versions = corrupted_versions(image, corruption)
        except UserError as error:
            bar.empty()
            widgets.show_user_error(error)
            return
        sweeps = {}
        for done, name in enumerate(ready, start=1):
            loaded, head, head_key = ready[name]
            bar.progress(done / (len(ready) + 1), text=f"{display(name)}: 6 severities in one batch…")
            try:
                sweeps[name] = severity_sweep(loaded, versions, cfgs[name], head=head, head_key=head_key)
            except Exception as error:  # noqa: BLE001 - one model failing must not stop the others
                widgets.show_user_error(error, f"{display(name)}: ")
        bar.empty()
        store.clear()  # keep one image × corruption: the pictures are the large part
        store[key] = versions, sweeps
    versions, sweeps = store[key]
    if not sweeps:
        return
    picture, chart_column = st.columns([1, 2])
    picture.image(versions[severity].image, width="stretch",
                  caption=f"{corruption_label(corruption)}, severity {severity}" if severity else "clean (severity 0)")
    curve = pd.DataFrame([{"label": display(name), "severity": level, "clean_class": labels[sweep.clean_top1],
                           "clean_class_prob": sweep.clean_class_prob[level], "top1": labels[sweep.top_index[level][0]]}
                          for name, sweep in sweeps.items() for level in SEVERITIES])
    order = [display(name) for name in sweeps]
    import altair as alt

    scale = alt.Scale(domain=order, range=[colours[name] for name in sweeps])
    with chart_column:
        st.altair_chart(severity_curve(curve, order, severity, scale), width="stretch")
    now = curve[curve["severity"] == severity]
    st.dataframe(now[["label", "clean_class", "clean_class_prob", "top1"]], hide_index=True, width="stretch",
                 column_config={"label": "model", "clean_class": "clean top-1 class",
                                "clean_class_prob": st.column_config.ProgressColumn(
                                    f"p(clean class) at severity {severity}", format="percent", min_value=0,
                                    max_value=1),
                                "top1": f"top-1 at severity {severity}"})
    st.download_button("Download the curves (CSV)", curve.to_csv(index=False), f"corruption_{corruption}.csv",
                       "text/csv", key="compare_corruption_download")


_corruptions_with_link()
