"""The Your task page's Candidates panel: a varied shortlist of published checkpoints under the user's constraints,
added to models.toml in one click (refused in view mode). Layout only: `core.task.candidates` chooses."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.errors import UserError
from views import _view as view
from views import _widgets as widgets

__all__ = ["candidates_panel"]


def _table(found) -> pd.DataFrame:
    rows = []
    for candidate in found.candidates:
        row, speed = candidate.published, candidate.speed
        rows.append({"checkpoint": candidate.checkpoint, "prior": candidate.prior, "tag": f"[{candidate.tag}]",
                     "params_m": row.params_m, "images_per_s": None if speed is None else speed.samples_per_sec,
                     "at_px": None if speed is None else speed.img_size,
                     "pretraining": row.pretraining.source + (f" ({row.pretraining.data})" if row.pretraining.data else ""),
                     "family": row.family, "licence": candidate.licence or "unknown",
                     "registered": candidate.present or "", "key": candidate.model})
    return pd.DataFrame.from_records(rows, columns=["checkpoint", "prior", "tag", "params_m", "images_per_s", "at_px",
                                                    "pretraining", "family", "licence", "registered", "key"])


def _constraints():
    from core.data.catalogue import MACHINES
    from core.data.pretraining import PRETRAINING
    from core.task.candidates import DEFAULT_MACHINE, LIBRARIES, PRIORS, Constraints

    with st.form("task_cand_form"):
        first = st.columns(4)
        max_params = first[0].number_input("At most (M parameters, 0 = any)", 0.0, 10_000.0, 0.0, 5.0,
                                           key="task_cand_max_params")
        min_speed = first[1].number_input("At least (images/s, 0 = any)", 0.0, 1e6, 0.0, 10.0,
                                          key="task_cand_min_speed")
        machines = list(MACHINES)
        machine = first[2].selectbox("Speed published on", machines, index=machines.index(DEFAULT_MACHINE),
                                     format_func=lambda key: MACHINES[key][1], key="task_cand_machine")
        top = first[3].slider("How many", 3, 30, 12, key="task_cand_top")
        second = st.columns([3, 2, 3, 1])
        sources = second[0].multiselect("Pretraining (none = any)", list(PRETRAINING), key="task_cand_pretraining",
                                        format_func=lambda key: f"{key}: {PRETRAINING[key]}")
        libraries = second[1].multiselect("Library (none = both)", list(LIBRARIES), key="task_cand_library")
        prior = second[2].selectbox("Ranked by", list(PRIORS), key="task_cand_prior",
                                    format_func=lambda key: {"imagenet": "ImageNet top-1", "shifted": "mean over the "
                                                             "shifted sets", "zero_shot": "CLIP zero-shot average"}[key])
        varied = second[3].checkbox("Varied", True, key="task_cand_varied",
                                    help="At most a few per family and per pretraining source")
        asked = st.form_submit_button("Shortlist", type="primary")
    constraints = Constraints(max_params=max_params or None, min_speed=min_speed or None, machine=machine,
                              pretraining=tuple(sources), library=tuple(libraries), prior=prior, top=int(top),
                              varied=bool(varied))
    return constraints, asked


def candidates_panel(task: str) -> None:
    """The panel: constraints, the shortlist with where each number comes from, and the add action."""
    from core.data.catalogue import MACHINES
    from core.paper import TAGS
    from core.task.candidates import add_candidates, shortlist

    st.caption("From the ~1,500 checkpoints timm and open_clip publish with their ImageNet numbers: a shortlist under "
               "your constraints, ranked by a prior and varied (at most two per architecture family and a few per "
               "pretraining source), so your images compare supervised ImageNet-1k, ImageNet-21k and image-text "
               "(CLIP) pretraining rather than the twelve largest ViTs.")
    try:
        constraints, asked = _constraints()
    except UserError as error:
        widgets.show_user_error(error)
        return
    if asked:
        st.session_state["task_cand_asked"] = True
    if not st.session_state.get("task_cand_asked"):
        return
    try:
        found = shortlist(constraints)
    except UserError as error:
        widgets.show_user_error(error)
        return
    st.markdown(f"**{len(found.candidates)} of the {found.feasible:,} checkpoints meeting the constraints** "
                f"({found.considered:,} listed). Prior: {found.prior_text}."
                + (f" Caps lifted to fill the list: {', '.join(found.relaxed)}." if found.relaxed else ""))
    table = _table(found)
    # a missing speed (none published, or the benchmark tables not downloaded) shows —, not a faded None
    shown, config = widgets.number_table(table, {"prior": "{:.2%}", "params_m": "{:.1f}", "images_per_s": "{:.1f}",
                                                 "at_px": "{:.0f}"},
                                         {"params_m": "parameters (M)", "images_per_s": "images/s", "at_px": "at px"})
    st.dataframe(shown, hide_index=True, width="stretch", key="task_cand_table", column_config=config)
    st.caption(f"[T] {TAGS['T']}; [O] {TAGS['O']}: published numbers, not measured here. Speed: timm's benchmark on "
               f"the {MACHINES[constraints.machine][1]}, at the checkpoint's size or the next size up (— where "
               "none is published: open_clip's models, or `python -m core download timm-benchmarks` not run). "
               "Download size: not stated by either registry. Licence: as timm's pretrained cfg states it.")
    new = [candidate for candidate in found.candidates if not candidate.present]
    if not new:
        st.info("Every candidate here is registered already: run them from the form below.")
        return
    if not view.writes_allowed("adding models to models.toml"):
        return
    chosen = st.multiselect("Add to models.toml", [candidate.checkpoint for candidate in new],
                            default=[candidate.checkpoint for candidate in new], key="task_cand_chosen")
    if st.button(f"Add {len(chosen)} model{'s' if len(chosen) != 1 else ''}", key="task_cand_add",
                 disabled=not chosen or view.disabled()):
        try:
            added, skipped = add_candidates([candidate for candidate in new if candidate.checkpoint in chosen])
        except UserError as error:
            widgets.show_user_error(error)
            return
        st.success(f"Added {len(added)} to models.toml; nothing downloaded. Run them: `python -m core task run {task} "
                   f"--models {','.join(added)} --download` (fetches each model's weights first, with progress).")
        for line in skipped:
            st.caption(line)
