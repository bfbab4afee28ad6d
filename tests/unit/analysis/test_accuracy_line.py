"""core.analysis.accuracy_line and core.analysis.line_chart on the tiny published tables (real formats)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import special

from core.analysis.accuracy_line import (LINE_SETS, effective_robustness_table, line_bands, paper_points,
                                         population_lines, published_check)
from core.analysis.line_chart import accuracy_on_the_line
from core.data.population import population, published_entries
from core.paper import paper_values
from tests.unit.data import published as tables


@pytest.fixture
def table(monkeypatch, tmp_path):
    tables.write_tables(monkeypatch, tmp_path / "data")
    return population()


def _ours(rows):
    return pd.DataFrame([{"model": m, "benchmark": b, "accuracy": a, "ci_low": a - 0.01, "ci_high": a + 0.01, "n": n}
                         for m, b, a, n in rows])


def test_a_model_on_the_line_has_zero_effective_robustness_and_a_clip_model_sits_above(table):
    lines = population_lines(table, n_resamples=300)
    assert set(lines) == set(LINE_SETS)
    on_line = float(tables.on_line(np.array(0.8), -0.6))  # the fixture's V2 line
    above = float(special.expit(-0.6 + tables.CLIP_BONUS + tables.SLOPE * special.logit(0.67)))
    ours = _ours([("on", "imagenet-val", 0.8, 50_000), ("on", "imagenet-v2", on_line, 10_000),
                  ("clip", "imagenet-val", 0.67, 50_000), ("clip", "imagenet-v2", above, 10_000),
                  ("no_val", "imagenet-v2", 0.5, 10_000), ("on", "imagenet-c", 0.4, 750_000)])
    er = effective_robustness_table(ours, lines).set_index("model")
    assert list(er.index) == ["on", "clip"]  # no val: no effective robustness; ImageNet-C: no line
    assert er.loc["on", "effective_robustness"] == pytest.approx(0, abs=2e-4)  # the fixture rounds to 0.001%
    assert er.loc["on", "ci_low"] < 0 < er.loc["on", "ci_high"]
    assert er.loc["clip", "ci_low"] > 0
    assert er.loc["clip", "effective_robustness"] == pytest.approx(above - tables.on_line(np.array(0.67), -0.6), abs=1e-3)


def test_bands_hold_the_line_and_widen_away_from_the_population(table):
    lines = population_lines(table, n_resamples=300)
    bands = line_bands(lines, 0.05, 0.95)
    v2 = bands[bands["benchmark"] == "imagenet-v2"]
    assert v2["predicted"].to_numpy() == pytest.approx(tables.on_line(v2["imagenet"].to_numpy(), -0.6), abs=1e-3)
    width = (v2["high"] - v2["low"]).to_numpy()
    inside = v2["imagenet"].between(0.6, 0.88).to_numpy()
    assert width[~inside].max() > width[inside].max()


def test_published_check_flags_values_outside_our_interval(table):
    published = pd.concat([published_entries(table, "vit_sup", "timm", "deit3_base_patch16_224.fb_in22k_ft_in1k", None),
                           published_entries(table, "vit_clip", "open_clip", "ViT-B-16", "laion400m_e31")])
    ours = _ours([("vit_sup", "imagenet-val", 0.8571, 50_000), ("vit_clip", "imagenet-val", 0.001, 50_000)])
    check = published_check(ours, published).set_index("model")
    assert not check.loc["vit_sup", "outside"] and check.loc["vit_sup", "tag"] == "T"
    assert check.loc["vit_sup", "difference"] == pytest.approx(0.8571 - 0.85728)
    assert check.loc["vit_clip", "outside"] and check.loc["vit_clip", "tag"] == "O"
    assert published_check(ours, None).empty


def test_paper_points_pair_the_papers_imagenet_and_shifted_values():
    points = paper_points(paper_values("robustness_top1"), ["vit_sup", "vit_clip"])
    paper = paper_values("robustness_top1").set_index(["model", "key"])["value"]
    row = points[(points["model"] == "vit_clip") & (points["benchmark"] == "imagenet-r")].iloc[0]
    assert row["imagenet"] == paper[("vit_clip", "imagenet-val")] and row["shifted"] == paper[("vit_clip", "imagenet-r")]
    assert set(points["benchmark"]) <= set(LINE_SETS)


def test_the_chart_is_a_valid_vega_lite_spec_whose_points_name_their_model(table):
    import altair as alt

    lines = population_lines(table, n_resamples=100)
    ours = _ours([("vit_sup", "imagenet-val", 0.85, 50_000), ("vit_sup", "imagenet-r", 0.6, 30_000)])
    er = effective_robustness_table(ours, lines).assign(label="ViT-sup")
    points = paper_points(paper_values("robustness_top1"), ["vit_sup"]).assign(label="ViT-sup")
    chart = accuracy_on_the_line(table, line_bands(lines, 0.3, 0.95), er, points, labels=["ViT-sup"],
                                 kinds=["ImageNet classifiers (timm)", "CLIP zero-shot (open_clip)"],
                                 set_labels={key: key for key in LINE_SETS})
    spec = json.loads(chart.to_json())
    alt.ConcatChart.from_dict(spec, validate=True)  # raises on an invalid spec
    assert len(spec["concat"]) == 5 and len(spec["datasets"]["population-imagenet-v2"]) == len(
        table[table["benchmark"] == "imagenet-v2"])
    first = spec["concat"][0]["layer"][0]
    assert first["encoding"]["tooltip"][0] == {"field": "point", "type": "nominal", "title": "model"}
    r_panel = spec["concat"][LINE_SETS.index("imagenet-r")]["layer"]
    assert any(layer["mark"]["type"] == "point" and layer["mark"].get("filled") for layer in r_panel)  # ours
    assert any(layer["mark"].get("shape") == "diamond" for layer in r_panel)  # the paper's value
    assert accuracy_on_the_line(table, line_bands({}, 0.3, 0.9), er, points, labels=[], kinds=[],
                                set_labels={}) is None
    # a kind keeps its own shade when another kind is absent (open_clip's points stay dark grey)
    shaded = accuracy_on_the_line(table, line_bands(lines, 0.3, 0.95), er, points, labels=["ViT-sup"],
                                  kinds=["ImageNet classifiers (timm)", "CLIP zero-shot (open_clip)"],
                                  set_labels={key: key for key in LINE_SETS}, shades=["#bdbdbd", "#6e6e6e"])
    scale = json.loads(shaded.to_json())["concat"][0]["layer"][0]["encoding"]["color"]["scale"]
    assert dict(zip(scale["domain"], scale["range"]))["CLIP zero-shot (open_clip)"] == "#6e6e6e"
