"""core.metrics.shape_bias against model-vs-human's counting, on real human and model decisions."""

from __future__ import annotations

import pandas as pd
import pytest

from core.metrics import shape_bias, shape_bias_per_class
from tests.conftest import shared_data


def _read(folder: str, pattern: str) -> pd.DataFrame:
    frames = [pd.read_csv(path) for path in sorted(shared_data(folder).glob(pattern))]
    frame = pd.concat(frames, ignore_index=True)
    names = frame["imagename"].str.split("_").str[-1]
    frame["texture"] = names.str.split(".").str[0].str.split("-").str[-1].str.replace(r"\d", "", regex=True)
    return frame


def _reference_model_vs_human(frame: pd.DataFrame) -> dict:
    """model-vs-human ShapeBias.analysis, written out: hits on conflict rows over *all* rows."""
    conflict = frame[frame["category"] != frame["texture"]]
    shape = len(conflict[conflict.object_response == conflict.category]) / len(frame)
    texture = len(conflict[conflict.object_response == conflict.texture]) / len(frame)
    return {"shape_bias": shape / (shape + texture), "shape_fraction": shape, "texture_fraction": texture}


def _ours(frame: pd.DataFrame) -> dict:
    return shape_bias(frame["category"].to_numpy(), frame["texture"].to_numpy(), frame["object_response"].to_numpy())


@pytest.mark.parametrize("name", ["deit3-21k", "convnext-base-21k", "vit-clip", "convnext-clip"])
def test_matches_model_vs_human_on_the_authors_decisions(name):
    frame = _read("cue-conflict-paper-models", f"cue-conflict_{name}_session-1.csv")
    assert len(frame) == 1280
    ours, reference = _ours(frame), _reference_model_vs_human(frame)
    for key in reference:
        assert ours[key] == pytest.approx(reference[key], abs=1e-12)


def test_authors_values_match_the_paper_figure_where_it_agrees():
    vit_clip = _ours(_read("cue-conflict-paper-models", "cue-conflict_vit-clip_session-1.csv"))["shape_bias"]
    convnext_clip = _ours(_read("cue-conflict-paper-models", "cue-conflict_convnext-clip_session-1.csv"))["shape_bias"]
    assert vit_clip == pytest.approx(0.465, abs=0.01)  # paper Fig. 3 (estimated from pixels)
    assert convnext_clip == pytest.approx(0.424, abs=0.001)  # authors' release; the figure shows ≈ 0.447


def test_pooled_humans_match_model_vs_human():
    humans = _read("cue-conflict-human", "*.csv")
    assert humans["subj"].nunique() == 10
    ours, reference = _ours(humans), _reference_model_vs_human(humans)
    assert ours["shape_bias"] == pytest.approx(reference["shape_bias"], abs=1e-12)
    assert ours["shape_bias"] > 0.9  # humans decide by shape (Geirhos et al., 2019)


def test_hand_computed_case_and_na():
    result = shape_bias(["cat", "cat", "dog", "dog"], ["dog", "cat", "cat", "bird"], ["cat", "cat", "cat", "na"])
    # conflict rows: cat/dog → shape; dog/cat → texture; dog/bird → neither; cat/cat is no conflict
    assert result == {"shape_bias": 0.5, "shape_fraction": 0.25, "texture_fraction": 0.25, "n": 3}


def test_per_class_covers_each_shape():
    frame = _read("cue-conflict-paper-models", "cue-conflict_vit-clip_session-1.csv")
    table = shape_bias_per_class(frame["category"], frame["texture"], frame["object_response"])
    assert len(table) == 16 and table["shape_bias"].between(0, 1).all()
    cat = frame[frame.category == "cat"]
    assert table.set_index("class").loc["cat", "shape_bias"] == pytest.approx(_reference_model_vs_human(cat)["shape_bias"])
