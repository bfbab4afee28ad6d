"""Compare page: the selected models side by side on the user's own images."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.errors import UserError
from core.images import MAX_UPLOAD_MB, SUPPORTED_TYPES, decode_image
from views import _ui as ui

st.title("Compare models on your image")
st.caption("Four models with near-equal ImageNet accuracy can still see an image very differently. "
           "Upload a photo, or pick an example, and read each model's top-5 classes and the exact crop it saw.")

with st.spinner("Checking which models can run here…"):
    statuses = {status.spec.name: status for status in ui.statuses()}
specs = [status.spec for status in statuses.values()]
live = [name for name, status in statuses.items() if status.live]

controls = st.columns([3, 2, 1])
chosen = controls[0].multiselect(
    "Models", [spec.name for spec in specs], default=live,
    format_func=lambda name: statuses[name].spec.display + ("" if statuses[name].live else " (not ready)"),
    key="compare_models", help="Models marked 'not ready' need weights (see the Home page) or a zero-shot head.")
protocol = controls[1].radio(
    "Preprocessing", ["paper", "library"], horizontal=True, key="compare_protocol",
    help="paper: what the paper's code fed each model (Resize 256 bilinear → crop 224 for the supervised pair). "
         "library: each library's own pretrained config (timm pretrained_cfg, open_clip preprocess).")
example = controls[2].selectbox("Example photo", list(ui.EXAMPLES), key="compare_example",
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
        ui.show_user_error(error)
if not uploads:
    images.append(decode_image(ui.example_bytes(ui.EXAMPLES[example]), example))
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
            loaded = ui.load(spec)
    except Exception as error:  # noqa: BLE001 - every failure becomes a message, the page goes on
        ui.show_user_error(error, f"{spec.display}: ")
        return None
    head, key = (None, "")
    if spec.head == "zero_shot":
        head, key = ui.head_for(spec)
        if head is None:
            _offer_head(loaded)
            return None
    return loaded, head, key


def _offer_head(loaded) -> None:
    from core.imagenet import class_names
    from core.models.zero_shot import build_head, openai_templates

    spec = loaded.spec
    seconds = ui.head_estimate_seconds(spec, loaded.weights_key)
    minutes = f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"
    st.info(f"**{spec.display}** classifies zero-shot and needs its ImageNet text head (1000 classes × 80 prompts), "
            f"computed once and cached. Expected time here: about {minutes} on {loaded.device}. "
            "Changing any control stops it; nothing half-done is saved.")
    if st.button(f"Compute head for {spec.display} (~{minutes})", key=f"compare_head_{spec.name}"):
        bar = st.progress(0.0, text="Tokenising 80,000 prompts…")
        build_head(loaded, class_names(), openai_templates(),
                   progress=lambda done, total, message: bar.progress(done / total, text=message))
        st.rerun()


def _top5_frame(prediction, labels) -> pd.DataFrame:
    return pd.DataFrame({"probability": list(prediction.top_prob),
                         "class": [labels[i] for i in prediction.top_index]})


from core.engine import classify  # noqa: E402 - torch loads only once the page has something to run
from core.imagenet import display_labels  # noqa: E402
from core.models.preprocess import crop_for_model, resolve_preprocess  # noqa: E402

labels = display_labels()
predictions = {}
for name in chosen:
    spec = statuses[name].spec
    ready = _ready_model(name)
    if ready is None:
        continue
    loaded, head, key = ready
    try:
        with st.spinner(f"Running {spec.display} on {len(images)} image(s)…"):
            # all images in one batched call per model
            predictions[name] = classify(loaded, images, resolve_preprocess(spec, protocol), head=head, head_key=key)
    except Exception as error:  # noqa: BLE001 - one failing model must not blank the page
        ui.show_user_error(error, f"{spec.display}: ")
if not predictions:
    st.stop()

rows = []
for position, image in enumerate(images):
    st.divider()
    header = st.columns([1, 4])
    header[0].image(image.image, caption=f"{image.name} · {image.original_size[0]}×{image.original_size[1]}",
                    width="stretch")
    for note in image.notes:
        header[1].caption(f"Note: {note}.")
    top1 = {}
    for column, (name, answers) in zip(header[1].columns(len(predictions)), predictions.items()):
        spec, prediction = statuses[name].spec, answers[position]
        cfg = resolve_preprocess(spec, protocol)
        with column:
            st.markdown(f"**{spec.display}**")
            st.image(crop_for_model(image.image, cfg), caption=f"what it sees: {cfg.describe()}", width=160)
            # plain numbers: progress bars get cut off in the narrow columns of 4-5 models
            st.dataframe(_top5_frame(prediction, labels), hide_index=True, width="stretch",
                         column_config={"probability": st.column_config.NumberColumn("p", format="percent",
                                                                                     width="small")})
            if prediction.cached:
                st.caption(f"{prediction.latency_ms:.1f} ms/image on {prediction.device} when computed; "
                           "this answer came from the cache")
            else:
                st.caption(f"{prediction.latency_ms:.1f} ms/image on {prediction.device}")
        top1[spec.display] = labels[prediction.top1]
        rows += [{"image": image.name, "model": name, "rank": rank + 1, "class": labels[index],
                  "class_index": index, "probability": prob, "protocol": protocol}
                 for rank, (index, prob) in enumerate(zip(prediction.top_index, prediction.top_prob))]
    if len(top1) >= 2:
        answers = set(top1.values())
        if len(answers) == 1:
            header[1].success(f"All {len(top1)} models agree on the top-1 class: **{answers.pop()}**.",
                              icon=":material/check_circle:")
        else:
            listing = "; ".join(f"{model}: {answer}" for model, answer in top1.items())
            header[1].warning(f"The models disagree on the top-1 class — {listing}.", icon=":material/call_split:")

if rows:
    st.download_button("Download predictions (CSV)", pd.DataFrame(rows).to_csv(index=False),
                       "predictions.csv", "text/csv", key="compare_download")
