"""Transferability page: linear probes on frozen features (paper Sec. 3.5)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.run import jobs
from core.analysis.charts import grouped_bars
from core.data.transfer import TransferFolder
from core.errors import UserError
from views import _models as models_ui
from views import _reads as reads
from views import _widgets as widgets

st.title("Transferability: how good are the frozen features elsewhere?")
st.caption("A multinomial logistic regression on each model's frozen features (pre-logits for supervised models, "
           "the image embedding for CLIP), with its regularisation chosen on a validation split and scored once on "
           "the test split. The VTAB-1k option trains on 1,000 images (800 train + 200 validation).")

version = reads.store_version()
try:
    probes = reads.probes_table(version)
except UserError as error:
    widgets.show_user_error(error)
    st.stop()

if probes.empty:
    st.info("No linear probes yet. Point the form below at a folder with train/ and test/ class folders, or run:\n\n"
            "`python -m core probe --models vit_sup,convnext_sup,vit_clip,convnext_clip --data PATH [--vtab1k]`")
else:
    probes = probes.assign(label=probes["model"].map(models_ui.model_label),
                           setting=probes["dataset"] + probes["convention"].str.startswith("VTAB").map(
                               {True: " · VTAB-1k", False: ""}))
    probes = probes.drop_duplicates(["label", "setting", "protocol"], keep="last")
    chart = grouped_bars(probes, x="setting", order=None, value="test_accuracy", title="test accuracy",
                         tooltip=("c:Q", "n_train:Q", "n_test:Q"), height=320)
    table = probes[["label", "dataset", "convention", "protocol", "test_accuracy", "ci_low", "ci_high", "c",
                    "n_train", "n_val", "n_test"]]
    widgets.chart_with_downloads(chart, table, "linear_probes", "transfer_chart")
    st.dataframe(table, hide_index=True, width="stretch", column_config={
        c: st.column_config.NumberColumn(format="percent") for c in ("test_accuracy", "ci_low", "ci_high")})
    widgets.note_close_calls(probes, value="test_accuracy", group="setting", what="test accuracy")
    st.caption("Lines: 95% bootstrap intervals over test images. The paper's VTAB numbers use the full VTAB-1k "
               "suite; compare like with like.")

st.subheader("Run a linear probe")
statuses = [status for status in models_ui.statuses() if status.live]
with st.form("transfer_start"):
    models = st.multiselect("Models", [status.spec.name for status in statuses], format_func=models_ui.model_label,
                            key="transfer_models")
    data = st.text_input("Dataset folder (train/ and test/ class folders)", key="transfer_data")
    columns = st.columns(3)
    protocol = columns[0].selectbox("Preprocessing", ["paper", "library"], key="transfer_protocol")
    vtab1k = columns[1].checkbox("VTAB-1k (1,000 training images)", key="transfer_vtab1k")
    seed = columns[2].number_input("Seed", min_value=0, value=0, key="transfer_seed")
    submitted = st.form_submit_button("Start in the background")
if submitted:
    root = Path(data.strip()).expanduser() if data.strip() else None
    problems = TransferFolder().validate(root) if root else []
    if not models:
        st.warning("Choose at least one model.")
    elif root is None:
        st.warning("Enter the dataset folder.")
    elif problems:
        st.error(f"{root} cannot be used:\n" + "\n".join(f"- {problem}" for problem in problems[:5]))
    else:
        job = jobs.launch_probe(models, str(root), protocol=protocol, vtab1k=vtab1k, seed=int(seed))
        st.success(f"Started (pid {job.pid}); results appear here when it finishes. Progress: Evaluations page. "
                   f"Log: {job.log}")
