"""View mode on the pages: one helper every control that writes calls before it is drawn.

    if view.writes_allowed("starting evaluations"):
        ... the form or button that writes ...

In view mode (`BAE_VIEW_ONLY=1`, `bash scripts/dev app --view`) it draws one line saying why the control is not
there and returns False; otherwise it draws nothing and returns True. `disabled()` is for controls that stay
visible but greyed out (a row of pin buttons). Core refuses the same writes on its own (`core.config.
refuse_in_view_mode`), so a control that forgets to ask still writes nothing.
"""

from __future__ import annotations

import streamlit as st

from core.config import view_only

__all__ = ["writes_allowed", "disabled", "note", "view_only"]

_WHY = "this app is shared in view mode, so nothing here writes to the results store or the machine"


def note(what: str) -> None:
    """The one line that says why `what` is not offered here."""
    st.caption(f":material/visibility: View mode: {what} is switched off ({_WHY}).")


def writes_allowed(what: str, *, say: bool = True) -> bool:
    """True when controls that write may be shown; in view mode False, after one line saying why (`say`)."""
    if not view_only():
        return True
    if say:
        note(what)
    return False


def disabled() -> bool:
    """For `disabled=` of a control that writes and stays visible: True in view mode."""
    return view_only()
