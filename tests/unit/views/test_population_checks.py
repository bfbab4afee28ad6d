"""views._population.run_checks: which runs meet a published number (exact checkpoint, comparable protocol)."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.unit.data import published as tables
from views import _population as population_ui


@pytest.fixture
def published(monkeypatch, tmp_path):
    tables.write_tables(monkeypatch, tmp_path / "data")


def _runs(rows):
    return pd.DataFrame([{"model": m, "benchmark": b, "protocol": p, "accuracy": a, "done": 50_000, "errors": 0,
                          "source": "ours", "variant": ""} for m, b, p, a in rows])


def test_timm_numbers_only_under_the_library_protocol_open_clip_under_both(published):
    runs = _runs([("vit_sup", "imagenet-val", "paper", 0.8571), ("vit_sup", "imagenet-val", "library", 0.8571),
                  ("vit_clip", "imagenet-val", "paper", 0.001), ("effnet_lite0", "imagenet-val", "paper", 0.75)])
    checks = population_ui.run_checks(runs)
    assert sorted(zip(checks["model"], checks["protocol"])) == [("vit_clip", "paper"), ("vit_sup", "library")]
    flags = checks.set_index("model").apply(population_ui.why_outside, axis=1)
    assert flags["vit_sup"] == ""
    assert "chance level" in flags["vit_clip"] and "random weights" in flags["vit_clip"]


def test_without_published_tables_there_is_nothing_to_check(monkeypatch, tmp_path):
    monkeypatch.setenv("BAE_DATA_DIR", str(tmp_path / "none"))
    assert population_ui.run_checks(_runs([("vit_sup", "imagenet-val", "library", 0.85)])) is None
