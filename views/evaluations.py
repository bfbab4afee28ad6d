"""Evaluations page: what the results store holds, and background runs started from here."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.analysis.revisions import revision_label
from core.run import jobs
from core.data import BENCHMARKS
from core.data.download import data_dir
from core.errors import UserError
from core.paper import TAGS
from views import _models as models_ui
from views import _population as population_ui
from views import _reads as reads
from views import _view as view
from views import _widgets as widgets
from views import _study as study

st.title("Evaluations: what has been measured")
st.caption("Every analysis reads per-image predictions from the results store. Runs continue in the background "
           "when you switch pages; a stopped run resumes where it stopped.")


@st.fragment(run_every=2.0)
def _progress() -> None:
    try:
        runs = reads.runs_table()
    except UserError as error:
        widgets.show_user_error(error)
        return
    active = [job for job in jobs.jobs() if job.running]
    for job in active:
        with st.container(border=True):
            st.markdown(f"**Running** (pid {job.pid}): `{' '.join(job.command[3:])}`")
            st.code(jobs.log_tail(job) or "starting…", language=None)
            if view.writes_allowed("stopping runs", say=False) and st.button(
                    "Stop after the current batch", key=f"evaluations_stop_{job.pid}"):
                jobs.cancel(job)
                st.toast("Stopping; the run can be resumed with the same settings.")
    if runs.empty:
        st.info("The results store is empty. Start a run below, or from a terminal: "
                "`python -m core evaluate --models effnet_lite0 --benchmark cue-conflict`")
        return
    table = pd.DataFrame({
        "model": runs["model"], "benchmark": runs["benchmark"], "variant": runs["variant"].replace("", "—"),
        "protocol": runs["protocol"], "source": runs["source"], "status": runs["status"],
        "progress": runs["done"] / runs["n_total"].clip(lower=1), "images": runs["done"],
        "accuracy": runs["accuracy"], "images/s": study.as_text(runs["images_per_s"], "{:.1f}"),
        "data revision": [revision_label(value) if source == "ours" else "—"
                          for value, source in zip(runs.get("data_revision", [""] * len(runs)), runs["source"])],
    })  # imported decisions have no speed: "—", not "None"
    st.dataframe(table, hide_index=True, width="stretch", column_config={
        "progress": st.column_config.ProgressColumn("progress", format="percent", min_value=0.0, max_value=1.0),
        "accuracy": st.column_config.NumberColumn("top-1 / 16-class acc.", format="percent"),
    })
    st.caption("source 'authors' = decisions released with the paper's code, not measured here. data revision: the "
               "publisher revision the images came from (the download manifest), or 'unverified copy' for a folder "
               "`python -m core download` did not write; pages never pool two revisions of one benchmark.")


_progress()

try:
    _checks = population_ui.run_checks(reads.runs_table())
except UserError as error:
    widgets.show_user_error(error)
    _checks = None
if _checks is not None and len(_checks):
    st.subheader("Published numbers as a check on ours")
    _checks["model"] = _checks["model"].map(models_ui.model_label)
    _checks["flag"] = _checks.apply(population_ui.why_outside, axis=1)
    _checks["tag"] = "[" + _checks["tag"] + "]"
    st.dataframe(_checks[["model", "benchmark", "protocol", "ours", "published", "difference", "flag", "ci_low",
                          "ci_high", "tag", "checkpoint"]], hide_index=True, width="stretch", column_config={
        name: st.column_config.NumberColumn(format="percent") for name in ("ours", "published", "difference",
                                                                           "ci_low", "ci_high")})
    st.caption(f"[T] {TAGS['T']}; [O] {TAGS['O']}: the publisher's top-1 of the exact checkpoint we evaluated (timm's "
               "only under the `library` protocol, its own preprocessing), a reference, not our measurement.")

st.subheader("The study: what each claim of the Findings still needs")
if models_ui.hub_models_located():  # else it says what it is looking up, and reruns the page when done
    try:
        _summary = study.show_plan(reads.store_version())
        study.run_missing_button(_summary)
    except UserError as error:
        widgets.show_user_error(error)

st.subheader("Start an evaluation")
if not view.writes_allowed("starting and stopping evaluations"):
    st.stop()
_RAY_MODES = {"this process": None, "Ray on this machine": "local", "Ray cluster started here": "auto",
              "Ray cluster at…": "address"}
statuses = models_ui.statuses(note=False)  # the plan above says what is still being looked up
live = [status.spec.name for status in statuses if status.live]
with st.form("evaluations_start"):
    models = st.multiselect("Models", live, default=live[:1], key="evaluations_models",
                            help="Only models that are ready here are listed (see Home).")
    benchmark = st.selectbox("Benchmark", list(BENCHMARKS), key="evaluations_benchmark",
                             format_func=lambda key: BENCHMARKS[key].label)
    data = st.text_input("Dataset folder", key="evaluations_data",
                         placeholder=f"e.g. {data_dir() / 'cue-conflict'}")
    columns = st.columns(4)
    protocol = columns[0].selectbox("Preprocessing", ["paper", "library"], key="evaluations_protocol")
    variant = columns[1].text_input("Variant", key="evaluations_variant", placeholder="scale=1.5, shift=30, …")
    limit = columns[2].number_input("Sample size (0 = all)", min_value=0, value=0, step=100, key="evaluations_limit")
    seed = columns[3].number_input("Seed", min_value=0, value=0, key="evaluations_seed")
    where = st.columns([1, 3])
    ray_mode = where[0].selectbox("Run on", list(_RAY_MODES), key="evaluations_ray",
                                  help="Ray spreads decoding and the models over a cluster; the results are the same.")
    ray_address = where[1].text_input("Ray cluster address", key="evaluations_ray_address",
                                      placeholder="for 'Ray cluster at…': e.g. 10.0.0.5:6379 (the dataset folder must "
                                                  "be readable at the same path on every node)")
    submitted = st.form_submit_button("Start in the background")

if submitted:
    from pathlib import Path

    spec = BENCHMARKS[benchmark]
    root = Path(data.strip() or (data_dir() / "cue-conflict" if benchmark == "cue-conflict" else "")).expanduser()
    problems = spec.adapter.validate(root) if str(root) not in ("", ".") else []
    if not models:
        st.warning("Choose at least one model.")
    elif str(root) in ("", "."):
        st.warning(f"Enter the folder that holds {spec.label}. {spec.obtain}")
    elif _RAY_MODES[ray_mode] == "address" and not ray_address.strip():
        st.warning("Enter the Ray cluster's address (shown by `ray start --head`), or choose another 'Run on'.")
    elif problems:
        st.error(f"{spec.label} at {root} cannot be used:\n" + "\n".join(f"- {problem}" for problem in problems[:5]))
    else:
        ray = ray_address.strip() if _RAY_MODES[ray_mode] == "address" else _RAY_MODES[ray_mode]
        job = jobs.launch_evaluation(models, benchmark, str(root), variant=variant.strip(), protocol=protocol,
                                     limit=int(limit) or None, seed=int(seed), ray=ray)
        st.success(f"Started (pid {job.pid}); progress appears above. Log: {job.log}")
