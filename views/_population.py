"""Cached reads of the published population and its lines, for the Robustness and Evaluations pages.

The lines' bootstrap (1,000 refits per shifted set over ~1,500 published models) is computed once per
population version and fit choice, shared by every session.
"""

from __future__ import annotations

from core.analysis.accuracy_line import (effective_robustness_table, line_bands, population_lines,
                                        published_check)
from core.data.population import population, population_version, published_entries
from views._cache import cache, fresh, memo

__all__ = ["read_population", "lines", "bands", "er_table", "checks", "population_version"]


@memo(4)
def _population(version: tuple):
    return population()


def read_population():
    """The population frame (raises PopulationMissing with the download command when none is here)."""
    return fresh(_population(population_version()))


@memo(8)
def _lines(version: tuple, fit_on: str):
    return population_lines(_population(version), fit_on=fit_on)


def lines(fit_on: str):
    return _lines(population_version(), fit_on)


@memo(16)
def _bands(version: tuple, fit_on: str, lo: float, hi: float):
    return line_bands(_lines(version, fit_on), lo, hi)


def bands(fit_on: str, lo: float, hi: float):
    """The lines and their bands on a grid from `lo` to `hi` (rounded to 0.01 so nearby pages share it)."""
    return fresh(_bands(population_version(), fit_on, round(lo, 2), round(hi, 2)))


_ER = cache("population.er_table", 64)


def er_table(fit_on: str, run_keys: tuple, ours):
    """Effective robustness of the page's models: `ours` is the page's robustness table of the runs whose keys
    are `run_keys` (a function of them, so they key the cache, as `reads.robustness_table` does)."""
    version = population_version()
    return fresh(_ER.get((version, fit_on, run_keys), lambda: effective_robustness_table(ours, _lines(version, fit_on))))


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
    from core.store import ResultsStore
    from views._reads import keys_of, runs_table

    store, runs = ResultsStore(), runs_table()
    used = evidence.section_inputs(runs, "robustness", store) if len(runs) else runs
    version = population_version()
    key = (str(store.path), keys_of(tuple(used["run_id"])) if len(used) else (), version)

    def compute():
        try:
            population_frame = _population(version)
        except UserError:
            population_frame = None
        return collect_effective_robustness(store, used, population_frame)

    return cache("findings.beyond", 8).get(key, compute)
