"""Cached reads of the published population and its lines, for the Robustness and Evaluations pages.

The lines' bootstrap (1,000 refits per shifted set over ~1,500 published models) is computed once per
population version and fit choice, shared by every session.
"""

from __future__ import annotations

import threading

from core.analysis.accuracy_line import (DEFAULT_FIT_ON, PopulationFilter, effective_robustness_table, line_bands,
                                        population_lines, published_check)
from core.data.population import population, population_version, published_entries
from views._cache import cache, fresh, memo

__all__ = ["read_population", "lines", "bands", "er_table", "checks", "population_version", "prefetch_standard_line"]


@memo(4)
def _population(version: tuple):
    return population()


def read_population():
    """The population frame (raises PopulationMissing with the download command when none is here)."""
    return fresh(_population(population_version()))


def _active(where: PopulationFilter | None) -> PopulationFilter | None:
    """None for a filter that keeps everything: one cache entry for the whole population."""
    return where if where is not None and where.active else None


@memo(8)
def _lines(version: tuple, fit_on: str, where: PopulationFilter | None = None):
    return population_lines(_population(version), fit_on=fit_on, population_filter=where)


_PREFETCHING: set = set()
_PREFETCH_LOCK = threading.Lock()


def prefetch_standard_line() -> None:
    """Read the population and fit the standard line (with its bootstrap) in a background thread, while the caller
    reads the store; a later `lines(DEFAULT_FIT_ON)` or card waits for it (single-flight), or computes it itself
    where no population is downloaded (the thread then leaves nothing behind). Starts a thread only when that line
    of this population version is neither cached nor being fitted already: a rerun of the page starts none."""
    version = population_version()
    if not any(version):  # nothing downloaded: the card says so without a line
        return
    key = (version, DEFAULT_FIT_ON, None)
    with _PREFETCH_LOCK:
        if key in _PREFETCHING or key in _lines.cache:
            return
        _PREFETCHING.add(key)

    def fetch() -> None:
        try:
            _lines(*key)
        except Exception:  # noqa: BLE001 - the caller computes it again and shows the message
            pass
        finally:
            with _PREFETCH_LOCK:
                _PREFETCHING.discard(key)

    threading.Thread(target=fetch, name="standard-line", daemon=True).start()


def lines(fit_on: str, where: PopulationFilter | None = None):
    """The lines of `fit_on` on the population that passes `where` (None: all of it)."""
    return _lines(population_version(), fit_on, _active(where))


@memo(16)
def _bands(version: tuple, fit_on: str, lo: float, hi: float, where: PopulationFilter | None = None):
    return line_bands(_lines(version, fit_on, where), lo, hi)


def bands(fit_on: str, lo: float, hi: float, where: PopulationFilter | None = None):
    """The lines and their bands on a grid from `lo` to `hi` (rounded to 0.01 so nearby pages share it)."""
    return fresh(_bands(population_version(), fit_on, round(lo, 2), round(hi, 2), _active(where)))


_ER = cache("population.er_table", 64)


def er_table(fit_on: str, run_keys: tuple, ours, where: PopulationFilter | None = None):
    """Effective robustness of the page's models: `ours` is the page's robustness table of the runs whose keys
    are `run_keys` (a function of them, so they key the cache, as `reads.robustness_table` does)."""
    version, where = population_version(), _active(where)
    return fresh(_ER.get((version, fit_on, run_keys, where),
                         lambda: effective_robustness_table(ours, _lines(version, fit_on, where))))


def checks(ours, specs) -> "object":
    """Published top-1 beside ours for the models whose exact checkpoint the population holds (`specs`:
    {model key: ModelSpec}; only models evaluated under a protocol the published numbers used)."""
    import pandas as pd

    table = _population(population_version())
    published = [published_entries(table, name, spec.library, spec.source, spec.pretrained)
                 for name, spec in specs.items()]
    published = [frame for frame in published if len(frame)]
    return published_check(ours, pd.concat(published, ignore_index=True) if published else None)


def comparable_specs(models: list[str], protocol: str) -> dict:
    """{model key: spec} of the models whose published numbers used the preprocessing of `protocol`: open_clip's
    under both protocols (its own preprocess), timm's only under `library` (its `pretrained_cfg`)."""
    from views._models import models as registry

    specs = {spec.name: spec for spec in registry()[0] if spec.name in models}
    return {name: spec for name, spec in specs.items()
            if spec.library == "open_clip" or (spec.library == "timm" and protocol == "library")}


def why_outside(row) -> str:
    """The flag's reason, in a few words, for a published value outside our interval."""
    if not row["outside"]:
        return ""
    if row["ours"] < 0.01:
        return "ours at chance level: not the publisher's trained weights (random weights?)"
    return "outside our 95% interval: preprocessing, head or weights differ from the publisher's"


def run_checks(runs):
    """Published top-1 beside each finished run of ours whose model is a published checkpoint (Evaluations page):
    rows of `published_check` plus `protocol`. None when no published table is downloaded."""
    import pandas as pd

    from core.analysis.tables import count_accuracy
    from core.errors import UserError

    try:
        read_population()
    except UserError:
        return None
    mine = runs[(runs["source"] == "ours") & (runs["variant"] == "") & runs["accuracy"].notna() & (runs["done"] > 0)]
    frames = []
    for protocol, group in mine.drop_duplicates(["model", "benchmark", "protocol"], keep="last").groupby("protocol"):
        n = (group["done"] - group["errors"].fillna(0)).clip(lower=1).astype(int)
        ours = pd.DataFrame([{"model": row.model, "benchmark": row.benchmark,
                              **count_accuracy(round(float(row.accuracy) * count), count, n_resamples=300)}
                             for row, count in zip(group.itertuples(index=False), n)])
        checked = checks(ours, comparable_specs(list(group["model"].unique()), str(protocol)))
        frames.append(checked.assign(protocol=protocol))
    return pd.concat(frames, ignore_index=True) if frames else None


def beyond_result():
    """The Findings card beyond the paper (CLIP more effectively robust), cached by the robustness runs and the
    population version; computed once across sessions."""
    from core.analysis import evidence
    from core.analysis.beyond import collect_effective_robustness
    from core.errors import UserError
    from views._reads import _store, keys_of, runs_table, section_evidence

    store, runs = _store(), runs_table()
    used = evidence.section_inputs(runs, "robustness", store) if len(runs) else runs
    version = population_version()
    key = (str(store.path), keys_of(tuple(used["run_id"])) if len(used) else (), version)

    def compute():
        try:
            population_frame = _population(version)
        except UserError:
            population_frame = None
        section = section_evidence(store, runs, "robustness").get("robustness") if len(runs) else None
        lines = _lines(version, DEFAULT_FIT_ON, None) if population_frame is not None else None
        return collect_effective_robustness(store, used, population_frame, section=section, lines=lines)

    return cache("findings.beyond", 8).get(key, compute)


def filter_widgets(population) -> PopulationFilter:
    """The population filter (pretraining data, family, parameters), its state in the URL; returns the filter the
    line fit and the chart's points use (empty choices and the full parameter range keep every checkpoint)."""
    import math

    import streamlit as st

    from core.data.pretraining import PRETRAINING
    from views import _state as state

    sources = [key for key in PRETRAINING if key in set(population["pretraining"])]
    families = sorted(set(population["family"]))
    top = float(math.ceil(population["param_count"].max())) if population["param_count"].notna().any() else 1.0
    state.bind("robustness_pretraining", kind="list", options=sources)
    state.bind("robustness_family", kind="list", options=families)
    state.bind("robustness_params_min", kind="float", lo=0.0, hi=top)
    state.bind("robustness_params_max", kind="float", lo=0.0, hi=top)
    st.session_state.setdefault("robustness_params_min", 0.0)
    st.session_state.setdefault("robustness_params_max", top)
    active = bool(st.session_state.get("robustness_pretraining") or st.session_state.get("robustness_family")
                  or st.session_state["robustness_params_min"] > 0 or st.session_state["robustness_params_max"] < top)
    with st.expander("Population filter: pretraining data, family, parameters", expanded=active,
                     icon=":material/filter_alt:"):
        columns = st.columns([2, 2, 1, 1])
        chosen = columns[0].multiselect("Pretraining data", sources, key="robustness_pretraining", placeholder="all",
                                        format_func=lambda key: f"{key}: {PRETRAINING[key]}")
        picked = columns[1].multiselect("Family", families, key="robustness_family", placeholder="all")
        low = columns[2].number_input("Parameters from (M)", 0.0, top, step=1.0, key="robustness_params_min")
        high = columns[3].number_input("to (M)", 0.0, top, step=1.0, key="robustness_params_max")
        st.caption("Keeps only these published checkpoints, in the line's fit and on the chart (an empty choice keeps "
                   "all). A checkpoint without a published parameter count drops out once a parameter bound is set.")
    return PopulationFilter(tuple(chosen), tuple(picked), float(low) if low > 0 else None,
                            float(high) if high < top else None)


@memo(16)
def _chart_population(version: tuple, fit_on: str, where: PopulationFilter | None):
    from core.analysis.accuracy_line import FIT_ON, fit_members, one_point_per_checkpoint

    table = _population(version)
    shown = one_point_per_checkpoint(where.apply(table) if where is not None else table)
    members, _ = fit_members(table, fit_on, where)
    fitted = set(zip(members["checkpoint"], members["publisher"]))
    inside = [(name, publisher) in fitted for name, publisher in zip(shown["checkpoint"], shown["publisher"])]
    words = FIT_ON[fit_on].split(" (")[0]
    kind = ["in the line's fit (" + words + ")" if is_in else
            ("CLIP zero-shot (open_clip)" if publisher == "open_clip" else "timm, not in the fit")
            for is_in, publisher in zip(inside, shown["publisher"])]
    out = shown.assign(kind=kind, param_count=shown["param_count"].round(1))
    return out[["benchmark", "kind", "point", "imagenet", "shifted", "pretraining", "family", "param_count"]]


def kind_order(kind: str) -> int:
    """The chart's shades in order: the checkpoints in the fit, the other timm ones, open_clip's."""
    return 0 if kind.startswith("in the line's fit") else 1 if kind.startswith("timm") else 2


def chart_population(population, fit_on: str, where: PopulationFilter | None):
    """The chart's grey points: one per checkpoint that passes `where`, its `kind` saying whether the line of `fit_on`
    was fitted on it; with the hover's pretraining, family and parameters."""
    return fresh(_chart_population(population_version(), fit_on, _active(where)))


@memo(2)
def _checkpoints(version: tuple):
    from core.data.population import checkpoints

    return checkpoints(_population(version))


def checkpoint_table():
    """The pretraining table of every published checkpoint (`core.data.population.checkpoints`)."""
    return fresh(_checkpoints(population_version()))
