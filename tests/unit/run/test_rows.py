"""core.run.rows: the vectorised per-image columns against the previous per-image implementation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.data.cue_conflict import SIXTEEN_CLASSES, sixteen_class_indices
from core.run.rows import result_columns, sixteen_class_matrix, softmax, top_k


def _reference_previous_rows(logits: torch.Tensor, labels, *, subset=None, accepted=None, shapes=None) -> list[dict]:
    """The row builder `evaluate` used before the vectorised one (core/engine.py `_predict_rows` at 04fbdd0):
    torch softmax and top-k, then a Python loop per image and per 16-class category."""
    if subset:
        index = torch.tensor(subset)
        restricted = torch.full_like(logits, float("-inf"))
        restricted[:, index] = logits[:, index]
        probabilities = restricted.softmax(dim=-1)
    else:
        probabilities = logits.softmax(dim=-1)
    top = probabilities.topk(5, dim=-1)
    members = sixteen_class_indices() if shapes is not None else None
    rows = []
    for position in range(len(logits)):
        p = probabilities[position]
        pred = int(top.indices[position, 0])
        row = {"pred": pred, "top5": [int(i) for i in top.indices[position]],
               "top5_prob": [float(v) for v in top.values[position]], "conf": float(top.values[position, 0])}
        if members is not None:
            probs16 = [float(p[list(members[c])].mean()) for c in SIXTEEN_CLASSES]
            row["probs16"] = probs16
            row["decision16"] = SIXTEEN_CLASSES[int(np.argmax(probs16))]
            row["correct"] = row["decision16"] == shapes[position]
        else:
            label = labels[position]
            row["correct"] = pred in (accepted[position] if accepted is not None else (label,))
            row["prob_true"] = float(p[label]) if label >= 0 else None
        rows.append(row)
    return rows


def _assert_same(columns: dict, reference: list[dict]) -> None:
    for position, row in enumerate(reference):
        assert int(columns["pred"][position]) == row["pred"]
        assert [int(i) for i in columns["top5"][position]] == row["top5"]
        np.testing.assert_allclose(columns["top5_prob"][position], row["top5_prob"], rtol=1e-6, atol=1e-9)
        assert float(columns["conf"][position]) == pytest.approx(row["conf"], rel=1e-6)
        assert bool(columns["correct"][position]) == row["correct"]
        if "decision16" in row:
            assert columns["decision16"][position] == row["decision16"]
            np.testing.assert_allclose(columns["probs16"][position], row["probs16"], rtol=1e-5, atol=1e-9)
        elif row["prob_true"] is None:
            assert np.isnan(columns["prob_true"][position])
        else:
            assert float(columns["prob_true"][position]) == pytest.approx(row["prob_true"], rel=1e-5, abs=1e-12)


@pytest.fixture
def logits(rng) -> np.ndarray:
    return (rng.normal(size=(200, 1000)) * 3).astype(np.float32)


def test_imagenet_rows_match_the_previous_implementation(logits, rng):
    labels = rng.integers(-1, 1000, size=len(logits))
    labels[:20] = logits[:20].argmax(1)  # some correct ones
    columns = result_columns(logits, labels=labels)
    _assert_same(columns, _reference_previous_rows(torch.from_numpy(logits), labels))
    assert columns["correct"][:20].all()


def test_class_subset_rows_match_the_previous_implementation(logits, rng):
    subset = tuple(sorted(rng.choice(1000, size=200, replace=False).tolist()))
    labels = rng.choice(subset, size=len(logits))
    columns = result_columns(logits, labels=labels, class_subset=subset)
    _assert_same(columns, _reference_previous_rows(torch.from_numpy(logits), labels, subset=subset))
    assert set(columns["top5"].ravel()) <= set(subset)


def test_any_of_several_labels_rows_match_the_previous_implementation(logits, rng):
    labels = rng.integers(0, 1000, size=len(logits))
    accepted = [tuple(rng.integers(0, 1000, size=int(rng.integers(1, 4)))) for _ in labels]
    accepted[:10] = [(int(label), int(top)) for label, top in zip(labels[:10], logits[:10].argmax(1))]
    columns = result_columns(logits, labels=labels, accepted=accepted)
    _assert_same(columns, _reference_previous_rows(torch.from_numpy(logits), labels, accepted=accepted))
    assert columns["correct"][:10].all()


def test_sixteen_class_rows_match_the_previous_implementation(logits, rng):
    shapes = list(rng.choice(SIXTEEN_CLASSES, size=len(logits)))
    labels = np.full(len(logits), -1)
    columns = result_columns(logits, labels=labels, shapes=shapes)
    _assert_same(columns, _reference_previous_rows(torch.from_numpy(logits), labels, shapes=shapes))


def test_sixteen_class_matrix_averages_each_category_on_a_hand_made_case():
    members = sixteen_class_indices()
    probabilities = np.zeros((1, 1000))
    knife = list(members["knife"])
    probabilities[0, knife[0]] = 0.6  # one of knife's members
    matrix = sixteen_class_matrix()
    assert matrix.shape == (1000, 16)
    np.testing.assert_allclose(matrix.sum(axis=0), 1.0)
    result = probabilities @ matrix
    assert result[0, SIXTEEN_CLASSES.index("knife")] == pytest.approx(0.6 / len(knife))


def test_softmax_and_top_k_on_a_hand_made_case():
    p = softmax(np.array([[0.0, np.log(3.0), 0.0, np.log(4.0)]]))
    np.testing.assert_allclose(p, [[1 / 9, 3 / 9, 1 / 9, 4 / 9]], rtol=1e-6)
    index, values = top_k(p, 2)
    assert index.tolist() == [[3, 1]]
    np.testing.assert_allclose(values, [[4 / 9, 3 / 9]], rtol=1e-6)
