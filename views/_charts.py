"""Charts on the pages as cached Vega-Lite specs: built once per input across sessions, drawn without Altair.

Building an Altair chart validates every encoding against the Vega-Lite schema, and `st.altair_chart` converts
it again (full validation) while holding one lock shared by every session of the server: 0.1–0.5 s of CPU per
chart, in series, so ten viewers opening a chart page together queued behind each other. Here a page names the
builder and its inputs (`Lazy(grouped_bars, table, x=..., ...)`); the spec is computed once per distinct input
(tables fingerprinted by content) and drawn with `st.vega_lite_chart`, which needs neither Altair nor the lock.
The Altair object itself is built only when someone exports or pins the chart.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from typing import Callable, Hashable

import streamlit as st

from views._cache import cache

__all__ = ["Lazy", "spec", "show", "fingerprint", "warm"]

_SPECS = cache("chart_specs", 256)
_PREPARED = cache("chart_prepared", 256)
_ALTAIR_DEFAULT_VIEW = {"continuousWidth": 300, "continuousHeight": 300}


def fingerprint(value) -> Hashable:
    """A hashable stand-in for a builder argument: frames by their content, Altair objects by their spec."""
    if hasattr(value, "columns") and hasattr(value, "dtypes"):  # a DataFrame
        import pandas as pd

        digest = hashlib.sha1(pd.util.hash_pandas_object(value, index=True).to_numpy().tobytes())
        digest.update(repr((list(value.columns), [str(t) for t in value.dtypes])).encode())
        return ("frame", len(value), digest.hexdigest())
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, *(fingerprint(item) for item in value))
    if isinstance(value, dict):
        return ("dict", *sorted((str(k), fingerprint(v)) for k, v in value.items()))
    if hasattr(value, "to_dict") and hasattr(value, "_schema"):  # an Altair object (a tooltip, a scale)
        return ("altair", json.dumps(value.to_dict(validate=False), sort_keys=True, default=str))
    hash(value)
    return value



@dataclass(frozen=True)
class Lazy:
    """A chart named by its builder and inputs: `spec` is cached by them, `build()` makes the Altair chart."""

    builder: Callable
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    then: Callable | None = None  # applied to the built chart (e.g. bigger type for presenting)
    name: str = ""  # stands in for the builder's inputs when they cannot be fingerprinted (set by the caller)

    @staticmethod
    def of(builder: Callable, *args, then: Callable | None = None, key: str = "", **kwargs) -> "Lazy":
        return Lazy(builder, args, kwargs, then, key)

    def key(self) -> tuple:
        inputs = self.name or (fingerprint(self.args), fingerprint(self.kwargs))
        return (self.builder.__module__, self.builder.__qualname__, inputs,
                getattr(self.then, "__qualname__", None))

    def build(self):
        chart = self.builder(*self.args, **self.kwargs)
        return self.then(chart) if self.then is not None and chart is not None else chart

    def to_json(self) -> str:
        """Exports and pins: the validated Altair JSON, as `chart.to_json()` gives it."""
        return self.build().to_json()


_WARM: list = []
_WARM_LOCK = threading.Lock()


def warm() -> None:
    """Import Altair and build one small chart in a background thread, once per process: a page that draws its
    charts after a long read (Findings) then finds them ready instead of paying about 0.25 s for the import and
    the first chart after it."""
    with _WARM_LOCK:
        if _WARM:
            return
        _WARM.append(True)

    def build() -> None:
        try:
            import altair as alt
            import pandas as pd

            chart = alt.Chart(pd.DataFrame({"a": ["x"], "b": [1.0]})).mark_bar().encode(x="a:N", y="b:Q",
                                                                                          color="a:N")
            _spec_of(chart.properties(height=100))
        except Exception:  # noqa: BLE001 - only a head start: the page builds its charts (and reports) itself
            pass

    threading.Thread(target=build, name="warm-charts", daemon=True).start()


def _spec_of(chart) -> dict:
    """Vega-Lite spec of an Altair chart, data inline, without schema validation (the builders' tests validate
    them) and without Altair's default 300 × 300 view (Streamlit's own conversion drops it too)."""
    spec = chart.to_dict(validate=False)
    view = spec.get("config", {}).get("view")
    if isinstance(view, dict):
        for name, value in _ALTAIR_DEFAULT_VIEW.items():
            if view.get(name) == value:
                del view[name]
        if not view:
            del spec["config"]["view"]
        if not spec["config"]:
            del spec["config"]
    return spec


def spec(chart) -> dict | None:
    """The spec of a `Lazy` chart (cached by its inputs) or of an Altair chart (not cached); shared: do not
    modify it."""
    if chart is None or isinstance(chart, dict):
        return chart
    if isinstance(chart, Lazy):
        return _lazy_spec(chart, chart.key())
    return _spec_of(chart)


def _lazy_spec(chart: Lazy, key: tuple) -> dict | None:
    return _SPECS.get(key, lambda: None if (built := chart.build()) is None else _spec_of(built))


def _prepare(found: dict) -> tuple[str, dict[str, bytes]]:
    """(the spec without its tabular datasets, as JSON; {dataset name: Arrow IPC bytes}).

    `st.vega_lite_chart` moves each named dataset of a spec onto its message as Arrow bytes, converting a list of
    rows through pandas on every call unless it already is bytes; for a cached chart that conversion (and a deep
    copy of the spec) was most of a chart page's CPU per open. Converted here once per chart, with Streamlit's
    own converter, so the bytes are those it would have made."""
    from streamlit import dataframe_util

    tables = {str(name): dataframe_util.convert_anything_to_arrow_bytes(values)
              for name, values in (found.get("datasets") or {}).items() if isinstance(values, list)}
    rest = {name: value for name, value in found.items() if name != "datasets"}
    others = {str(name): values for name, values in (found.get("datasets") or {}).items() if str(name) not in tables}
    if others:  # GeoJSON / TopoJSON stay in the spec, as Streamlit keeps them
        rest["datasets"] = others
    return json.dumps(rest), tables


def show(chart, where=None) -> None:
    """Draw a chart full width, like `st.altair_chart(chart, width="stretch")`."""
    if isinstance(chart, Lazy):
        key = chart.key()
        prepared = _PREPARED.get(key, lambda: None if (found := _lazy_spec(chart, key)) is None else _prepare(found))
        if prepared is None:
            return
        text, tables = prepared
        drawn = json.loads(text)  # a fresh dict per call: Streamlit edits the spec it is given
        if tables:
            drawn["datasets"] = {**drawn.get("datasets", {}), **tables}
    else:
        found = spec(chart)
        if found is None:
            return
        drawn = json.loads(json.dumps(found))
    (where if where is not None else st).vega_lite_chart(drawn, width="stretch")
