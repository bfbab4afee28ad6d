"""Home page: what the app is for, which models can run here, and where to go next."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.errors import UserError
from core.models.registry import ModelSpec, append_user_model
from views import _models as models_ui
from views import _reads as reads
from views import _study as study
from views import _view as view
from views import _widgets as widgets

st.title("Beyond Accuracy Explorer")
st.markdown(
    "Models with the same ImageNet accuracy can differ a lot in *how* they are right and wrong. "
    "This app reproduces and extends Vishniakov, Shen & Liu, *ConvNet vs Transformer, Supervised vs CLIP: "
    "Beyond ImageNet Accuracy* (ICML 2024), which compares a supervised ViT and ConvNeXt with their CLIP "
    "counterparts on mistakes, shape bias, calibration, robustness, transfer and invariance."
)
st.page_link("views/compare.py", label="Compare the models on your own image", icon=":material/compare:")
try:
    study.get_started_box(store_empty=reads.runs_table().empty)
except UserError as error:
    widgets.show_user_error(error)

st.subheader("Models")
with st.spinner("Checking which models can run here…"):
    statuses = models_ui.statuses()
rows = []
for status in statuses:
    spec = status.spec
    if status.checking:
        state = "🔎 checking where its weights are published…"
    elif status.live:
        state = "✅ live"
    elif status.weights_present:
        state = "⏳ weights present, zero-shot head not computed"
    else:
        state = "☁️ needs weights"
    if spec.source.startswith("package:"):
        source = f"file shipped by the Python package {spec.source[len('package:'):].split('/')[0]}"
    elif spec.library == "open_clip":
        source = f"open_clip {spec.source} / {spec.pretrained}"
    else:
        source = f"{spec.library} {spec.source}"
    rows.append({
        "model": spec.display,
        "status": state,
        "kind": f"{'Transformer' if spec.family == 'vit' else 'ConvNet'}, "
                f"{'CLIP zero-shot' if spec.head == 'zero_shot' else 'supervised'}",
        "in paper": "yes" if spec.in_paper else ("added (models.toml)" if spec.user else "no"),
        "key": spec.name,
        "source": source,
    })
st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key="home_models")
missing = [status for status in statuses if not status.weights_present and not status.checking]
if missing:
    with st.expander(f"How to get the weights of {len(missing)} model(s)"):
        st.markdown("On a machine with internet, run once (weights go to the standard Hugging Face / torch / "
                    "open_clip caches):")
        st.code("python -m core download " + " ".join(status.spec.name for status in missing), language="bash")
        for status in missing:
            st.caption(status.weights_message)
heads = [status for status in statuses if status.weights_present and status.head_cached is False]
if heads:
    st.info("CLIP models need their ImageNet zero-shot head once (about 8 min each on a 2-core CPU, seconds on a GPU): "
            "use the button on the Compare page, or run "
            f"`python -m core zero-shot-head {' '.join(status.spec.name for status in heads)}`.")
_, problems = models_ui.models()
for problem in problems:
    st.warning(problem, icon=":material/warning:")


def _add_model_form() -> None:
    st.markdown("Adds one `[[model]]` entry to `models.toml` (docs/models.md, 'Adding a model'); no code change needed.")
    with st.form("home_add_model"):
        name = st.text_input("Key (snake_case)", key="home_add_name")
        library = st.selectbox("Library", ["timm", "open_clip", "checkpoint"], key="home_add_library")
        source = st.text_input("timm name (arch.tag), open_clip architecture, or checkpoint file", key="home_add_source")
        pretrained = st.text_input("open_clip pretrained tag or file (open_clip only)", key="home_add_pretrained")
        arch = st.text_input("timm architecture (checkpoint only)", key="home_add_arch")
        family = st.selectbox("Family", ["vit", "convnet"], key="home_add_family")
        label = st.text_input("Label shown in charts", key="home_add_label")
        if st.form_submit_button("Add model"):
            try:
                spec = ModelSpec(name.strip(), library, source.strip(), family=family,
                                 pretrained=pretrained.strip() or None,
                                 head="zero_shot" if library == "open_clip" else "supervised",
                                 arch=arch.strip() or None, label=label.strip())
                path = append_user_model(spec)
                st.success(f"Added `{spec.name}` to {path.name}.")
                st.rerun()
            except UserError as error:
                st.error(str(error))


with st.expander("Add a model"):
    if view.writes_allowed("adding models to models.toml"):
        _add_model_form()

st.caption("Reference numbers from the paper are always labelled as such; everything else is measured here.")
