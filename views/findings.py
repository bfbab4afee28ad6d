"""Findings page: which of the paper's claims our runs reproduce; presenter mode; pins; exports."""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import streamlit as st

from core.analysis.findings import VERDICT_RULE, claim_rule, evidence_chart, numbers_table, part_line, runs_table
from core.paper import TAGS
from views import _charts as charts
from views import _models as models_ui
from views import _population as population_ui
from views import _reads as reads
from views import _state as state
from views import _study as study
from views import _view as view
from views import _widgets as widgets
from views._cache import cache, fresh
from views._charts import Lazy

VERDICT_STYLE = {"reproduced": ("green", ":material/check_circle:"), "contradicted": ("red", ":material/cancel:"),
                 "inconclusive": ("orange", ":material/balance:"), "not measured": ("gray", ":material/hourglass_empty:")}


def _pins(version: str):
    from core.store import ResultsStore

    store = ResultsStore()
    return fresh(cache("findings.pins", 8).get((str(store.path), version), lambda: store.pins()))


def _big(chart):
    """The presenter's version of a card's chart: taller, larger type."""
    return chart.properties(height=420).configure_axis(labelFontSize=15, titleFontSize=16, labelLimit=420) \
        .configure_legend(labelFontSize=15)


def _badge(verdict: str) -> str:
    colour, icon = VERDICT_STYLE[verdict]
    return f":{colour}-badge[{icon} {verdict}]"


def _provenance_line(result) -> str:
    runs = runs_table(result)
    if runs.empty:
        return "No runs feed this card yet."
    sources = runs["source"].value_counts().to_dict() if "source" in runs else {}
    parts = []
    if sources.get("ours"):
        parts.append(f"our runs ({sources['ours']})")
    if sources.get("authors"):
        parts.append(f"the paper authors' released decisions ({sources['authors']}), labelled as theirs")
    return "Fed by " + " and ".join(parts) + "."


def _numbers(result, labels: dict[str, str]):
    """(table, column config) of a card's numbers: a claim or model without a paper value (the card beyond the paper)
    shows — in the paper columns, not a faded None (`widgets.number_table`)."""
    shown, config = widgets.dash_missing(numbers_table(result, labels), {"paper": "{:g}", "paper tag": "{}"})
    return widgets.arrow_table(shown), config


def _card(result, labels: dict[str, str], *, big: bool = False, salt: str = "") -> None:
    """One claim's card; `salt` joins its cache key where the result reads more than the runs (the population)."""
    claim = result.claim
    heading = "##" if big else "###"
    st.markdown(f"{heading} {claim.number}. {claim.title}")
    st.markdown(f"{_badge(result.verdict)} &nbsp; {claim.sentence}")
    inputs = f"{FINDINGS_KEY}:{claim.number}:{hash(tuple(sorted(labels.items())))}{salt}"
    chart = Lazy.of(evidence_chart, result, labels, then=_big if big else None, key=inputs)
    if charts.spec(chart) is None:
        chart = None
    left, right = st.columns([1, 1] if big else [3, 2])
    with left:
        if chart is not None:
            charts.show(chart)
        else:
            st.info(f"Not measured yet. Run:\n\n`{result.command}`", icon=":material/terminal:")
            if not big:
                study.claim_link(claim.number)
    with right:
        st.caption(f"Measure: {result.measure}")
        table, config = cache("findings.numbers", 64).get(inputs, lambda: _numbers(result, labels))
        if len(table):
            st.dataframe(table, hide_index=True, width="stretch", column_config=config)
        for part in result.parts:
            colour, icon = VERDICT_STYLE[part.verdict]
            st.markdown(f"- :{colour}[{icon}] {part_line(part, labels)}")
        st.caption(claim_rule(result))
        if result.note:
            st.caption(result.note)
        if result.verdict == "not measured" and chart is not None:
            st.caption(f"To complete it, run: `{result.command}`")
            if not big:
                study.claim_link(claim.number)
    provenance = cache("findings.provenance", 64).get(inputs, lambda: _provenance_line(result))
    st.caption(provenance + " Paper values: " + "; ".join(f"[{k}] {v}" for k, v in TAGS.items())
               + " — references, not measurements.")


def _present(slides: list, labels: dict[str, str]) -> None:
    """One slide per screen: large type, no sidebar, arrow keys and buttons; the slide number in the URL."""
    from streamlit_shortcuts import add_shortcuts

    st.markdown("""<style>
        [data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], header[data-testid="stHeader"],
        [data-testid="stToolbar"] {display: none !important;}
        .block-container {padding-top: 1.5rem; max-width: 96vw;}
        .stMarkdown p, .stMarkdown li {font-size: 1.35rem !important;}
        h2 {font-size: 2.4rem !important;}
        </style>""", unsafe_allow_html=True)
    total = len(slides)
    raw = st.query_params.get("slide", "1")
    try:
        current = int(raw)
    except ValueError:
        current = 1
        st.caption(f":material/link_off: Link parameter `slide={raw[:20]}` is not a slide number; showing slide 1.")
    if not 1 <= current <= total:
        st.caption(f":material/link_off: There is no slide {current} (1–{total}); showing the nearest.")
        current = min(max(current, 1), total)

    def go(offset: int) -> None:
        st.query_params["slide"] = str(min(max(current + offset, 1), total))

    def leave() -> None:
        for key in ("present", "slide"):
            if key in st.query_params:
                del st.query_params[key]

    kind, item = slides[current - 1]
    if kind == "claim":
        _card(item, labels, big=True)
    elif kind == "beyond":
        st.caption(":material/explore: Beyond the paper: our claim, not one of the paper's 8.")
        _card(item, labels, big=True, salt=_BEYOND_SALT)
    else:
        _pin_slide(item)
    columns = st.columns([1, 1, 6, 1])
    columns[0].button("Previous", key="findings_prev", icon=":material/arrow_back:", on_click=go, args=(-1,),
                      disabled=current == 1)
    columns[1].button("Next", key="findings_next", icon=":material/arrow_forward:", on_click=go, args=(1,),
                      disabled=current == total)
    columns[2].markdown(f"<div data-testid='slide-number' style='text-align:center;font-size:1.2rem'>"
                        f"Slide {current} / {total}</div>", unsafe_allow_html=True)
    columns[3].button("Exit", key="findings_exit", icon=":material/close:", on_click=leave)
    add_shortcuts(findings_prev="arrowleft", findings_next="arrowright", findings_exit="escape")
    st.query_params["slide"] = str(current)


def _pin_slide(pin) -> None:
    st.markdown(f"## {pin['title']}")
    if pin["note"]:
        st.markdown(pin["note"])
    try:
        st.vega_lite_chart(json.loads(pin["chart"]), width="stretch")
    except (ValueError, TypeError):
        st.caption("This pin has no chart.")
    st.caption(f"Pinned from the {pin['page']} page · " + _pin_runs_line(pin))


def _pin_runs_line(pin) -> str:
    try:
        runs = json.loads(pin["provenance"] or "{}").get("runs", [])
    except ValueError:
        runs = []
    if not runs:
        return "runs: see the view link"
    return "runs: " + ", ".join(f"{r.get('model')} ({r.get('source', 'ours')}, {str(r.get('run_id'))[:10]})"
                                for r in runs[:6]) + (" …" if len(runs) > 6 else "")


def _pins_section(pins) -> None:
    from core.store import ResultsStore

    st.header("Pinned charts")
    if pins.empty:
        st.caption("No pins yet. On any analysis page, the Pin button under a chart saves that view here.")
        return
    store = ResultsStore()
    locked = view.disabled()
    if locked:
        view.note("reordering, deleting and annotating pins")
    for position, pin in enumerate(pins.to_dict("records")):
        with st.container(border=True):
            top = st.columns([6, 1, 1, 1])
            top[0].markdown(f"**{position + 1}. {pin['title']}** · {pin['page']} page")
            if top[1].button("Up", key=f"findings_pin_up_{pin['pin_id']}", icon=":material/arrow_upward:",
                             disabled=locked or position == 0):
                store.move_pin(pin["pin_id"], -1)
                st.rerun()
            if top[2].button("Down", key=f"findings_pin_down_{pin['pin_id']}", icon=":material/arrow_downward:",
                             disabled=locked or position == len(pins) - 1):
                store.move_pin(pin["pin_id"], 1)
                st.rerun()
            if top[3].button("Delete", key=f"findings_pin_delete_{pin['pin_id']}", icon=":material/delete:",
                             disabled=locked):
                store.delete_pin(pin["pin_id"])
                st.rerun()
            try:
                st.vega_lite_chart(json.loads(pin["chart"]), width="stretch")
            except (ValueError, TypeError):
                st.caption("This pin has no chart.")
            try:
                saved = json.loads(pin["state"] or "{}")
            except ValueError:
                saved = {}
            st.markdown(f"[Open this view]({state.link_for(saved, pin['page'])}) · {_pin_runs_line(pin)}")
            note = st.text_input("Note", value=pin["note"] or "", key=f"findings_pin_note_{pin['pin_id']}",
                                 disabled=locked)
            if not locked and note != (pin["note"] or "") and st.button("Save note",
                                                                         key=f"findings_pin_save_{pin['pin_id']}"):
                store.update_pin_note(pin["pin_id"], note)
                st.rerun()


def _exports(results, pins, beyond) -> None:
    from core.analysis import report

    st.header("Export")
    st.caption("One click each: a self-contained HTML report (opens offline), a PowerPoint deck (one slide per claim "
               "and pin) and a zip of every chart (PNG, SVG) and table (CSV), each with the runs behind it. The file "
               "is built when you click (a few seconds: every chart is rendered).")

    def deferred(build, what: str):
        def run():
            try:
                return build()
            except Exception as error:  # noqa: BLE001 - the page keeps running; the log has the traceback
                widgets.log.exception("%s export failed", what)
                return (f"The {what} export failed ({type(error).__name__}: {error}). The details are in the "
                        "terminal log; python -m core report --format ... gives the same file.").encode()
        return run

    columns = st.columns(3)
    columns[0].download_button("HTML report",
                               deferred(lambda: report.html_report(results, pins, beyond=beyond).encode(), "HTML"),
                               "findings.html", "text/html", key="findings_download_html", icon=":material/download:",
                               on_click="ignore")
    columns[1].download_button("Slides (PPTX)",
                               deferred(lambda: report.pptx_report(results, pins, beyond=beyond), "PPTX"),
                               "findings.pptx",
                               "application/vnd.openxmlformats-officedocument.presentationml.presentation",
                               key="findings_download_pptx", icon=":material/download:", on_click="ignore")
    columns[2].download_button("Charts and tables (zip)",
                               deferred(lambda: report.zip_report(results, pins, beyond=beyond), "zip"),
                               "findings.zip", "application/zip", key="findings_download_zip",
                               icon=":material/download:", on_click="ignore")


# while the claims read the store: the card beyond the paper's line is fitted, and Altair imported for the cards
population_ui.prefetch_standard_line()
charts.warm()
try:
    key = reads.findings_key()
    with st.spinner("Computing the verdicts from the results store…"):
        results = reads.findings_results(key)
    pins = _pins(reads.list_version())
except Exception as error:  # noqa: BLE001 - a bad store must not blank the app
    widgets.show_user_error(error, "The findings could not be computed: ")
    st.stop()
labels = {spec.name: spec.display for spec in models_ui.models()[0]}
FINDINGS_KEY = hashlib.sha1(repr(key).encode()).hexdigest()  # names the cached charts and tables of these results

_BEYOND_SALT = repr(population_ui.population_version())
if st.query_params.get("present") == "1":
    _present([("claim", r) for r in results] + [("beyond", population_ui.beyond_result())]
             + [("pin", p) for p in pins.to_dict("records")], labels)
    st.stop()


def _start_presenting() -> None:
    st.query_params["present"] = "1"
    st.query_params["slide"] = "1"


st.title("Findings: which of the paper's claims do our runs reproduce?")
st.caption("Each card: the claim, the evidence chart of its analysis page, our numbers with 95% intervals, the "
           "paper's value with its provenance tag, each part's difference with its interval, and a verdict computed "
           "from the results store — reproduced, contradicted, inconclusive or not measured yet (with the command "
           "that measures it). " + VERDICT_RULE)
st.button("Presenter mode", key="findings_present", icon=":material/slideshow:", on_click=_start_presenting,
          help="One card or pinned chart per screen, large type; ← and → move between slides, Esc leaves.")

summary = pd.DataFrame([{"claim": f"{r.claim.number}. {r.claim.title}", "verdict": r.verdict,
                         "measure": r.measure} for r in results])
st.dataframe(summary, hide_index=True, width="stretch")
counts = summary["verdict"].value_counts()
st.caption(" · ".join(f"{verdict}: {counts.get(verdict, 0)}" for verdict in VERDICT_STYLE))

for result in results:
    with st.container(border=True):
        _card(result, labels)

st.subheader("Beyond the paper")
st.caption("Kept apart from the paper's 8 claims: the claim below is ours, not the paper's. It reads the robustness "
           "runs against the line that timm's published ImageNet-1k-trained checkpoints trace (Taori et al.'s standard "
           "line; its note says how many) and is decided with the same rule. The exports and presenter mode carry it "
           "in a section of its own.")
beyond = population_ui.beyond_result()
with st.container(border=True):
    _card(beyond, labels, salt=_BEYOND_SALT)

_pins_section(pins)
_exports(results, pins, [beyond])
state.link_box()
