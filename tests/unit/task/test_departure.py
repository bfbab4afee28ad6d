"""core.task.departure: the card's sentence on where the user's images depart from the ImageNet prior."""

from __future__ import annotations

import pytest

from core.models.registry import MODELS
from core.task.decision import decision_card
from core.task.departure import PriorValue, prior_departure, published_priors
from tests.unit.data import published as tables
from tests.unit.task.test_decision import _data

PRIORS = {"a": PriorValue(0.81, "T", "a.x"), "b": PriorValue(0.85, "O", "b/y"), "c": PriorValue(0.83, "T", "c.z")}


@pytest.fixture
def card_and_data(rng):
    data = _data(rng)  # A 0.80, B 0.70, C 0.79 top-1 on 400 images: A top, ahead of B, inseparable from C
    return decision_card(data, "accuracy", seed=3), data


def test_the_prior_picks_a_model_that_the_images_put_behind(card_and_data):
    card, data = card_and_data
    sentence = prior_departure(card, data.candidates, PRIORS, {"b": "Model B"})
    b = next(comparison for comparison in card.comparisons if comparison.candidate == "B · zero-shot")
    assert b.verdict == "ahead"
    low, high = 100 * b.difference.ci_low, 100 * b.difference.ci_high
    assert sentence == (f"ImageNet top-1 would have picked Model B (85.0% [O]); on your images A · linear probe is "
                        f"ahead of its best (B · zero-shot) by {100 * b.difference.value:+.1f} pp top-1 "
                        f"[{low:+.1f}, {high:+.1f}].")
    assert 100 * b.difference.value == pytest.approx(100 * (data.correct[0].mean() - data.correct[1].mean()))


def test_the_prior_pick_holds_when_it_is_top_or_inseparable(card_and_data):
    card, data = card_and_data
    holds = prior_departure(card, data.candidates, {**PRIORS, "a": PriorValue(0.9, "T", "a.x")})
    assert holds == ("ImageNet top-1 would have picked a (90.0% [T]); on your images the prior's pick holds: "
                     "A · linear probe is the top candidate for accuracy.")
    close = prior_departure(card, data.candidates, {**PRIORS, "b": PriorValue(0.7, "O", "b/y")})
    assert close.startswith("ImageNet top-1 would have picked c (83.0% [T]); on your images A · linear probe scores +")
    assert close.endswith("but the data cannot separate them: the prior's pick holds so far.")


def test_models_without_a_published_number_are_named(card_and_data):
    card, data = card_and_data
    assert prior_departure(card, data.candidates, {"a": PRIORS["a"], "c": PRIORS["c"]}, {"b": "Model B"}).endswith(
        "holds so far. Not in the prior's pick (no published top-1 for the exact checkpoint): Model B.")
    assert prior_departure(card, data.candidates, {}).startswith("No model run here has a published ImageNet top-1")
    assert prior_departure(decision_card(data, "speed"), data.candidates, PRIORS) == ""  # no interval to compare on


def test_published_priors_are_the_exact_checkpoints_top1(tmp_path, monkeypatch):
    specs = [MODELS.get(name) for name in ("vit_sup", "convnext_sup", "vit_clip", "effnet_lite0")]
    monkeypatch.setenv("BAE_DATA_DIR", str(tmp_path / "empty"))
    assert published_priors(specs) == {}  # nothing downloaded: no prior, no error
    tables.write_tables(monkeypatch, tmp_path / "data")
    priors = published_priors(specs)
    assert priors["vit_sup"] == PriorValue(pytest.approx(0.85728), "T", "deit3_base_patch16_224.fb_in22k_ft_in1k")
    assert priors["convnext_sup"].value == pytest.approx(0.85814)  # the 224 px row, not the 288 px one
    assert priors["vit_clip"] == PriorValue(pytest.approx(0.6698), "O", "ViT-B-16/laion400m_e31")
    assert "effnet_lite0" not in priors  # a local file: no publisher lists it


def test_the_report_says_it_too(tmp_path, tiny_models_toml):
    """The HTML report's section: each model's published top-1 (none for a local file) and the sentence."""
    from core.task.report import write_task_report
    from tests.fixtures.task_folders import run_digits_task

    store, _, _, _ = run_digits_task(tmp_path, ["tiny_convnext"], per_class=4, severities=(1,))
    text = write_task_report("digits", "html", tmp_path / "digits.html", store=store).read_text()
    assert "Where your images depart from the ImageNet prior" in text
    assert "No model run here has a published ImageNet top-1 for its exact checkpoint" in text
    assert "none published" in text
