"""Your task page: which model for my images? A decision card on paired differences, then the evidence."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from core.errors import UserError
from core.metrics.selection import RACE_RULE
from core.task import charts as task_charts
from core.task.decision import DEFAULT_MIX, P_BEST_NOTE, VERDICT_RULE, p_best_text
from core.task.folder import ScanReport
from core.task.measures import capped_shots, corruption_curves_table
from core.task.spec import DEFAULT_CORRUPTIONS, DEFAULT_SHOTS, DEFAULT_TEST_FRACTION, PRIORITIES, comma_list
from views import _models as models_ui
from views import _reads as reads
from views import _state as state
from views import _task as task_reads
from views import _view as view
from views import _widgets as widgets
from views._candidates import candidates_panel
from views._charts import Lazy

st.title("Your task: which model for my images?")
st.caption("Your labelled images as a task: zero-shot for CLIP models with your class names, linear probes on "
           "frozen features (full training split and k-shot), calibration, ImageNet-C corruptions of your test "
           "images and where models disagree. Every candidate is scored on the same test images, so each comparison "
           "is a paired difference with its 95% interval.")


def _forms(task_names: list[str]) -> None:
    """Add a task (scanned here) and start `task run` in the background."""
    from core.run import jobs
    from core.store import ResultsStore
    from core.task import scan_task

    columns = st.columns(2)
    with columns[0].form("task_add"):
        st.markdown("**Add a task**")
        name = st.text_input("Name", key="task_new_name", placeholder="machine_parts")
        data = st.text_input("Folder (ROOT/<class>/…, ROOT/{train,val,test}/<class>/…) or CSV of path,label[,split]",
                             key="task_new_data")
        names = st.text_input("Prompt names CSV (optional: class,prompt name)", key="task_new_names")
        fraction = st.slider("Test share", 0.1, 0.5, DEFAULT_TEST_FRACTION, 0.05, key="task_new_fraction")
        added = st.form_submit_button("Add")
    if added:
        try:
            with st.spinner("Reading and hashing every image…"):
                spec, images, report = scan_task(name.strip(), Path(data.strip()).expanduser(),
                                                 names=Path(names.strip()) if names.strip() else None,
                                                 test_fraction=float(fraction))
                ResultsStore().add_task(spec, images, report)
        except UserError as error:
            widgets.show_user_error(error)
        else:
            st.success(f"Task {spec.name}: {len(spec.classes)} classes, {len(images):,} images.")
            for line in report.messages():
                st.warning(line)
    statuses = [status for status in models_ui.statuses() if status.live]
    with columns[1].form("task_start"):
        st.markdown("**Run a task**")
        chosen = st.selectbox("Task", task_names, key="task_run_name") if task_names else None
        models = st.multiselect("Models", [s.spec.name for s in statuses], format_func=models_ui.model_label,
                                key="task_run_models")
        shots = st.text_input("Shots (k per class)", comma_list(DEFAULT_SHOTS), key="task_run_shots")
        corruptions = st.text_input("Corruptions", comma_list(DEFAULT_CORRUPTIONS), key="task_run_corruptions")
        race = st.checkbox("Race first: drop clearly worse models on samples of the test images", key="task_run_race",
                           help=RACE_RULE + " The survivors get the full run.")
        started = st.form_submit_button("Start in the background", disabled=not task_names)
    if started:
        if not models:
            st.warning("Choose at least one model.")
        elif race and len(models) < 2:
            st.warning("Only one model: there is nothing to race. Choose two or more, or untick Race first.")
        else:
            job = jobs.launch(["task", "run", chosen, "--models", ",".join(models), "--shots", shots,
                               "--corruptions", corruptions or "none"] + (["--race"] if race else []), chosen)
            st.success(f"Started (pid {job.pid}); reload this page as it fits. Log: {job.log}")


try:
    tasks = task_reads.tasks()
except UserError as error:
    widgets.show_user_error(error)
    st.stop()

if tasks.empty:
    st.info("No task yet. Point the form below at a labelled folder, or run:\n\n"
            "`python -m core task add machine_parts --data PATH` then "
            "`python -m core task run machine_parts --models effnet_lite0,vit_clip`")
    with st.expander("Candidates: which published models to try", icon=":material/checklist:"):
        candidates_panel("NAME")
    if view.writes_allowed("adding and running tasks"):
        _forms([])
    st.stop()

names = list(tasks["name"])
state.bind("task_name", options=names)
columns = st.columns([2, 3])
task = columns[0].selectbox("Task", names, key="task_name")
available = task_reads.all_models(task)
with st.expander("Candidates: which published models to try", expanded=not available, icon=":material/checklist:"):
    candidates_panel(task)
if not available:
    st.info(f"Task `{task}` has no results yet. Run: `python -m core task run {task} --models effnet_lite0`")
    if view.writes_allowed("adding and running tasks"):
        _forms(names)
    st.stop()
state.bind("task_models", kind="list", options=available)
models = columns[1].multiselect("Models", available, default=available, format_func=models_ui.model_label,
                                key="task_models")
if not models:
    st.info("Select at least one model.")
    st.stop()
models = tuple(name for name in available if name in models)
data = task_reads.task_data(task, models)
spec = data.spec
st.caption(f"{len(spec.classes)} classes · {data.n_images:,} test images · layout {spec.layout} · {spec.root}")
for line in ScanReport(tuple(data.report.get("unreadable", ())), int(data.report.get("duplicates", 0))).messages(()):
    st.warning(line, icon=":material/warning:")

# --- the decision card ------------------------------------------------------------------------------
state.bind("task_priority", options=list(PRIORITIES))
priority = st.radio("What matters most", PRIORITIES, horizontal=True, key="task_priority",
                    format_func=lambda p: "weighted mix" if p == "mix" else p)
mix = ()
if priority == "mix":
    weights = st.columns(4)
    mix = tuple((part, float(weights[i].slider(part, 0.0, 1.0, DEFAULT_MIX[part], 0.05, key=f"task_mix_{part}")))
                for i, part in enumerate(DEFAULT_MIX))
card = task_reads.card(task, models, priority, mix)
with st.container(border=True):
    st.markdown(f"### {card.headline}")
    for comparison in card.comparisons[:8]:
        icon = {"ahead": ":material/check_circle:", "cannot separate": ":material/drag_handle:",
                "behind": ":material/cancel:"}.get(comparison.verdict, ":material/schedule:")
        st.markdown(f"{icon} {comparison.sentence}")
        if comparison.settle:
            st.caption(comparison.settle)
    if len(card.comparisons) > 8:
        st.caption(f"… and {len(card.comparisons) - 8} more in the table below.")
    if card.p_best:
        st.markdown(p_best_text(card, limit=8))
    for line in card.race:
        st.markdown(f":material/sports_score: {line}")
    departure = task_reads.departure(task, models, card)
    if departure:
        st.markdown(f":material/compare_arrows: {departure}")
    if card.left_out:
        st.caption(f"Not scored for {priority}: {', '.join(card.left_out)} (k-shot probes have no single calibrated "
                   "answer; robustness needs corrupted test images).")
    st.caption(VERDICT_RULE + " " + P_BEST_NOTE + (" " + RACE_RULE if card.race else ""))
card_table = pd.DataFrame([{"candidate": c.candidate, "verdict": c.verdict, "comparison": c.sentence}
                           for c in card.comparisons])

tables = task_reads.tables(task, models)
summary = tables["summary"]
# a k-shot probe has no calibration columns (its draws' confidences are not one model's): "—" there
shown, config = widgets.number_table(
    summary.drop(columns=["model", "method", "k"]),
    {**{c: "{:.1%}" for c in ("accuracy", "ci_low", "ci_high", "balanced_accuracy", "ece")}, "nll": "{:.3f}",
     "brier": "{:.3f}", "images_per_s": "{:.1f}", "params_m": "{:.1f}"},
    {"images_per_s": "images/s", "params_m": "parameters (M)"})
st.dataframe(shown, hide_index=True, width="stretch", column_config=config)
download = st.columns([1, 1, 4])
download[0].download_button("Card (CSV)", card_table.to_csv(index=False), f"{task}_decision.csv", "text/csv",
                            key="task_card_csv")
download[1].download_button("Table (CSV)", summary.to_csv(index=False), f"{task}_summary.csv", "text/csv",
                            key="task_summary_csv")
state.sync()

labels = [models_ui.model_label(model) for model in models]
# --- k-shot curves ---------------------------------------------------------------------------------------
st.subheader("How accuracy grows with labelled examples")
kshot = tables["kshot"]
if kshot.empty:
    st.info("No k-shot probes stored: run `task run` with --shots.")
else:
    full = summary[summary["method"] == "probe"].assign(label=lambda f: f["model"].map(models_ui.model_label))
    widgets.chart_with_downloads(Lazy.of(task_charts.kshot_curve, kshot, labels, full=full[["label", "accuracy"]]),
                                 kshot, f"{task}_kshot", "task_kshot")
    st.caption(f"Mean top-1 over {int(kshot['draws'].max())} seeded draws per k; bands: 95% across draws and test "
               "images. Dashed: the probe on the full training split.")
    capped = capped_shots(data, sorted(set(kshot["k"])))
    if capped:
        st.caption("Capped: " + " ".join(capped))

# --- calibration ----------------------------------------------------------------------------------------
st.subheader("Is each model calibrated?")
reliability = tables["reliability"]
if reliability.empty:
    st.info("No calibrated candidate (zero-shot or full probe) stored.")
else:
    from core.analysis import charts

    bins = reliability.rename(columns={"candidate": "label"})
    order = list(dict.fromkeys(bins["label"]))
    widgets.chart_with_downloads(Lazy.of(charts.reliability_diagram, bins, order), bins, f"{task}_reliability",
                                 "task_reliability")
    st.caption("Bars: accuracy per confidence bin; red: the gap to the bin's mean confidence (10 bins).")

# --- corruptions ---------------------------------------------------------------------------------------
st.subheader("How each model degrades on blurred, noisy or darker images")
corruption = tables["corruption"]
if corruption.empty:
    st.info("No corrupted test images stored: run `task run` with --corruptions.")
else:
    curves = corruption_curves_table(summary, corruption, {model: models_ui.model_label(model) for model in models})
    widgets.chart_with_downloads(Lazy.of(task_charts.corruption_curves, curves, labels,
                                         list(dict.fromkeys(curves["candidate"]))), curves, f"{task}_corruptions",
                                 "task_corruptions")
    drops = corruption.groupby("candidate", as_index=False, sort=False)[["accuracy", "drop"]].mean()
    st.caption("ImageNet-C corruptions (Hendrycks & Dietterich, ICLR 2019) of your test images, seeded as on the "
               "Compare page. Solid lines: linear probe; dashed: zero-shot. Mean relative drop from clean top-1: " + "; ".join(
                   f"{r.candidate} {r.drop:.0%}" if pd.notna(r.drop) else f"{r.candidate} — (clean top-1 is 0)"
                   for r in drops.itertuples()) + ".")

# --- agreement ------------------------------------------------------------------------------------------
st.subheader("Where the models agree and disagree")
kappa = tables["kappa"]
if len(kappa) > 1:
    order = list(dict.fromkeys(kappa["a"]))
    widgets.chart_with_downloads(Lazy.of(task_charts.kappa_matrix, kappa, order), kappa, f"{task}_kappa", "task_kappa")
    st.caption("Error consistency κ (Geirhos et al., NeurIPS 2020): Cohen's κ of two models' per-image correctness; "
               "1 = the same mistakes, 0 = no more overlap than chance. Hover for the 95% interval.")
gallery = tables["gallery"]
if gallery.empty:
    st.caption("No test image where the zero-shot and full-probe candidates disagree.")
else:
    start, stop = widgets.page_of(len(gallery), 8, "task_gallery_page", noun="images where models disagree")
    cells = st.columns(4)
    answers = [c for c in gallery.columns if c not in ("image_id", "path", "label", "true class")]
    for position, row in enumerate(gallery.iloc[start:stop].itertuples(index=False)):
        record = dict(zip(gallery.columns, row))
        with cells[position % 4]:
            picture = reads.thumbnail(record["path"])
            if picture is not None:
                st.image(picture, output_format="JPEG")
            st.markdown(f"**{record['true class']}** · `{record['image_id']}`")
            st.caption("  \n".join(f"{answer}: {record[answer]}" for answer in answers))

with st.expander("Per-class recall and the most frequent confusions"):
    st.dataframe(tables["classes"], hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(format="percent") for c in spec.classes})
    st.dataframe(tables["confusions"], hide_index=True, width="stretch")

if view.writes_allowed("adding and running tasks"):
    st.subheader("Add or run a task")
    _forms(names)
