"""The study plan (Evaluations) and the first-run box (Home), as pieces the pages place.

Each write action is one function (`start_missing_runs`, `start_quickstart`) behind one button
(`run_missing_button`, the button in `get_started_box`), so a read-only view mode can leave them out. Home's box
follows the first click to its end: progress while the quickstart job runs, then links to its results.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.run import jobs
from views import _view as view

CLAIM_PARAM = "claim"
"""The URL parameter of Evaluations that opens the plan at one claim (Findings' not-measured cards link to it)."""


@st.cache_data(ttl=20, show_spinner="Checking the store, the data folder and the models…", max_entries=8)
def plan_tables(version: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per claim and run, one row per claim) of the study plan; cached for 20 s per store version,
    since data folders and weights can change without the store changing."""
    from core.run.study import build_plan, claim_summary, plan_rows

    states = build_plan(timing=False, say=lambda _: None)
    rows, summary = pd.DataFrame(plan_rows(states)), pd.DataFrame(claim_summary(states))
    rows["minutes"] = pd.to_numeric(rows["minutes"], errors="coerce")
    summary["seconds"] = pd.to_numeric(summary["seconds"], errors="coerce")
    return rows, summary


def as_text(values: pd.Series, pattern: str) -> pd.Series:
    """Numbers as text for a table, a missing one as "—": st.dataframe draws a missing number as a faded "None"
    (Streamlit 1.67, whatever the column's format), which reads as a value."""
    return values.map(lambda value: "—" if pd.isna(value) else pattern.format(value))


def claim_link(number: int) -> None:
    """A link from a Findings card to its part of the plan."""
    st.page_link("views/evaluations.py", label="What this claim still needs: the study plan",
                 query_params={CLAIM_PARAM: str(number)}, icon=":material/checklist:")


def _chosen_claim(titles: dict[int, str]) -> int | None:
    raw = st.query_params.get(CLAIM_PARAM, "")
    chosen = int(raw) if raw.isdigit() and int(raw) in titles else None
    options = [None, *titles]
    pick = st.selectbox("Claim", options, index=options.index(chosen), key="evaluations_plan_claim",
                        format_func=lambda number: "every claim" if number is None else f"{number}. {titles[number]}")
    if pick != chosen:
        if pick is None:
            if CLAIM_PARAM in st.query_params:
                del st.query_params[CLAIM_PARAM]
        else:
            st.query_params[CLAIM_PARAM] = str(pick)
    return pick


def show_plan(version: str) -> pd.DataFrame:
    """The plan, claim by claim; returns the per-claim summary."""
    from core.analysis.claims import CLAIMS

    rows, summary = plan_tables(version)
    titles = {claim.number: claim.title for claim in CLAIMS}
    claim = _chosen_claim(titles)
    shown = summary.assign(title=summary["claim"].map(titles), minutes=as_text(summary["seconds"] / 60, "{:.0f}"))
    if claim is not None:
        shown = shown[shown["claim"] == claim]
    st.dataframe(shown[["claim", "title", "runs", "stored", "running", "runnable", "blocked", "minutes"]],
                 hide_index=True, width="stretch", key="evaluations_plan_claims", column_config={
                     "minutes": st.column_config.TextColumn("runnable: minutes here")})
    table = rows if claim is None else rows[rows["claim"] == claim]
    st.dataframe(table.assign(minutes=as_text(table["minutes"], "{:.1f}")), hide_index=True, width="stretch",
                 key="evaluations_plan", column_config={
                     "minutes": st.column_config.TextColumn("minutes left"),
                     "what next": st.column_config.TextColumn("what next", width="large")})
    st.caption("stored: measured here (ours) or the authors' released decisions; runnable: data and weights are "
               "here; blocked: run the commands under 'what next'. Times come from a short timing of each model "
               "(python -m core study --plan measures it once).")
    return summary


def start_missing_runs() -> None:
    """Write action: every runnable missing run, in the background (`python -m core study`)."""
    job = jobs.launch_study()
    st.success(f"Started the study (pid {job.pid}); progress appears above. Log: {job.log}")


def run_missing_button(summary: pd.DataFrame) -> None:
    runnable = int(summary["runnable"].sum()) if len(summary) else 0
    busy = any(job.running and "study" in job.command for job in jobs.jobs())
    label = f"Run what is missing ({runnable} runnable run{'s' if runnable != 1 else ''})"
    if not view.writes_allowed("running what is missing"):
        return
    if st.button(label, key="evaluations_run_missing", disabled=runnable == 0 or busy, type="primary",
                 help="Runs every runnable missing run, cue-conflict first; resumable. Blocked runs say what "
                      "unblocks them." + (" A study is already running." if busy else "")):
        start_missing_runs()


def start_quickstart() -> None:
    """Write action: `python -m core quickstart` in the background."""
    jobs.launch_quickstart()
    st.rerun()  # the box turns into the job's progress at once


FINISHING_S = 15.0
"""After the job ends, how long Home waits for the store to show its run before it calls the job failed."""


def first_results_state(store_empty: bool) -> str:
    """Where the first click stands: `running`, `finishing` (the job ended, its run not read yet), `done`, `failed`
    (the latest quickstart job ended without its run), `start` (an empty store, no job) or `none`."""
    return _first_results(store_empty)[0]


def _first_results(store_empty: bool):
    """`first_results_state` and the latest quickstart job it was read from (None if there is none): one read of
    the jobs file per refresh."""
    import time
    from pathlib import Path

    from core.run.study import quickstart_images
    from views import _reads as reads

    job = jobs.latest("quickstart")
    if job is None:
        return ("start" if store_empty else "none"), None
    if job.running:
        return "running", job
    if quickstart_images(reads.runs_table()):
        return "done", job
    try:
        ended = Path(job.log).stat().st_mtime
    except OSError:
        ended = 0.0
    return ("finishing" if time.time() - ended < FINISHING_S else "failed"), job


def get_started_box(store_empty: bool) -> None:
    """Home's first-click box: on an empty store, one click gives real results (cue-conflict, ~2 minutes); while it
    runs, one line per step with its percentage; then links to where the results are."""
    from core.run.study import QUICKSTART_MODEL, quickstart_images, quickstart_offline_help
    from views import _reads as reads

    state, job = _first_results(store_empty)
    if state == "none":
        return
    with st.container(border=True, key="home_get_started_box"):
        if state == "done":
            st.subheader("First results are ready")
            images = quickstart_images(reads.runs_table())
            st.success(f"`{QUICKSTART_MODEL}` classified the {images:,} cue-conflict images; the paper authors' and "
                       "the human observers' decisions are stored beside them.", icon=":material/check_circle:")
            st.page_link("views/shape_texture.py", label="Shape vs texture: shape bias and the gallery",
                         icon=":material/texture:")
            st.page_link("views/findings.py", label="Findings: claim 5 decided on these images",
                         icon=":material/fact_check:")
            return
        st.subheader("Get started")
        if state in ("running", "finishing"):
            _quickstart_progress(state)
            return
        st.markdown("The results store is empty, so every analysis says *not measured*. One click downloads the "
                    "1,280 cue-conflict images and the paper authors' and human observers' decisions, then runs "
                    f"the offline model `{QUICKSTART_MODEL}` on them: after about two minutes Shape vs texture, "
                    "its gallery and Findings claim 5 show real results.")
        if state == "failed":
            st.error("The last try stopped before the results were stored:\n\n"
                     f"{jobs.log_tail(job, lines=2) or 'no output'}\n\n(log: {job.log})", icon=":material/error:")
        if view.writes_allowed("getting the first results (downloads and a run)") and st.button(
                "Get first results", key="home_get_started", type="primary"):
            start_quickstart()
        st.caption(quickstart_offline_help() + " The same from a terminal: `python -m core quickstart`")


@st.fragment(run_every=2.0)
def _quickstart_progress(shown: str) -> None:
    """One line per step with its percentage, from the job's progress file; the whole page reruns once the state
    changes (the job ended), so Home then says where the results are."""
    state, job = _first_results(store_empty=False)
    if state != shown:
        st.rerun(scope="app")
    steps = jobs.read_progress(job) if job else []
    st.info("Getting the first results… (you can open other pages meanwhile)", icon=":material/hourglass_top:")
    if not steps:
        st.caption("Starting…")
    for label, done, total in steps:
        fraction = min(max(done / total, 0.0), 1.0) if total else 0.0
        st.progress(fraction, text=f"{label}: {fraction:.0%}")
    said = [line for line in (jobs.log_tail(job, 8).splitlines() if job else [])
            if not any(line.startswith(f"{label}: ") for label, _, _ in steps)]
    if said:  # the job's latest message, e.g. the run's expected time
        st.caption(said[-1])
