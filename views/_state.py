"""Shareable views: widget state ↔ the page URL (`st.query_params`), one call per widget.

Usage, on any page, just before the widget (whose `key` is also the URL parameter's name):

    state.bind("calibration_bins", kind="int", lo=5, hi=50)
    n_bins = st.number_input("Bins", min_value=5, max_value=50, value=15, key="calibration_bins")

    state.bind("robustness_models", kind="list", options=names)
    chosen = st.multiselect("Models", names, default=names, key="robustness_models")

- A URL value the session has not seen yet (a pasted link, a fresh page) is parsed and, when valid,
  put into `st.session_state[key]` before the widget is created, so the widget opens with it.
- A value that no longer fits (a model gone from the store or registry, a bad number, an option that
  does not exist) is ignored with a one-line note; the widget keeps its default. Never an exception.
- The widget's current value is written back to the URL on every run (`sync`), so the address bar
  always reopens the view; `link_box` shows it on one line with a copy button.
- `tokens` ({option: short text}) puts keys, not display labels, into the URL (`vit_clip:paper` rather
  than "ViT-B/16 CLIP · measured (paper)"); a link written with the labels still opens the same view.

Kinds: "str" (one option), "list" (several options; repeated parameters), "int", "float", "bool".
"""

from __future__ import annotations

import math
from typing import Any, Literal, Sequence
from urllib.parse import urlencode

import streamlit as st

__all__ = ["bind", "sync", "link_box", "link_for", "new_run", "current_state", "parse", "serialize"]

Kind = Literal["str", "list", "int", "float", "bool"]
_BOUND = "_url_bound"  # {key: kind}, this session
_SEEN = "_url_seen"  # {key: the raw URL value last read or written}: a different one is new input
_TOKENS = "_url_tokens"  # {key: {option: URL text}}, this session
_GLOBAL = {"slide", "present"}  # parameters of the Findings page itself


def _by_text(options: Sequence, tokens: dict | None) -> dict:
    """URL text → option: each option's token, and its own text (what older links carry)."""
    by_text = {str(o): o for o in options}
    by_text.update({str(tokens[o]): o for o in options if tokens and o in tokens})
    return by_text


def parse(raw: list[str], kind: Kind, *, options: Sequence | None = None, lo: float | None = None,
          hi: float | None = None, tokens: dict | None = None) -> tuple[Any, str]:
    """(value, "") or (None, why it was ignored) for the raw URL strings of one parameter."""
    text = raw[-1] if raw else ""
    try:
        if kind == "list":
            values = [v for v in raw if v != ""]
            if options is not None:
                by_text = _by_text(options, tokens)
                unknown = [v for v in values if v not in by_text]
                values = [by_text[v] for v in values if v in by_text]
                if unknown and not values:
                    return None, f"not available here: {', '.join(unknown[:5])}"
                return values, (f"not available here, left out: {', '.join(unknown[:5])}" if unknown else "")
            return values, ""
        if kind == "bool":
            if text not in ("1", "0", "true", "false"):
                return None, "expected 1 or 0"
            return text in ("1", "true"), ""
        if kind in ("int", "float"):
            number = int(text) if kind == "int" else float(text)
            if isinstance(number, float) and not math.isfinite(number):
                return None, "expected a finite number"
            if (lo is not None and number < lo) or (hi is not None and number > hi):
                return None, f"expected a number from {lo:g} to {hi:g}"
            if options is not None:
                match = [o for o in options if float(o) == float(number)]
                if not match:
                    return None, "expected one of " + ", ".join(f"{o:g}" for o in list(options)[:8])
                return match[0], ""
            return number, ""
        if options is not None:
            by_text = _by_text(options, tokens)
            if text not in by_text:
                return None, "not available here"
            return by_text[text], ""
        return text, ""
    except (TypeError, ValueError):
        return None, "expected a whole number" if kind == "int" else "expected a number"


def serialize(value: Any, kind: Kind, tokens: dict | None = None) -> list[str] | str:
    tokens = tokens or {}
    if kind == "list":
        return [str(tokens.get(v, v)) for v in value] or [""]
    if kind == "bool":
        return "1" if value else "0"
    if kind == "float":
        return f"{float(value):g}"
    return str(tokens.get(value, value))


def _raw(key: str) -> list[str] | None:
    if key not in st.query_params:
        return None
    return st.query_params.get_all(key)


def bind(key: str, *, kind: Kind = "str", options: Sequence | None = None, lo: float | None = None,
         hi: float | None = None, tokens: dict | None = None) -> None:
    """Tie the widget `key` (create it right after this call) to the URL parameter of the same name;
    `tokens` ({option: short URL text}) keeps display labels out of the URL."""
    bound = st.session_state.setdefault(_BOUND, {})
    seen = st.session_state.setdefault(_SEEN, {})
    bound[key] = kind
    st.session_state.setdefault(_TOKENS, {})[key] = dict(tokens or {})
    raw = _raw(key)
    if raw is not None and raw != seen.get(key):
        seen[key] = raw
        value, why = parse(raw, kind, options=options, lo=lo, hi=hi, tokens=tokens)
        if value is not None:
            st.session_state[key] = value
        if why:
            st.caption(f":material/link_off: Link parameter `{key}={', '.join(raw)[:60]}` {why}; "
                       + ("using the rest." if value is not None else "using the default."))
    elif key in st.session_state and options is not None:
        # the value kept from earlier in this session may have gone stale (a run deleted)
        value = st.session_state[key]
        if kind == "list" and isinstance(value, list):
            kept = [v for v in value if v in list(options)]
            if kept != value:
                st.session_state[key] = kept
        elif kind != "list" and value not in list(options):
            del st.session_state[key]
    _write(key, kind)


def _write(key: str, kind: Kind) -> None:
    if key not in st.session_state:
        return
    value = serialize(st.session_state[key], kind, st.session_state.get(_TOKENS, {}).get(key))
    as_list = value if isinstance(value, list) else [value]
    if _raw(key) != as_list:
        st.query_params[key] = value
    st.session_state[_SEEN][key] = as_list


def sync() -> None:
    """Write every bound widget's current value to the URL (call after the widgets, e.g. before a chart)."""
    for key, kind in st.session_state.get(_BOUND, {}).items():
        _write(key, kind)


def current_state() -> dict[str, list[str]]:
    """The page's URL parameters as {name: [values]} (what a pin saves and a link carries)."""
    sync()
    return {key: st.query_params.get_all(key) for key in st.query_params}


def link_for(state: dict[str, list[str]], page: str = "") -> str:
    """Link to a page with a saved state (absolute when the browser's URL is known)."""
    query = urlencode([(k, v) for k, values in state.items() for v in values])
    base = ""
    try:
        url = st.context.url
        if url:
            base = url.rsplit("/", 1)[0] + "/" if page else url
    except Exception:  # noqa: BLE001 - no browser (AppTest, export): a relative link
        base = ""
    return f"{base}{page}" + (f"?{query}" if query else "")


def new_run() -> None:
    """Called by app.py before each page: a sidebar slot for this run's link box."""
    st.session_state["_url_box"] = st.sidebar.empty()


def link_box(where=None) -> None:
    """The current view's link with a copy button, in the sidebar slot (each call replaces the last,
    so the box shows the state after the latest widgets) or in `where` (inside a fragment, which cannot
    draw in the sidebar); unknown parameters are noted."""
    state = current_state()
    bound = st.session_state.get(_BOUND, {})
    unknown = [k for k in state if k not in bound and k not in _GLOBAL]
    slot = where if where is not None else st.session_state.get("_url_box")
    if slot is None:
        return
    with slot.container() if where is None else slot:
        st.markdown("**Link to this view**")
        st.code(link_for(state), language=None, wrap_lines=False)  # one line, cut at the box; the copy icon copies all
        st.caption("Copy it with the button at its right: it reopens this page with the same settings.")
        # always the same number of elements: a page redraws this box after later widgets, and a
        # redraw with fewer elements would leave the earlier draw's note on screen
        st.caption(f":material/link_off: Ignored link parameters this page does not use: {', '.join(unknown[:5])}."
                   if unknown else "")
