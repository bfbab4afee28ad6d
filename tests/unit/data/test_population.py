"""core.data.population: the published tables, downloaded from the local mirror in their publishers' formats."""

from __future__ import annotations

import numpy as np
import pytest

from core.data.download import dataset_status, download
from core.data.population import (PopulationInvalid, PopulationMissing, population, population_folder,
                                  published_entries)
from core.metrics.effective_robustness import fit_line
from tests.unit.data import published as tables
from tests.unit.data.test_download import _serve, server  # noqa: F401 - the mirror fixture


@pytest.fixture
def downloaded(server, monkeypatch):  # noqa: F811 - pytest fixture
    for name in ("timm-results", "openclip-results"):
        _serve(server, monkeypatch, name)
        download(name, say=lambda _: None)
        assert dataset_status(name) == "present"
    return population()


def test_population_reads_both_tables_into_one_tidy_frame(downloaded):
    table = downloaded
    n_timm = len(tables.timm_population())
    assert set(table["benchmark"]) == {"imagenet-v2", "imagenet-real", "imagenet-sketch", "imagenet-r", "imagenet-a"}
    per_set = table.groupby(["benchmark", "publisher"]).size()
    assert per_set[("imagenet-v2", "timm")] == n_timm and per_set[("imagenet-v2", "open_clip")] == 5
    assert ("imagenet-real", "open_clip") not in per_set.index  # open_clip publishes no ReaL
    deit = table[(table["checkpoint"] == "deit3_base_patch16_224.fb_in22k_ft_in1k") & (table["benchmark"] == "imagenet-v2")]
    assert deit["imagenet"].item() == pytest.approx(0.85728) and deit["point"].item().endswith("@ 224px")
    assert table["imagenet"].between(0, 1).all() and table["shifted"].between(0, 1).all()
    assert set(table["kind"]) == {"ImageNet classifiers (timm)", "CLIP zero-shot (open_clip)"}


@pytest.mark.parametrize("benchmark", ["imagenet-v2", "imagenet-sketch", "imagenet-a"])
def test_the_line_fitted_on_the_timm_points_is_the_one_they_were_built_on(downloaded, benchmark):
    timm = downloaded[(downloaded["publisher"] == "timm") & (downloaded["benchmark"] == benchmark)]
    fit = fit_line(timm["imagenet"], timm["shifted"])
    intercept = {b: i for b, i in tables.SETS.values()}[benchmark]
    assert fit.slope == pytest.approx(tables.SLOPE, abs=2e-3) and fit.intercept == pytest.approx(intercept, abs=3e-3)


def test_the_exact_checkpoint_matches_and_a_near_name_does_not(downloaded):
    deit = published_entries(downloaded, "vit_sup", "timm", "deit3_base_patch16_224.fb_in22k_ft_in1k", None)
    assert len(deit) == 6 and deit.set_index("benchmark")["published"]["imagenet-val"] == pytest.approx(0.85728)
    assert set(deit["publisher"]) == {"timm"}
    # timm lists ConvNeXt-B at 288 px (test size) and 224 px: the library protocol's is the 224 px row
    convnext = published_entries(downloaded, "convnext_sup", "timm", "convnext_base.fb_in22k_ft_in1k", None)
    assert convnext["img_size"].unique().tolist() == [224]
    assert convnext.set_index("benchmark")["published"]["imagenet-val"] == pytest.approx(0.85814)
    near = published_entries(downloaded, "x", "timm", "deit3_base_patch16_224", None)
    assert near.empty
    assert published_entries(downloaded, "x", "timm", "deit3_base_patch16_224.fb_in22k", None).empty
    clip = published_entries(downloaded, "vit_clip", "open_clip", "ViT-B-16", "laion400m_e31")
    assert clip.set_index("benchmark")["published"]["imagenet-val"] == pytest.approx(0.6698)
    assert published_entries(downloaded, "x", "open_clip", "ViT-B-16", "laion400m_e3").empty
    assert published_entries(downloaded, "x", "open_clip", "ViT-B-16-quickgelu", "laion400m_e31").empty
    assert published_entries(downloaded, "x", "checkpoint", "/tmp/a.pt", None).empty


def test_offline_says_what_to_fetch_and_where(monkeypatch, tmp_path):
    monkeypatch.setenv("BAE_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(PopulationMissing, match=r"python -m core download timm-results openclip-results .*published"):
        population()


def test_a_file_without_the_publishers_columns_is_named_with_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("BAE_DATA_DIR", str(tmp_path / "data"))
    folder = population_folder("timm")
    folder.mkdir(parents=True)
    (folder / "results-imagenet.csv").write_text("name,accuracy\nx,0.5\n")
    with pytest.raises(PopulationInvalid, match="results-imagenet.csv lacks the publisher's column.*model.*"
                                                "python -m core download timm-results"):
        population()


def test_one_publisher_alone_still_gives_a_population(server, monkeypatch):  # noqa: F811
    _serve(server, monkeypatch, "timm-results")
    download("timm-results", say=lambda _: None)
    table = population()
    assert set(table["publisher"]) == {"timm"} and np.isfinite(table["shifted"]).all()


def test_the_line_command_prints_the_logit_fit_and_its_band(downloaded, capsys):
    """`python -m core line --fit-on timm` at 80%: the prediction of numpy.polyfit on the logit-scaled rows (one per
    checkpoint at its smaller size), inside the printed 95% band."""
    from scipy.special import expit, logit

    from core.cli import main

    assert main(["line", "--fit-on", "timm", "--at", "0.8"]) == 0
    printed = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.startswith("imagenet-")}
    assert set(printed) == {"imagenet-v2", "imagenet-real", "imagenet-sketch", "imagenet-r", "imagenet-a"}
    for benchmark in ("imagenet-v2", "imagenet-sketch"):
        rows = downloaded[(downloaded["publisher"] == "timm") & (downloaded["benchmark"] == benchmark)]
        rows = rows.sort_values("img_size", kind="stable").drop_duplicates("checkpoint")
        slope, intercept = np.polyfit(logit(rows["imagenet"]), logit(rows["shifted"]), 1)
        words = printed[benchmark].replace("[", " ").replace("]", " ").replace(",", " ").split()
        assert words[1] == f"{len(rows):,}"
        predicted, low, high = (float(word.rstrip("%")) / 100 for word in words[4:7])
        assert predicted == pytest.approx(float(expit(intercept + slope * logit(0.8))), abs=6e-4)
        assert low <= predicted <= high
