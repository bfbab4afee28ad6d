"""core.explain.agreement: the agreement sentence and the images × models matrix, checked by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from core.explain.agreement import agreement_summary, severity_curve, top1_matrix, top5_bars


def test_agreement_names_the_majority_then_the_others():
    assert agreement_summary({"A": "tabby cat", "B": "tabby cat", "C": "tabby cat", "ViT-clip": "Egyptian cat"}) == \
        (False, "3 of 4 models say tabby cat; ViT-clip says Egyptian cat.")
    assert agreement_summary({"A": "cup", "B": "cup", "C": "mug", "D": "mug", "E": "bowl"}) == \
        (False, "2 of 5 models say cup; C and D say mug; E says bowl.")
    assert agreement_summary({"A": "cup", "B": "cup"}) == (True, "All 2 models say cup.")
    assert agreement_summary({"A": "cup"}) == (True, "A says cup.")
    with pytest.raises(ValueError, match="at least one"):
        agreement_summary({})


def test_matrix_has_one_cell_per_image_and_model_in_upload_order():
    rows = pd.DataFrame([
        {"image": image, "model_label": model, "rank": rank, "class": f"{image}-{model}-{rank}", "probability": p}
        for image in ("b.png", "a.png") for model in ("M2", "M1") for rank, p in ((1, 0.625), (2, 0.125))])
    matrix = top1_matrix(rows)
    assert list(matrix.index) == ["b.png", "a.png"] and list(matrix.columns) == ["M2", "M1"]
    assert matrix.loc["a.png", "M1"] == "a.png-M1-1 · 62%"


def test_charts_build_with_full_names():
    bars = top5_bars(pd.DataFrame({"class": ["Soft-coated Wheaten Terrier"], "probability": [0.4]}), "#4C78A8")
    assert bars.to_dict()["layer"][0]["encoding"]["y"]["axis"]["labelLimit"] >= 1000
    import altair as alt

    table = pd.DataFrame({"label": ["A"] * 6, "severity": range(6), "clean_class": "cat",
                          "clean_class_prob": [0.9, 0.8, 0.7, 0.6, 0.5, 0.4], "top1": "cat"})
    spec = severity_curve(table, ["A"], 2, alt.Scale(domain=["A"], range=["#4C78A8"])).to_dict()
    assert spec["layer"][1]["transform"] == [{"calculate": "2", "as": "slider"}]
