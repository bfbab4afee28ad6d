"""core.analysis.beyond: the claim beyond the paper, against a hand computation on known lines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import special

from core.analysis.accuracy_line import SetLine
from core.analysis.beyond import BEYOND_CLAIM, claim_effective_robustness, effective_robustness_evidence
from core.analysis.claims import CLAIMS
from core.metrics.effective_robustness import fit_line


def _line(name: str, intercept: float, n_resamples: int, rng) -> SetLine:
    x = np.linspace(0.55, 0.9, 30)
    y = special.expit(intercept + 1.2 * special.logit(x) + rng.normal(0, 0.05, len(x)))
    fit = fit_line(x, y)
    slopes = fit.slope + rng.normal(0, 0.01, n_resamples)
    intercepts = fit.intercept + rng.normal(0, 0.01, n_resamples)
    return SetLine(name, fit, slopes, intercepts, x, y)


def _side(points, rng, n_resamples, n=10_000):
    points = np.asarray(points, float)
    reps = np.clip(points[:, None] + rng.normal(0, 0.004, (len(points), n_resamples)), 0, 1)
    return points, reps, True, n


@pytest.mark.parametrize("bonus, verdict", [(0.08, "reproduced"), (-0.08, "contradicted"), (0.0, "inconclusive")])
def test_the_pair_difference_of_mean_effective_robustness_decides_the_card(bonus, verdict, rng):
    R = 400
    lines = {"imagenet-v2": _line("imagenet-v2", -0.6, R, rng), "imagenet-r": _line("imagenet-r", -1.0, R, rng)}
    val = _side([0.85, 0.86, 0.68, 0.66], rng, R)  # vit_sup, convnext_sup, vit_clip, convnext_clip
    sets = {}
    for name, line in lines.items():
        on = line.fit.predict(val[0])
        sets[name] = _side(on + np.array([0.0, 0.0, bonus, bonus]), rng, R)
    numbers, found = effective_robustness_evidence(val, sets, lines)
    # by hand: ER = shifted − the line's prediction at the model's own ImageNet top-1, averaged over the sets
    by_hand = np.mean([sets[n][0] - lines[n].fit.predict(val[0]) for n in lines], axis=0)
    average = numbers[numbers["benchmark"] == "average"].set_index("model")["value"]
    assert average.to_numpy() == pytest.approx(by_hand)
    assert found.value == pytest.approx(by_hand[2:].mean() - by_hand[:2].mean())
    assert found.value == pytest.approx(bonus, abs=1e-9) and found.paired
    result = claim_effective_robustness(numbers, found)
    assert result.verdict == verdict and result.claim is BEYOND_CLAIM
    assert result.parts[0].a.label == "CLIP pair"


def test_the_card_is_apart_from_the_papers_eight_and_says_it_is_ours():
    assert BEYOND_CLAIM not in CLAIMS and len(CLAIMS) == 8
    assert "not the paper's" in BEYOND_CLAIM.sentence
    empty = claim_effective_robustness(None, None, "download first")
    assert empty.verdict == "not measured" and "download" in empty.note


def test_a_model_missing_leaves_the_card_not_measured(rng):
    R = 50
    lines = {"imagenet-v2": _line("imagenet-v2", -0.6, R, rng)}
    val = _side([0.85, 0.86, 0.68, 0.66], rng, R)
    numbers, found = effective_robustness_evidence(val, {"imagenet-v2": _side([0.7, 0.7, 0.6, 0.6], rng, R)}, lines)
    numbers = numbers[numbers["model"] != "convnext_clip"]
    assert claim_effective_robustness(numbers, found).verdict == "not measured"
    assert isinstance(numbers, pd.DataFrame)
