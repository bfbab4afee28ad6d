"""The decision card: paired differences equal a plain numpy loop with the same seed; the verdict follows
the Findings rule; the k-shot sampler is stratified and deterministic per seed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.task.decision import decision_card
from core.task.spec import TaskSpec
from core.task.measures import TaskData, kappa_table, summary_table
from core.task.probes import kshot_indices, prediction_columns


def _data(rng, n=400, accuracies=(0.80, 0.70, 0.79)) -> TaskData:
    labels = rng.integers(0, 4, n)
    shared = rng.random(n)
    correct = np.stack([(shared * 0.5 + rng.random(n) * 0.5) < a for a in accuracies]).astype(float)
    conf = np.clip(correct * 0.3 + rng.random(correct.shape) * 0.7, 0.26, 1.0)
    pred = np.where(correct.astype(bool), labels, (labels + 1) % 4)
    candidates = pd.DataFrame({"candidate": ["A · linear probe", "B · zero-shot", "C · linear probe"],
                               "model": ["a", "b", "c"], "method": ["probe", "zero-shot", "probe"], "k": [0, 0, 0]})
    test = pd.DataFrame({"image_id": [f"{i:04d}" for i in range(n)], "path": "", "label": labels})
    spec = TaskSpec("t", "", "folders", ("w", "x", "y", "z"), ("w", "x", "y", "z"))
    costs = pd.DataFrame({"model": ["a", "b", "c"], "images_per_s": [10.0, 30.0, 20.0], "params": [1, 2, 3]})
    return TaskData(spec, {}, test, candidates, correct, conf, 1 - conf, conf, pred, pd.DataFrame(), {},
                    pd.DataFrame(), costs)


def _numpy_loop(values_a, values_b, statistic, n, *, seed=0, n_resamples=1000):
    rng = np.random.default_rng(seed)
    reps = []
    for _ in range(n_resamples):
        draw = rng.integers(0, n, n)
        reps.append(statistic(values_a, draw) - statistic(values_b, draw))
    return np.percentile(reps, [2.5, 97.5])


def test_accuracy_differences_equal_a_numpy_loop(rng):
    data = _data(rng)
    card = decision_card(data, "accuracy", seed=7)
    assert card.top == "A · linear probe"
    mean = lambda values, draw: values[draw].mean()  # noqa: E731
    for comparison, other in zip(card.comparisons, (2, 1)):
        low, high = _numpy_loop(data.correct[0], data.correct[other], mean, data.n_images, seed=7)
        assert comparison.candidate == data.candidates.at[other, "candidate"]
        # the card's replicate weights are float32 (exact counts; sums rounded near 1e-8), the loop float64
        assert comparison.difference.ci_low == pytest.approx(min(low, comparison.difference.value), abs=1e-6)
        assert comparison.difference.ci_high == pytest.approx(max(high, comparison.difference.value), abs=1e-6)
        assert comparison.difference.value == pytest.approx(data.correct[0].mean() - data.correct[other].mean())
    assert card.comparisons[0].verdict == "cannot separate"  # 0.80 vs 0.79 on 400 images
    assert card.comparisons[1].verdict == "ahead"  # 0.80 vs 0.70
    assert "paired over 400 images" in card.comparisons[1].sentence


def test_calibration_differences_equal_a_numpy_loop_over_ece(rng):
    from core.metrics.calibration import expected_calibration_error

    data = _data(rng)
    card = decision_card(data, "calibration", seed=3, n_resamples=200)
    ece = [expected_calibration_error(data.conf[i], data.correct[i].astype(bool)) for i in range(3)]
    top = int(np.argmin(ece))
    assert card.top == data.candidates.at[top, "candidate"] and card.top_value == pytest.approx(ece[top])
    other = data.candidates.index[data.candidates["candidate"] == card.comparisons[0].candidate][0]
    statistic = lambda i, draw: -expected_calibration_error(data.conf[i][draw], data.correct[i][draw].astype(bool))  # noqa: E731
    low, high = _numpy_loop(top, other, statistic, data.n_images, seed=3, n_resamples=200)
    diff = card.comparisons[0].difference
    assert (diff.ci_low, diff.ci_high) == pytest.approx((min(low, diff.value), max(high, diff.value)), abs=1e-6)


def test_speed_is_ranked_without_an_interval(rng):
    card = decision_card(_data(rng), "speed")
    assert card.top == "B · zero-shot" and all(c.difference is None for c in card.comparisons)
    assert "no interval" in card.headline


def test_summary_and_kappa_tables(rng):
    from sklearn.metrics import cohen_kappa_score

    data = _data(rng)
    summary = summary_table(data)
    assert summary["accuracy"].tolist() == pytest.approx(data.correct.mean(axis=1).tolist())
    kappa = kappa_table(data).set_index(["a", "b"])
    expected = cohen_kappa_score(data.correct[0].astype(int), data.correct[1].astype(int))
    assert kappa.loc[("A · linear probe", "B · zero-shot"), "kappa"] == pytest.approx(expected)
    row = kappa.loc[("A · linear probe", "B · zero-shot")]
    assert row["ci_low"] <= row["kappa"] <= row["ci_high"]


def test_kshot_sampler_is_stratified_and_deterministic():
    labels = np.repeat(np.arange(5), [20, 20, 20, 20, 3])
    first = kshot_indices(labels, 4, seed=11)
    assert np.bincount(labels[first]).tolist() == [4, 4, 4, 4, 3]  # the small class gives all it has
    assert (first == kshot_indices(labels, 4, seed=11)).all()
    assert not np.array_equal(first, kshot_indices(labels, 4, seed=12))


def test_prediction_columns_brier_matches_a_hand_sum(rng):
    probs = rng.dirichlet(np.ones(6), size=50)
    labels = rng.integers(0, 6, 50)
    columns = prediction_columns(probs, labels)
    onehot = np.eye(6)[labels]
    assert columns["brier"] == pytest.approx(((probs - onehot) ** 2).sum(axis=1))
    assert columns["prob_true"] == pytest.approx(probs[np.arange(50), labels])


def test_kshot_interval_is_a_two_level_bootstrap_equal_to_a_numpy_loop(rng):
    """Images and draws resampled per replicate, as a loop would: the images with `rng.integers(0, n, n)` (the
    weights' stream, seed 0), the draws with their own stream (seed 1)."""
    import dataclasses

    from core.task.measures import kshot_table

    n, n_draws, k = 300, 5, 4
    data = _data(rng, n=n)
    skill = np.array([0.55, 0.62, 0.58, 0.70, 0.50])  # draws differ: the training images matter
    correct = (rng.random((n_draws, n)) < skill[:, None]).astype(float)
    kshot = pd.DataFrame({"model": "a", "k": k, "draw": range(n_draws), "accuracy": correct.mean(1), "n": n})
    data = dataclasses.replace(data, kshot=kshot, kshot_correct={("a", k): correct})
    row = kshot_table(data, n_resamples=400, seed=0).iloc[0]

    images, draws, replicates = np.random.default_rng(0), np.random.default_rng(1), []
    for _ in range(400):
        drawn_images = images.integers(0, n, n)
        per_draw = correct[:, drawn_images].mean(axis=1)
        replicates.append(per_draw[draws.integers(0, n_draws, n_draws)].mean())
    low, high = np.percentile(replicates, [2.5, 97.5])
    assert row["accuracy"] == pytest.approx(correct.mean())
    assert (row["ci_low"], row["ci_high"]) == (pytest.approx(low), pytest.approx(high))
    one_draw_images_only = np.percentile([correct.mean(0)[np.random.default_rng(s).integers(0, n, n)].mean()
                                          for s in range(400)], [2.5, 97.5])
    assert high - low > one_draw_images_only[1] - one_draw_images_only[0]  # the draws' spread is counted


def test_card_gives_p_best_from_m_out_of_n_replicates_and_a_settle_sentence(rng):
    from core.metrics.selection import mcnemar_sample_size
    from core.task.decision import p_best_text

    data = _data(rng)
    card = decision_card(data, "accuracy", seed=5, n_resamples=400)
    shares = dict(card.p_best)
    assert sum(shares.values()) == pytest.approx(1)
    # the m-out-of-n replicates by hand (Hall & Miller 2009): m = ⌈n^0.75⌉ images drawn with replacement per
    # replicate, from the card's seed + 1; each replicate's right answers (exact counts), 1/t to each of t tied
    m = int(np.ceil(data.n_images ** 0.75))
    weights = np.random.default_rng(6).multinomial(m, np.full(data.n_images, 1 / data.n_images), size=400)
    assert card.p_best_m == m and card.n_images == data.n_images
    hits = weights @ data.correct.T
    top = hits == hits.max(axis=1, keepdims=True)
    expected = (top / top.sum(axis=1, keepdims=True)).mean(axis=0)
    for i, name in enumerate(data.candidates["candidate"]):
        assert shares[name] == pytest.approx(expected[i], abs=1e-9)
    assert p_best_text(card).startswith(f"Chance of being best (m-out-of-n bootstrap, m = {m:,} of "
                                        f"{data.n_images:,} test images): ")
    tie = card.comparisons[0]
    assert tie.verdict == "cannot separate"
    a, b = data.correct[0], data.correct[2]
    needed = mcnemar_sample_size((a - b).mean(), np.mean(a != b))
    assert f"About {float(f'{needed:.2g}'):,.0f} labelled test images would separate" in tie.settle
    assert card.comparisons[1].settle == ""  # separated already


def test_card_lists_the_race_drops_and_the_passes_saved(rng):
    race = {"drops": [{"candidate": "D · 16-shot probe", "round": 1, "n": 100, "leader": "A · linear probe",
                       "difference": -0.31, "upper": -0.18}],
            "race_passes": 2_500, "full_passes": 10_000}
    card = decision_card(_data(rng), "accuracy", race=race)
    assert card.race[0].startswith("Dropped in round 1 (100 test images): D · 16-shot probe − A · linear probe "
                                   "top-1 = -31.0 pp")
    assert "75% saved" in card.race[1]


def _kshot_data(rng, n=300):
    """A probe and a 16-shot probe whose five draws differ in skill (the issue's case: draws alone move it)."""
    data = _data(rng, n=n, accuracies=(0.62, 0.70, 0.40))
    draws = np.stack([(rng.random(n) < p) for p in (0.35, 0.45, 0.55, 0.62, 0.70)]).astype(float)
    data.candidates.loc[2] = ["C · 16-shot probe", "c", "k-shot", 16]
    data.correct[2] = draws.mean(axis=0)
    data.conf[2] = np.nan
    data.kshot = pd.DataFrame({"model": "c", "k": 16, "draw": range(5), "accuracy": draws.mean(axis=1), "n": n})
    data.kshot_correct = {("c", 16): draws}
    return data


def test_kshot_interval_is_the_two_level_bootstrap_in_every_place(rng):
    from core.metrics.bootstrap import percentile_interval
    from core.metrics.paired import resample_weights, two_level_accuracy
    from core.task.decision import score_replicates
    from core.task.measures import KSHOT_DRAW_SEED, N_RESAMPLES, kshot_table, replicate_weights

    data = _kshot_data(rng)
    # the two-level bootstrap, built here from its parts: the page's image resample and the seeded draws
    expected = percentile_interval(two_level_accuracy(resample_weights(data.n_images, n_resamples=N_RESAMPLES),
                                                      data.kshot_correct[("c", 16)], seed=KSHOT_DRAW_SEED))
    summary = summary_table(data).set_index("candidate").loc["C · 16-shot probe"]
    curve = kshot_table(data).iloc[0]
    card = percentile_interval(score_replicates(data, "accuracy",
                                                replicate_weights(data.n_images, N_RESAMPLES, 0))[2])
    for place in ((summary["ci_low"], summary["ci_high"]), (curve["ci_low"], curve["ci_high"]), card):
        assert place == pytest.approx(expected, abs=1e-6)
    # wider than the image-only interval the summary used to show: the draws' spread counts
    image_only = percentile_interval(resample_weights(data.n_images, n_resamples=N_RESAMPLES) @ data.correct[2]
                                     / data.n_images)
    assert expected[1] - expected[0] > 1.5 * (image_only[1] - image_only[0])
    # and the card's difference with the k-shot candidate uses those replicates, paired through the same images
    comparison = [c for c in decision_card(data, "accuracy").comparisons if c.candidate == "C · 16-shot probe"][0]
    top = score_replicates(data, "accuracy", replicate_weights(data.n_images, N_RESAMPLES, 0))[1]
    low, high = percentile_interval(top - score_replicates(data, "accuracy",
                                                           replicate_weights(data.n_images, N_RESAMPLES, 0))[2])
    assert (comparison.difference.ci_low, comparison.difference.ci_high) == pytest.approx(
        (min(low, comparison.difference.value), max(high, comparison.difference.value)), abs=1e-9)
