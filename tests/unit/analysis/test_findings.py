"""Verdict rules of the Findings page on hand-made cases: every outcome, missing data, one model missing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.analysis.claims import (CLAIMS, Estimate, claim_calibration, claim_invariance, claim_mistakes, claim_pug,
                                  claim_robustness, claim_shape_bias, claim_texture, claim_transfer, combine, compare,
                                  pair_estimate)


def _frame(values: dict, width: float = 0.01, **extra) -> pd.DataFrame:
    """model → value, with a ±width interval."""
    return pd.DataFrame([{"model": m, "value": v, "ci_low": v - width, "ci_high": v + width, "n": 100,
                          "source": "ours", **extra} for m, v in values.items()])


# --- compare / combine / pair_estimate ------------------------------------------------------------

@pytest.mark.parametrize(("a", "b", "expect", "verdict"), [
    ((0.6, 0.55, 0.65), (0.4, 0.35, 0.45), "higher", "reproduced"),
    ((0.6, 0.55, 0.65), (0.4, 0.35, 0.45), "lower", "contradicted"),
    ((0.4, 0.35, 0.45), (0.6, 0.55, 0.65), "lower", "reproduced"),
    ((0.4, 0.35, 0.45), (0.6, 0.55, 0.65), "higher", "contradicted"),
    ((0.6, 0.44, 0.65), (0.4, 0.35, 0.45), "higher", "inconclusive"),  # overlap although a's value is higher
    ((0.5, 0.45, 0.50), (0.4, 0.35, 0.45), "higher", "inconclusive"),  # touching ends count as overlap
])
def test_compare_every_outcome(a, b, expect, verdict):
    assert compare(Estimate("a", *a), Estimate("b", *b), expect=expect) == verdict


def test_compare_missing_and_nan_are_not_measured():
    present = Estimate("a", 0.5, 0.4, 0.6)
    assert compare(None, present, expect="higher") == "not measured"
    assert compare(present, None, expect="lower") == "not measured"
    assert compare(present, Estimate("b", float("nan"), float("nan"), float("nan")), expect="higher") == "not measured"


def test_compare_rejects_a_bad_direction_and_estimate_a_bad_interval():
    with pytest.raises(ValueError, match="'higher' or 'lower'"):
        compare(Estimate("a", 1, 0, 2), Estimate("b", 1, 0, 2), expect="above")
    with pytest.raises(ValueError, match="ci_low <= value <= ci_high"):
        Estimate("a", 5.0, 0.0, 1.0)


@pytest.mark.parametrize(("parts", "verdict"), [
    (["reproduced", "reproduced"], "reproduced"),
    (["reproduced", "inconclusive"], "inconclusive"),
    (["reproduced", "not measured", "inconclusive"], "not measured"),
    (["reproduced", "contradicted", "not measured"], "contradicted"),
    ([], "not measured"),
])
def test_combine(parts, verdict):
    assert combine(parts) == verdict


def test_pair_estimate_is_the_mean_with_mean_interval_ends():
    pair = pair_estimate([Estimate("a", 0.2, 0.1, 0.3, 10), Estimate("b", 0.4, 0.35, 0.5, 20, "authors")], "pair")
    assert (pair.value, pair.ci_low, pair.ci_high, pair.n) == pytest.approx((0.3, 0.225, 0.4, 30))
    assert pair.source == "authors+ours"
    assert pair_estimate([Estimate("a", 0.2, 0.1, 0.3), None], "pair") is None


# --- claims: each outcome, all missing, one model missing --------------------------------------------

PAPERLIKE_SHAPE = {"vit_sup": 0.40, "convnext_sup": 0.33, "vit_clip": 0.47, "convnext_clip": 0.44}


def test_claim_shape_bias_outcomes():
    assert claim_shape_bias(_frame(PAPERLIKE_SHAPE)).verdict == "reproduced"
    flipped = {**PAPERLIKE_SHAPE, "convnext_sup": 0.45}  # ConvNeXt above ViT in the supervised pair
    result = claim_shape_bias(_frame(flipped))
    assert result.verdict == "contradicted"
    assert [p.verdict for p in result.parts][0] == "contradicted"
    assert claim_shape_bias(_frame(PAPERLIKE_SHAPE, width=0.05)).verdict == "inconclusive"
    assert claim_shape_bias(None).verdict == "not measured"


def test_one_model_missing_names_it_in_the_command():
    values = {m: v for m, v in PAPERLIKE_SHAPE.items() if m != "convnext_clip"}
    result = claim_shape_bias(_frame(values))
    assert result.verdict == "not measured"
    assert result.missing_models == ("convnext_clip",)
    verdicts = [p.verdict for p in result.parts]
    assert verdicts[0] == "reproduced" and verdicts[1:] == ["not measured", "not measured"]
    pug = claim_pug(_frame({"vit_sup": 0.3, "convnext_sup": 0.4, "vit_clip": 0.2}))
    assert pug.missing_models == ("convnext_clip",)
    assert "--models convnext_clip " in pug.command


def test_claim_mistakes_outcomes():
    def ratios(values, width=0.02):
        return _frame(values, width=width, factor="mean").rename(columns={"value": "error_ratio"})

    assert claim_mistakes(ratios({"vit_sup": 1.5, "convnext_sup": 1.4, "vit_clip": 1.1, "convnext_clip": 1.2})
                          ).verdict == "reproduced"
    assert claim_mistakes(ratios({"vit_sup": 1.1, "convnext_sup": 1.0, "vit_clip": 1.5, "convnext_clip": 1.6})
                          ).verdict == "contradicted"
    assert claim_mistakes(ratios({"vit_sup": 1.3, "convnext_sup": 1.3, "vit_clip": 1.25, "convnext_clip": 1.3},
                                 width=0.1)).verdict == "inconclusive"
    assert claim_mistakes(None).verdict == "not measured"


def _texture_ratios(texture_value, others, width=0.05):
    rows = []
    for model in ("vit_sup", "convnext_sup", "vit_clip", "convnext_clip"):
        factors = {"texture": texture_value, **{f"f{i}": v for i, v in enumerate(others)}}
        rows += [{"model": model, "factor": f, "error_ratio": v, "ci_low": v - width, "ci_high": v + width, "n": 10}
                 for f, v in factors.items()]
    return pd.DataFrame(rows)


def test_claim_texture_outcomes():
    assert claim_texture(_texture_ratios(2.4, [1.0, 1.1, 2.0, 2.5])).verdict == "reproduced"  # rank 2, below 2 others
    result = claim_texture(_texture_ratios(1.0, [1.5, 1.6, 1.7, 0.5]))  # three factors clearly above
    assert result.verdict == "contradicted" and "ranks 4" in result.parts[0].text
    assert claim_texture(_texture_ratios(1.5, [1.52, 1.55, 1.6, 0.5])).verdict == "inconclusive"
    one_missing = _texture_ratios(2.4, [1.0, 1.1])
    one_missing = one_missing[one_missing["model"] != "vit_clip"]
    assert claim_texture(one_missing).missing_models == ("vit_clip",)


def test_claim_calibration_outcomes():
    ece = _frame({"vit_sup": 0.04, "convnext_sup": 0.03, "vit_clip": 0.13, "convnext_clip": 0.14})
    gap = _frame({"vit_sup": -0.01, "convnext_sup": 0.0, "vit_clip": 0.1, "convnext_clip": 0.12})
    assert claim_calibration(ece, gap).verdict == "reproduced"
    under = _frame({"vit_sup": 0.0, "convnext_sup": 0.0, "vit_clip": -0.1, "convnext_clip": 0.12})
    result = claim_calibration(ece, under)
    assert result.verdict == "contradicted" and result.parts[1].verdict == "contradicted"
    assert claim_calibration(ece, None).verdict == "not measured"
    assert "confidence − accuracy" in claim_calibration(ece, gap).numbers


def test_claim_robustness_uses_sets_all_four_have():
    rows = []
    for benchmark, values in {"imagenet-v2": (0.76, 0.75, 0.59, 0.58), "imagenet-r": (0.6, 0.62, 0.77, 0.75),
                              "imagenet-a": (0.6, 0.5, 0.3, 0.3)}.items():
        for model, value in zip(("vit_sup", "convnext_sup", "vit_clip", "convnext_clip"), values):
            rows.append({"model": model, "benchmark": benchmark, "accuracy": value, "ci_low": value - 0.01,
                         "ci_high": value + 0.01, "n": 100})
    table = pd.DataFrame(rows)
    full = claim_robustness(table, ("imagenet-v2", "imagenet-r", "imagenet-a", "imagenet-c"))
    assert full.verdict == "reproduced"
    assert full.numbers.set_index("model").at["vit_sup", "value"] == pytest.approx((0.76 + 0.6 + 0.6) / 3)
    assert "imagenet-c" in full.note
    # imagenet-a lacks one model: the average leaves it out, so only v2 and r decide (a tie → inconclusive)
    partial = table[~((table["benchmark"] == "imagenet-a") & (table["model"] == "convnext_clip"))]
    result = claim_robustness(partial, ("imagenet-v2", "imagenet-r", "imagenet-a"))
    assert result.numbers.set_index("model").at["vit_sup", "value"] == pytest.approx((0.76 + 0.6) / 2)
    assert result.verdict == "inconclusive"
    assert claim_robustness(None, ("imagenet-v2",)).verdict == "not measured"


def test_claim_transfer_margin():
    close = _frame({"vit_sup": 0.80, "convnext_sup": 0.85, "vit_clip": 0.86, "convnext_clip": 0.86}, width=0.002)
    assert claim_transfer(close).verdict == "reproduced"
    far = _frame({"vit_sup": 0.80, "convnext_sup": 0.85, "vit_clip": 0.92, "convnext_clip": 0.93}, width=0.002)
    result = claim_transfer(far)
    assert result.verdict == "contradicted" and [p.verdict for p in result.parts] == ["reproduced", "contradicted"]


def test_claim_invariance_each_kind():
    rows = []
    for kind in ("scale", "shift", "resolution"):
        for model, value in {"vit_sup": 0.7, "convnext_sup": 0.75, "vit_clip": 0.6, "convnext_clip": 0.55}.items():
            rows.append({"model": model, "kind": kind, "value": value, "ci_low": value - 0.01,
                         "ci_high": value + 0.01, "n": 100})
    table = pd.DataFrame(rows)
    assert claim_invariance(table).verdict == "reproduced"
    only_scale = claim_invariance(table[table["kind"] == "scale"])
    assert only_scale.verdict == "not measured" and len(only_scale.parts) == 6
    assert [p.verdict for p in only_scale.parts[:2]] == ["reproduced", "reproduced"]


def test_every_claim_has_a_command_and_a_page():
    assert [c.number for c in CLAIMS] == list(range(1, 9))
    assert all(c.command.startswith("python -m core ") for c in CLAIMS)


# --- error ratio intervals: point values are the metric's own ----------------------------------------

def test_collect_evidence_reads_val_pug_and_shifted_runs_from_a_store(tmp_path):
    """The store glue runs on every benchmark it reads (val, a shifted set, PUG) and the numbers it
    hands the claims equal counts taken by hand from the rows."""
    import numpy as np

    from core.analysis.evidence import assess, collect_evidence
    from core.store import ResultsStore, RunInfo
    from tests.fixtures.synthetic import write_val_runs

    store = ResultsStore(tmp_path / "results.duckdb")
    write_val_runs(store, n=120)
    rng = np.random.default_rng(1)
    expected = {}
    for benchmark in ("pug-imagenet", "imagenet-v2"):
        for model in ("vit_sup", "convnext_sup", "vit_clip", "convnext_clip"):
            run_id = f"{benchmark}-{model}"
            store.start_run(RunInfo(run_id, model, benchmark, "", "paper", 60, data_root="/synthetic"))
            correct = rng.random(60) < (0.3 if "vit" in model else 0.7)
            expected[(benchmark, model)] = correct.mean()
            store.write_batch([{"run_id": run_id, "image_id": f"{i}.jpg", "label": 1, "labels": [1], "pred": 1,
                                "correct": bool(c), "condition": ("pose" if i % 2 else "texture")}
                               for i, c in enumerate(correct)])
            store.finish_run(run_id, "done")
    evidence = collect_evidence(store)
    pug = evidence["pug"]["table"].set_index("model")["value"]
    for model in ("vit_sup", "convnext_sup", "vit_clip", "convnext_clip"):
        assert pug[model] == pytest.approx(expected[("pug-imagenet", model)])
    robust = evidence["robustness"]["table"]
    v2 = robust[robust["benchmark"] == "imagenet-v2"].set_index("model")["accuracy"]
    assert v2["convnext_sup"] == pytest.approx(expected[("imagenet-v2", "convnext_sup")])
    assert set(evidence["pug"]["chart"]["condition"]) == {"pose", "texture"}
    verdicts = {result.claim.number: result.verdict for result in assess(evidence)}
    assert verdicts[6] == "reproduced"  # ConvNeXt 0.7 vs ViT 0.3 on PUG, intervals apart


def test_claim_5_on_the_authors_decisions_is_decided_on_the_paired_difference(tmp_path):
    """Issue 18: a store holding only the authors' released cue-conflict decisions. The CLIP pair's two
    separate intervals overlap (the old rule: inconclusive), but the paired difference over the 1,200
    conflict images excludes 0: ViT-clip − ConvNeXt-clip ≈ +0.041 [0.006, 0.074], so claim 5 is reproduced."""
    from core.analysis.claims import compare
    from core.analysis.evidence import assess, collect_evidence
    from core.analysis.findings import part_line
    from core.run.decisions import import_author_decisions
    from core.store import ResultsStore
    from tests.conftest import shared_data

    store = ResultsStore(tmp_path / "results.duckdb")
    import_author_decisions(shared_data("cue-conflict-paper-models"), store=store, say=lambda _: None)
    result = next(r for r in assess(collect_evidence(store)) if r.claim.number == 5)
    clip = next(p for p in result.parts if p.text.startswith("CLIP:"))
    assert compare(clip.a, clip.b, expect="lower") == "inconclusive"  # the separate intervals overlap
    diff = clip.difference
    assert diff.paired and diff.n == 1200
    assert -diff.value == pytest.approx(0.041, abs=0.001)  # the part states ConvNeXt − ViT
    assert -diff.ci_high == pytest.approx(0.006, abs=0.004) and -diff.ci_low == pytest.approx(0.074, abs=0.004)
    assert clip.verdict == "reproduced"
    assert [p.verdict for p in result.parts] == ["reproduced"] * 3 and result.verdict == "reproduced"
    assert all(p.difference.paired for p in result.parts)
    line = part_line(clip, {"convnext_clip": "ConvNeXt-clip", "vit_clip": "ViT-clip"})
    assert "ConvNeXt-clip − ViT-clip = -0.041 [-0.07" in line and "paired over 1,200 images" in line


def test_parts_without_per_image_data_use_the_unpaired_difference_and_say_so():
    """Frames without differences (linear probes, or a caller with intervals only): the difference of the
    estimates, unpaired; two intervals that overlap can still give a clear difference."""
    from core.analysis.findings import part_line

    overlapping = _frame({"vit_sup": 0.40, "convnext_sup": 0.35, "vit_clip": 0.45, "convnext_clip": 0.41},
                         width=0.025)
    result = claim_shape_bias(overlapping)
    clip = result.parts[1]  # 0.41 ± 0.025 vs 0.45 ± 0.025 overlap; the difference −0.04 ± 0.035 excludes 0
    assert clip.verdict == "reproduced" and not clip.difference.paired
    assert "from the two estimates' intervals" in part_line(clip, {})


def test_invariance_and_pug_differences_are_paired_from_the_store(tmp_path):
    """Variant runs (two scale settings) and PUG runs of the four models on the same images: each part's
    difference is the mean over settings of the per-setting top-1 difference, paired over the images."""
    import numpy as np

    from core.analysis.evidence import assess, collect_evidence
    from core.store import ResultsStore, RunInfo

    store = ResultsStore(tmp_path / "results.duckdb")
    rng = np.random.default_rng(2)
    base = rng.random(200) < 0.6
    truth = {}
    for benchmark, variant in (("imagenet-val", "scale=1.5"), ("imagenet-val", "scale=2"), ("pug-imagenet", "")):
        for k, model in enumerate(("vit_sup", "convnext_sup", "vit_clip", "convnext_clip")):
            flip = rng.random(200) < 0.05 * (k + 1)  # correlated: each model flips a few of the shared outcomes
            correct = base ^ flip
            truth[(variant, model)] = correct.mean()
            run_id = f"{benchmark}-{variant}-{model}"
            store.start_run(RunInfo(run_id, model, benchmark, variant, "paper", 200, data_root="/synthetic"))
            store.write_batch([{"run_id": run_id, "image_id": f"{i}.jpg", "label": 1, "labels": [], "pred": 1,
                                "correct": bool(c), "condition": "pose" if benchmark == "pug-imagenet" else None}
                               for i, c in enumerate(correct)])
            store.finish_run(run_id, "done")
    evidence = collect_evidence(store, n_differences=300)
    scale = evidence["invariance"]["differences"]["scale:convnext_sup-vit_sup"]
    expected = np.mean([truth[(v, "convnext_sup")] - truth[(v, "vit_sup")] for v in ("scale=1.5", "scale=2")])
    assert scale.paired and scale.n == 400 and scale.value == pytest.approx(expected)
    pug = evidence["pug"]["differences"]["convnext_clip-vit_clip"]
    assert pug.paired and pug.value == pytest.approx(truth[("", "convnext_clip")] - truth[("", "vit_clip")])
    results = {r.claim.key: r for r in assess(evidence)}
    assert results["invariance"].parts[0].difference is scale
    assert [p.difference is not None for p in results["invariance"].parts] == [True, True, False, False, False, False]
    assert results["invariance"].verdict == "not measured"  # shift and resolution were not run
