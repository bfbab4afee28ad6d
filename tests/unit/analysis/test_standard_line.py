"""The standard line of issue #32: fitted on ImageNet-1k-trained checkpoints (pretraining read from real timm names
and timm's metadata table), one point per checkpoint, with the population filter; against numpy.polyfit."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from core.analysis.accuracy_line import (PopulationFilter, fit_members, line_description, one_point_per_checkpoint,
                                         population_lines)
from core.data.population import checkpoints, population, population_folder
from core.data.pretraining import METADATA_FILE
from tests.unit.data import published as tables

# real timm names of every kind at the pinned commit (sizes as timm lists them), with a synthetic top-1
REAL = (("resnet50.a1_in1k", 288, 81.2, 25.56), ("resnet50.a1_in1k", 224, 80.4, 25.56),
        ("convnext_tiny.fb_in1k", 288, 82.7, 28.59), ("convnext_tiny.fb_in1k", 224, 82.1, 28.59),
        ("deit3_small_patch16_224.fb_in1k", 224, 81.4, 22.06), ("efficientnet_b0.ra_in1k", 224, 77.7, 5.29),
        ("resnet18", 224, 69.8, 11.69), ("vgg16.tv_in1k", 224, 71.6, 138.36),
        ("regnety_040.ra3_in1k", 288, 82.0, 20.65), ("mobilenetv3_large_100.ra_in1k", 224, 75.8, 5.48),
        ("convnext_base.fb_in22k_ft_in1k", 288, 86.3, 88.59), ("convnext_base.fb_in22k_ft_in1k", 224, 85.8, 88.59),
        ("vit_base_patch16_clip_224.openai_ft_in1k", 224, 85.3, 86.57),
        ("resnext101_32x8d.fb_swsl_ig1b_ft_in1k", 224, 84.3, 88.79),
        ("tf_efficientnet_b0.ns_jft_in1k", 224, 78.7, 5.29), ("ig_resnext101_32x8d", 224, 82.7, 88.79),
        ("eva02_base_patch14_448.mim_in22k_ft_in22k_in1k", 448, 88.7, 87.12), ("mystery_net", 224, 79.0, 10.0))
KIND = {"resnet50.a1_in1k": "in1k", "convnext_tiny.fb_in1k": "in1k", "deit3_small_patch16_224.fb_in1k": "in1k",
        "efficientnet_b0.ra_in1k": "in1k", "resnet18": "in1k", "vgg16.tv_in1k": "in1k", "regnety_040.ra3_in1k": "in1k",
        "mobilenetv3_large_100.ra_in1k": "in1k", "convnext_base.fb_in22k_ft_in1k": "in21k",
        "vit_base_patch16_clip_224.openai_ft_in1k": "clip", "resnext101_32x8d.fb_swsl_ig1b_ft_in1k": "weak",
        "tf_efficientnet_b0.ns_jft_in1k": "weak", "ig_resnext101_32x8d": "weak",
        "eva02_base_patch14_448.mim_in22k_ft_in22k_in1k": "in21k", "mystery_net": "unknown"}
BONUS = {"in1k": 0.0, "in21k": 0.4, "clip": 1.0, "weak": 0.5, "unknown": 0.3}
"""The synthetic shifted top-1 sits this far above the in1k line (logit units) by pretraining."""


@pytest.fixture
def real(monkeypatch, tmp_path):
    """timm's result files in its format with the real names above, and its metadata table (two of its real rows
    plus resnet18's)."""
    monkeypatch.setenv("BAE_DATA_DIR", str(tmp_path / "data"))
    folder = population_folder("timm")
    folder.mkdir(parents=True)
    rng = np.random.default_rng(3)
    val = [tables.TIMM_HEADER] + [f"{n},{s},{t:.3f},{100 - t:.3f},95.0,5.0,{p},0.95,bicubic" for n, s, t, p in REAL]
    (folder / "results-imagenet.csv").write_text("\n".join(val) + "\n")
    for file, (_, intercept) in tables.SETS.items():
        lines = [tables.TIMM_TEST_HEADER]
        for name, size, top1, params in REAL:
            z = intercept + tables.SLOPE * special.logit(top1 / 100) + BONUS[KIND[name]] + rng.normal(0, 0.05)
            shifted = 100 * special.expit(z)
            lines.append(f"{name},{size},{shifted:.3f},{100 - shifted:.3f},80.0,20.0,{params},0.95,bicubic,+0,-1,+1")
        (folder / file).write_text("\n".join(lines) + "\n")
    (folder / METADATA_FILE).write_text("model,pretrain\nig_resnext101_32x8d,ig1b-wsl\nresnet18,in1k\n")
    return population()


def test_the_pretraining_table_reads_every_kind_from_real_names(real):
    names = checkpoints(real).set_index("checkpoint")
    assert len(names) == len(KIND)  # a checkpoint at two sizes is one row
    assert names["pretraining"].to_dict() == KIND
    assert names.loc["resnet50.a1_in1k", "sizes"] == "224, 288"
    assert names.loc["resnet50.a1_in1k", "imagenet"] == pytest.approx(0.804)  # the smaller size's top-1
    assert names.loc["ig_resnext101_32x8d", "pretraining_from"] == METADATA_FILE
    assert names.loc["resnet18", "pretraining_from"] == METADATA_FILE
    assert names.loc["convnext_base.fb_in22k_ft_in1k", "pretraining_from"] == "tag"
    assert names.loc["mystery_net", "pretraining_from"] == ""
    assert names.loc["regnety_040.ra3_in1k", "family"] == "regnet"
    assert names.loc["vgg16.tv_in1k", "param_count"] == pytest.approx(138.36)


def test_the_imagenet_1k_line_is_numpy_polyfit_on_the_in1k_checkpoints_at_their_smaller_size(real):
    lines = population_lines(real, n_resamples=200)
    for benchmark, line in lines.items():
        rows = real[(real["benchmark"] == benchmark) & (real["pretraining"] == "in1k")]
        rows = rows.sort_values("img_size").drop_duplicates("checkpoint")  # by hand: one row each, smaller size
        slope, intercept = np.polyfit(special.logit(rows["imagenet"]), special.logit(rows["shifted"]), 1)
        assert line.fit.slope == pytest.approx(slope, rel=1e-9) and line.fit.intercept == pytest.approx(intercept,
                                                                                                          rel=1e-9)
        assert sorted(line.checkpoints) == sorted(rows["checkpoint"]) and line.fit_on == "in1k"
        assert line.unknown == ("mystery_net",) and line.two_sizes == 2  # resnet50 and convnext_tiny
    text = line_description(lines)
    assert "ImageNet-1k-trained (Taori et al.'s standard line)" in text and "8 checkpoints" in text
    assert "mystery_net" in text and "smaller size" in text


def test_every_timm_line_and_the_filter(real):
    every = population_lines(real, fit_on="timm", n_resamples=50)["imagenet-r"]
    assert len(every.imagenet) == len(KIND) and every.unknown == ()
    in1k = population_lines(real, n_resamples=50)["imagenet-r"]
    assert every.fit.predict(0.857) > in1k.fit.predict(0.857)  # extra-data checkpoints lift the line
    small = PopulationFilter(params_max=30.0)
    members, _ = fit_members(real, "in1k", small)
    assert set(members["checkpoint"]) == {n for n, _, _, p in REAL if KIND[n] == "in1k" and p <= 30}
    assert set(fit_members(real, "timm", PopulationFilter(families=("resnet",)))[0]["checkpoint"]) == {
        "resnet50.a1_in1k", "resnet18"}
    assert fit_members(real, "timm", PopulationFilter(pretraining=("weak",)))[0]["checkpoint"].nunique() == 3
    assert "families resnet" in PopulationFilter(families=("resnet",)).describe()
    assert not PopulationFilter().active and PopulationFilter().describe() == ""


def test_a_checkpoint_at_two_sizes_is_one_unit_of_the_fit_and_the_bootstrap(real):
    line = population_lines(real, n_resamples=300)["imagenet-v2"]
    assert len(line.imagenet) == len(set(line.checkpoints)) == 8  # 10 rows, 8 checkpoints
    assert line.checkpoints.count("resnet50.a1_in1k") == 1
    rows = one_point_per_checkpoint(real[real["checkpoint"] == "resnet50.a1_in1k"])
    assert rows["img_size"].unique().tolist() == [224]
    # the bootstrap draws 8 units per refit: its slopes spread like a resample of 8 points, not 10
    from core.metrics.effective_robustness import bootstrap_lines

    slopes, _ = bootstrap_lines(line.imagenet, line.shifted, n_resamples=300)
    assert np.std(line.slopes) == pytest.approx(np.std(slopes), rel=1e-9)
