"""The Findings page's reads: the sections computed side by side give the numbers of one pass, the standard line is
prefetched once per population version, and a missing paper value shows as —."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pandas as pd

from views import _population as population_ui
from views import _reads as reads
from views import _widgets as widgets


def test_sections_side_by_side_give_the_numbers_of_one_pass(tmp_path, monkeypatch):
    """`reads.findings_results` computes the six sections in threads: every claim's numbers, differences and
    verdict equal `assess(collect_evidence(...))` computed in one pass."""
    from core.analysis.evidence import assess, collect_evidence
    from core.store import ResultsStore
    from tests.fixtures.synthetic import write_val_runs

    monkeypatch.setenv("BAE_RESULTS_DB", str(tmp_path / "results.duckdb"))
    store = ResultsStore(tmp_path / "results.duckdb")
    write_val_runs(store, n=400)
    threaded = reads.findings_results(reads.findings_key())
    expected = assess(collect_evidence(store))
    assert [r.claim.number for r in threaded] == [r.claim.number for r in expected]
    assert [r.verdict for r in threaded][:3] != ["not measured"] * 3  # claims 1-3 read the val runs
    for ours, theirs in zip(threaded, expected):
        assert ours.verdict == theirs.verdict
        if theirs.numbers is not None:
            pd.testing.assert_frame_equal(ours.numbers, theirs.numbers)
        for a, b in zip(ours.parts, theirs.parts):
            np.testing.assert_equal(dataclasses.astuple(a.difference) if a.difference else None,
                                    dataclasses.astuple(b.difference) if b.difference else None)


def test_the_standard_line_is_prefetched_once_per_population_version(monkeypatch):
    """A rerun of Findings starts no second thread while the line is being fitted, none once it is cached, and
    a new one when the published tables change; none where nothing is downloaded."""
    fitted, release = [], threading.Event()

    def fit(population, **kwargs):
        fitted.append(kwargs["fit_on"])
        release.wait(10)
        return {"line": len(fitted)}

    version = [(("results-imagenet.csv", 1),), ()]
    monkeypatch.setattr(population_ui, "population_version", lambda: tuple(version))
    monkeypatch.setattr(population_ui, "population", lambda: pd.DataFrame())
    monkeypatch.setattr(population_ui, "population_lines", fit)

    def threads() -> int:
        return sum(thread.name == "standard-line" and thread.is_alive() for thread in threading.enumerate())

    for _ in range(3):  # three reruns while the first fit runs
        population_ui.prefetch_standard_line()
    assert threads() == 1
    release.set()
    for thread in threading.enumerate():
        if thread.name == "standard-line":
            thread.join(10)
    population_ui.prefetch_standard_line()  # cached now
    assert threads() == 0 and len(fitted) == 1
    assert population_ui.lines(fitted[0]) == {"line": 1}  # the page's own call finds the prefetched line
    version[0] = (("results-imagenet.csv", 2),)  # a new download: fitted again
    population_ui.prefetch_standard_line()
    for thread in threading.enumerate():
        if thread.name == "standard-line":
            thread.join(10)
    assert len(fitted) == 2
    version[0] = ()
    population_ui.prefetch_standard_line()  # nothing downloaded: the card says so, no thread
    assert threads() == 0 and len(fitted) == 2


def test_a_claim_without_a_paper_value_shows_a_dash_not_none():
    """The card beyond the paper has no paper value: its numbers table shows — in the paper columns (as text);
    a card whose paper values are all there keeps them as numbers."""
    from core.analysis.beyond import claim_effective_robustness
    from core.analysis.claims import PAPER_MODELS
    from core.analysis.findings import numbers_table

    numbers = pd.DataFrame({"model": list(PAPER_MODELS), "benchmark": "average", "value": [0.01, 0.02, 0.05, 0.06],
                            "ci_low": [0.0, 0.01, 0.04, 0.05], "ci_high": [0.02, 0.03, 0.06, 0.07], "n": 1000})
    table = numbers_table(claim_effective_robustness(numbers, None), {m: m for m in PAPER_MODELS})
    assert table["paper"].isna().all() and table["paper tag"].isna().all()
    shown, config = widgets.dash_missing(table, {"paper": "{:g}", "paper tag": "{}"})
    assert shown["paper"].tolist() == ["—"] * 4 and shown["paper tag"].tolist() == ["—"] * 4
    assert shown["ours"].tolist() == table["ours"].tolist()  # the other columns as they were
    some = table.assign(paper=[0.815, None, 0.7, 0.65], **{"paper tag": ["[T]", None, "[T]", "[F]"]})
    shown, _ = widgets.dash_missing(some, {"paper": "{:g}", "paper tag": "{}"})
    assert shown["paper"].tolist() == ["0.815", "—", "0.7", "0.65"]
    assert shown["paper tag"].tolist() == ["[T]", "—", "[T]", "[F]"]
    full = table.assign(paper=[0.815, 0.8, 0.7, 0.65], **{"paper tag": "[T]"})
    shown, config = widgets.dash_missing(full, {"paper": "{:g}", "paper tag": "{}"})
    assert shown["paper"].tolist() == [0.815, 0.8, 0.7, 0.65] and config == {}
