"""core.task.candidates: a varied shortlist from the published tables, downloaded from the local mirror in the
publishers' formats (real timm names of many families and pretraining sources, synthetic numbers)."""

from __future__ import annotations

import pytest

from core.data.catalogue import MACHINES, machine_key, read_catalogue, read_speeds
from core.data.download import download
from core.data.population import PopulationInvalid, PopulationMissing
from core.errors import UserError
from core.task.candidates import (Constraints, NoCandidates, architecture_of, model_key, select, shortlist,
                                  spec_for)
from tests.unit.data import published as tables
from tests.unit.data.test_download import _serve, server  # noqa: F401 - the mirror fixture


@pytest.fixture
def tables_here(server, monkeypatch, tmp_path):  # noqa: F811 - pytest fixture
    """timm's results, open_clip's table and timm's benchmarks, downloaded from the mirror; no models.toml."""
    monkeypatch.setattr(tables, "timm_population", tables.candidate_population)
    monkeypatch.setenv("BAE_MODELS_TOML", str(tmp_path / "models.toml"))
    for name in ("timm-results", "openclip-results", "timm-benchmarks"):
        _serve(server, monkeypatch, name)
        download(name, say=lambda _: None)
    return read_catalogue()


def _meets(candidate, constraints: Constraints) -> bool:
    row = candidate.published
    return ((not constraints.library or row.publisher in constraints.library)
            and (not constraints.pretraining or row.pretraining.source in constraints.pretraining)
            and (constraints.max_params is None or row.params_m <= constraints.max_params)
            and (constraints.min_speed is None or candidate.speed.samples_per_sec >= constraints.min_speed))


def _feasible(catalogue, constraints: Constraints) -> list:
    """The rows meeting `constraints`, read independently of the module: the speed at the row's own size only."""
    speeds = read_speeds(constraints.machine)
    out = []
    for row in catalogue:
        speed = speeds.get((row.checkpoint.partition(".")[0], row.img_size)) if row.publisher == "timm" else None
        if ((not constraints.library or row.publisher in constraints.library)
                and (not constraints.pretraining or row.pretraining.source in constraints.pretraining)
                and (constraints.max_params is None or row.params_m <= constraints.max_params)
                and (constraints.min_speed is None or (speed is not None and speed.samples_per_sec >= constraints.min_speed))):
            out.append(row)
    return out


CONSTRAINED = [
    Constraints(),
    Constraints(max_params=30),
    Constraints(max_params=30, min_speed=60, machine="i7-12700h"),
    Constraints(pretraining=("in1k", "in21k", "clip"), top=6),
    Constraints(library=("timm",), prior="shifted", top=8),
    Constraints(max_params=100, min_speed=2000, machine="rtx3090", top=5),
]


@pytest.mark.parametrize("constraints", CONSTRAINED, ids=range(len(CONSTRAINED)))
def test_the_shortlist_obeys_every_constraint_and_is_varied(tables_here, constraints):
    found = shortlist(constraints)
    assert 0 < len(found.candidates) <= constraints.top
    assert all(_meets(candidate, constraints) for candidate in found.candidates)
    assert not any(candidate.checkpoint.startswith("test_") for candidate in found.candidates)  # timm's toy models
    families = [candidate.published.family for candidate in found.candidates]
    if not found.relaxed:  # the caps held: at most per_family of a family, per source of a source
        assert max(families.count(family) for family in families) <= constraints.per_family
        sources = [candidate.published.pretraining.source for candidate in found.candidates]
        assert max(sources.count(source) for source in sources) <= constraints.source_cap
    # where the rows meeting the constraints span three sources and three families, so does the shortlist
    feasible = _feasible(tables_here, constraints)
    assert len(feasible) >= found.feasible > 0
    assert len(found.sources()) >= min(3, len({row.pretraining.source for row in feasible}))
    assert len(found.families()) >= min(3, len({row.family for row in feasible}))
    priors = [candidate.prior for candidate in found.candidates]
    assert priors == sorted(priors, reverse=True)
    assert shortlist(constraints) == found  # deterministic


def test_one_checkpoint_at_two_sizes_is_one_candidate_and_the_speed_is_the_published_one(tables_here):
    in21k = shortlist(Constraints(pretraining=("in21k",), top=5, per_family=5, per_source=5))
    names = [candidate.checkpoint for candidate in in21k.candidates]
    assert "convnext_tiny.fb_in22k_ft_in1k_384" in names and "convnext_tiny.fb_in22k_ft_in1k" not in names
    assert "vit_small_patch16_224.augreg_in21k_ft_in1k" in names and not in21k.relaxed
    found = shortlist(Constraints(top=30, per_family=4, machine="i9-10940x"))
    speeds = read_speeds("i9-10940x")
    resnet = next(candidate for candidate in found.candidates if candidate.checkpoint == "resnet50.a1_in1k")
    assert resnet.speed == speeds[("resnet50", 224)] and resnet.speed.machine == MACHINES["i9-10940x"][1]
    assert resnet.published.params_m == pytest.approx(25.56) and resnet.tag == "T"
    # timm lists the 384 px checkpoint; its benchmark file has convnext_tiny at 224 px only: no speed is claimed
    big = next(candidate for candidate in found.candidates if candidate.checkpoint.endswith("_384"))
    assert big.speed is None
    clip = [candidate for candidate in found.candidates if candidate.published.publisher == "open_clip"]
    assert clip and all(candidate.speed is None and candidate.tag == "O" for candidate in clip)


def test_varied_differs_from_the_static_ranking_it_is_compared_against(tables_here):
    varied = shortlist(Constraints(top=6))
    static = shortlist(Constraints(top=6, varied=False))
    assert [candidate.checkpoint for candidate in static.candidates] == list(varied.baseline)
    assert len(static.families()) < len(varied.families())  # the fixture's 40 `fixture_net` rows top the static list


def test_the_pretraining_of_rows_comes_from_the_tag_and_from_timms_metadata(tables_here):
    by_name = {row.checkpoint: row for row in tables_here}
    assert by_name["resnet50.fb_swsl_ig1b_ft_in1k"].pretraining.source == "weak"
    assert by_name["convnext_large_mlp.clip_laion2b_augreg_ft_in1k"].pretraining.source == "clip"
    untagged = by_name["ig_resnext101_32x8d"].pretraining
    assert (untagged.source, untagged.read_from) == ("weak", "model_metadata-in1k.csv")
    assert by_name["ViT-B-16/laion400m_e31"].pretraining.source == "clip"
    assert "test_vit.r160_in1k" not in by_name
    # a checkpoint listed at two sizes keeps its smaller one (timm's default input size)
    assert by_name["convnext_base.fb_in22k_ft_in1k"].img_size == 224


@pytest.mark.parametrize(("constraints", "message"), [
    (Constraints(max_params=1), r"--max-params 1\. The smallest .* is (tf_efficientnet_b0\.ns_jft_in1k|efficientnet_b0"
                                r"\.ra_in1k) \(5\.29 M parameters\): it would need --max-params 6"),
    (Constraints(max_params=30, min_speed=1e6, machine="rtx4090"),
     r"--min-speed 1e\+06 --on rtx4090 \(after --max-params 30: .* left\)\. The fastest .* images/s at 224 px\): it "
     r"would need --min-speed"),
    (Constraints(pretraining=("other",)), r"--pretraining other\. The .* meeting the others are in1k .*choose "
                                          r"--pretraining among those"),
    (Constraints(library=("open_clip",), min_speed=1, machine="rtx4090"),
     r"--min-speed 1 --on rtx4090 \(after --library open_clip: 5 left\)\. None of the 5 .* has a published speed"),
])
def test_a_constraint_nothing_meets_is_named_with_what_the_nearest_would_need(tables_here, constraints, message):
    with pytest.raises(NoCandidates, match=message):
        shortlist(constraints)


def test_bad_constraints_and_missing_tables_say_what_to_do(server, monkeypatch, tmp_path):  # noqa: F811
    with pytest.raises(PopulationMissing, match="python -m core download timm-results openclip-results"):
        shortlist(Constraints())
    _serve(server, monkeypatch, "timm-results")
    download("timm-results", say=lambda _: None)
    assert shortlist(Constraints(top=3)).candidates  # speeds are optional until a speed is asked for
    with pytest.raises(PopulationMissing, match="python -m core download timm-benchmarks"):
        shortlist(Constraints(min_speed=10, machine="i7-12700h"))
    with pytest.raises(UserError, match="Expected --max-params in millions > 0"):
        Constraints(max_params=0)
    with pytest.raises(UserError, match="Unknown machine `m1`.*rtx4090"):
        machine_key("m1")
    assert machine_key("RTX 4090") == "rtx4090" and machine_key("i7-12700H") == "i7-12700h"
    assert set(MACHINES) == {"rtx4090", "rtx5090", "rtxpro6000", "rtx3090", "i7-12700h", "i9-10940x"}


def test_a_file_that_is_not_the_publishers_is_refused(tmp_path, monkeypatch):
    tables.write_tables(monkeypatch, tmp_path / "data")
    from core.data.population import population_folder

    (population_folder("timm") / "results-imagenet.csv").write_text("name,score\nx,1\n")
    with pytest.raises(PopulationInvalid, match="lacks the publisher's column.*download timm-results"):
        read_catalogue()


def test_a_candidate_becomes_a_registry_entry_that_validates(tables_here):
    found = shortlist(Constraints(top=30, per_family=4))
    for candidate in found.candidates:
        spec = spec_for(candidate)
        assert spec.name == candidate.model == model_key(candidate.checkpoint)
        assert spec.family == architecture_of(candidate.published)
    clips = shortlist(Constraints(library=("open_clip",), top=5, per_family=5, per_source=5))
    clip = next(candidate for candidate in clips.candidates if candidate.checkpoint == "ViT-B-16/laion400m_e31")
    spec = spec_for(clip)
    assert (spec.library, spec.source, spec.pretrained, spec.head, spec.family) == \
        ("open_clip", "ViT-B-16", "laion400m_e31", "zero_shot", "vit")
    # vit_clip is registered for that very checkpoint: the row says so
    assert clip.present == "vit_clip"
    assert model_key("convnext_base.fb_in22k_ft_in1k") == "convnext_base_fb_in22k_ft_in1k"


def test_select_is_pure_and_needs_a_prior_value(tables_here):
    found = select(tables_here, Constraints(prior="zero_shot", top=3))
    assert {candidate.published.publisher for candidate in found.candidates} == {"open_clip"}
    with pytest.raises(NoCandidates, match="prior `zero_shot`"):
        select(tuple(row for row in tables_here if row.publisher == "timm"), Constraints(prior="zero_shot"))


def test_the_shortlist_imports_no_torch(tables_here):
    """The CLI and the page's click read only the published tables: no torch, timm or open_clip."""
    import os
    import subprocess
    import sys

    code = ("import sys\nfrom core.cli import main\nassert main(['task', 'candidates', 'parts', '--top', '3']) == 0\n"
            "print([name for name in ('torch', 'timm', 'open_clip') if name in sys.modules])")
    from core.config import PROJECT_ROOT

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ.copy(),
                          cwd=PROJECT_ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
