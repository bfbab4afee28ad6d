"""core.metrics.paired: the paired bootstrap against numpy loops and Newcombe's interval, every verdict
outcome on hand-made cases, and claim 5's difference on the authors' released cue-conflict decisions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.metrics import (Difference, bootstrap_p_value, decide, difference, difference_from_intervals,
                          expected_calibration_error, holm_adjust, kth_highest_margin, stratified_accuracy,
                          image_cells, imagenet_x_error_ratios, intervals_overlap, newcombe_paired_interval,
                          part_verdict, proportion_interval, resample_weights, shape_bias, shared_images,
                          weighted_accuracy, weighted_ece, weighted_error_ratios, weighted_shape_bias)
from tests.conftest import shared_data


def _reference_numpy_paired_interval(a, b, n_resamples, seed, level=0.95):
    """The paired bootstrap written out: one index draw per replicate, both models on those images."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_resamples):
        index = rng.integers(0, len(a), len(a))
        values.append(a[index].mean() - b[index].mean())
    tail = (1 - level) / 2 * 100
    return np.percentile(values, tail), np.percentile(values, 100 - tail)


def _accuracy_difference(a, b, *, n_resamples=1000, seed=0, paired=True):
    if paired:
        weights_a = weights_b = resample_weights(len(a), n_resamples=n_resamples, seed=seed)
    else:
        weights_a = resample_weights(len(a), n_resamples=n_resamples, seed=seed)
        weights_b = resample_weights(len(b), n_resamples=n_resamples, seed=seed + 1)
    ones = lambda x: np.ones(len(x))  # noqa: E731
    return difference(weighted_accuracy(ones(a), a)[0], weighted_accuracy(ones(b), b)[0],
                      weighted_accuracy(weights_a, a), weighted_accuracy(weights_b, b), n=min(len(a), len(b)),
                      paired=paired)


def _correlated(n=1000, base=700, extra=30, seed=0):
    """Model b is right wherever a is, and on `extra` more images: highly correlated per-image results."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    a = np.zeros(n)
    a[order[:base]] = 1
    b = a.copy()
    b[order[base:base + extra]] = 1
    return a, b


def test_paired_interval_matches_a_numpy_loop(rng):
    a, b = (rng.random(400) < 0.7).astype(float), (rng.random(400) < 0.6).astype(float)
    diff = _accuracy_difference(a, b, n_resamples=500, seed=3)
    low, high = _reference_numpy_paired_interval(a, b, 500, 3)
    assert diff.value == pytest.approx(a.mean() - b.mean(), abs=1e-12)
    assert (diff.ci_low, diff.ci_high) == pytest.approx((low, high), abs=1e-12)


@pytest.mark.parametrize("table", [(1200, 90, 40, 670), (500, 30, 32, 1438), (900, 5, 60, 1035)])
def test_paired_accuracy_interval_matches_newcombe(table):
    both, only_a, only_b, neither = table
    a = np.repeat([1.0, 1.0, 0.0, 0.0], table)
    b = np.repeat([1.0, 0.0, 1.0, 0.0], table)
    diff = _accuracy_difference(a, b, n_resamples=4000, seed=1)
    low, high = newcombe_paired_interval(both, only_a, only_b, neither)
    # two different methods (percentile bootstrap, score interval) agree to about a tenth of the width
    assert diff.ci_low == pytest.approx(low, abs=0.004)
    assert diff.ci_high == pytest.approx(high, abs=0.004)


def test_correlated_models_reproduce_where_separate_intervals_overlap():
    a, b = _correlated()
    separate_a = proportion_interval(int(a.sum()), len(a))
    separate_b = proportion_interval(int(b.sum()), len(b))
    assert intervals_overlap(separate_a, separate_b)  # the old rule: inconclusive
    diff = _accuracy_difference(b, a)
    assert diff.ci_low > 0.015 and diff.paired
    assert part_verdict(diff, expect="higher") == "reproduced"
    unpaired = _accuracy_difference(b, a, paired=False)  # the same data resampled as if independent
    assert unpaired.ci_low < 0 < unpaired.ci_high and not unpaired.paired
    assert part_verdict(unpaired, expect="higher") == "inconclusive"
    assert "unpaired" in unpaired.method and "paired over 1,000 images" == diff.method


def test_independent_models_with_equal_means_are_inconclusive(rng):
    a = np.zeros(1000)
    a[rng.permutation(1000)[:700]] = 1
    b = np.zeros(1000)
    b[rng.permutation(1000)[:700]] = 1
    diff = _accuracy_difference(a, b)
    assert diff.value == 0 and diff.ci_low < 0 < diff.ci_high
    assert part_verdict(diff, expect="higher") == part_verdict(diff, expect="lower") == "inconclusive"
    assert bootstrap_p_value(np.array([-1.0, 1.0])) == 1.0


def test_a_clear_difference_the_other_way_is_contradicted():
    a, b = _correlated(extra=60)
    diff = _accuracy_difference(a, b)  # a is below b
    assert diff.ci_high < 0 and diff.p_value < 0.01
    assert part_verdict(diff, expect="higher") == "contradicted"
    assert part_verdict(diff, expect="lower") == "reproduced"
    assert part_verdict(None, expect="higher") == "not measured"
    with pytest.raises(ValueError, match="'higher' or 'lower'"):
        part_verdict(diff, expect="above")


def test_pair_of_pairs_is_the_difference_of_pair_means_in_each_replicate():
    """CLIP pair (0.73, 0.74) vs supervised pair (0.70, 0.71), nested per image: the 'mean of the
    members' interval ends' overlaps; the pair difference in the same replicates does not."""
    n = 1000
    order = np.random.default_rng(5).permutation(n)
    models = {}
    for name, right in (("vit_sup", 700), ("convnext_sup", 710), ("vit_clip", 730), ("convnext_clip", 740)):
        models[name] = np.zeros(n)
        models[name][order[:right]] = 1
    weights = resample_weights(n, n_resamples=1000, seed=0)
    reps = {m: weighted_accuracy(weights, v) for m, v in models.items()}
    points = {m: v.mean() for m, v in models.items()}
    clip, sup = ("vit_clip", "convnext_clip"), ("vit_sup", "convnext_sup")
    diff = difference([points[m] for m in clip], [points[m] for m in sup], [reps[m] for m in clip],
                      [reps[m] for m in sup], n=n)
    assert diff.value == pytest.approx(0.735 - 0.705)
    by_hand = (reps["vit_clip"] + reps["convnext_clip"]) / 2 - (reps["vit_sup"] + reps["convnext_sup"]) / 2
    assert (diff.ci_low, diff.ci_high) == pytest.approx(tuple(np.percentile(by_hand, [2.5, 97.5])), abs=1e-12)
    ends = {m: proportion_interval(int(v.sum()), n) for m, v in models.items()}
    clip_ends = tuple(np.mean([ends[m][i] for m in clip]) for i in (0, 1))
    sup_ends = tuple(np.mean([ends[m][i] for m in sup]) for i in (0, 1))
    assert intervals_overlap(clip_ends, sup_ends)
    assert part_verdict(diff, expect="higher") == "reproduced"


def test_multi_part_claim_holm_gates_contradicted_only():
    clear = Difference(.6, .5, .1, .05, .15, .001, 1000, True)
    weak_up = Difference(.52, .5, .02, .001, .04, .03, 1000, True)
    weak_down = Difference(.5, .52, -.02, -.04, -.001, .03, 1000, True)
    # every part reproduced at its own 95%: the claim is (intersection-union test, no correction)
    assert decide([(clear, "higher"), (weak_up, "higher"), (weak_up, "higher")]) == (["reproduced"] * 3, "reproduced")
    # alone, a weak opposite difference contradicts; among three parts Holm's step-down lifts it to 0.09
    assert decide([(weak_down, "higher")]) == (["contradicted"], "contradicted")
    verdicts, claim = decide([(clear, "higher"), (weak_up, "higher"), (weak_down, "higher")])
    assert verdicts == ["reproduced", "reproduced", "inconclusive"] and claim == "inconclusive"
    verdicts, claim = decide([(clear, "lower"), (weak_up, "higher"), (None, "higher")])
    assert verdicts == ["contradicted", "reproduced", "not measured"] and claim == "contradicted"
    assert decide([]) == ([], "not measured")


def test_holm_adjust_by_hand():
    # sorted 0.01, 0.02, 0.04, 0.30 (m = 4): 0.04, 0.06, 0.08, 0.30; NaN left out of m
    adjusted = holm_adjust([0.04, np.nan, 0.30, 0.01, 0.02])
    assert np.isnan(adjusted[1])
    assert adjusted[[3, 4, 0, 2]] == pytest.approx([0.04, 0.06, 0.08, 0.30])
    assert holm_adjust([0.5, 0.6]).tolist() == [1.0, 1.0]


def test_weighted_statistics_at_unit_weights_equal_the_metrics(rng):
    n = 600
    confidence, correct = rng.random(n), rng.random(n) < 0.6
    assert weighted_ece(np.ones(n), confidence, correct)[0] == pytest.approx(
        expected_calibration_error(confidence, correct, n_bins=15), abs=1e-12)
    classes = np.array(list("abcd"))
    shape_cls, texture_cls, decision = (classes[rng.integers(0, 4, n)] for _ in range(3))
    conflict = shape_cls != texture_cls
    ours = weighted_shape_bias(np.ones(conflict.sum()), (decision == shape_cls)[conflict],
                               (decision == texture_cls)[conflict])[0]
    assert ours == pytest.approx(shape_bias(shape_cls, texture_cls, decision)["shape_bias"], abs=1e-12)
    factors = ("pose", "background", "texture")
    names = [f"ILSVRC2012_val_{i:08d}.JPEG" for i in range(n)]
    masks = rng.random((n, 3)) < 0.3
    labels, preds = rng.integers(0, 5, n), rng.integers(0, 5, n)
    annotations = pd.DataFrame({"file_name": names, "class": labels, **{f: masks[:, i] for i, f in enumerate(factors)}})
    import core.data.imagenet_x as imagenet_x

    original = imagenet_x.FACTORS
    imagenet_x.FACTORS = factors
    try:
        reference = imagenet_x_error_ratios(names, preds, annotations)["error_ratio"].to_numpy()
    finally:
        imagenet_x.FACTORS = original
    assert weighted_error_ratios(np.ones(n), preds != labels, masks)[0] == pytest.approx(reference, abs=1e-12)


def test_cells_give_the_bootstrap_distribution_of_the_images(rng):
    a, b = _correlated(n=2000, base=1400, extra=50)
    rows, sizes = image_cells(np.stack([a, b], axis=1))
    assert sizes.sum() == 2000 and len(rows) == 3
    by_cell = resample_weights(sizes, n_resamples=4000, seed=2)
    by_image = resample_weights(2000, n_resamples=4000, seed=2)
    cell_diff = weighted_accuracy(by_cell, rows[:, 1]) - weighted_accuracy(by_cell, rows[:, 0])
    image_diff = weighted_accuracy(by_image, b) - weighted_accuracy(by_image, a)
    assert np.percentile(cell_diff, [2.5, 50, 97.5]) == pytest.approx(np.percentile(image_diff, [2.5, 50, 97.5]),
                                                                     abs=0.002)
    assert weighted_accuracy(sizes, rows[:, 1])[0] == pytest.approx(b.mean())


def test_shared_images_and_bad_input():
    ids, positions, same = shared_images(np.array(["c", "a", "b"]), np.array(["b", "c", "a"]))
    assert ids.tolist() == ["a", "b", "c"] and same
    assert [p.tolist() for p in positions] == [[1, 2, 0], [2, 0, 1]]
    assert not shared_images(np.array(["a", "b"]), np.array(["a"]))[2]
    with pytest.raises(ValueError, match="at least one image"):
        resample_weights(0)
    with pytest.raises(ValueError, match="shape"):
        weighted_accuracy(np.ones((2, 3)), np.ones(4))
    with pytest.raises(ValueError, match="as many replicates"):
        difference(0.5, 0.4, np.ones(3), np.ones(4), n=3)


def _authors_conflict_hits():
    """{model: (shape hits, texture hits)} on the cue-conflict images, all models in the same image order."""
    from core.data.cue_conflict import AUTHOR_MODELS, read_decisions

    frames = {}
    for path in sorted(shared_data("cue-conflict-paper-models").glob("cue-conflict_*_session-1.csv")):
        frames[AUTHOR_MODELS[path.name.split("_")[1]]] = pd.DataFrame(read_decisions(path)).set_index("image_id")
    ids = sorted(frames["vit_clip"].index)
    hits = {}
    for model, frame in frames.items():
        frame = frame.loc[ids]
        frame = frame[frame["shape"] != frame["texture"]]
        hits[model] = ((frame["decision16"] == frame["shape"]).to_numpy(),
                       (frame["decision16"] == frame["texture"]).to_numpy())
    return hits


def test_claim5_clip_difference_on_the_authors_decisions():
    hits = _authors_conflict_hits()
    n = len(hits["vit_clip"][0])
    assert n == 1200
    weights = resample_weights(n, n_resamples=2000, seed=0)
    reps = {m: weighted_shape_bias(weights, *h) for m, h in hits.items()}
    points = {m: weighted_shape_bias(np.ones(n), *h)[0] for m, h in hits.items()}
    diff = difference(points["vit_clip"], points["convnext_clip"], reps["vit_clip"], reps["convnext_clip"], n=n)
    # an independent computation: index draws in a loop, shape bias recounted with numpy on each
    rng = np.random.default_rng(0)
    loop = []
    for _ in range(2000):
        index = rng.integers(0, n, n)
        bias = [h[0][index].sum() / (h[0][index].sum() + h[1][index].sum())
                for h in (hits["vit_clip"], hits["convnext_clip"])]
        loop.append(bias[0] - bias[1])
    assert (diff.ci_low, diff.ci_high) == pytest.approx(tuple(np.percentile(loop, [2.5, 97.5])), abs=1e-12)
    # the numbers: +0.041 [0.006, 0.074], within bootstrap noise
    assert diff.value == pytest.approx(0.041, abs=0.001)
    assert diff.ci_low == pytest.approx(0.006, abs=0.004) and diff.ci_high == pytest.approx(0.074, abs=0.004)
    clip, sup = ("vit_clip", "convnext_clip"), ("vit_sup", "convnext_sup")
    parts = [(difference(points[c], points[v], reps[c], reps[v], n=n), "lower")
             for c, v in (("convnext_sup", "vit_sup"), ("convnext_clip", "vit_clip"))]  # ConvNeXt − ViT
    parts.append((difference([points[m] for m in clip], [points[m] for m in sup], [reps[m] for m in clip],
                             [reps[m] for m in sup], n=n), "higher"))
    assert decide(parts) == (["reproduced"] * 3, "reproduced")


def test_chunked_weights_equal_one_draw():
    rng = np.random.default_rng(4)
    chunks = np.vstack([resample_weights(50, n_resamples=7, seed=rng, dtype=np.float32) for _ in range(3)])
    assert chunks.dtype == np.float32
    assert np.array_equal(chunks, resample_weights(50, n_resamples=21, seed=4))


def test_stratified_accuracy_matches_resampling_each_stratum_by_index(rng):
    """Two strata (conditions) of different size and accuracy: the mean of per-stratum accuracies, each
    stratum resampled within itself, against the same bootstrap written with index draws."""
    strata = {"fog/1": (np.repeat([1, 1, 0, 0], [300, 40, 10, 150]), np.repeat([1, 0, 1, 0], [300, 40, 10, 150])),
              "snow/5": (np.repeat([1, 1, 0, 0], [100, 60, 5, 835]), np.repeat([1, 0, 1, 0], [100, 60, 5, 835]))}
    cells, sizes, labels = [], [], []
    for name, (a, b) in strata.items():
        rows, counts = image_cells(np.stack([a, b], axis=1))
        cells.append(rows)
        sizes.append(counts)
        labels += [name] * len(rows)
    point, reps = stratified_accuracy(np.vstack(cells), np.concatenate(sizes), np.array(labels),
                                      n_resamples=4000, seed=0)
    assert point == pytest.approx([np.mean([a.mean() for a, _ in strata.values()]),
                                   np.mean([b.mean() for _, b in strata.values()])])
    loop_rng = np.random.default_rng(1)
    loop = []
    for _ in range(4000):
        per = []
        for a, b in strata.values():
            index = loop_rng.integers(0, len(a), len(a))
            per.append(a[index].mean() - b[index].mean())
        loop.append(np.mean(per))
    assert np.percentile(reps[0] - reps[1], [2.5, 97.5]) == pytest.approx(np.percentile(loop, [2.5, 97.5]),
                                                                         abs=0.002)


def test_kth_highest_margin_against_sorting(rng):
    values = rng.random((50, 16))
    values[3, 5] = np.nan
    margin = kth_highest_margin(values, 2, 3)
    for row, got in zip(values, margin):
        others = sorted((v for i, v in enumerate(row) if i != 2 and not np.isnan(v)), reverse=True)
        assert got == pytest.approx(row[2] - others[2])
        assert (got > 0) == (sum(v > row[2] for v in others) < 3)


def test_difference_from_intervals_by_hand():
    from scipy.stats import norm

    d = difference_from_intervals([(0.80, 0.76, 0.84), (0.70, 0.68, 0.72)], [(0.74, 0.72, 0.76)], n=500)
    z = norm.ppf(0.975)
    se = np.sqrt(((0.08 / (2 * z)) ** 2 + (0.04 / (2 * z)) ** 2) / 4 + (0.04 / (2 * z)) ** 2)
    assert d.value == pytest.approx(0.01)
    assert (d.ci_low, d.ci_high) == pytest.approx((0.01 - z * se, 0.01 + z * se))
    assert d.p_value == pytest.approx(2 * norm.sf(0.01 / se)) and not d.paired and "intervals" in d.method


def _reference_loop_two_level(image_draws, draw_draws, correct_draws):
    """Replicate by replicate in plain Python: the drawn draws' accuracies on the drawn images, averaged."""
    values = []
    for images, draws in zip(image_draws, draw_draws):
        values.append(np.mean([np.mean([correct_draws[d][i] for i in images]) for d in draws]))
    return np.array(values)


def test_two_level_accuracy_matches_a_loop_over_drawn_images_and_draws():
    from core.metrics.paired import resample_weights, two_level_accuracy

    rng = np.random.default_rng(7)
    correct_draws = (rng.random((5, 40)) < np.array([0.3, 0.5, 0.6, 0.7, 0.9])[:, None]).astype(float)
    weights = resample_weights(40, n_resamples=50, seed=3)
    image_draws = [np.repeat(np.arange(40), row.astype(int)) for row in weights]
    draw_draws = np.random.default_rng(11).integers(0, 5, (50, 5))
    expected = _reference_loop_two_level(image_draws, draw_draws, correct_draws)
    np.testing.assert_allclose(two_level_accuracy(weights, correct_draws, seed=11), expected, atol=1e-6)
    # the first rows of a longer run are the shorter run's: a table (500) and a card (1,000) agree
    longer = two_level_accuracy(resample_weights(40, n_resamples=80, seed=3), correct_draws, seed=11)
    np.testing.assert_allclose(longer[:50], expected, atol=1e-6)
